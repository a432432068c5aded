"""``completion.laplace_fill``'s two solvers (numpy/OpenCV on CPU, PyTorch elsewhere) against an exact
dense solve written here, and against each other; the documented box margin and ``min_size`` rules.

The PyTorch solver runs only for non-CPU tensors in ``laplace_fill``; its level function is called here
directly on CPU tensors over the same box, so that the comparison runs on every machine.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.completion import _BOX_MARGIN, _bbox, _fill_level, laplace_fill


def dense_membrane(v: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Exact discrete Laplace solve, 5-point stencil, replicate border; ``v`` (C, H, W), float64."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    m = ys.size
    index = -np.ones((h, w), int)
    index[ys, xs] = np.arange(m)
    a = np.zeros((m, m))
    b = np.zeros((m, v.shape[0]))
    for k, (y, x) in enumerate(zip(ys, xs)):
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            yy, xx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)
            a[k, k] += 1
            if hole[yy, xx]:
                a[k, index[yy, xx]] -= 1
            else:
                b[k] += v[:, yy, xx]
    out = v.copy()
    out[:, ys, xs] = np.linalg.solve(a, b).T
    return out


def _problem(h: int = 48, w: int = 64, border: bool = False) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # Harmonic fields with curvature (a linear field is too easy: every smoother reproduces it).
    v = np.stack([np.sin(xx / 9) * np.cosh(yy / 9) / 5, 0.02 * (xx**2 - yy**2) + 3, -0.05 * xx * yy])
    hole = np.zeros((h, w), bool)
    hole[12:36, 20:46] = True
    hole[30:40, 40:50] = True
    if border:
        hole[20:30, w - 6 :] = True  # the replicate border condition matters here
    return v, hole


def _torch_solver(t: torch.Tensor, hole: np.ndarray, iters: int, min_size: int = 4) -> np.ndarray:
    y0, y1, x0, x1 = _bbox(hole, _BOX_MARGIN)
    known = (~torch.from_numpy(hole[y0:y1, x0:x1]))[None, None].float()
    out = t.clone()
    out[0, :, y0:y1, x0:x1] = _fill_level(t[:, :, y0:y1, x0:x1] * known, known, iters, min_size)[0]
    return out[0].double().numpy()


@pytest.mark.parametrize("border", [False, True])
def test_cpu_and_torch_solvers_against_the_exact_solve(border: bool) -> None:
    v, hole = _problem(border=border)
    ref = dense_membrane(v, hole)
    scale = float(np.ptp(ref[:, hole]))
    t = torch.from_numpy(v).float()[None]
    cpu = laplace_fill(t, torch.from_numpy(hole))[0].double().numpy()
    tor = _torch_solver(t, hole, iters=6)
    assert np.array_equal(cpu[:, ~hole], v[:, ~hole].astype(np.float32))
    # Measured: 2e-4 of the range inside the image, 1e-2 where the hole meets the border.
    assert np.abs(cpu - ref)[:, hole].max() < (2e-2 if border else 1e-3) * scale
    # The PyTorch pyramid with the default sweeps is coarser, and converges with more sweeps.
    err6 = np.abs(tor - ref)[:, hole].max()
    err60 = np.abs(_torch_solver(t, hole, iters=60) - ref)[:, hole].max()
    assert err6 < 2e-2 * scale
    assert err60 < 0.5 * err6 and err60 < 2e-3 * scale
    # The two variants agree with each other to the torch solver's accuracy.
    assert np.abs(cpu - tor)[:, hole].max() < 2e-2 * scale


def test_known_values_beyond_the_box_margin_do_not_matter_and_cpu_ignores_min_size() -> None:
    v, hole = _problem(64, 96)
    t = torch.from_numpy(v).float()[None]
    th = torch.from_numpy(hole)
    base = laplace_fill(t, th)
    far = t.clone()
    far[..., 0 : 12 - _BOX_MARGIN + 12, :] = 1e3  # rows 0..7: more than the margin above the hole
    far[..., :, 50 + _BOX_MARGIN :] = -1e3  # columns right of the grown box
    assert _bbox(hole, _BOX_MARGIN) == (0, 56, 4, 66)
    got = laplace_fill(far, th)
    assert torch.equal(got[..., th], base[..., th])
    # Known values at the hole's edge do matter (the test's premise).
    near = t.clone()
    near[..., 11, 20:46] += 10
    assert not torch.equal(laplace_fill(near, th)[..., th], base[..., th])
    # min_size is the PyTorch path's; the CPU path gives the same result for any value.
    for min_size in (1, 2, 8, 32):
        assert torch.equal(laplace_fill(t, th, min_size=min_size), base)
