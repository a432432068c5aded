"""resample2d against grid_sample(border, align_corners=True) and a corner-clamp loop reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import requires_ext
from ref_warp import resample2d_ref

from lecinpaint.ops import resample2d
from lecinpaint.ops.resample2d import _resample2d_fallback

pytestmark = requires_ext


def grid_sample_warp(input: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The specification: grid_sample with the pixel grid normalised by (W-1, H-1)."""
    N, _, H, W = input.shape
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=flow.dtype), torch.arange(W, dtype=flow.dtype), indexing="ij"
    )
    gx = 2 * (xs + flow[:, 0]) / (W - 1) - 1
    gy = 2 * (ys + flow[:, 1]) / (H - 1) - 1
    grid = torch.stack((gx, gy), -1)
    return F.grid_sample(input, grid, mode="bilinear", padding_mode="border", align_corners=True)


def make(N, C, H, W, scale, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, H, W, generator=g, dtype=dtype)
    f = torch.randn(N, 2, H, W, generator=g, dtype=dtype) * scale
    return x, f


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 5, 7), (1, 4, 9, 4), (3, 2, 1, 6), (2, 1, 6, 1)])
@pytest.mark.parametrize("scale", [0.7, 3.0, 1000.0])
def test_values_match_corner_clamp_reference(shape, scale):
    x, f = make(*shape, scale)
    torch.testing.assert_close(resample2d(x, f), resample2d_ref(x, f), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("scale", [0.5, 4.0, 50.0])
def test_values_and_gradients_match_grid_sample(dtype, tol, scale, seed):
    x, f = make(2, 3, 11, 13, scale, dtype, seed)
    xa, fa = x.clone().requires_grad_(), f.clone().requires_grad_()
    xb, fb = x.clone().requires_grad_(), f.clone().requires_grad_()
    out_a = resample2d(xa, fa)
    out_b = grid_sample_warp(xb, fb)
    torch.testing.assert_close(out_a, out_b, rtol=tol, atol=tol)
    g = torch.randn_like(out_a)
    ga = torch.autograd.grad(out_a, (xa, fa), g)
    gb = torch.autograd.grad(out_b, (xb, fb), g)
    torch.testing.assert_close(ga[0], gb[0], rtol=tol, atol=tol)
    torch.testing.assert_close(ga[1], gb[1], rtol=tol, atol=10 * tol)


def test_flow_gradient_is_zero_beyond_the_border():
    x, _ = make(1, 2, 5, 6, 1.0)
    f = torch.full((1, 2, 5, 6), 100.0, dtype=torch.float64, requires_grad=True)
    out = resample2d(x, f)
    torch.testing.assert_close(out, x[:, :, -1:, -1:].expand_as(out))
    (gf,) = torch.autograd.grad(out.sum(), f)
    assert torch.count_nonzero(gf) == 0


def test_zero_flow_is_identity_and_integer_flow_shifts():
    x, _ = make(2, 3, 6, 8, 1.0)
    f = torch.zeros(2, 2, 6, 8, dtype=torch.float64)
    assert torch.equal(resample2d(x, f), x)
    f[:, 1] = 1.0  # read the row below; the last row replicates
    out = resample2d(x, f)
    assert torch.equal(out[:, :, :-1], x[:, :, 1:])
    assert torch.equal(out[:, :, -1], x[:, :, -1])


def test_nan_flow_stays_in_bounds():
    x, f = make(1, 2, 4, 5, 1.0)
    f[0, 0, 1, 1] = float("nan")
    f[0, 1, 2, 2] = float("inf")
    f[0, 0, 3, 3] = -float("inf")
    out = resample2d(x, f)
    assert out.shape == x.shape  # and no crash: indices never leave the image


def test_empty_batch_and_empty_channels():
    x, f = make(0, 3, 5, 6, 1.0)
    assert resample2d(x, f).shape == (0, 3, 5, 6)
    x, f = make(2, 0, 5, 6, 1.0)
    assert resample2d(x, f).shape == (2, 0, 5, 6)
    x, f = make(0, 3, 5, 6, 1.0)
    xr, fr = x.requires_grad_(), f.requires_grad_()
    gi, gf = torch.autograd.grad(resample2d(xr, fr).sum(), (xr, fr), allow_unused=True)
    assert gi is None or gi.shape == x.shape


def test_non_contiguous_inputs():
    x, f = make(2, 3, 8, 10, 3.0)
    expected = resample2d_ref(x, f)
    x_cl = x.to(memory_format=torch.channels_last)
    f_t = f.transpose(2, 3).contiguous().transpose(2, 3)
    torch.testing.assert_close(resample2d(x_cl, f_t), expected, rtol=1e-12, atol=1e-12)
    big_x, big_f = make(2, 6, 16, 20, 3.0)
    xs, fs = big_x[:, ::2, ::2, ::2], big_f[:, :, ::2, ::2]
    assert not xs.is_contiguous() and not fs.is_contiguous()
    torch.testing.assert_close(resample2d(xs, fs), resample2d_ref(xs, fs), rtol=1e-12, atol=1e-12)


def test_gradcheck(seed):
    x, f = make(2, 2, 4, 5, 2.0, seed=seed)
    # Keep sampling points away from integer coordinates, where the interpolant has kinks.
    f = f + 0.25
    assert torch.autograd.gradcheck(resample2d, (x.requires_grad_(), f.requires_grad_()))


def test_opcheck():
    x, f = make(1, 2, 4, 3, 2.0)
    torch.library.opcheck(torch.ops.lecinpaint.resample2d.default, (x.requires_grad_(), f.requires_grad_()))


def test_fallback_agrees_with_compiled():
    x, f = make(2, 3, 9, 11, 5.0, dtype=torch.float32)
    xa, fa = x.clone().requires_grad_(), f.clone().requires_grad_()
    xb, fb = x.clone().requires_grad_(), f.clone().requires_grad_()
    a, b = resample2d(xa, fa), _resample2d_fallback(xb, fb)
    torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-5)
    g = torch.randn_like(a)
    for u, v in zip(torch.autograd.grad(a, (xa, fa), g), torch.autograd.grad(b, (xb, fb), g)):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-4)


