"""Inpainting where direction and quality of interpolation matter: ramps, not flat colours."""

from __future__ import annotations

import numpy as np
import pytest

from lecinpaint import Config, Engine
from lecinpaint.fill import Inpainter


def _ramp(h: int = 60, w: int = 96, vertical: bool = False) -> np.ndarray:
    """Red rises left to right (or top to bottom), green falls, blue is constant."""
    n = h if vertical else w
    t = np.linspace(0.0, 1.0, n)
    line = np.stack([30 + 200 * t, 220 - 180 * t, np.full(n, 90.0)], axis=-1)
    img = line[:, None, :].repeat(w, 1) if vertical else line[None, :, :].repeat(h, 0)
    return np.rint(img).astype(np.uint8)


# Measured (max / mean error in levels, scale 1 and 0.5): rows 3-4 / 0.6-1.1, laplace 1 / 0.08,
# Navier-Stokes 15-18 / 2.8-3.7, Telea 26-30 / 4.3-4.5; Telea wobbles along the rows.
@pytest.mark.parametrize(
    ("method", "max_err", "mean_err", "monotone"),
    [("rows", 5, 1.5, True), ("laplace", 2, 0.2, True), ("ns", 22, 4.5, False), ("telea", 34, 5.5, False)],
)
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_horizontal_ramp_is_continued_in_its_direction(
    method: str, max_err: int, mean_err: float, monotone: bool, scale: float
) -> None:
    truth = _ramp()
    hole = np.zeros(truth.shape[:2], bool)
    hole[15:45, 30:62] = True
    frame = truth.copy()
    frame[hole] = (0, 255, 0)
    out = Inpainter(method, 3, scale)(frame, hole)
    assert np.array_equal(out[~hole], frame[~hole])
    err = np.abs(out[hole].astype(int) - truth[hole])
    assert err.max() <= max_err and err.mean() <= mean_err, (method, scale, int(err.max()), err.mean())
    # Red rises and green falls across the hole, as around it (step by step where the method is smooth).
    row = out[30, 29:63].astype(int)
    assert row[-1, 0] - row[0, 0] > 60 and row[0, 1] - row[-1, 1] > 50
    if monotone:
        assert np.all(np.diff(row[:, 0]) >= -1) and np.all(np.diff(row[:, 1]) <= 1)


def test_rows_across_a_vertical_ramp_keep_each_rows_level() -> None:
    # Along a row nothing changes in a vertical ramp: the row fill must reproduce each row's own level
    # (a fill across rows or with the ends mixed up would not).
    truth = _ramp(vertical=True)
    hole = np.zeros(truth.shape[:2], bool)
    hole[10:50, 20:70] = True
    frame = truth.copy()
    frame[hole] = 0
    out = Inpainter("rows", 3, 1.0)(frame, hole)
    assert np.abs(out[hole].astype(int) - truth[hole]).max() <= 2


def test_engine_single_frame_continues_a_ramp() -> None:
    # One frame, no other frame to copy from: the engine's last resort must continue the ramp.
    truth = _ramp()
    hole = np.zeros(truth.shape[:2], bool)
    hole[15:45, 30:62] = True
    frame = truth.copy()
    frame[hole] = (255, 0, 255)
    (out,) = list(Engine(Config(dilation=0, device="cpu", stabilize=0)).run([frame], masks=[hole]))
    assert np.array_equal(out[~hole], frame[~hole])
    # The default inpainting runs at half resolution: a couple of levels of error, never the hole colour.
    assert np.abs(out[hole].astype(int) - truth[hole]).max() <= 6
