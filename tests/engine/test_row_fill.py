"""``fill.row_fill`` (the default inpainter) against a per-pixel reference written from its docstring.

The reference: the ends are read from the mean of the known pixels in a ``smooth`` x ``smooth`` window
(OpenCV's default border, reflect-101, as the box filter the docstring names); each hole pixel is the
linear interpolation between the nearest known pixel to its left and to its right in its row (the one
side's value where the run reaches the border); a row with no known pixel is bridged along its column;
a pixel with neither keeps its value.
"""

from __future__ import annotations

import numpy as np
import pytest

from lecinpaint.fill import Inpainter, row_fill


def _reflect101(i: int, n: int) -> int:
    if n == 1:
        return 0
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def _smoothed(img: np.ndarray, hole: np.ndarray, k: int) -> np.ndarray:
    h, w = hole.shape
    r = k // 2
    out = np.zeros(img.shape, np.float64)
    for y in range(h):
        for x in range(w):
            acc = np.zeros(img.shape[2])
            cnt = 0
            for dy in range(-r, k - r):
                for dx in range(-r, k - r):
                    yy, xx = _reflect101(y + dy, h), _reflect101(x + dx, w)
                    if not hole[yy, xx]:
                        acc += img[yy, xx]
                        cnt += 1
            out[y, x] = acc / cnt if cnt else 0.0
    return out


def _line(base: np.ndarray, known: np.ndarray, i: int) -> np.ndarray | None:
    """Fill position ``i`` of one line from its nearest known ends; None if the line has no known pixel."""
    idx = np.flatnonzero(known)
    if idx.size == 0:
        return None
    left = idx[idx < i]
    right = idx[idx > i]
    if left.size and right.size:
        a, b = int(left[-1]), int(right[0])
        t = (i - a) / (b - a)
        return (1 - t) * base[a] + t * base[b]
    return base[int(left[-1])] if left.size else base[int(right[0])]


def row_fill_reference(img: np.ndarray, hole: np.ndarray, smooth: int = 5) -> np.ndarray:
    base = _smoothed(img.astype(np.float64), hole, smooth)
    out = img.copy()
    h, w = hole.shape
    for y in range(h):
        for x in range(w):
            if not hole[y, x]:
                continue
            v = _line(base[y], ~hole[y], x)
            if v is None:
                v = _line(base[:, x], ~hole[:, x], y)
            if v is not None:
                out[y, x] = np.clip(np.rint(v), 0, 255)
    return out


def _assert_close(out: np.ndarray, ref: np.ndarray, hole: np.ndarray) -> None:
    # float32 against float64: a value at exactly .5 may round either way.
    assert np.array_equal(out[~hole], ref[~hole])
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1, f"max difference {diff.max()} at {np.unravel_index(diff.argmax(), diff.shape)}"
    assert (diff[hole] == 0).mean() > 0.97


@pytest.mark.parametrize("smooth", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_noise(smooth: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (14, 23, 3), dtype=np.uint8)
    hole = np.zeros((14, 23), bool)
    hole[2:12, 6:15] = True  # interior: both ends known
    hole[5:9, 0:3] = True  # touches the left border: right end only
    hole[3:6, 20:23] = True  # touches the right border: left end only
    hole[rng.random((14, 23)) < 0.08] = True  # scattered single pixels
    _assert_close(row_fill(img, hole, smooth), row_fill_reference(img, hole, smooth), hole)


def test_matches_reference_with_rows_fully_hidden() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)
    hole = np.zeros((12, 9), bool)
    hole[4:7, :] = True  # whole rows: bridged along the columns
    hole[2:10, 3] = True
    _assert_close(row_fill(img, hole), row_fill_reference(img, hole), hole)
    # A pixel with no known pixel in its row nor its column keeps its value.
    hole2 = np.zeros((5, 5), bool)
    hole2[2, :] = True
    hole2[:, 2] = True
    out = row_fill(img[:5, :5], hole2)
    assert np.array_equal(out[2, 2], img[2, 2])


def test_direction_left_dark_right_bright() -> None:
    # Each row is dark on the left of the hole and bright on its right: the fill must rise from left to
    # right, linearly, from the left end's value to the right end's.
    h, w = 8, 40
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :10] = 20
    img[:, 30:] = 220
    hole = np.zeros((h, w), bool)
    hole[:, 10:30] = True
    out = row_fill(img, hole, smooth=1)
    row = out[3, :, 0].astype(int)
    expected = np.rint(20 + (np.arange(10, 30) - 9) / 21 * 200).astype(int)
    assert np.array_equal(row[10:30], expected)
    assert np.all(np.diff(row[9:31]) > 0)


def test_end_smoothing_reads_local_means() -> None:
    # The pixels next to the hole are outliers (a noisy edge); with smoothing the ends are the local
    # means, so the fill stays near the true level instead of copying the outliers across.
    h, w = 9, 30
    img = np.full((h, w, 3), 100, np.uint8)
    hole = np.zeros((h, w), bool)
    hole[:, 12:18] = True
    img[:, 11] = 250
    img[:, 18] = 250
    smooth = row_fill(img, hole, smooth=5)
    raw = row_fill(img, hole, smooth=1)
    assert np.all(raw[hole] == 250)
    # The 5x5 window at column 11 holds 3 known columns: 100, 100, 250 -> mean 150.
    assert np.all(smooth[hole] == 150)
    assert np.array_equal(smooth, row_fill_reference(img, hole, 5))


def test_no_hole_returns_a_copy_and_inpainter_uses_row_fill() -> None:
    img = np.random.default_rng(4).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    hole = np.zeros((10, 12), bool)
    out = row_fill(img, hole)
    assert np.array_equal(out, img) and out is not img
    hole[3:7, 4:9] = True
    # At full scale the default inpainter is row_fill on a crop around the hole; the crop covers the
    # whole of this small image, so the results agree exactly.
    assert np.array_equal(Inpainter("rows", 3, 1.0)(img, hole), row_fill(img, hole))
