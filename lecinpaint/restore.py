"""The stages after segmentation, for one run: flow, completion, propagation, the last holes, compositing.

::

    ready frame + mask ─► dilate ─► flow pair (previous, this) ─► completion ─► streaming propagation
        ─► last holes: background memory, first-seen plate (relit), board-like synthesis
        ─► composite: input outside the hole, restored (or the lecturer as a ghost) inside ─► out

Everything here is bounded by the lookahead window. ``lecinpaint.engine`` wires a stream of frames
through :class:`RunState`; this module never reads input or segments.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from lecinpaint.board import board_fill
from lecinpaint.fill import BackgroundMemory, Inpainter
from lecinpaint.flow import upsample_flow
from lecinpaint.plate import PLATED, Plate, apply_light, relight
from lecinpaint.propagation import (
    INPAINTED,
    UNKNOWN,
    PairFlows,
    Propagated,
    StreamingPropagator,
    pack_rgb,
    unpack_rgb,
)

__all__ = ["Ready", "RunState"]

log = logging.getLogger("lecinpaint")


@dataclass
class Ready:
    """A frame with its final (undilated) mask, on its way to the propagator; ``flows``: the flows of the
    pair (previous frame, this one) when computed ahead (``lecinpaint.flowahead``), else None."""

    index: int
    frame: np.ndarray
    mask: np.ndarray
    flows: Any = None


class RunState:
    """Per-run state of the stages after segmentation (everything bounded by the window).

    ``push(ready)`` takes the next frame with its (undilated) mask and yields the frames that are
    finished, as ``(frame, hole)``; ``finish()`` yields the rest. ``plate``: the first-seen plate for this
    run (or None); ``start``: the plate's index of this run's first frame; ``check_plate``: compare the
    plate with the first frame (a plate from a file).
    """

    def __init__(self, engine: Any, plate: Plate | None = None, start: int = 0, check_plate: bool = False) -> None:
        cfg = engine.config
        self.engine = engine
        self.cfg = cfg
        self.device = engine.device
        self.times = engine.stage_times
        self.flow = engine._flow
        self.completion = engine._completion.fresh()  # streaming state per run, networks shared
        self.prop = StreamingPropagator(cfg.lookahead, cfg.threshold)
        self.memory = BackgroundMemory() if cfg.memory else None
        self.inpainter = Inpainter(cfg.inpaint, cfg.inpaint_radius, cfg.inpaint_scale)
        self.radius = 0
        self.shape: tuple[int, int] = (0, 0)
        self.prev: tuple[int, np.ndarray, np.ndarray, Any] | None = None  # (index, frame, hole, flow prep)
        self.motion: dict[int, tuple[float, float]] = {}  # camera motion into frame k (full-res px)
        self.drift = np.zeros(2)
        self.holes: dict[int, np.ndarray] = {}
        self.originals: dict[int, np.ndarray] = {}  # the input's hole pixels, for the ghost
        self.plate = plate
        self.start = int(start)
        self.check_plate = check_plate
        self.plate_frames = 0  # frames where the plate gave pixels
        self.board = cfg.board_fill
        self.plate_past_end = False
        self.cuts: set[int] = set()

    def start_shape(self, shape: tuple[int, int]) -> None:
        from lecinpaint.masks import default_dilation

        self.shape = shape
        d = self.cfg.dilation
        self.radius = default_dilation(*shape) if d is None else int(d)

    # ------------------------------------------------------------------------------------------------
    def push(self, r: Ready) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from lecinpaint.masks import dilate

        if self.shape == (0, 0):
            self.start_shape(r.frame.shape[:2])
        if self.check_plate and self.plate is not None:
            self.plate.check_first(r.frame, r.mask)
            self.check_plate = False
        t0 = time.perf_counter()
        hole = dilate(r.mask, self.radius) if self.radius else r.mask.copy()
        self.times["masks"] += time.perf_counter() - t0
        if self.cfg.ghost > 0.0:
            self.originals[r.index] = r.frame[hole]
        pair = None
        prep = None
        # Across a cut (the first pass saw the camera's registration fail) nothing is carried over.
        cut = self.plate is not None and self.plate.cut(self.start + r.index)
        if cut:
            self.cuts.add(r.index)
        if self.prev is not None and not cut and (self.prev[2].any() or hole.any()):
            pair, prep = self._pair(r.frame, hole, r.flows)
        self.completion_pass(r, hole, pair)
        self.prev = (r.index, r.frame, hole, prep)
        yield from self._drain()

    def completion_pass(self, r: Ready, hole: np.ndarray, pair: Any) -> None:
        # The completion may delay pairs (DFC-Net's window); frames go through it in order either way.
        t0 = time.perf_counter()
        if pair is None:
            done = self.completion.push(None, None, (r, hole, None))  # type: ignore[arg-type]
        else:
            flows, small_hole, box_info = pair
            done = self.completion.push(flows, small_hole, (r, hole, box_info))
        self.times["complete"] += time.perf_counter() - t0
        for item in done:
            self._to_propagator(*item)

    def _to_propagator(self, flows, small_hole, tag) -> None:
        r, hole, box_info = tag
        t0 = time.perf_counter()
        pair = None
        if flows is not None:
            pair, self.motion[r.index] = self._finish_pair(flows, small_hole, hole, box_info)
        self.times["complete"] += time.perf_counter() - t0
        t1 = time.perf_counter()
        frame_t = torch.from_numpy(r.frame).to(self.device)
        hole_t = torch.from_numpy(hole).to(self.device)
        self.holes[r.index] = hole
        self.prop.push(frame_t, hole_t, pair)
        self.times["propagate"] += time.perf_counter() - t1

    def finish(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for item in self.completion.flush():
            self._to_propagator(*item)
        self.prop.finish()
        yield from self._drain()

    # ------------------------------------------------------------------------------------------------
    def _pair(self, frame: np.ndarray, hole: np.ndarray, flows: Any = None):
        """Flows of the pair (previous frame, this frame) at the working resolution (``flows`` when they
        were computed ahead), and the hole."""
        t0 = time.perf_counter()
        _, pframe, phole, pprep = self.prev  # type: ignore[misc]
        prep = None
        if flows is None:
            if pprep is None:
                pprep = self.flow.prepare(pframe)
            prep = self.flow.prepare(frame)
            flows = self.flow.pair(pprep, prep)  # (2, 2, h, w)
        h, w = self.shape
        sh, sw = flows.shape[-2:]
        union = hole | phole
        if (sh, sw) != (h, w):
            small = cv2.resize(union.view(np.uint8) * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 0
        else:
            small = union.copy()
        # Flow estimated near the lecturer's outline is dragged along with the lecturer (DIS's patches
        # straddle it): widen the region whose flow is replaced by the completion.
        r = self.cfg.flow_margin
        if r:
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            small = cv2.dilate(small.view(np.uint8), disc).view(bool)
        # The camera's motion (for the background memory): median flow over the background, sampled.
        bg = ~small[::4, ::4]
        f0 = flows[0, :, ::4, ::4].cpu().numpy()
        mx = my = 0.0
        if bg.any():
            mx = float(np.median(f0[0][bg])) * w / sw
            my = float(np.median(f0[1][bg])) * h / sh
        self.times["flow"] += time.perf_counter() - t0
        return (flows, torch.from_numpy(small).to(flows.device), (union, (mx, my))), prep

    def _finish_pair(self, flows, small_hole, hole, box_info) -> tuple[PairFlows, tuple[float, float]]:
        """The completed flows on the full-resolution box that holds both holes and their targets."""
        union, motion = box_info
        h, w = self.shape
        sh, sw = flows.shape[-2:]
        rows = np.flatnonzero(union.any(axis=1))
        cols = np.flatnonzero(union.any(axis=0))
        # Margin: wide enough that the hole's pixels land inside the box. Only the flow inside the
        # (completed) hole matters: it is where the chains move.
        fmax = float(flows[:, :, small_hole].abs().amax()) if bool(small_hole.any()) else 0.0
        margin = int(math.ceil(fmax * max(h / sh, w / sw))) + 8
        y0, y1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, h)
        x0, x1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, w)
        full = upsample_flow(flows, (h, w), (y0, y1, x0, x1)).contiguous()
        return PairFlows(full, (y0, y1, x0, x1)), motion

    # ------------------------------------------------------------------------------------------------
    # ------------------------------------------------------------------------------------------------
    def _drain(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while self.prop.ready():
            t0 = time.perf_counter()
            p = self.prop.pop()
            self.times["propagate"] += time.perf_counter() - t0
            yield self._finish_frame(p)

    def _finish_frame(self, p: Propagated) -> tuple[np.ndarray, np.ndarray]:
        """The last holes, then compositing: past and lookahead (done), memory, plate, synthesis."""
        times = self.times
        t0 = time.perf_counter()
        hole_np = self.holes.pop(p.index)
        self._track_camera(self.motion.pop(p.index, (0.0, 0.0)))
        if p.index in self.cuts and self.memory is not None:
            self.cuts.discard(p.index)
            self.memory.reset()
        values, src = self._weak_sources(p, p.values, p.src)
        t1 = time.perf_counter()
        times["fill"] += t1 - t0
        # Compositing: the frame is the engine's own copy; its hole takes the values in place, and it then
        # becomes the forward state (the memory reads only its background pixels, which stay as they were).
        out = p.frame
        h, w = self.shape
        if p.hole_idx.numel():
            out.view(h * w, 3).index_copy_(0, p.hole_idx, unpack_rgb(values))
        t2 = time.perf_counter()
        times["composite"] += t2 - t1
        unknown = src == UNKNOWN
        if p.hole_idx.numel() and bool(unknown.any()):
            self._synthesise(out, p.hole_idx[unknown])
            src = src.masked_fill(unknown, INPAINTED)
        t3 = time.perf_counter()
        times["fill"] += t3 - t2
        self.prop.commit(p, out, src)
        t4 = time.perf_counter()
        times["propagate"] += t4 - t3
        if self.memory is not None:
            self.memory.update(p.frame, p.hole, p.index, p.hole_idx)
        t5 = time.perf_counter()
        times["fill"] += t5 - t4
        # The caller gets its own array, so that writing to it cannot touch the engine's state.
        out_np = out.cpu().numpy() if out.device.type != "cpu" else out.numpy().copy()
        orig = self.originals.pop(p.index, None)
        if orig is not None:
            a = self.cfg.ghost
            blend = a * orig.astype(np.float32) + (1.0 - a) * out_np[hole_np].astype(np.float32)
            out_np[hole_np] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
        times["composite"] += time.perf_counter() - t5
        return out_np, hole_np

    def _track_camera(self, motion: tuple[float, float]) -> None:
        """Reset the background memory once the camera has moved by a pixel since its last reset."""
        if self.memory is None:
            return
        # A still camera's motion estimate is noise of a few hundredths of a pixel: not a move.
        self.drift += np.where(np.abs(motion) < 0.1, 0.0, motion)
        if abs(self.drift[0]) + abs(self.drift[1]) > 1.0:
            self.memory.reset()
            self.drift[:] = 0.0

    def _weak_sources(self, p: Propagated, values: Tensor, src: Tensor) -> tuple[Tensor, Tensor]:
        """Pixels neither the past nor the lookahead explained: the memory's last-seen background, then
        the plate's first-seen board. Returns the updated ``(values, src)``."""
        if not p.hole_idx.numel():
            return values, src
        weak_idx = torch.nonzero((src == UNKNOWN) | (src == INPAINTED) | (src == PLATED)).squeeze(1)
        mem = self.memory
        if mem is not None and weak_idx.numel():
            # The memory's last-seen background beats nothing and beats earlier inpainting.
            mval, mtime = mem.lookup(p.hole_idx.index_select(0, weak_idx))
            seen = mtime != UNKNOWN
            if bool(seen.any()):
                hit = weak_idx[seen]
                values = values.index_copy(0, hit, pack_rgb(mval[seen]))
                src = src.index_copy(0, hit, mtime[seen])
                weak_idx = weak_idx[~seen]
        if self.plate is not None and weak_idx.numel():
            values, src = self._from_plate(p, values, src, weak_idx)
        return values, src

    def _from_plate(self, p: Propagated, values: Tensor, src: Tensor, weak_idx: Tensor) -> tuple[Tensor, Tensor]:
        view = self.plate.view(self.start + p.index)  # type: ignore[union-attr]
        if view is None:
            if not self.plate_past_end:
                self.plate_past_end = True
                log.warning("plate: the video has more frames than the plate (%d); the plate is not used "
                            "after its last frame", len(self.plate))  # type: ignore[arg-type]
            return values, src
        prgb, ptime = view
        h, w = self.shape
        idx = p.hole_idx.index_select(0, weak_idx).cpu().numpy()
        t_at = ptime.reshape(-1)[idx]
        seen = t_at != UNKNOWN
        if not seen.any():
            return values, src
        hole_np = p.hole.cpu().numpy() if p.hole.device.type != "cpu" else p.hole.numpy()
        frame_np = p.frame.cpu().numpy() if p.frame.device.type != "cpu" else p.frame.numpy()
        coef = relight(frame_np, hole_np, prgb, ptime, ring=max(8, self.radius * 2))
        pix = apply_light(prgb.reshape(-1, 3)[idx[seen]], idx[seen], w, h, coef)
        hit = weak_idx[torch.from_numpy(np.flatnonzero(seen)).to(weak_idx.device)]
        values = values.index_copy(0, hit, pack_rgb(torch.from_numpy(pix).to(values.device)))
        src = src.index_fill(0, hit, PLATED)
        self.plate_frames += 1
        return values, src

    def _synthesise(self, out: Tensor, unknown_idx: Tensor) -> None:
        """What no frame and no plate showed: a clean board (``board_fill``) or image inpainting."""
        h, w = self.shape
        umask = np.zeros(h * w, dtype=bool)
        umask[unknown_idx.cpu().numpy()] = True
        umask = umask.reshape(h, w)
        img = out.numpy() if out.device.type == "cpu" else out.cpu().numpy()
        if self.board:
            board_fill(img, umask, in_place=True)
        elif out.device.type == "cpu":
            self.inpainter.fill_in_place(img, umask)
            return
        else:
            img = self.inpainter(img, umask)
        if out.device.type != "cpu":
            out.copy_(torch.from_numpy(img).to(out.device))
