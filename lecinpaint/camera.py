"""The camera's motion, for the first-seen plate: where each frame sits relative to the first of its shot.

:class:`CameraTracker` measures a translation per frame by phase correlation of small grey images with
the lecturer blanked out, and reports a failure (``None``) where registration cannot be trusted: a cut,
fast motion, a zoom. :mod:`lecinpaint.plate` builds the plate on these positions.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CameraTracker"]


class CameraTracker:
    """Where each frame sits relative to the first of its shot (a translation), or ``None`` on failure.

    Optical flow (OpenCV DIS, ultrafast) from a reference frame to the current one, on grey images about
    ``work`` pixels wide; the camera's displacement is the median flow over pixels that are background in
    both (the lecturer moves on their own). Measuring against a reference, not the previous frame, keeps
    a still camera exactly still (per-frame noise does not accumulate); the reference moves on when the
    camera has moved by ``rebase`` of the width. Registration fails (returns None, and the tracker starts
    over from this frame) when fewer than ``min_inliers`` of the background agree with the median within
    a pixel (a zoom, a cut, parallax), the step since the previous frame is larger than ``max_step`` of the
    width (fast motion), or the aligned frames still differ (a cut): by more than ``max_residual`` grey
    levels on average after a gain correction, or, where both have structure, with a correlation under
    0.5.

    ``push(frame, hole)`` returns the frame's position ``(x, y)`` in full-resolution pixels relative to the
    shot's first frame: ``frame(p) = first(p - position)``.
    """

    def __init__(
        self,
        work: int = 320,
        min_inliers: float = 0.5,
        max_step: float = 0.06,
        max_residual: float = 12.0,
        rebase: float = 0.03,
    ) -> None:
        self.work = int(work)
        self.min_inliers = float(min_inliers)
        self.max_step = float(max_step)
        self.max_residual = float(max_residual)
        self.rebase = float(rebase)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._before = np.zeros(2)  # the position before the last one
        self._hann: np.ndarray | None = None
        self._ref: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (grey, background, position)
        self._last = np.zeros(2)
        self._scale = 1.0

    def reset(self) -> None:
        self._ref = None

    def _small(self, frame: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = hole.shape
        s = min(1.0, self.work / w)
        size = (max(32, int(round(w * s))), max(32, int(round(h * s))))
        self._scale = size[0] / w
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.view(np.uint8) * 255, size, interpolation=cv2.INTER_AREA)
        # DIS's patches (8 px) next to the hole see the lecturer: their flow is not the camera's.
        bg = cv2.dilate(small_hole, np.ones((9, 9), np.uint8)) == 0
        return grey, bg

    def _window(self, shape: tuple[int, int]) -> np.ndarray:
        if self._hann is None or self._hann.shape != shape:
            self._hann = cv2.createHanningWindow(shape[::-1], cv2.CV_32F)
        return self._hann

    def _measure(self, ref: np.ndarray, cur: np.ndarray, both: np.ndarray, guess: np.ndarray):
        """Median DIS flow ``ref -> cur`` over ``both`` from the initial ``guess``, and the share of
        those pixels within a pixel of it."""
        init = np.empty(cur.shape + (2,), np.float32)
        init[..., 0], init[..., 1] = guess[0], guess[1]
        flow = self._dis.calc(ref, cur, init)  # ref(p) ~ cur(p + flow(p))
        sub = both[::2, ::2]  # every other pixel: plenty for a median, a quarter of the cost
        fx, fy = flow[::2, ::2, 0][sub], flow[::2, ::2, 1][sub]
        d = np.array([np.median(fx), np.median(fy)])  # 1-D medians: numpy's axis=0 median is slow
        return d, float(((np.abs(fx - d[0]) <= 1.0) & (np.abs(fy - d[1]) <= 1.0)).mean())

    def _check(self, ref: np.ndarray, cur: np.ndarray, both: np.ndarray, d: np.ndarray) -> float | None:
        """The residual of ``ref`` against ``cur`` shifted back by ``d`` (mean absolute difference after a
        gain correction), or None when they do not show the same scene (see the class docstring)."""
        m = np.float32([[1, 0, d[0]], [0, 1, d[1]]])
        # back(p) = current(p + d), which should be the reference.
        back = cv2.warpAffine(cur, m, cur.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        # Compared where both frames show background and the shifted frame has no replicated border.
        b = int(np.ceil(np.abs(d).max())) + 2
        inner = both.copy()
        inner[:b] = inner[-b:] = False
        inner[:, :b] = inner[:, -b:] = False
        x, r = back[inner].astype(np.float32), ref[inner].astype(np.float32)
        if x.size < 64:
            return None
        # The light may change (a dimmer, the exposure): a gain is not a cut.
        x *= float(r.mean()) / max(float(x.mean()), 1e-3)
        residual = float(np.abs(x - r).mean())
        if residual > self.max_residual:
            return None
        # Two low-contrast scenes can be close in level: where both have structure, it must match.
        sx, sr = float(x.std()), float(r.std())
        if min(sx, sr) > 4.0 and float(((x - x.mean()) * (r - r.mean())).mean()) / (sx * sr) < 0.5:
            return None
        return residual

    def push(self, frame: np.ndarray, hole: np.ndarray) -> tuple[float, float] | None:
        grey, bg = self._small(frame, hole)
        s = self._scale
        if self._ref is None:
            self._ref = (grey, bg, np.zeros(2))
            self._last = np.zeros(2)
            self._before = np.zeros(2)
            return (0.0, 0.0)
        rgrey, rbg, rpos = self._ref
        both = rbg & bg
        found = None
        if both.sum() >= 0.05 * both.size:
            # Two estimates, and the one that aligns the frames better wins: the median DIS flow from the
            # displacement predicted at constant velocity (robust to the lecturer, who moves on their
            # own), and a phase correlation (robust where DIS's coarse levels lose a fine texture).
            d_dis, inliers = self._measure(rgrey, grey, both, (2 * self._last - self._before - rpos) * s)
            (px, py), _ = cv2.phaseCorrelate(_blank(rgrey, rbg), _blank(grey, bg), self._window(grey.shape))
            best = None
            for d, ok in ((d_dis, inliers >= self.min_inliers), (np.array([px, py]), True)):
                pos = rpos + d / s
                if not ok or np.abs(pos - self._last).max() * s > self.max_step * grey.shape[1]:
                    continue
                residual = self._check(rgrey, grey, both, d)
                if residual is not None and (best is None or residual < best[0] - 0.05):
                    best = residual, d, pos
            if best is not None:
                found = best[1], best[2]
        if found is None:
            self._ref = (grey, bg, np.zeros(2))
            self._last = np.zeros(2)
            self._before = np.zeros(2)
            return None
        d, pos = found
        self._before, self._last = self._last, pos
        if np.abs(d).max() > self.rebase * grey.shape[1]:
            self._ref = (grey, bg, pos)
        return (float(pos[0]), float(pos[1]))


def _blank(grey: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """``grey`` as float32 with the non-background set to the background's mean: for a phase
    correlation, which the lecturer's own motion would otherwise pull."""
    g = grey.astype(np.float32)
    if bg.any():
        g[~bg] = float(g[bg].mean())
    return g
