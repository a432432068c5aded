"""The lecturer's body as masks at the cues' working size: the standing figure, the floor under its feet,
the model's weak blobs, components that touch the body, and the boxes of the crop that follows it.

Helpers of the whole-lecturer stage (:mod:`lecinpaint.lecturer`); every mask is a bool array.
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from lecinpaint.board_picture import disc
from lecinpaint.masks import dilate

__all__ = ["Floor", "attached", "box_of", "crop_around", "feet_below", "near_feet", "scale_box",
           "standing_figure", "touching", "upsample", "weak_blobs"]


def standing_figure(body: np.ndarray) -> tuple[int, int, int, int, np.ndarray] | None:
    """The tallest component of ``body`` if it is a standing figure (at least a quarter of the frame's
    height): ``(x, y, w, h)`` of its box and the columns (relative to ``x``) of its lowest tenth."""
    box = box_of(body)
    if box is None or box[1] - box[0] < 0.25 * body.shape[0]:
        return None
    # Labelled inside the body's box only: the body is a few percent of the frame.
    y0, y1, x0, x1 = box
    sub = np.ascontiguousarray(body[y0:y1, x0:x1])
    n, labels, stats, _ = cv2.connectedComponentsWithStats(sub.view(np.uint8), connectivity=8)
    if n <= 1:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_HEIGHT]))
    x, y, bw, bh = (int(v) for v in stats[k, :4])
    if bh < 0.25 * body.shape[0]:
        return None
    band = labels[y + bh - max(2, bh // 10) : y + bh, x : x + bw] == k
    cols = np.flatnonzero(band.any(axis=0))
    if cols.size == 0:
        return None
    return x0 + x, y0 + y, bw, bh, cols


def feet_below(
    body: np.ndarray, extent: float, floor: int | None = None, spread: float = 0.2
) -> np.ndarray | None:
    """Pixels below the lowest part of the tallest body component, ``extent`` of its height down.

    ``floor``: the row where this lecturer's feet usually end (:class:`Floor`). A figure that ends well
    above it (the model stopped at the knees) is continued down to it: from the columns of its lowest
    part, widening by ``spread`` of the distance on each side (legs in a stride), then the feet.
    """
    if extent <= 0:
        return None
    fig = standing_figure(body)
    if fig is None:
        return None
    x, y, _, bh, cols = fig
    h = body.shape[0]
    bottom = y + bh
    if bottom >= h:
        return None  # its feet are below the frame anyway
    d = max(2, int(round(extent * bh)))
    pad = max(1, d // 2)
    left, right = x + int(cols[0]) - pad, x + int(cols[-1]) + pad
    out = np.zeros_like(body)
    gap = 0 if floor is None else min(floor, h) - bottom
    if gap > d and gap <= bh:
        # Legs that the model lost: a trapezoid from its lowest part down to the floor.
        s = spread * gap
        poly = np.array([[left, bottom - 1], [right, bottom - 1], [right + s, bottom + gap],
                         [left - s, bottom + gap]], np.float64)
        cv2.fillConvexPoly(out.view(np.uint8), np.round(poly).astype(np.int32), 1)
        left, right, bottom = int(round(left - s)), int(round(right + s)), bottom + gap
    out[bottom - 1 : min(h, bottom + d), max(0, left) : max(0, right + 1)] = True
    return out


class Floor:
    """Where the lecturer's feet end (a row of the working size), learned over the last ``window``
    frames: a high percentile of the lowest row of the standing figure that the model and the board cue
    found (a frame that loses the legs is an outlier; a lecturer walks along the board, on one floor)."""

    def __init__(self, window: int = 48, quantile: float = 0.8, least: int = 3) -> None:
        self._rows: deque[int] = deque(maxlen=int(window))
        self.quantile = float(quantile)
        self.least = int(least)

    def clear(self) -> None:
        self._rows.clear()

    def add(self, body: np.ndarray) -> None:
        fig = standing_figure(body)
        if fig is not None:
            self._rows.append(fig[1] + fig[3])

    def row(self) -> int | None:
        if len(self._rows) < self.least:
            return None
        return int(np.quantile(np.fromiter(self._rows, np.int64), self.quantile, method="higher"))


def touching(mask: np.ndarray, body: np.ndarray, reach: int) -> np.ndarray | None:
    """The components of ``mask`` that come within ``reach`` pixels of ``body`` (None if none)."""
    if not mask.any():
        return None
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    near = dilate(body, reach) & mask
    if not near.any():
        return None
    keep = np.zeros(n, bool)
    keep[np.unique(labels[near])] = True
    keep[0] = False
    return keep[labels]


def weak_blobs(prob: np.ndarray, low: float, high: float) -> np.ndarray | None:
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


def upsample(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    return cv2.resize(mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)


def scale_box(
    box: tuple[int, int, int, int], sy: float, sx: float, h: int, w: int
) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = box
    return (max(0, int(y0 * sy)), min(h, int(math.ceil(y1 * sy))),
            max(0, int(x0 * sx)), min(w, int(math.ceil(x1 * sx))))


def box_of(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_around(box: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """A crop holding ``box`` with a margin, as square as the frame allows (the model's input is square)."""
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    side = int(max(bh, bw) * 1.3) + 16
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    ch, cw = min(side, h), min(side, w)
    ty = int(round(min(max(cy - ch / 2, 0), h - ch)))
    tx = int(round(min(max(cx - cw / 2, 0), w - cw)))
    return ty, ty + ch, tx, tx + cw


def attached(
    fg: np.ndarray, body: np.ndarray, last: np.ndarray | None, reach: int, edge_extent: float = 0.04
) -> np.ndarray:
    """Foreground components that touch the body (or last frame's body), or enter through the frame's edge."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.view(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(fg)
    anchor = body if last is None else (body | last)
    near = cv2.dilate(anchor.view(np.uint8), disc(reach)).view(bool)
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


def near_feet(
    raw: np.ndarray,
    body: np.ndarray,
    *,
    above: float = 0.3,
    below: float = 0.15,
    side: float = 0.4,
    width: float = 0.012,
    lift: float = 0.2,
) -> np.ndarray | None:
    """What differs from the board around the standing figure's feet (None if nothing).

    ``raw``: the pixels that differ from the board (before any opening); ``body``: the body found so far
    (with the floor under its feet). The zone: from ``above`` of the figure's height over its lowest row
    down to ``below`` under it, and ``side`` of its height to each side of its lowest columns. There a foot
    in mid-stride, a shoe held apart by an ankle thinner than the board cue's opening, or a leg entering
    the frame is often several pixels from the body and thinner than a torso. The components of ``raw``
    in the zone that survive an opening of ``width`` of the figure's height (strokes of 2 px and the
    lines a slight misregistration lights up are thinner), that reach down to within ``lift`` of its
    height above its lowest row (a foot stands on the floor, or is lifted a little in a stride; a
    stroke is written on the board) and that do not run on beyond the zone's top or sides (a pointer, a
    tray's edge, a rail; the frame's own edges are no such limit) count as lecturer.
    """
    fig = standing_figure(body)
    if fig is None:
        return None
    x, y, _, bh, cols = fig
    h, w = body.shape
    low = y + bh
    y0, y1 = max(0, int(low - above * bh)), min(h, int(math.ceil(low + below * bh)))
    x0 = max(0, int(x + cols[0] - side * bh))
    x1 = min(w, int(math.ceil(x + cols[-1] + 1 + side * bh)))
    if y1 <= y0 or x1 <= x0:
        return None
    # One pixel more on each side inside the frame, to see what runs on beyond the zone.
    py0, py1, px0, px1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
    zone = np.ascontiguousarray(raw[py0:py1, px0:px1] & ~body[py0:py1, px0:px1]).view(np.uint8)
    if not zone.any():
        return None
    r = max(1, int(round(width * bh / 2)))
    opened = cv2.morphologyEx(zone, cv2.MORPH_OPEN, disc(r))
    opened |= cv2.dilate(opened, disc(r)) & zone
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n <= 1:
        return None
    keep = py0 + stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] >= low - lift * bh
    for inside, line in ((py0 < y0, labels[0, :]), (px0 < x0, labels[:, 0]), (px1 > x1, labels[:, -1])):
        if inside:
            keep[line] = False
    keep[0] = False
    if not keep.any():
        return None
    out = np.zeros_like(body)
    out[py0:py1, px0:px1] = keep[labels]
    return out
