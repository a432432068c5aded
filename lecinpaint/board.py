"""A board-like fill for what no frame ever showed.

Behind a lecturer who never moves away there is nothing to copy: any fill is a guess. The guess that
looks like a board, and measures closest to one, is the board without writing: its smooth illumination,
plus the straight structure that visibly runs through the hole (the board's frame, the marker tray, a
horizontal edge). Strokes are never continued: handwriting behind the lecturer cannot be known, and a
smeared stroke (a streak) or a block of colour reads as an artefact where a clean board does not.

The fill works row by row, on a crop around the hole: a lecturer's silhouette is tall and narrow, and a
lecture room is made of horizontal lines (the board's edges, the tray, the ledge, the floor), so each row
of the hole is bridged from its two ends. Two layers:

1. **Illumination field.** Each end's level is the median of a *wide* band of known pixels on that side
   (7.5 % of the frame's longer side, at least 24 px), then the median of that level over the
   neighbouring rows (about 2 % of the frame height, at least 5). A stroke or a marker at the hole's end
   covers a minority of the band, and a thin line (a stroke, a tray's edge) a minority of the rows, so
   neither becomes a streak. The row is interpolated linearly between its two levels (a side with no
   level takes the other's): no blocks, and the room's brightness carried row by row, at full
   resolution (a coarse field smeared the thin bands at the bottom of the frame into grey blocks).
2. **Straight lines.** What the field smooths away comes back where it runs through: the median of a
   *narrow* band on each side (4 % of the longer side, at least 8 px), against the wide levels' median
   over three times as many rows. A row's line continues through the hole only when both sides stand out
   from that reference in the same sign, clearly (``tau`` grey levels) and by similar amounts (a tray's
   edge runs on both sides; a stroke, or a tray that ends behind the lecturer, does not); the row is then
   bridged from its narrow levels instead of the field. The same along columns continues vertical lines
   (a board's frame); a pixel on both takes the stronger.

Rows with no known pixel near either end (a hole across the whole crop) are bridged along their columns.

Conventions: ``img`` ``(H, W, 3)`` uint8, ``hole`` ``(H, W)`` bool, True = fill.
"""

from __future__ import annotations

import numpy as np

from lecinpaint.fill import row_fill

__all__ = ["board_fill"]


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


