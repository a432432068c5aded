"""A board-like fill for what no frame ever showed.

Behind a lecturer who never moves away there is nothing to copy: any fill is a guess. The guess that
looks like a board, and measures closest to one, is the board without writing: its smooth illumination,
plus the straight structure that visibly runs through the hole (the board's frame, the marker tray, a
horizontal edge). Strokes are never continued: handwriting behind the lecturer cannot be known, and a
smeared stroke (a streak) or a block of colour reads as an artefact where a clean board does not.

The fill is two layers, on a crop around the hole:

1. **Illumination field.** At a quarter of the resolution, the known pixels are median-filtered (thin
   strokes of either polarity disappear) and each row of the hole is bridged linearly between its two
   ends (``fill.row_fill`` of the filtered image: the room's horizontal bands continue, and no stroke is
   left at an end to be smeared into a streak), lightly blurred, and brought back to full resolution
   bilinearly: a smooth surface with no strokes, no blocks and no streaks.
2. **Straight structure.** The detail layer (image minus field) is read in a band on each side of the
   hole, row by row (and column by column). A row's structure continues through the hole only when the
   *medians* of both bands agree in sign and are clearly non-zero: a line that runs on both sides, such as
   a tray's edge. A stroke that touches the hole's end covers a few pixels of the band and does not move
   the median, so it is not stretched into a streak. Inside the hole the structure is interpolated
   linearly between its two sides' levels.

Conventions: ``img`` ``(H, W, 3)`` uint8, ``hole`` ``(H, W)`` bool, True = fill.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from lecinpaint.fill import row_fill

__all__ = ["board_fill", "illumination_field"]


def _laplace(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    from lecinpaint.completion import laplace_fill

    v = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    return laplace_fill(v, torch.from_numpy(hole)[None])[0].permute(1, 2, 0).numpy()


def illumination_field(img: np.ndarray, hole: np.ndarray, scale: float = 0.25, median: int = 5) -> np.ndarray:
    """The board's smooth illumination, float32 ``(H, W, 3)``: the known pixels without thin strokes,
    continued through the hole by a membrane interpolation (see the module docstring)."""
    h, w = hole.shape
    sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Any hole pixel in a block makes the block a hole: the lecturer's colours must not leak in.
    small_hole = cv2.resize(hole.view(np.uint8) * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 0
    if small_hole.all():
        small_hole = cv2.resize(hole.view(np.uint8) * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 127
    rough = _laplace(small, small_hole)
    k = median if min(sw, sh) >= median else 1
    smooth = cv2.medianBlur(np.clip(rough, 0, 255).astype(np.uint8), k) if k > 1 else rough.astype(np.uint8)
    # Rows bridged from their two ends: a room's bands (the ledge, the wall, the board's edges) run
    # horizontally, and a membrane would bulge them into the hole; the median already took the strokes
    # out of the ends, so no streak starts there.
    field = row_fill(smooth, small_hole, smooth=3).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), 1.0)  # row to row, the ends' small differences are noise
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def _band_levels(detail: np.ndarray, hole: np.ndarray, band: int) -> tuple[np.ndarray, ...]:
    """Per row: the hole's first and last column, and the median detail of ``band`` known pixels on
    each side (NaN where a side has fewer than ``band // 2`` known pixels).

    All rows at once: each side's band is gathered as ``(rows, band, 3)``, unknown pixels sort last
    (as +inf), and the median is read at the middle of each row's known count (the mean of the two
    middle values for an even count, as ``np.median``)."""
    h, w = hole.shape
    any_row = hole.any(axis=1)
    first = np.where(any_row, hole.argmax(axis=1), -1)
    last = np.where(any_row, w - 1 - hole[:, ::-1].argmax(axis=1), -1)
    left = np.full((h, 3), np.nan, np.float32)
    right = np.full((h, 3), np.nan, np.float32)
    rows = np.flatnonzero(any_row)
    if not rows.size or band < 1:
        return first, last, left, right
    off = np.arange(band)
    r = np.arange(rows.size)
    for cols, out in ((first[rows, None] - band + off, left), (last[rows, None] + 1 + off, right)):
        cc = np.clip(cols, 0, w - 1)
        ok = (cols >= 0) & (cols < w) & ~hole[rows[:, None], cc]
        vals = np.where(ok[:, :, None], detail[rows[:, None], cc], np.inf)
        vals.sort(axis=1)
        n = ok.sum(axis=1)
        lo, hi = np.clip((n - 1) // 2, 0, band - 1), np.clip(n // 2, 0, band - 1)
        med = 0.5 * (vals[r, lo] + vals[r, hi])
        good = n >= max(1, band // 2)
        out[rows[good]] = med[good]
    return first, last, left, right


def _structure(detail: np.ndarray, hole: np.ndarray, band: int, tau: float) -> np.ndarray:
    """The straight structure crossing the hole along rows: float32 ``(H, W, 3)``, zero elsewhere."""
    h, w = hole.shape
    out = np.zeros((h, w, 3), np.float32)
    first, last, left, right = _band_levels(detail, hole, band)
    lum_l, lum_r = left.mean(axis=1), right.mean(axis=1)
    # Both sides present, same sign, clearly non-zero and of similar size: a line runs through.
    keep = (
        np.isfinite(lum_l) & np.isfinite(lum_r) & (lum_l * lum_r > 0)
        & (np.minimum(np.abs(lum_l), np.abs(lum_r)) >= tau)
        & (np.abs(lum_l - lum_r) <= 0.5 * np.maximum(np.abs(lum_l), np.abs(lum_r)))
    )
    for y in np.flatnonzero(keep):
        a, b = int(first[y]), int(last[y])
        t = ((np.arange(a, b + 1) - (a - 1)) / float(b + 2 - a))[:, None]
        out[y, a : b + 1] = left[y] * (1 - t) + right[y] * t
    return out


def board_fill(img: np.ndarray, hole: np.ndarray, band: int | None = None, tau: float = 6.0,
               *, in_place: bool = False) -> np.ndarray:
    """Fill ``hole`` as a clean board: illumination field plus straight structure (module docstring).

    Args:
        img: ``(H, W, 3)`` uint8. hole: ``(H, W)`` bool.
        band: width in pixels of the band read on each side of the hole (default 4 % of the frame's
            longer side, at least 8).
        tau: grey levels of detail below which a line is not continued (noise and faint writing).

    Returns a new image, equal to ``img`` outside the hole; with ``in_place``, ``img`` itself, filled
    (only the crop around the hole is touched: no copy of the frame).

    Example:
        >>> img = np.full((40, 60, 3), 200, np.uint8); img[20:23] = 60     # a board with a dark ledge
        >>> hole = np.zeros((40, 60), bool); hole[5:35, 20:40] = True
        >>> out = board_fill(img, hole)
        >>> int(out[21, 30, 0]) < 100, int(out[10, 30, 0]) > 190
        (True, True)
    """
    out = img if in_place else img.copy()
    if not hole.any() or hole.all():
        return out
    h, w = hole.shape
    b = int(band if band is not None else max(8, round(0.04 * max(h, w))))
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    margin = 2 * b + 8
    y0, y1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, h)
    x0, x1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, w)
    crop = np.ascontiguousarray(img[y0:y1, x0:x1])
    hc = np.ascontiguousarray(hole[y0:y1, x0:x1])
    field = illumination_field(crop, hc)
    detail = crop.astype(np.float32) - field
    detail[hc] = 0.0
    struct = _structure(detail, hc, b, tau)
    struct_v = _structure(detail.transpose(1, 0, 2), hc.T, b, tau).transpose(1, 0, 2)
    # A pixel on both a horizontal and a vertical line (a frame's corner) takes the stronger.
    both = np.where(np.abs(struct_v) > np.abs(struct), struct_v, struct)
    fill = field + both
    out[y0:y1, x0:x1][hc] = np.clip(np.rint(fill[hc]), 0, 255).astype(np.uint8)
    return out
