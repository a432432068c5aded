"""The board-like fill: illumination, straight lines continued, strokes not smeared into streaks."""

from __future__ import annotations

import numpy as np

from lecinpaint.board import board_fill
from lecinpaint.fill import row_fill


def _board(h: int = 120, w: int = 200) -> np.ndarray:
    """A board lit brighter to the right (a ramp of 40 levels), with a dark ledge across rows 90-97."""
    x = np.linspace(0, 1, w, dtype=np.float32)
    img = np.repeat((180 + 40 * x)[None, :, None], h, axis=0).repeat(3, axis=2)
    img[90:98] *= 0.35
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _hole(h: int = 120, w: int = 200) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[10:110, 80:120] = True  # a lecturer-shaped tall hole across the ledge
    return hole


def test_illumination_and_ledge_are_continued():
    clean = _board()
    hole = _hole()
    inp = clean.copy()
    inp[hole] = (30, 90, 200)
    out = board_fill(inp, hole)
    assert np.array_equal(out[~hole], inp[~hole])
    err = np.abs(out.astype(int) - clean.astype(int))[hole]
    assert err.mean() < 3.0, err.mean()
    # The ledge runs through: its rows stay dark across the hole, the board above stays bright.
    assert out[92:96, 85:115].max() < 110 and out[40:80, 85:115].min() > 180


def test_a_stroke_at_the_hole_edge_is_not_smeared_into_a_streak():
    clean = _board()
    hole = _hole()
    inp = clean.copy()
    inp[50:53, 70:80] = 40  # handwriting that ends where the lecturer begins
    inp[hole] = 0
    out = board_fill(inp, hole)
    rows = row_fill(inp, hole)
    streak_board = np.abs(out[50:53, 85:115].astype(int) - clean[50:53, 85:115].astype(int)).mean()
    streak_rows = np.abs(rows[50:53, 85:115].astype(int) - clean[50:53, 85:115].astype(int)).mean()
    assert streak_board < 4.0 < streak_rows, (streak_board, streak_rows)


def test_vertical_lines_are_continued_too():
    clean = np.full((120, 200, 3), 200, np.uint8)
    clean[:, 98:102] = 60  # the board's frame, a vertical edge
    hole = np.zeros((120, 200), bool)
    hole[40:80, 60:140] = True  # a wide hole across it
    inp = clean.copy()
    inp[hole] = 255
    out = board_fill(inp, hole)
    assert out[45:75, 99:101].max() < 120
    assert out[45:75, 70:90].min() > 185


def test_degenerate_holes():
    img = _board()
    none = np.zeros(img.shape[:2], bool)
    assert np.array_equal(board_fill(img, none), img)
    assert np.array_equal(board_fill(img, ~none), img)  # nothing to fill from: left as it was
