"""The whole lecturer: a segmentation stage that leaves nothing of the person behind.

A face-centred person model (mediapipe's selfie segmentation) finds the lecturer's head and torso well,
but in a wide lecture shot the lecturer is a full body far from the camera: the model drops lower legs,
feet, hands far from the face, what they hold, and now and then the whole body for a frame; a body cut
by the frame's edge or walking in is often not found at all. This stage adds two cues that do not
depend on the model's idea of a person:

1. **Focus.** The model sees a 256x256 picture. After the first detection it also runs on a crop around
   the lecturer (the last hole grown by a margin), where the body fills the model's input; the full
   frame keeps being looked at every few frames so that a second person or a re-entry is found.
2. **The board.** The board behind the lecturer is static in the camera's frame. :class:`BoardModel`
   keeps a registered picture of it (each frame's pixels outside the hole; global translation and
   gain tracked), and a region that differs from it is foreground. Foreground that is *thick* (it
   survives an opening wider than a pen stroke) and *connected* to the detected body, or that enters
   through the frame's edge, belongs to the lecturer: legs, feet, held objects, the body the model lost.
   New handwriting never qualifies: strokes are thin, and the opening removes them before anything is
   connected.

Two guards keep the additions honest: the model's unsure pixels (probability above the low threshold)
count only when connected to a confident core (hysteresis: the selfie model gives 0.2-0.45 to dense
handwriting), and the feet, which the model ends at the ankles, get a floor under the body's lowest
pixels. Time is handled downstream by :class:`lecinpaint.masks.MaskStabilizer` (a part present before
and after cannot vanish for a frame) and the hole's dilation.

Measured on the lecture benchmark's full-body clips (``benchmarks/lecture/segmentation.py``; this stage,
the stabiliser and the default dilation, against the exact person masks): share of the person left
outside the hole, mean over frames / frames with more than 1 % of the person left, and the hole's area
over the truth dilated by the default radius:

=======================  ==========================  ==========================
clip                     bare selfie model           this stage (default)
=======================  ==========================  ==========================
static 360p              0.336 % / 7 of 96, 1.07     0.089 % / 2 of 96, 1.14
shaking 360p             0.144 % / 3 of 96, 1.14     0.053 % / 1 of 96, 1.14
stands still 360p        0.109 % / 3 of 120, 1.02    0.024 % / 1 of 120, 1.05
walks in and out 360p    2.03 % / 18 of 108, 0.97    0.336 % / 4 of 108, 1.03
cut by the frame 360p    1.82 % / 45 of 96, 1.03     0.186 % / 6 of 96, 1.12
static 720p              0.035 % / 0 of 48, 1.03     0 % / 0 of 48, 1.06
=======================  ==========================  ==========================

On the real whiteboard clip neither leaves a trace (no pixel beyond 60 grey levels from the clean board
in a band around the hole) and the holes have the same area. What is still missed: the first frame or
two of someone walking in (a sliver at the edge), and legs the model misses while they stand where the
board behind them was never seen. The pose model inside (``"mediapipe:lecturer-pose"``) costs about
four times as much.

Convention (as for every segmenter): ``__call__(frame)`` with ``(H, W, 3)`` uint8 RGB, the frames of one
stream in order, returns an ``(H, W)`` float32 person probability in ``[0, 1]``; pixels that the board
cue adds are 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from lecinpaint.masks import dilate

__all__ = ["BoardModel", "LecturerSegmenter"]


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


class BoardModel:
    """A registered picture of what is behind the lecturer, and what differs from it.

    The model is kept at a working resolution (``scale`` of the frame, the longer side at most
    ``max_side`` px), in the coordinates of the latest frame: each frame, the camera's translation since
    the previous one is measured (phase correlation of the two frames' grey levels), the picture is
    shifted by it, and the frame's pixels outside the hole replace it. Pixels never seen are unknown
    and never count as foreground. A large translation (a cut, a fast pan) resets the model.

    ``foreground(frame)`` returns the bool map, at the working resolution (``small``), of thick regions
    (and slivers along the frame's edge) that differ from the board by more than ``threshold`` grey
    levels after matching the frame's global gain; ``update(hole)`` then records the frame's pixels
    outside ``hole``.
    """

    def __init__(
        self,
        *,
        threshold: float = 28.0,
        max_side: int = 640,
        reset_shift: float = 0.05,
        max_changed: float = 0.3,
        settle: int = 24,
        opening: float = 0.011,
    ) -> None:
        self.threshold = float(threshold)
        self.opening = float(opening)
        self.settle = int(settle)
        self.max_changed = float(max_changed)
        self.max_side = int(max_side)
        self.reset_shift = float(reset_shift)
        self._board: np.ndarray | None = None  # (h, w, 3) uint8 RGB at the working resolution
        self._known: np.ndarray | None = None  # (h, w) bool
        self._prev_grey: np.ndarray | None = None
        self._stable: np.ndarray | None = None  # (h, w) uint16: frames each pixel has stayed the same
        self._hole: np.ndarray | None = None  # the last hole, at the working resolution
        self._frame_small: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self.shape: tuple[int, int] | None = None
        self.small: tuple[int, int] = (0, 0)
        self.resets = 0

    def reset(self) -> None:
        self._board = self._known = self._prev_grey = self._hole = None
        self.resets += 1

    def foreground(self, frame: np.ndarray) -> np.ndarray | None:
        """Thick regions of ``frame`` that differ from the board (at the working resolution), or None
        while the board is still unknown (or was just reset)."""
        h, w = frame.shape[:2]
        if self.shape != (h, w):
            self.shape = (h, w)
            self.small = _working_size(h, w, self.max_side)
            self._board = self._known = self._prev_grey = None
            sh, sw = self.small
        sh, sw = self.small
        small = frame if (sh, sw) == (h, w) else cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        self._frame_small = small
        prev = self._prev_grey
        if self._board is not None and prev is not None:
            prev = self._register(grey, prev)
        # How long each pixel has looked the same (frames): the board behind a stale patch of the model
        # (a ghost of where the lecturer was) is still, while a moving lecturer is not.
        if prev is None or self._stable is None:
            self._stable = np.zeros((sh, sw), np.uint16)
        else:
            still = cv2.absdiff(prev, grey) < 0.5 * self.threshold
            self._stable += 1
            self._stable[~still] = 0
            np.minimum(self._stable, 60000, out=self._stable)
        self._prev_grey = grey
        if self._board is None or not self._known.any():
            return None
        known = self._known
        # Match the frame's global gain per channel (lighting drifts, cameras adjust their exposure):
        # the median ratio over a sample of known pixels, which are mostly board.
        ks = known[::4, ::4]
        fs = small[::4, ::4][ks].astype(np.float32)
        bs = self._board[::4, ::4][ks].astype(np.float32)
        gain = np.median(fs / np.maximum(bs, 8.0), axis=0) if fs.shape[0] >= 64 else np.ones(3)
        scaled = cv2.multiply(self._board, (float(gain[0]), float(gain[1]), float(gain[2]), 0.0))
        d = cv2.split(cv2.absdiff(small, scaled))
        diff = cv2.max(cv2.max(d[0], d[1]), d[2])
        sample = diff[::4, ::4][ks]
        # Noise and compression set the floor: a robust spread of the differences on the board itself.
        level = max(self.threshold, float(np.median(sample)) * 3.0 if sample.size else 0.0)
        if sample.size and np.count_nonzero(sample > level) > self.max_changed * sample.size:
            # Most of the board changed at once (a cut, a slide, the lights): start again from here.
            self.reset()
            return None
        raw = cv2.compare(diff, level, cv2.CMP_GT)
        raw = cv2.bitwise_and(raw, known.view(np.uint8) * np.uint8(255)) // 255
        # Thick only: an opening wider than a pen stroke, or a word's worth of strokes (about 2 % of the
        # shorter side: 9 px at 360p, where a leg is 15 px and a stroke 2-3).
        r = max(1, int(round(self.opening * min(sh, sw))))
        fg = cv2.morphologyEx(raw, cv2.MORPH_OPEN, _disc(r))
        # The opening rounds off the ends of limbs: give back what differs within its radius.
        fg |= cv2.dilate(fg, _disc(r)) & raw
        # Someone walking in shows first as a sliver along the frame's edge, thinner than the opening:
        # keep regions that run along an edge for a good part of it (strokes do not).
        fg |= _edge_slivers(raw, 0.04)
        return fg.view(bool)

    def _register(self, grey: np.ndarray, prev: np.ndarray) -> np.ndarray | None:
        """Follow the camera: shift the board picture (and its maps) onto this frame; returns the
        previous frame's grey levels in this frame's coordinates, or None after a reset."""
        sh, sw = self.small
        # The camera's shift measured against the board picture itself (not the previous frame), so that
        # errors do not add up, at half the working size (the shift is subpixel-accurate anyway), and
        # on the picture without the lecturer, who moves on their own.
        ref = cv2.cvtColor(self._board, cv2.COLOR_RGB2GRAY)
        probe = grey if self._hole is None else np.where(self._hole, ref, grey)
        half = (max(8, sw // 2), max(8, sh // 2))
        if self._window is None or self._window.shape != half[::-1]:
            self._window = cv2.createHanningWindow(half, cv2.CV_32F)
        a = cv2.resize(ref, half, interpolation=cv2.INTER_AREA).astype(np.float32)
        b = cv2.resize(probe, half, interpolation=cv2.INTER_AREA).astype(np.float32)
        (dx, dy), _ = cv2.phaseCorrelate(a, b, self._window)
        dx, dy = dx * sw / half[0], dy * sh / half[1]
        if math.hypot(dx, dy) > self.reset_shift * max(sh, sw):
            self.reset()
            return None
        if math.hypot(dx, dy) <= 0.25:  # noise of a still camera: no resampling
            return prev
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        lin = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        near = dict(flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        self._board = cv2.warpAffine(self._board, m, (sw, sh), **lin)
        self._known = cv2.warpAffine(self._known.view(np.uint8), m, (sw, sh), **near).view(bool)
        self._stable = cv2.warpAffine(self._stable, m, (sw, sh), **near)
        return cv2.warpAffine(prev, m, (sw, sh), **lin)

    def update(self, hole: np.ndarray, protected: np.ndarray | None = None) -> None:
        """Record the last frame's pixels outside ``hole`` (bool, working or full resolution) as the board.

        Pixels inside ``hole`` but outside ``protected`` (the model's own body) that have stayed the
        same for ``settle`` frames are recorded too: a region that the board cue alone keeps in the
        hole and that no longer moves is the board itself (a stale patch, where the lecturer stood
        when the picture was taken), and it must not stay a hole for ever.
        """
        if self._frame_small is None:
            return
        sh, sw = self.small

        def small(m: np.ndarray) -> np.ndarray:
            if m.shape == (sh, sw):
                return m
            return cv2.resize(m.view(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0

        self._hole = small(hole)
        seen = ~self._hole
        if self._board is None:
            self._board = self._frame_small.copy()
            self._known = seen.copy()
            return
        if protected is not None and self._stable is not None:
            seen |= ~small(protected) & (self._stable >= self.settle)
        cv2.copyTo(self._frame_small, seen.view(np.uint8), self._board)
        self._known |= seen


class LecturerSegmenter:
    """Model + focus + board cue (see the module docstring).

    Args:
        model: the person cue: a mediapipe model name, ``"selfie"`` (default), ``"pose"`` or
            ``"combined"``, or any segmenter (a callable from an ``(h, w, 3)`` uint8 RGB picture of any
            size to an ``(h, w)`` probability; with ``focus`` it is also called on crops).
        focus: also run the model on a crop around the lecturer.
        board: use the board cue.
        threshold: the person probability above which the model's output counts as body, for the
            pixels connected to a *core* above ``core`` (hysteresis: the model is unsure of limbs, but an
            isolated unsure blob is not a person: the selfie model gives 0.2-0.45 to dense handwriting).
        full_every: with ``focus``, the whole frame is looked at every this many frames.
        feet: the body is extended below its lowest pixels by this fraction of its height: the model
            ends people at the ankles, and feet in front of a board's tray differ little from it.
    """

    def __init__(
        self,
        model: str | Callable[[np.ndarray], np.ndarray] = "selfie",
        *,
        focus: bool = True,
        board: bool = True,
        threshold: float = 0.2,
        core: float = 0.6,
        full_every: int = 4,
        feet: float = 0.08,
    ) -> None:
        if not 0.0 <= threshold < core <= 1.0:
            raise ValueError(f"need 0 <= threshold < core <= 1, got threshold={threshold!r}, core={core!r}")
        if int(full_every) != full_every or full_every < 1:
            raise ValueError(f"full_every must be a positive integer, got {full_every!r}")
        if not 0.0 <= feet < 1.0:
            raise ValueError(f"feet is a fraction of the body's height in [0, 1), got {feet!r}")
        self._owned: list[Any] = []
        if isinstance(model, str):
            from lecinpaint.segmentation import MediaPipeSegmenter

            self._model: Callable[[np.ndarray], np.ndarray] = MediaPipeSegmenter(model)
            self._owned.append(self._model)
            self._crop_model: Callable[[np.ndarray], np.ndarray] | None = None
            if focus:
                self._crop_model = MediaPipeSegmenter(model)
                self._owned.append(self._crop_model)
        else:
            self._model = model
            self._crop_model = model if focus else None
        self.board = BoardModel() if board else None
        self.threshold = float(threshold)
        self.core = float(core)
        self.feet = float(feet)
        self.full_every = int(full_every)
        self._n = 0
        self._last_body: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None

    # ------------------------------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray) -> np.ndarray:
        from lecinpaint.segmentation import _check_frame

        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        prob = self._person(frame)
        if not prob.flags.writeable:
            prob = prob.copy()
        # The cues work at the board's working size (at most 640 px wide): what they decide is blocky at
        # 1080p by a few pixels, far inside the hole's dilation, and costs a ninth.
        sh, sw = _working_size(h, w, self.board.max_side if self.board is not None else 640)
        full = (sh, sw) == (h, w)
        small = prob if full else cv2.resize(prob, (sw, sh), interpolation=cv2.INTER_AREA)
        drop = _weak_blobs(small, self.threshold, self.core)
        if drop is not None:
            small[drop] = 0.0
            if not full:
                prob[_upsample(drop, h, w)] = 0.0
        body = model_body = small > self.threshold
        add = _feet(body, self.feet)
        if add is not None:
            body = model_body = body | add
        if self.board is not None:
            fg = self.board.foreground(frame)
            if fg is not None and fg.any():
                extra = _attached(fg, body, self._last_body, reach=max(2, int(round(0.01 * min(sh, sw)))))
                if extra.any():
                    add = extra if add is None else add | extra
                    body = body | extra
            grow = max(2, int(round(0.03 * min(sh, sw))))
            grown_model = dilate(model_body, grow)
            # Without additions of the board cue the two are one mask: one distance transform.
            self.board.update(grown_model if body is model_body else dilate(body, grow), grown_model)
        if add is not None and add.any():
            prob[add if full else _upsample(add, h, w)] = 1.0
        self._last_body = body
        box = _box_of(body)
        self._box = None if box is None else _scale_box(box, h / sh, w / sw, h, w)
        self._n += 1
        return prob

    def _person(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        box = self._box
        if self._crop_model is None or box is None:
            return self._model(frame)
        y0, y1, x0, x1 = _crop_around(box, h, w)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        prob = np.zeros((h, w), np.float32)
        prob[y0:y1, x0:x1] = self._crop_model(crop)
        if self._n % self.full_every == 0 or (y1 - y0) * (x1 - x0) >= 0.8 * h * w:
            np.maximum(prob, self._model(frame), out=prob)
        return prob

    def close(self) -> None:
        """Release the models this segmenter created (a model passed in is the caller's to close)."""
        for m in self._owned:
            m.close()
        self._owned.clear()

    def __enter__(self) -> LecturerSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _feet(body: np.ndarray, extent: float) -> np.ndarray | None:
    """Pixels below the lowest part of the tallest body component, ``extent`` of its height down."""
    if extent <= 0 or not body.any():
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(body.view(np.uint8), connectivity=8)
    if n <= 1:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_HEIGHT]))
    x, y, bw, bh = (int(v) for v in stats[k, :4])
    h = body.shape[0]
    if bh < 0.25 * h or y + bh >= h:
        return None  # not a standing figure, or its feet are below the frame anyway
    band = labels[y + bh - max(2, bh // 10) : y + bh, x : x + bw] == k
    cols = np.flatnonzero(band.any(axis=0))
    if cols.size == 0:
        return None
    out = np.zeros_like(body)
    d = max(2, int(round(extent * bh)))
    pad = max(1, d // 2)
    out[y + bh - 1 : min(h, y + bh + d), max(0, x + cols[0] - pad) : x + cols[-1] + 1 + pad] = True
    return out


def _weak_blobs(prob: np.ndarray, low: float, high: float) -> np.ndarray | None:
    """The pixels of the components of ``prob > low`` that hold no pixel above ``high`` (None if none)."""
    weak = prob > low
    if not weak.any():
        return None
    n, labels = cv2.connectedComponents(weak.view(np.uint8), connectivity=8)
    if n <= 1:
        return None
    strong = np.zeros(n, bool)
    strong[np.unique(labels[prob > high])] = True
    strong[0] = True  # the background label: not a blob
    if strong.all():
        return None
    return ~strong[labels]


def _working_size(h: int, w: int, max_side: int = 640) -> tuple[int, int]:
    s = min(1.0, max_side / max(h, w))
    return max(8, int(round(h * s))), max(8, int(round(w * s)))


def _upsample(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    return cv2.resize(mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)


def _scale_box(
    box: tuple[int, int, int, int], sy: float, sx: float, h: int, w: int
) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = box
    return (max(0, int(y0 * sy)), min(h, int(math.ceil(y1 * sy))),
            max(0, int(x0 * sx)), min(w, int(math.ceil(x1 * sx))))


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _crop_around(box: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """A crop holding ``box`` with a margin, as square as the frame allows (the model's input is square)."""
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    side = int(max(bh, bw) * 1.3) + 16
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    ch, cw = min(side, h), min(side, w)
    ty = int(round(min(max(cy - ch / 2, 0), h - ch)))
    tx = int(round(min(max(cx - cw / 2, 0), w - cw)))
    return ty, ty + ch, tx, tx + cw


def _edge_slivers(mask: np.ndarray, extent: float) -> np.ndarray:
    """Components of ``mask`` (uint8) that touch the frame's left, right or bottom edge along at least
    ``extent`` of that edge's length."""
    h, w = mask.shape
    edges = (mask[:, 0], mask[:, -1], mask[-1, :])
    if not any(e.sum() >= extent * len(e) for e in edges):
        return np.zeros_like(mask)
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    keep = np.zeros(n, bool)
    for line, size in ((labels[:, 0], h), (labels[:, -1], h), (labels[-1, :], w)):
        counts = np.bincount(line, minlength=n)
        keep |= counts >= extent * size
    keep[0] = False
    return keep[labels].view(np.uint8)


def _attached(
    fg: np.ndarray, body: np.ndarray, last: np.ndarray | None, reach: int, edge_extent: float = 0.04
) -> np.ndarray:
    """Foreground components that touch the body (or last frame's body), or enter through the frame's edge."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.view(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(fg)
    anchor = body if last is None else (body | last)
    near = cv2.dilate(anchor.view(np.uint8), _disc(reach)).view(bool)
    keep = np.zeros(n, bool)
    hit = np.unique(labels[near & fg])
    keep[hit] = True
    # Through the left, right or bottom edge: someone walking in. Only along a good part of that edge:
    # a person is tall where they cross the side of the frame, while long horizontal structures that
    # a slight misregistration lights up (a tray, a rail) cross it only for a few pixels.
    h, w = fg.shape
    for line, size in ((labels[:, 0], h), (labels[:, -1], h), (labels[-1, :], w)):
        keep |= np.bincount(line, minlength=n) >= edge_extent * size
    keep[0] = False
    return keep[labels]
