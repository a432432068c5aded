"""Baselines for lecturer removal: each a streaming callable ``(frames, masks) -> iterator of frames``.

Convention (the same as :class:`lecinpaint.Engine` with user masks): ``frames`` is an iterable of
``(H, W, 3)`` uint8 RGB arrays, ``masks`` an iterable of ``(H, W)`` bool arrays in lockstep (True = hole);
one output frame per input frame, in order; outside the hole, output pixels equal input pixels exactly.

Fairness: the benchmark hands every baseline the same hole as lecinpaint, i.e. the truth mask grown by
:func:`lecinpaint.masks.dilate` with :func:`lecinpaint.masks.default_dilation` (:func:`dilated_masks`);
the baselines themselves do not dilate.

``TeleaInpaint``      per-frame ``cv2.inpaint`` (Telea, radius 5): no temporal information at all.
``TemporalMedian``    per pixel, the median of the unmasked values in a centred window of ``window``
                      frames (lookahead ``window // 2``); pixels masked in the whole window: Telea.
``LastSeen``          per pixel, the last value seen unmasked (online, no lookahead, constant memory);
                      pixels never seen: Telea.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

__all__ = [
    "BASELINES",
    "Baseline",
    "LastSeen",
    "TeleaInpaint",
    "TemporalMedian",
    "dilated_masks",
    "make_baseline",
]


def _check(frame: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frame = np.asarray(frame)
    mask = np.asarray(mask)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got shape {frame.shape} dtype {frame.dtype}")
    if mask.shape != frame.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match frame shape {frame.shape[:2]}")
    return frame, mask.astype(bool, copy=False)


def _pairs(
    frames: Iterable[np.ndarray], masks: Iterable[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    it_m = iter(masks)
    for f in frames:
        try:
            m = next(it_m)
        except StopIteration:
            raise ValueError("fewer masks than frames") from None
        yield _check(f, m)


def _telea(frame: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    if not hole.any():
        return frame.copy()
    return cv2.inpaint(frame, hole.view(np.uint8), radius, cv2.INPAINT_TELEA)


def dilated_masks(masks: Iterable[np.ndarray], radius: int | None = None) -> Iterator[np.ndarray]:
    """Grow each mask the way lecinpaint does (exact Euclidean disc; default radius by frame size)."""
    from lecinpaint.masks import default_dilation, dilate

    for m in masks:
        m = np.asarray(m, bool)
        r = default_dilation(*m.shape) if radius is None else radius
        yield dilate(m, r)


class TeleaInpaint:
    """Per-frame ``cv2.inpaint`` with Telea's method (radius 5 px)."""

    name = "telea"
    lookahead = 0

    def __init__(self, radius: int = 5) -> None:
        if radius < 1:
            raise ValueError(f"radius must be >= 1, got {radius}")
        self.radius = radius

    def __call__(self, frames: Iterable[np.ndarray], masks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for f, m in _pairs(frames, masks):
            yield _telea(f, m, self.radius)


class TemporalMedian:
    """Median of the unmasked values over a centred window of ``window`` frames; Telea where none."""

    name = "median"

    def __init__(self, window: int = 15) -> None:
        if window < 1 or window % 2 == 0:
            raise ValueError(f"window must be a positive odd number of frames, got {window}")
        self.window = window
        self.lookahead = window // 2

    def _fill(self, buf: deque[tuple[np.ndarray, np.ndarray]], k: int) -> np.ndarray:
        frame, hole = buf[k]
        out = frame.copy()
        if not hole.any():
            return out
        ys, xs = np.nonzero(hole)
        stack = np.stack([f[ys, xs].astype(np.float32) for f, _ in buf])        # (T, n, 3)
        seen = np.stack([~m[ys, xs] for _, m in buf])                             # (T, n)
        stack[~seen] = np.nan
        any_seen = seen.any(axis=0)
        med = np.zeros((ys.size, 3), np.float32)
        if any_seen.any():
            med[any_seen] = np.nanmedian(stack[:, any_seen], axis=0)
        out[ys[any_seen], xs[any_seen]] = np.clip(np.rint(med[any_seen]), 0, 255).astype(np.uint8)
        rest = np.zeros_like(hole)
        rest[ys[~any_seen], xs[~any_seen]] = True
        if rest.any():
            out = _telea(out, rest)
        return out

    def __call__(self, frames: Iterable[np.ndarray], masks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        r = self.lookahead
        buf: deque[tuple[np.ndarray, np.ndarray]] = deque()
        pos = 0        # index (in the stream) of buf[0]
        emitted = 0
        for f, m in _pairs(frames, masks):
            buf.append((f, m))
            # Emit every frame whose look-ahead is complete; keep r frames of history.
            while emitted + r < pos + len(buf):
                yield self._fill(buf, emitted - pos)
                emitted += 1
                while emitted - pos > r:
                    buf.popleft()
                    pos += 1
        while emitted < pos + len(buf):
            yield self._fill(buf, emitted - pos)
            emitted += 1
            while emitted - pos > r and buf:
                buf.popleft()
                pos += 1


class LastSeen:
    """Per pixel, the last value seen outside the hole (online); Telea where never seen."""

    name = "last_seen"
    lookahead = 0

    def __call__(self, frames: Iterable[np.ndarray], masks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        memory = np.zeros((0, 0, 3), np.uint8)
        seen = np.zeros((0, 0), bool)
        for f, m in _pairs(frames, masks):
            if memory.shape != f.shape:
                memory = np.zeros_like(f)
                seen = np.zeros(f.shape[:2], bool)
            vis = ~m
            memory[vis] = f[vis]
            seen |= vis
            out = f.copy()
            known = m & seen
            out[known] = memory[known]
            rest = m & ~seen
            yield _telea(out, rest) if rest.any() else out


Baseline = Callable[[Iterable[np.ndarray], Iterable[np.ndarray]], Iterator[np.ndarray]]

BASELINES: dict[str, Callable[[], Baseline]] = {
    "telea": TeleaInpaint,
    "median": TemporalMedian,
    "last_seen": LastSeen,
}


def make_baseline(name: str) -> Baseline:
    """A fresh baseline by name: ``"telea"``, ``"median"`` (15-frame window) or ``"last_seen"``."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[name]()