def test_errors_name_the_op_and_the_problem():
    x, f = make(1, 3, 4, 5, 1.0)
    with pytest.raises(ValueError, match="resample2d: kernel_size must be 1"):
        resample2d(x, f, kernel_size=3)
    with pytest.raises(ValueError, match=r"resample2d: flow must have shape \(N, 2, H, W\)"):
        resample2d(x, torch.zeros(1, 3, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="resample2d: input and flow must have the same N, H, W"):
        resample2d(x, torch.zeros(1, 2, 4, 6, dtype=torch.float64))
    with pytest.raises(TypeError, match="resample2d: input and flow must have the same dtype"):
        resample2d(x, f.float())
    with pytest.raises(TypeError, match="resample2d: input must be float32 or float64"):
        resample2d(x.to(torch.uint8), f)
    with pytest.raises(ValueError, match="resample2d: input must be 4-D"):
        resample2d(x[0], f)
    # The registered op checks too, for callers of torch.ops directly.
    with pytest.raises(RuntimeError, match="resample2d: flow must have shape"):
        torch.ops.lecinpaint.resample2d(x, torch.zeros(1, 3, 4, 5, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="resample2d: input and flow must have the same N, H, W"):
        torch.ops.lecinpaint.resample2d(x, torch.zeros(2, 2, 4, 5, dtype=torch.float64))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_cuda_matches_cpu(dtype, tol):
    x, f = make(2, 3, 33, 47, 8.0, dtype)
    xc, fc = x.cuda().requires_grad_(), f.cuda().requires_grad_()
    xh, fh = x.clone().requires_grad_(), f.clone().requires_grad_()
    out_c, out_h = resample2d(xc, fc), resample2d(xh, fh)
    torch.testing.assert_close(out_c.cpu(), out_h, rtol=tol, atol=tol)
    g = torch.randn_like(out_h)
    for u, v in zip(torch.autograd.grad(out_c, (xc, fc), g.cuda()), torch.autograd.grad(out_h, (xh, fh), g)):
        torch.testing.assert_close(u.cpu(), v, rtol=10 * tol, atol=10 * tol)


@pytest.mark.cuda
def test_cuda_gradcheck_and_opcheck():
    x, f = make(2, 2, 5, 6, 2.0)
    x, f = x.cuda().requires_grad_(), (f + 0.25).cuda().requires_grad_()
    assert torch.autograd.gradcheck(resample2d, (x, f))
    torch.library.opcheck(torch.ops.lecinpaint.resample2d.default, (x, f))


@pytest.mark.parametrize("shape", [(2, 1, 6, 1), (1, 2, 1, 5), (1, 1, 1, 1)])
def test_wrapper_falls_back_to_pure_pytorch(monkeypatch, shape):
    import importlib

    # The module, not the function of the same name that lecinpaint.ops exports.
    mod = importlib.import_module("lecinpaint.ops.resample2d")

    monkeypatch.setattr(mod, "backend_for", lambda t: "fallback")
    x, f = make(*shape, 2.0)
    torch.testing.assert_close(resample2d(x, f), resample2d_ref(x, f), rtol=1e-12, atol=1e-12)
