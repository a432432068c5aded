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


def test_in_place_fill_equals_the_copy_and_touches_only_the_hole() -> None:
    rng = np.random.default_rng(3)
    img = np.clip(150 + rng.normal(0, 6, (90, 160, 3)), 0, 255).astype(np.uint8)
    img[40:43] = 50  # a ledge
    hole = np.zeros((90, 160), bool)
    hole[20:70, 60:95] = True
    hole[5:9, 10:14] = True  # a second, small hole far away
    ref = board_fill(img, hole)
    work = img.copy()
    out = board_fill(work, hole, in_place=True)
    assert out is work and np.array_equal(work, ref)
    assert np.array_equal(work[~hole], img[~hole]) and not np.array_equal(work[hole], img[hole])


def test_band_levels_are_per_row_medians_of_the_known_band() -> None:
    from lecinpaint.board import _band_levels

    rng = np.random.default_rng(5)
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(4, 60, 2))
        band = int(rng.integers(2, 16))
        detail = rng.normal(size=(h, w, 3)).astype(np.float32)
        hole = rng.random((h, w)) < rng.random() * 0.6
        first, last, left, right = _band_levels(detail, hole, band)
        for y in range(h):
            cols = np.flatnonzero(hole[y])
            if not cols.size:
                assert first[y] == last[y] == -1 and np.isnan(left[y]).all() and np.isnan(right[y]).all()
                continue
            a, b = cols[0], cols[-1]
            assert (first[y], last[y]) == (a, b)
            sides = ((np.arange(max(0, a - band), a), left[y]), (np.arange(b + 1, min(w, b + 1 + band)), right[y]))
            for seg, got in sides:
                known = seg[~hole[y, seg]]
                if known.size >= max(1, band // 2):
                    assert np.allclose(got, np.median(detail[y, known], axis=0), atol=1e-6)
                else:
                    assert np.isnan(got).all()


def _room_bottom(h: int = 180, w: int = 320) -> np.ndarray:
    """The bottom of a lecture room under a lit board: a tray's light lip and its shadow, a ledge, a floor
    line and the floor, each 2 to 8 rows thick."""
    x = np.linspace(0, 1, w, dtype=np.float32)
    img = np.repeat((170 + 30 * x)[None, :, None], h, axis=0).repeat(3, axis=2)
    for r0, r1, v in ((140, 142, 235), (142, 146, 120), (150, 152, 230), (152, 160, 95), (166, 168, 60)):
        img[r0:r1] = v
    img[168:] = 80
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _standing_figure(h: int = 180, w: int = 320) -> np.ndarray:
    """A lecturer's hole: a body, two legs, and feet that widen downwards (rows of different widths)."""
    yy, xx = np.mgrid[:h, :w]
    hole = (yy >= 20) & (yy < 150) & (np.abs(xx - 160) < 22)
    hole |= (yy >= 130) & (yy < 172) & (np.abs(xx - 140) < 12)
    hole |= (yy >= 130) & (yy < 174) & (np.abs(xx - 183) < 14 + (yy - 130) // 6)
    return hole


def _fill_room(marks=None, value=(20, 40, 200)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The room's bottom with ``marks(img)`` drawn on it, the lecturer's hole painted ``value`` and filled:
    ``(clean, hole, out)``; the pixels outside the hole are checked to be the input's."""
    clean, hole = _room_bottom(), _standing_figure()
    inp = clean.copy()
    if marks is not None:
        marks(inp)
    inp[hole] = value
    out = board_fill(inp, hole)
    assert np.array_equal(out[~hole], inp[~hole])
    return clean, hole, out


def test_thin_bands_behind_the_feet_make_no_blocks():
    """Each thin band at the bottom of the room runs through the hole at its own level, row by row: a
    coarse field smears them into grey blocks the shape of the feet."""
    clean, hole, out = _fill_room()
    err = np.abs(out.astype(int) - clean.astype(int)).max(axis=2)
    per_row = [err[y][hole[y]].mean() for y in range(hole.shape[0]) if hole[y].any()]
    p99 = np.percentile(err[hole], 99)
    assert max(per_row) < 2.0 and p99 <= 3, (max(per_row), p99)


def test_an_object_on_the_tray_at_the_hole_end_is_not_continued():
    """A marker lying on the tray, its far end behind the lecturer's leg: the tray continues, the marker
    does not (it covers a minority of the wide band and of the rows)."""
    def marker(img: np.ndarray) -> None:
        img[136:140, 124:138] = (30, 140, 40)  # green, 4 px of it visible left of the leg

    clean, hole, out = _fill_room(marker, 0)
    rows = hole[136:140]
    err = np.abs(out[136:140].astype(int) - clean[136:140].astype(int))[rows]
    assert err.mean() < 2.0, err.mean()


def test_a_long_underline_ending_at_the_hole_is_not_continued():
    """An underline longer than the wide band, ending where the lecturer begins: it fills the band, but
    it is two rows thin, a minority of the rows the level is taken over, so it is not drawn across."""
    def underline(img: np.ndarray) -> None:
        img[60:62, 90:138] = 40  # 48 px of underline up to the body's edge (x = 138)

    clean, hole, out = _fill_room(underline, 0)
    err = np.abs(out[60:62].astype(int) - clean[60:62].astype(int))[hole[60:62]]
    assert err.mean() < 3.0, err.mean()
