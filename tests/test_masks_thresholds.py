"""MaskStabilizer's speck removal and hole filling at their exact thresholds, and its temporal support.

A 100 x 100 frame makes the fractions whole pixel counts: speck_fraction 0.0036 -> 36 px,
tiny_fraction 0.0009 -> 9 px, hole_fraction 0.002 -> 20 px. The docstring's rules: a component is a speck
when it has fewer pixels than the speck area, and is then dropped unless it has at least the tiny area and
touches (within ~1 % of the shorter side, here 2 px) the raw mask of a neighbouring frame in the window,
past or future; an enclosed background region with fewer pixels than the hole area becomes hole.
"""

from __future__ import annotations

import numpy as np
import pytest

from lecinpaint.masks import MaskStabilizer

N = 100


def _stab(lookahead: int = 1) -> MaskStabilizer:
    return MaskStabilizer(
        lookahead=lookahead, speck_fraction=0.0036, tiny_fraction=0.0009, hole_fraction=0.002
    )


def _run(stab: MaskStabilizer, masks: list[np.ndarray]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for m in masks:
        out += stab.push(m)
    return out + stab.flush()


def _blank() -> np.ndarray:
    return np.zeros((N, N), bool)


def _rect(h: int, w: int, y: int = 40, x: int = 40) -> np.ndarray:
    m = _blank()
    m[y : y + h, x : x + w] = True
    return m


@pytest.mark.parametrize(
    ("shape", "kept"),
    [((6, 6), True), ((4, 9), True), ((5, 7), False), ((1, 35), False), ((3, 12), True)],
)
def test_speck_area_threshold_without_support(shape: tuple[int, int], kept: bool) -> None:
    # One frame, no neighbours: components of >= 36 px stay, smaller ones go.
    m = _rect(*shape)
    out = _run(_stab(0), [m])[0]
    assert np.array_equal(out, m if kept else _blank())


def test_speck_area_threshold_on_a_non_rectangular_component() -> None:
    # A notched block of exactly 36 px (7x6 minus 6) stays; with one pixel fewer it goes.
    m = _rect(7, 6)
    m[40, 41:46] = False
    m[46, 45] = False  # 42 - 5 - 1 = 36 px
    assert int(m.sum()) == 36
    assert np.array_equal(_run(_stab(0), [m])[0], m)
    m[46, 44] = False  # 35 px
    assert not _run(_stab(0), [m])[0].any()


@pytest.mark.parametrize("side", ["future", "past"])
def test_speck_supported_by_one_neighbouring_frame_is_kept(side: str) -> None:
    # Frame 1 has a 20 px speck; only the frame after it (or only the one before) shows it too.
    speck = _rect(4, 5, 10, 10)
    frames = [_blank(), speck, _blank()]
    if side == "future":
        frames[2] = _rect(4, 5, 10, 12)  # moved by 2 px: within reach
    else:
        frames[0] = _rect(4, 5, 10, 12)
    out = _run(_stab(1), frames)
    assert np.array_equal(out[1], speck)


@pytest.mark.parametrize("side", ["future", "past"])
def test_speck_support_reach_is_two_pixels(side: str) -> None:
    speck = _rect(4, 5, 10, 10)  # columns 10..14
    for gap_start, kept in ((16, True), (17, False)):  # 2 px away (within reach), 3 px away (not)
        other = _rect(4, 5, 10, gap_start)
        frames = [_blank(), speck, _blank()]
        frames[2 if side == "future" else 0] = other
        out = _run(_stab(1), frames)
        assert np.array_equal(out[1], speck if kept else _blank()), (side, gap_start)


def test_speck_support_needs_the_tiny_area() -> None:
    # Supported in every frame, a 9 px speck (tiny area) stays and an 8 px one goes.
    for shape, kept in (((3, 3), True), ((2, 4), False)):
        m = _rect(*shape)
        out = _run(_stab(1), [m, m, m])
        for t, o in enumerate(out):
            assert np.array_equal(o, m if kept else _blank()), (shape, t)


def test_speck_support_at_the_stream_ends() -> None:
    # The first frame has only a future, the last only a past.
    m = _rect(4, 5)
    out = _run(_stab(2), [m, _blank(), _blank(), m, m])
    assert np.array_equal(out[0], _blank())  # its only neighbours in the window are empty
    assert np.array_equal(out[4], m)  # supported by frame 3
    out = _run(_stab(1), [m, m])
    assert np.array_equal(out[0], m) and np.array_equal(out[1], m)


def _enclosing(hole: np.ndarray) -> np.ndarray:
    """A large body (never a speck) with ``hole`` cut out of it."""
    m = _blank()
    m[20:80, 20:80] = True
    return m & ~hole


@pytest.mark.parametrize(
    ("shape", "filled"), [((4, 5), False), ((1, 20), False), ((3, 6), True), ((1, 19), True), ((2, 9), True)]
)
def test_enclosed_hole_area_threshold(shape: tuple[int, int], filled: bool) -> None:
    hole = _rect(*shape)
    m = _enclosing(hole)
    out = _run(_stab(0), [m])[0]
    assert np.array_equal(out, m | hole if filled else m)


def test_enclosed_hole_threshold_on_a_non_rectangular_hole() -> None:
    hole = _rect(4, 5)
    hole[40, 40] = False  # 19 px: filled
    assert int(hole.sum()) == 19
    m = _enclosing(hole)
    assert np.array_equal(_run(_stab(0), [m])[0], m | hole)
    hole = _rect(4, 6)
    hole[40, 40:44] = False  # 4x6 minus 4 = 20 px: kept open
    assert int(hole.sum()) == 20
    m = _enclosing(hole)
    assert np.array_equal(_run(_stab(0), [m])[0], m)


def test_hole_inside_a_dropped_speck_is_not_filled_and_several_holes_are_judged_each() -> None:
    ring = _rect(5, 5)
    ring[42, 42] = False  # a 24 px ring around 1 px: a speck, dropped with its hole
    assert not _run(_stab(0), [ring])[0].any()
    small, big = _rect(3, 3, 30, 30), _rect(5, 5, 60, 60)  # 9 px filled, 25 px kept
    m = _enclosing(small | big)
    assert np.array_equal(_run(_stab(0), [m])[0], m | small)
