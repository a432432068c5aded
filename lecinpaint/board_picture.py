"""The board behind the lecturer: a registered picture of it, and what differs from it.

The board is static in the camera's frame. :class:`BoardModel` keeps a picture of it at a working
resolution (each frame's pixels outside the hole; the camera's translation and the global gain tracked),
and a region that differs from it is foreground. The whole-lecturer stage (:mod:`lecinpaint.lecturer`)
keeps the foreground that is thick and connected to the detected body; see there for how it is used.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["BoardModel", "disc", "edge_slivers", "working_size"]


def disc(radius: int) -> np.ndarray:
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
    levels after matching the frame's global gain (``raw``: every pixel that differs, before the opening;
    None when ``foreground`` returned None); ``update(hole)`` then records the frame's pixels outside
    ``hole``.
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
        self.age = 0  # frames recorded since the picture was started (the stream's start or a reset)
        self.raw: np.ndarray | None = None  # the last frame's differences before the opening (bool)

    def reset(self) -> None:
        self._board = self._known = self._prev_grey = self._hole = None
        self.resets += 1
        self.age = 0

    def foreground(self, frame: np.ndarray) -> np.ndarray | None:
        """Thick regions of ``frame`` that differ from the board (at the working resolution), or None
        while the board is still unknown (or was just reset)."""
        h, w = frame.shape[:2]
        if self.shape != (h, w):
            self.shape = (h, w)
            self.small = working_size(h, w, self.max_side)
            self._board = self._known = self._prev_grey = None
            self.age = 0
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
        self.raw = None
        if self._board is None or not self._known.any():
            return None
        found = self._difference(small, self._board, self._known)
        if found is None:
            # Most of the board changed at once (a cut, a slide, the lights): start again from here.
            self.reset()
            return None
        fg, self.raw = found
        return fg

    def _difference(
        self, small: np.ndarray, board: np.ndarray, known: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Thick regions (and edge slivers) where ``small`` differs from ``board`` (both at the working size
        and registered), and every pixel that differs, as bool; None when most of the known board differs
        (not this board any more)."""
        sh, sw = small.shape[:2]
        # Match the frame's global gain per channel (lighting drifts, cameras adjust their exposure):
        # the median ratio over a sample of known pixels, which are mostly board.
        ks = known[::4, ::4]
        fs = small[::4, ::4][ks].astype(np.float32)
        bs = board[::4, ::4][ks].astype(np.float32)
        gain = np.median(fs / np.maximum(bs, 8.0), axis=0) if fs.shape[0] >= 64 else np.ones(3)
        scaled = cv2.multiply(board, (float(gain[0]), float(gain[1]), float(gain[2]), 0.0))
        d = cv2.split(cv2.absdiff(small, scaled))
        diff = cv2.max(cv2.max(d[0], d[1]), d[2])
        sample = diff[::4, ::4][ks]
        # Noise and compression set the floor: a robust spread of the differences on the board itself.
        level = max(self.threshold, float(np.median(sample)) * 3.0 if sample.size else 0.0)
        if sample.size and np.count_nonzero(sample > level) > self.max_changed * sample.size:
            return None
        raw = cv2.compare(diff, level, cv2.CMP_GT)
        raw = cv2.bitwise_and(raw, known.view(np.uint8) * np.uint8(255)) // 255
        # Thick only: an opening wider than a pen stroke, or a word's worth of strokes (about 2 % of the
        # shorter side: 9 px at 360p, where a leg is 15 px and a stroke 2-3).
        r = max(1, int(round(self.opening * min(sh, sw))))
        fg = cv2.morphologyEx(raw, cv2.MORPH_OPEN, disc(r))
        # The opening rounds off the ends of limbs: give back what differs within its radius.
        fg |= cv2.dilate(fg, disc(r)) & raw
        # Someone walking in shows first as a sliver along the frame's edge, thinner than the opening:
        # keep regions that run along an edge for a good part of it (strokes do not).
        fg |= edge_slivers(raw, 0.04)
        return fg.view(bool), raw.view(bool)

    def look_back(self, frame: np.ndarray, body: np.ndarray) -> np.ndarray | None:
        """What an *earlier* frame shows in front of the board as known now (thick regions, at the working
        size), or None where that cannot be told (no picture yet, a camera shift too large to register,
        most of the board different). ``body``: the person already found in that frame (working size).

        Changes nothing. The picture now holds the board where the lecturer stood at the earlier frame
        and has moved away since, so a leg that the model missed there, and that the picture of that
        time recorded as board, now shows as different.
        """
        if self._board is None or self._known is None or not self._known.any():
            return None
        sh, sw = self.small
        h, w = frame.shape[:2]
        small = frame if (sh, sw) == (h, w) else cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        dx, dy = self._shift(grey, body)
        if math.hypot(dx, dy) > self.reset_shift * max(sh, sw):
            return None
        board, known = self._board, self._known
        if math.hypot(dx, dy) > 0.25:
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            board = cv2.warpAffine(board, m, (sw, sh), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            known = cv2.warpAffine(known.view(np.uint8), m, (sw, sh), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0).view(bool)
        found = self._difference(small, board, known)
        return None if found is None else found[0]

    def _shift(self, grey: np.ndarray, hole: np.ndarray | None) -> tuple[float, float]:
        """The camera's translation from the board picture to ``grey`` (working size), in pixels."""
        sh, sw = self.small
        # Measured against the board picture itself (not the previous frame), so that errors do not add
        # up, at half the working size (the shift is subpixel-accurate anyway), and on the picture
        # without the lecturer, who moves on their own.
        ref = cv2.cvtColor(self._board, cv2.COLOR_RGB2GRAY)
        probe = grey if hole is None else np.where(hole, ref, grey)
        half = (max(8, sw // 2), max(8, sh // 2))
        if self._window is None or self._window.shape != half[::-1]:
            self._window = cv2.createHanningWindow(half, cv2.CV_32F)
        a = cv2.resize(ref, half, interpolation=cv2.INTER_AREA).astype(np.float32)
        b = cv2.resize(probe, half, interpolation=cv2.INTER_AREA).astype(np.float32)
        (dx, dy), _ = cv2.phaseCorrelate(a, b, self._window)
        if math.hypot(dx, dy) > 0.1:
            # A peak of the correlation is not always the camera: parts of the lecturer outside the hole
            # (legs the model missed) or a flat board give false ones. Keep the shift only if it explains
            # the frame better than a still camera does, outside the hole and away from the borders.
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            moved = cv2.warpAffine(a, m, half, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            e = int(math.ceil(max(abs(dx), abs(dy)))) + 1
            if 2 * e < min(half):
                inner = (slice(e, half[1] - e), slice(e, half[0] - e))
                use = None if hole is None else cv2.resize(
                    hole.view(np.uint8), half, interpolation=cv2.INTER_NEAREST)[inner] == 0
                still = cv2.absdiff(a, b)[inner]
                shifted = cv2.absdiff(moved, b)[inner]
                if use is not None and use.any():
                    still, shifted = still[use], shifted[use]
                if float(shifted.mean()) >= float(still.mean()):
                    return 0.0, 0.0
        return dx * sw / half[0], dy * sh / half[1]

    def _register(self, grey: np.ndarray, prev: np.ndarray) -> np.ndarray | None:
        """Follow the camera: shift the board picture (and its maps) onto this frame; returns the
        previous frame's grey levels in this frame's coordinates, or None after a reset."""
        sh, sw = self.small
        dx, dy = self._shift(grey, self._hole)
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
        self.age += 1
        if self._board is None:
            self._board = self._frame_small.copy()
            self._known = seen.copy()
            return
        if protected is not None and self._stable is not None:
            seen |= ~small(protected) & (self._stable >= self.settle)
        cv2.copyTo(self._frame_small, seen.view(np.uint8), self._board)
        self._known |= seen


def working_size(h: int, w: int, max_side: int = 640) -> tuple[int, int]:
    s = min(1.0, max_side / max(h, w))
    return max(8, int(round(h * s))), max(8, int(round(w * s)))



def edge_slivers(mask: np.ndarray, extent: float) -> np.ndarray:
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