def _median_rows(levels: np.ndarray, k: int) -> np.ndarray:
    """Running median over ``k`` consecutive rows that have a level (NaN rows skipped and kept NaN)."""
    out = levels.copy()
    idx = np.flatnonzero(np.isfinite(levels[:, 0]))
    if idx.size == 0 or k <= 1:
        return out
    vals = levels[idx]
    r = k // 2
    padded = np.concatenate([np.repeat(vals[:1], r, axis=0), vals, np.repeat(vals[-1:], r, axis=0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=0)  # (n, 3, k)
    out[idx] = np.median(windows, axis=2)
    return out


class _Bridge:
    """Along rows (see the module docstring): each row's two ends, and, for a row that a straight line
    runs through, the narrow bands' levels and the line's strength (0 for the other rows); with
    ``field``, also the field's levels at the ends (the columns' bridge needs only the lines). A line is
    measured against the wide levels' median over three times as many rows, so a band up to that thick
    counts as a line."""

    def __init__(self, img: np.ndarray, hole: np.ndarray, wide: int, narrow: int, rows_k: int,
                 tau: float, field: bool = True) -> None:
        # A band's median stands for the middle of the band (exactly so on a linear ramp): the levels
        # are bridged between the bands' middles, not between the hole's ends.
        self.wide_mid, self.narrow_mid = 0.5 * (wide + 1), 0.5 * (narrow + 1)
        self.first, self.last, lw, rw = _band_levels(img, hole, wide)
        _, _, self.ln, self.rn = _band_levels(img, hole, narrow)
        if field:
            lf, rf = _median_rows(lw, rows_k), _median_rows(rw, rows_k)
            self.lf, self.rf = np.where(np.isfinite(lf), lf, rf), np.where(np.isfinite(rf), rf, lf)
            self.defined = (self.first >= 0) & np.isfinite(self.lf[:, 0])
        lum_l = (self.ln - _median_rows(lw, 3 * rows_k)).mean(axis=1)
        lum_r = (self.rn - _median_rows(rw, 3 * rows_k)).mean(axis=1)
        with np.errstate(invalid="ignore"):
            keep = (
                np.isfinite(lum_l) & np.isfinite(lum_r) & (lum_l * lum_r > 0)
                & (np.minimum(np.abs(lum_l), np.abs(lum_r)) >= tau)
                & (np.abs(lum_l - lum_r) <= 0.5 * np.maximum(np.abs(lum_l), np.abs(lum_r)))
            )
        self.strength = np.where(keep, 0.5 * (np.abs(lum_l) + np.abs(lum_r)), 0.0)

    def _between(self, left: np.ndarray, right: np.ndarray, mid: float, row: np.ndarray,
                 x: np.ndarray) -> np.ndarray:
        a, b = self.first[row], self.last[row]
        t = ((x - (a - mid)) / (b - a + 2 * mid)).astype(np.float32)[:, None]
        return left[row] * (1 - t) + right[row] * t

    def field_at(self, row: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The field at the hole pixels ``(row, x)``, float32 ``(N, 3)`` (built with ``field``)."""
        return self._between(self.lf, self.rf, self.wide_mid, row, x)

    def line_at(self, row: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """At the hole pixels ``(row, x)``: the line (the narrow levels bridged; 0 where none runs),
        float32 ``(N, 3)``, and its strength ``(N,)``."""
        strength = self.strength[row]
        bridged = self._between(self.ln, self.rn, self.narrow_mid, row, x)
        line = np.where((strength > 0)[:, None], bridged, 0.0)
        return line, strength


def board_fill(img: np.ndarray, hole: np.ndarray, band: int | None = None, tau: float = 6.0,
               *, in_place: bool = False) -> np.ndarray:
    """Fill ``hole`` as a clean board: illumination field plus straight structure (module docstring).

    Args:
        img: ``(H, W, 3)`` uint8. hole: ``(H, W)`` bool.
        band: width in pixels of the narrow band read on each side of the hole for the structure (default
            4 % of the frame's longer side, at least 8); the field's wide band is 7.5 % (at least 24 px
            and at least ``band``).
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
    narrow = int(band if band is not None else max(8, round(0.04 * max(h, w))))
    wide = max(narrow, 24, round(0.075 * max(h, w)))
    rows_k = max(5, int(round(0.02 * h)) | 1)  # odd
    cols_k = max(5, int(round(0.02 * w)) | 1)
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    margin = wide + 8
    y0, y1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, h)
    x0, x1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, w)
    crop = np.ascontiguousarray(img[y0:y1, x0:x1]).astype(np.float32)
    hc = np.ascontiguousarray(hole[y0:y1, x0:x1])
    across = _Bridge(crop, hc, wide, narrow, rows_k, tau)
    down = _Bridge(crop.transpose(1, 0, 2), hc.T, wide, narrow, cols_k, tau, field=False)
    yy, xx = np.nonzero(hc & across.defined[:, None])
    field = across.field_at(yy, xx)
    line, strength = across.line_at(yy, xx)
    line_v, strength_v = down.line_at(xx, yy)
    # A line that runs through replaces the field; a pixel on both a horizontal and a vertical line (a
    # frame's corner) takes the stronger.
    fill = np.where((strength > 0)[:, None], line, field)
    fill = np.where((strength_v > strength)[:, None], line_v, fill)
    target = out[y0:y1, x0:x1]
    target[yy, xx] = np.clip(np.rint(fill), 0, 255).astype(np.uint8)
    rest = hc & ~across.defined[:, None]
    if rest.any():  # no level at either end of these rows: bridged along the columns (row_fill's fallback)
        target[rest] = row_fill(target, rest)[rest]
    return out
