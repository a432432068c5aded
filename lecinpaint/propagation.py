"""Streaming flow-guided propagation: DFGVI's forward/backward sweeps over a bounded window.

What DFGVI does (DESIGN.md §7), over the whole video: a forward sweep in which every hole pixel of frame
t pulls its value from the already-propagated frame t-1 (through the forward/backward flow consistency
check, sampling at ``p + mid`` with nearest rounding), a symmetric backward sweep, and a merge in which the
temporally nearer source wins. Every pixel remembers the index of the frame its value came from.

What this module does instead, with memory bounded by the lookahead L and work bounded per frame:

- **forward direction = recurrent state.** The previous *finished* frame ``F[t-1]`` and its per-pixel
  source-time map ``S[t-1]`` play the part of DFGVI's forward-propagated frame: hole pixels of t pull
  from ``F[t-1]`` at ``rint(p + mid)``. Values that came, long ago, from any frame are carried on
  (with their source time), so nothing is forgotten however long the lecturer stands still.
- **backward direction = the lookahead window.** Each hole pixel of frame k follows the backward
  chain ``p -> k+1 -> k+2 -> ...`` (one nearest lookup per step), stopping at the first frame where it
  lands on a known pixel (value and source time found) or where the check fails. With nearest sampling,
  following this pointer chain is exactly DFGVI's backward value pull. Frame k is finished when frame
  ``k + L`` has arrived (or the stream ended), so every frame sees the same window ``k+1 .. k+L``: one
  rule everywhere, hence no seams between windows.
  The one-step maps ``E_j`` (hole pixels of j -> resolved value / position in j+1 / dead) compose
  associatively, and frame k needs ``E_k o E_{k+1} o ... o E_{k+L-1}``: a sliding-window composition,
  kept with the two-stack queue technique (suffix compositions for the older half, one running
  composition for the newer half), so each frame costs about three compositions of hole size, however
  long the lookahead.
- **consistency once per pair.** When frame n arrives, the pair (n-1, n) is checked in both directions
  in one batched ``flow_consistency`` launch (N=2), and both pointer maps come from one nearest
  ``flow_warp`` of an index map (src = flat pixel indices, so the pointers are exact integers). Each
  pair's masks depend only on its flows, so no pair is ever checked twice.
- **merge:** the forward candidate and the backward candidate compete; the source nearer in time wins
  (ties: forward). Values of pixels filled by image inpainting carry the source time ``INPAINTED``
  (very far), so any real observation beats them, but they still beat inpainting anew (no flicker).

Conventions: frames ``(H, W, 3)`` uint8 tensors, holes ``(H, W)`` bool (True = hole), flat pixel index
``y * W + x``; flows ``(2, 2, h, w)`` on a crop ``box = (y0, y1, x0, x1)``: ``[0]`` = flow n-1 -> n,
``[1]`` = flow n -> n-1, full-resolution pixels.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch
from torch import Tensor

from lecinpaint.ops import flow_consistency, flow_warp

__all__ = [
    "INPAINTED",
    "UNKNOWN",
    "PairFlows",
    "Propagated",
    "StreamingPropagator",
    "pack_rgb",
    "source_distance",
    "unpack_rgb",
]

UNKNOWN = -(1 << 31) + 1
"""Source time of a pixel no frame explained (int32)."""
INPAINTED = -(1 << 30)
"""Source time of a pixel filled by image inpainting; any real source is nearer in time."""


def source_distance(src: Tensor, t: int) -> Tensor:
    """Temporal distance ``|src - t|`` (int64); ``INPAINTED`` and ``UNKNOWN`` are far, UNKNOWN farthest."""
    return (src.to(torch.int64) - t).abs()


@dataclass
class PairFlows:
    """Completed flows of the pair (n-1, n) on a crop of the frame, in full-resolution pixels.

    ``flows[0]``: n-1 -> n on n-1's grid; ``flows[1]``: n -> n-1 on n's grid; ``box`` = (y0, y1, x0, x1)
    must contain every hole pixel of both frames (targets outside the box count as invalid).
    """

    flows: Tensor
    box: tuple[int, int, int, int]


def pack_rgb(rgb: Tensor) -> Tensor:
    """``(M, 3)`` uint8 -> ``(M,)`` int32 ``r | g << 8 | b << 16`` (one gather moves a whole pixel)."""
    v = rgb.to(torch.int32)
    return v[:, 0] | (v[:, 1] << 8) | (v[:, 2] << 16)


def unpack_rgb(v: Tensor) -> Tensor:
    """Inverse of :func:`pack_rgb`."""
    return torch.stack((v & 255, (v >> 8) & 255, (v >> 16) & 255), dim=1).to(torch.uint8)


@dataclass
class _Chain:
    """Where the backward chains from the hole pixels of one frame stand (a composed map).

    One entry per hole pixel of the map's first frame (``len == M``): ``src`` is the source time once a
    known pixel was reached (``val`` its packed RGB value), else ``UNKNOWN``; then ``pos`` is the index,
    among the hole pixels of the map's last frame, of the one the chain stands on, or -1 if it broke.
    """

    val: Tensor  # (M,) int32, packed RGB
    src: Tensor  # (M,) int32
    pos: Tensor  # (M,) int32 (hole pixels of a frame: far fewer than 2**31)

    def then(self, step: _Chain) -> _Chain:
        """This map followed by ``step`` (a map starting at this map's last frame)."""
        if not step.pos.numel() or not self.pos.numel():
            return self  # no hole in the middle frame: no chain can stand there
        alive = (self.src == UNKNOWN) & (self.pos >= 0)
        i = self.pos.clamp(min=0)
        return _Chain(
            torch.where(alive, step.val.index_select(0, i), self.val),
            torch.where(alive, step.src.index_select(0, i), self.src),
            torch.where(alive, step.pos.index_select(0, i), self.pos),
        )


@dataclass
class _Pending:
    index: int
    frame: Tensor  # (H, W, 3) uint8
    hole: Tensor  # (H, W) bool
    hole_idx: Tensor  # (M,) int64 flat indices, ascending
    fwd_ptr: Tensor | None  # (M,) int32: where each hole pixel pulls from in frame index-1, -1 = invalid
    # E_index: one step into frame index+1 (set when that frame arrives; dropped once folded into suffix)
    step: _Chain | None = None
    linked: bool = False  # a frame came after this one (it had a step)
    suffix: _Chain | None = None  # E_index o ... o E_(m-1) while this frame is in the front stack


@dataclass
class Propagated:
    """A frame whose window is complete, with the merged propagation result in its hole.

    ``frame``: the input frame. ``hole_idx`` (M,) flat indices of its hole pixels; ``values`` (M,)
    int32 packed RGB (:func:`pack_rgb`) and ``src`` (M,) int32: the chosen value and its source time
    (``UNKNOWN`` where no frame explained the pixel, ``INPAINTED`` for values carried from earlier
    inpainting).
    """

    index: int
    frame: Tensor
    hole: Tensor
    hole_idx: Tensor
    values: Tensor
    src: Tensor


class StreamingPropagator:
    """DFGVI propagation over a stream, with lookahead ``lookahead`` frames (see the module docstring).

    Use::

        prop = StreamingPropagator(lookahead=L, threshold=5.0)
        for each frame n:  prop.push(frame, hole, pair)      # pair: PairFlows of (n-1, n), or None
                           while prop.ready(): r = prop.pop(); ...fill r...; prop.commit(r, out, src)
        at the end:        prop.finish(); drain the same way

    ``pair`` may be None when neither frame n-1 nor n has a hole (nothing to propagate) or for the first
    frame. ``commit`` must be called for each popped frame, in order, with the finished frame: it becomes
    the forward state for the next frame.

    Args:
        lookahead: L >= 0, frames of lookahead (the backward direction sees frames k+1 .. k+L).
        threshold: forward/backward consistency threshold, in pixels (DFGVI: 40; a few px for a static
            camera).
    """

    def __init__(self, lookahead: int = 10, threshold: float = 5.0) -> None:
        if int(lookahead) != lookahead or lookahead < 0:
            raise ValueError(f"lookahead must be a non-negative integer, got {lookahead!r}")
        self.lookahead = int(lookahead)
        self.threshold = float(threshold)
        self._window: deque[_Pending] = deque()
        self._next_index = 0
        self._ended = False
        self._awaiting_commit: int | None = None
        self._prev: tuple[int, Tensor, Tensor] | None = None  # (index, finished (HW,3) uint8, S (HW,) int32)
        self._shape: tuple[int, int] | None = None
        self._back: _Chain | None = None  # composition of the steps after the front stack
        self._entry_of: Tensor | None = None  # scratch: flat index -> hole entry of the newest frame
        self._front_len = 0  # frames at the window's start that hold suffix compositions

    # ------------------------------------------------------------------------------------------------
    def push(self, frame: Tensor, hole: Tensor, pair: PairFlows | None) -> None:
        """Add the next frame (its hole, and the flows linking it to the previous frame)."""
        if self._ended:
            raise RuntimeError("push() after finish(); create a new StreamingPropagator for a new stream")
        h, w = hole.shape
        if self._shape is None:
            self._shape = (h, w)
        n = self._next_index
        self._next_index += 1
        flat = frame.reshape(h * w, 3)
        hole_flat = hole.reshape(-1)
        hole_idx = torch.nonzero(hole_flat).squeeze(1)
        fwd_ptr = None
        if self._window:
            # Flat pixel index -> index among this frame's hole pixels (-1 = not a hole pixel).
            if self._entry_of is None or self._entry_of.numel() != h * w:
                self._entry_of = torch.full((h * w,), -1, dtype=torch.int32, device=frame.device)
            else:
                self._entry_of.fill_(-1)
            self._entry_of[hole_idx] = torch.arange(hole_idx.numel(), dtype=torch.int32, device=frame.device)
            prev = self._window[-1]
            ptr_prev = None
            if pair is not None:
                ptr_prev, fwd_ptr = self._pair_pointers(pair, prev.hole_idx, hole_idx)
                fwd_ptr = fwd_ptr.to(torch.int32)  # kept for the lookahead: half the memory
            prev.step = self._one_step(prev.hole_idx, ptr_prev, flat, n)
            prev.linked = True
            self._back = prev.step if self._back is None else self._back.then(prev.step)
        self._window.append(_Pending(n, frame, hole, hole_idx, fwd_ptr))

    def _one_step(self, hole_idx_a: Tensor, ptr: Tensor | None, flat_b: Tensor, n: int) -> _Chain:
        """E_(n-1): from each hole pixel of frame n-1 one step into frame n."""
        m = hole_idx_a.numel()
        dev = flat_b.device
        src = torch.full((m,), UNKNOWN, dtype=torch.int32, device=dev)
        if ptr is None or not m:
            return _Chain(torch.zeros((m,), dtype=torch.int32, device=dev), src,
                          torch.full((m,), -1, dtype=torch.int32, device=dev))
        ok = ptr >= 0
        tgt = ptr.clamp(min=0)
        entry = self._entry_of.index_select(0, tgt)  # index among frame n's hole pixels, -1: known pixel
        resolved = ok & (entry < 0)
        val = pack_rgb(flat_b.index_select(0, tgt))
        src = src.masked_fill(resolved, n)
        pos = torch.where(ok & ~resolved, entry, torch.full_like(entry, -1))
        return _Chain(val, src, pos)

    def finish(self) -> None:
        """The stream ended: every pending frame becomes ready (with the window it has)."""
        self._ended = True

    def ready(self) -> bool:
        """True when the oldest pending frame can be popped."""
        if not self._window or self._awaiting_commit is not None:
            return False
        return self._ended or len(self._window) > self.lookahead

    def pending(self) -> int:
        """Frames pushed and not yet popped (at most ``lookahead + 1`` while the stream runs)."""
        return len(self._window)

    # ------------------------------------------------------------------------------------------------
    def pop(self) -> Propagated:
        """Merge the forward and backward candidates of the oldest pending frame."""
        if not self.ready():
            raise RuntimeError("pop(): no frame is ready (or the previous one was not committed)")
        p = self._window[0]
        b_val, b_src = self._backward(p)
        self._window.popleft()
        self._awaiting_commit = p.index
        m = p.hole_idx.numel()
        values, src = b_val, b_src
        if m and p.fwd_ptr is not None and self._prev is not None and self._prev[0] == p.index - 1:
            _, prev_flat, prev_src = self._prev
            ok = p.fwd_ptr >= 0
            ptr = p.fwd_ptr.clamp(min=0)
            f_src = torch.where(ok, prev_src.index_select(0, ptr), torch.full_like(prev_src[:1], UNKNOWN))
            take_f = source_distance(f_src, p.index) <= source_distance(b_src, p.index)
            values = torch.where(take_f, pack_rgb(prev_flat.index_select(0, ptr)), b_val)
            src = torch.where(take_f, f_src, b_src)
        return Propagated(p.index, p.frame, p.hole, p.hole_idx, values, src)

    def commit(self, prop: Propagated, finished: Tensor, src: Tensor) -> None:
        """Make ``finished`` ((H, W, 3) uint8, the frame as output) the forward state.

        ``src`` (M,) int32: source time of each hole pixel's final value (``INPAINTED`` for inpainting).
        """
        if self._awaiting_commit != prop.index:
            raise RuntimeError(f"commit(): frame {prop.index} is not the one that was popped")
        self._awaiting_commit = None
        h, w = prop.hole.shape
        if self._prev is not None and self._prev[2].numel() == h * w:
            s = self._prev[2]
            s.fill_(prop.index)
        else:
            s = torch.full((h * w,), prop.index, dtype=torch.int32, device=finished.device)
        if prop.hole_idx.numel():
            s.index_copy_(0, prop.hole_idx, src.to(torch.int32))
        self._prev = (prop.index, finished.reshape(h * w, 3), s)

    # ------------------------------------------------------------------------------------------------
    def _backward(self, p: _Pending) -> tuple[Tensor, Tensor]:
        """The backward candidate of the oldest frame: E_k o ... o E_(newest-1), chains still open dropped.

        Two-stack sliding-window composition: frames ``[k, k + front_len)`` hold suffix compositions up
        to the split point, ``self._back`` composes the steps after it.
        """
        m = p.hole_idx.numel()
        dev = p.frame.device
        if not p.linked:  # the last frame of the stream: nothing after it
            return (
                torch.zeros((m,), dtype=torch.int32, device=dev),
                torch.full((m,), UNKNOWN, dtype=torch.int32, device=dev),
            )
        # Every frame with a step goes through the stack bookkeeping, holes or not.
        if self._front_len == 0:
            # Rebuild the front stack from every step in the window; the back becomes empty.
            steps = [q for q in self._window if q.step is not None]
            acc: _Chain | None = None
            for i in range(len(steps) - 1, -1, -1):
                q = steps[i]
                acc = q.step if acc is None else q.step.then(acc)  # type: ignore[union-attr]
                q.suffix = acc
                q.step = None  # folded into the suffixes: no longer needed
            self._front_len = len(steps)
            self._back = None
        chain = p.suffix
        if chain is None:  # cannot happen: every frame with a step is in the front after a rebuild
            raise RuntimeError("StreamingPropagator: internal error (no suffix composition)")
        if self._back is not None:
            chain = chain.then(self._back)
        p.suffix = None
        self._front_len -= 1
        return chain.val, chain.src

    def _pair_pointers(
        self, pair: PairFlows, hole_idx_a: Tensor, hole_idx_b: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Pointers of the pair (a = n-1, b = n), both directions from one batched launch of each op.

        Returns ``(ptr_a, ptr_b)``: for each hole pixel of a, the flat index in b it pulls from, and for
        each hole pixel of b, the flat index in a it pulls from (-1 = the check failed or out of box).
        """
        h, w = self._shape  # type: ignore[misc]
        y0, y1, x0, x1 = pair.box
        flows = pair.flows
        dev = flows.device
        # Row 0: flow a->b checked against b->a (a pulls from b); row 1: the reverse (b pulls from a).
        _, valid, mid = flow_consistency(flows.contiguous(), flows.flip(0).contiguous(), self.threshold)
        # int32 flat indices (frames have far fewer than 2**31 pixels): half the memory traffic of int64.
        ys = torch.arange(y0, y1, device=dev, dtype=torch.int32)
        xs = torch.arange(x0, x1, device=dev, dtype=torch.int32)
        index = (ys.view(-1, 1) * w + xs.view(1, -1)).expand(2, 1, -1, -1)
        target, inside = flow_warp(index.contiguous(), mid, "nearest")
        target = target.reshape(2, -1)
        ok = (valid & inside).reshape(2, -1)
        cw = x1 - x0

        def at(idx: Tensor, row: int) -> Tensor:
            # Only the hole pixels' entries are read; the choice of -1 is made on those alone.
            i = idx.to(torch.int32)
            y = i // w
            rel = (y - y0) * cw + (i - y * w - x0)
            t = target[row].index_select(0, rel)
            return torch.where(ok[row].index_select(0, rel), t, torch.full_like(t, -1))

        return at(hole_idx_a, 0), at(hole_idx_b, 1)
