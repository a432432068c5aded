"""Quality metrics for lecturer removal, inside the person's mask and on the whole frame.

All images are ``(H, W, 3)`` uint8 RGB (or float arrays on the same 0..255 scale); masks are ``(H, W)``
bool, True = the region to score. Definitions (precise, because the numbers are compared across systems):

PSNR
    ``10 log10(255^2 / MSE)``, the MSE taken over every channel of every pixel of the region. A clip's
    PSNR pools the squared errors of all its frames first (``psnr_from_sse``), which stays finite and
    does not let one easy frame dominate; per-frame PSNRs are for the plots. Identical images: ``inf``.

SSIM (Wang, Bovik, Sheikh, Simoncelli 2004)
    Gaussian window sigma 1.5 (truncated at 11x11), ``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, computed per
    RGB channel and averaged over the channels; the local statistics use reflected borders. The
    whole-frame SSIM is the mean of the SSIM map. SSIM inside a mask is the mean of the same map over the
    mask's pixels; the map is only computed on the mask's bounding box grown by the window radius
    (5 px), which gives the same values as the whole-frame map except within 5 px of the frame border.

Handwriting F1
    Strokes are binarised the same way in the output and in the truth (:func:`binarise_strokes`): a pixel
    is ink when it is darker than the local board colour (a grey-level morphological closing, which
    erases thin dark strokes) by more than 12 levels. Inside the mask, precision is the fraction of
    output stroke pixels within ``tol`` px (chessboard distance) of a truth stroke pixel, recall the
    fraction of truth stroke pixels within ``tol`` px of an output stroke pixel; both are pooled over
    the frames of a clip, and F1 is their harmonic mean. No strokes on either side: F1 = 1.

Flicker (temporal stability, with truth)
    Over pixels inside the mask in both frames t-1 and t where the truth does not change (every channel
    within 3 levels), the mean over channels of ``|(out_t - out_{t-1}) - (gt_t - gt_{t-1})|``, pooled
    over the clip. 0 = the filled region is as steady as the truth; the lighting drift is subtracted.

Warping error (temporal stability, without truth)
    For clips without ground truth (DAVIS, the real whiteboard clip): the camera's motion between input
    frames t-1 and t is a homography fitted (RANSAC) to DIS optical flow of the inputs' background
    (outside the hole); output t-1 is warped onto t by it, and the mean absolute difference (levels,
    averaged over channels) is taken inside the hole of frame t, pooled over the clip. Lower is steadier;
    a fill that does not move with the camera, or flickers, scores high.

Person area (no truth)
    The fraction of the frame that a person segmenter still labels as person (probability > 0.5) in the
    output; reported next to the same number for the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

__all__ = [
    "ClipScorer",
    "F1Counts",
    "NoTruthScorer",
    "binarise_strokes",
    "psnr",
    "psnr_from_sse",
    "ssim",
    "ssim_map",
    "stroke_counts",
    "squared_error",
    "camera_motion",
    "warp_error",
]

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # 11x11 window


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (H, W, C) images, got shape {a.shape}")
    return a, b


def _check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {shape[:2]}")
    return mask.astype(bool, copy=False)


def squared_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, int]:
    """Sum of squared differences over the region (all channels) and the number of values summed."""
    a, b = _check_pair(a, b)
    mask = _check_mask(mask, a.shape)
    if mask is None:
        d = a.astype(np.float64) - b.astype(np.float64)
        return float(np.sum(d * d)), int(d.size)
    d = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    return float(np.sum(d * d)), int(d.size)


def psnr_from_sse(sse: float, count: int, peak: float = 255.0) -> float:
    """PSNR in dB from a pooled sum of squared errors; ``nan`` for an empty region, ``inf`` if exact."""
    if count <= 0:
        return float("nan")
    mse = sse / count
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(peak * peak / mse)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float = 255.0) -> float:
    """PSNR in dB between two images, over the whole image or the True pixels of ``mask``."""
    return psnr_from_sse(*squared_error(a, b, mask), peak=peak)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Gaussian window, sigma 1.5), averaged over channels: ``(H, W)`` float64."""
    a, b = _check_pair(a, b)
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]

    def blur(z: np.ndarray) -> np.ndarray:
        k = 2 * _SSIM_RADIUS + 1
        out = cv2.GaussianBlur(z, (k, k), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)
        return out.reshape(z.shape)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx * mx + my * my + _C1) * (sxx + syy + _C2)
    return (num / den).mean(axis=2)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM over the image, or over the True pixels of ``mask`` (``nan`` for an empty mask)."""
    a, b = _check_pair(a, b)
    mask = _check_mask(mask, a.shape)
    if mask is None:
        return float(ssim_map(a, b).mean())
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return float("nan")
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    r = _SSIM_RADIUS
    y0, y1 = max(rows[0] - r, 0), min(rows[-1] + r + 1, h)
    x0, x1 = max(cols[0] - r, 0), min(cols[-1] + r + 1, w)
    m = ssim_map(a[y0:y1, x0:x1], b[y0:y1, x0:x1])
    return float(m[mask[y0:y1, x0:x1]].mean())


def binarise_strokes(img: np.ndarray, threshold: float = 12.0) -> np.ndarray:
    """Handwriting pixels of a board image: darker than the local board colour by > ``threshold`` levels.

    The local board colour is a grey-level closing of the luminance with a disc about 1/60 of the frame
    height across (at least 5 px): wider than a stroke, so the closing erases the strokes and leaves the
    board. Resolution-aware, so 360p and 720p clips are binarised alike.
    """
    img = np.asarray(img)
    if img.ndim == 3:
        gray = cv2.cvtColor(img.astype(np.uint8, copy=False), cv2.COLOR_RGB2GRAY).astype(np.float32)
    elif img.ndim == 2:
        gray = img.astype(np.float32)
    else:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) grey image, got shape {img.shape}")
    k = max(5, int(round(gray.shape[0] / 60)) | 1)
    board = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return (board - gray) > threshold


@dataclass
class F1Counts:
    """Pooled counts for the handwriting F1 (see the module docstring)."""

    pred_hit: int = 0   # output stroke pixels near a truth stroke
    pred: int = 0       # output stroke pixels
    true_hit: int = 0   # truth stroke pixels near an output stroke
    true: int = 0       # truth stroke pixels

    def __iadd__(self, other: F1Counts) -> F1Counts:
        self.pred_hit += other.pred_hit
        self.pred += other.pred
        self.true_hit += other.true_hit
        self.true += other.true
        return self

    @property
    def precision(self) -> float:
        return self.pred_hit / self.pred if self.pred else 1.0

    @property
    def recall(self) -> float:
        return self.true_hit / self.true if self.true else 1.0

    @property
    def f1(self) -> float:
        if self.pred == 0 and self.true == 0:
            return 1.0
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def stroke_counts(
    pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None, tol: int = 1
) -> F1Counts:
    """F1 counts of two stroke maps (bool, ``(H, W)``) inside ``mask``, with a ``tol``-pixel tolerance."""
    pred = np.asarray(pred, bool)
    true = np.asarray(true, bool)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"stroke maps must be (H, W) of equal shape, got {pred.shape} and {true.shape}")
    mask = _check_mask(mask, pred.shape)
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    kernel = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    near_true = cv2.dilate(true.view(np.uint8), kernel).astype(bool) if tol else true
    near_pred = cv2.dilate(pred.view(np.uint8), kernel).astype(bool) if tol else pred
    if mask is not None:
        pred = pred & mask
        true = true & mask
    return F1Counts(
        pred_hit=int(np.count_nonzero(pred & near_true)),
        pred=int(np.count_nonzero(pred)),
        true_hit=int(np.count_nonzero(true & near_pred)),
        true=int(np.count_nonzero(true)),
    )


def _fmean(total: float, count: int) -> float:
    return total / count if count else float("nan")


@dataclass
class ClipScorer:
    """Streaming scorer for a clip with ground truth: feed ``update()`` frame by frame, then ``result()``.

    ``update(out, gt, mask)``: the system's output frame, the truth frame, the truth person mask.
    """

    per_frame_psnr_mask: list[float] = field(default_factory=list)
    per_frame_psnr: list[float] = field(default_factory=list)
    _sse_m: float = 0.0
    _n_m: int = 0
    _sse: float = 0.0
    _n: int = 0
    _ssim_m: float = 0.0
    _ssim_m_n: int = 0
    _ssim: float = 0.0
    _frames: int = 0
    _f1: F1Counts = field(default_factory=F1Counts)
    _flick: float = 0.0
    _flick_n: int = 0
    _prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def update(self, out: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> None:
        out, gt = _check_pair(out, gt)
        mask = _check_mask(mask, out.shape)
        if mask is None:
            raise ValueError("ClipScorer.update needs the truth mask")
        sse_m, n_m = squared_error(out, gt, mask)
        sse, n = squared_error(out, gt)
        self._sse_m += sse_m
        self._n_m += n_m
        self._sse += sse
        self._n += n
        self.per_frame_psnr_mask.append(psnr_from_sse(sse_m, n_m))
        self.per_frame_psnr.append(psnr_from_sse(sse, n))
        if mask.any():
            self._ssim_m += ssim(out, gt, mask)
            self._ssim_m_n += 1
        self._ssim += ssim(out, gt)
        self._frames += 1
        self._f1 += stroke_counts(binarise_strokes(out), binarise_strokes(gt), mask)
        out_f = out.astype(np.int16)
        gt_f = gt.astype(np.int16)
        if self._prev is not None:
            p_out, p_gt, p_mask = self._prev
            d_gt = gt_f - p_gt
            steady = mask & p_mask & (np.abs(d_gt).max(axis=2) <= 3)
            if steady.any():
                diff = np.abs((out_f - p_out) - d_gt)[steady]
                self._flick += float(diff.mean(axis=1).sum())
                self._flick_n += int(steady.sum())
        self._prev = (out_f, gt_f, mask)

    def result(self) -> dict[str, float]:
        """Clip-level numbers: psnr_mask, psnr, ssim_mask, ssim, f1, precision, recall, flicker, frames."""
        return {
            "psnr_mask": psnr_from_sse(self._sse_m, self._n_m),
            "psnr": psnr_from_sse(self._sse, self._n),
            "ssim_mask": _fmean(self._ssim_m, self._ssim_m_n),
            "ssim": _fmean(self._ssim, self._frames),
            "f1": self._f1.f1,
            "precision": self._f1.precision,
            "recall": self._f1.recall,
            "flicker": _fmean(self._flick, self._flick_n),
            "frames": self._frames,
        }


_DIS: cv2.DISOpticalFlow | None = None


def _dis() -> cv2.DISOpticalFlow:
    global _DIS
    if _DIS is None:
        _DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _DIS


def camera_motion(prev_inp: np.ndarray, inp: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """3x3 homography taking frame t's pixels to frame t-1's, fitted to the background's motion.

    DIS flow (t -> t-1) of the input frames, sampled every 8 px outside the hole, then RANSAC (2 px).
    None when too few background samples remain.
    """
    g0 = cv2.cvtColor(inp, cv2.COLOR_RGB2GRAY)
    g1 = cv2.cvtColor(prev_inp, cv2.COLOR_RGB2GRAY)
    flow = _dis().calc(g0, g1, None)
    h, w = mask.shape
    ys, xs = np.mgrid[4:h:8, 4:w:8]
    keep = ~mask[ys, xs]
    if keep.sum() < 16:
        return None
    src = np.stack([xs[keep], ys[keep]], axis=1).astype(np.float32)
    dst = src + flow[ys[keep], xs[keep]]
    hom, _ = cv2.findHomography(src, dst, cv2.RANSAC, 2.0)
    return hom


def warp_error(
    prev_inp: np.ndarray, inp: np.ndarray, prev_out: np.ndarray, out: np.ndarray, mask: np.ndarray
) -> tuple[float, int]:
    """Sum of the warping error inside ``mask`` (frame t's hole) and the number of pixels counted.

    The previous output is moved onto frame t by the camera's motion, measured on the *inputs'*
    background (:func:`camera_motion`), so a fill that stays put while the camera pans is penalised
    (flow measured on the outputs would follow the fill and hide that). Pixels whose source falls
    outside frame t-1 are not counted.
    """
    prev_out, out = _check_pair(prev_out, out)
    prev_inp, inp = _check_pair(prev_inp, inp)
    mask = _check_mask(mask, out.shape)
    if mask is None or not mask.any():
        return 0.0, 0
    hom = camera_motion(prev_inp, inp, mask)
    if hom is None:
        return 0.0, 0
    h, w = mask.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(prev_out.astype(np.float32), hom, (w, h), flags=flags)
    inside = cv2.warpPerspective(np.ones((h, w), np.float32), hom, (w, h), flags=flags) > 0.999
    sel = inside & mask
    if not sel.any():
        return 0.0, 0
    diff = np.abs(warped - out.astype(np.float32))[sel].mean(axis=1)
    return float(diff.sum()), int(sel.sum())


@dataclass
class NoTruthScorer:
    """Streaming scorer for a clip without truth: warping error in the mask and (optionally) person area.

    ``segmenter``: a callable frame -> (H, W) person probability (e.g.
    ``lecinpaint.segmentation.make_segmenter("mediapipe")``); None skips the person-area numbers.
    Feed ``update(inp, out, mask)``; ``mask`` is the region that was filled (True = hole).
    """

    segmenter: Callable[[np.ndarray], np.ndarray] | None = None
    input_segmenter: Callable[[np.ndarray], np.ndarray] | None = None
    _werr: float = 0.0
    _werr_n: int = 0
    _area_out: float = 0.0
    _area_in: float = 0.0
    _frames: int = 0
    _prev: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, inp: np.ndarray, out: np.ndarray, mask: np.ndarray) -> None:
        inp, out = _check_pair(inp, out)
        mask = _check_mask(mask, out.shape)
        if mask is None:
            raise ValueError("NoTruthScorer.update needs the filled region's mask")
        if self._prev is not None:
            s, n = warp_error(self._prev[0], inp, self._prev[1], out, mask)
            self._werr += s
            self._werr_n += n
        self._prev = (inp, out)
        if self.segmenter is not None:
            self._area_out += float((np.asarray(self.segmenter(out)) > 0.5).mean())
        if self.input_segmenter is not None:
            self._area_in += float((np.asarray(self.input_segmenter(inp)) > 0.5).mean())
        self._frames += 1

    def result(self) -> dict[str, float]:
        """warp_error (mean abs levels), person_area_out / person_area_in (fractions), frames."""
        res: dict[str, float] = {"warp_error": _fmean(self._werr, self._werr_n), "frames": self._frames}
        if self.segmenter is not None:
            res["person_area_out"] = _fmean(self._area_out, self._frames)
        if self.input_segmenter is not None:
            res["person_area_in"] = _fmean(self._area_in, self._frames)
        return res
