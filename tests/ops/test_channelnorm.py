"""channelnorm against a numpy reference; its backward is finite at x = 0."""

from __future__ import annotations

import pytest
import torch
from conftest import requires_ext
from ref_warp import channelnorm_grad_ref, channelnorm_ref

from lecinpaint.ops import channelnorm
from lecinpaint.ops.channelnorm import _channelnorm_fallback

pytestmark = requires_ext


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (1, 17, 33, 65), (3, 2, 1, 1500)])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_forward_and_backward_match_reference(shape, dtype, tol):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=g, dtype=dtype, requires_grad=True)
    out = channelnorm(x)
    assert out.shape == (shape[0], 1, shape[2], shape[3])
    torch.testing.assert_close(out.double(), channelnorm_ref(x), rtol=tol, atol=tol)
    grad = torch.randn(out.shape, generator=g, dtype=dtype)
    (gx,) = torch.autograd.grad(out, x, grad)
    torch.testing.assert_close(gx.double(), channelnorm_grad_ref(grad, x), rtol=tol, atol=tol)


def test_gradient_is_finite_at_zero():
    x = torch.zeros(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    out = channelnorm(x)
    (gx,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(gx, torch.zeros_like(gx))


def test_gradcheck(seed):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(channelnorm, (x,), atol=1e-6)


def test_non_contiguous_and_empty():
    x = torch.randn(2, 6, 10, 12, dtype=torch.float64)
    for v in (x[:, ::2, 1:, ::3], x.to(memory_format=torch.channels_last), x.transpose(2, 3)):
        assert not v.is_contiguous()
        torch.testing.assert_close(channelnorm(v), channelnorm_ref(v), rtol=1e-12, atol=1e-12)
    assert channelnorm(torch.zeros(0, 3, 4, 5)).shape == (0, 1, 4, 5)
    assert torch.equal(channelnorm(torch.zeros(2, 0, 4, 5)), torch.zeros(2, 1, 4, 5))


def test_opcheck():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(torch.ops.lecinpaint.channelnorm.default, (x,))


def test_fallback_agrees_with_compiled():
    x = torch.randn(2, 5, 9, 11)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = channelnorm(xa), _channelnorm_fallback(xb)
    torch.testing.assert_close(a, b)
    g = torch.randn_like(a)
    torch.testing.assert_close(torch.autograd.grad(a, xa, g)[0], torch.autograd.grad(b, xb, g)[0])


def test_errors_name_the_op():
    with pytest.raises(ValueError, match="channelnorm: input must be 4-D"):
        channelnorm(torch.zeros(3, 4, 5))
    with pytest.raises(TypeError, match="channelnorm: input must be float32 or float64"):
        channelnorm(torch.zeros(1, 3, 4, 5, dtype=torch.int32))
    with pytest.raises(RuntimeError, match="channelnorm: input must be float32 or float64"):
        torch.ops.lecinpaint.channelnorm(torch.zeros(1, 3, 4, 5, dtype=torch.int32))


@pytest.mark.cuda
def test_cuda_matches_cpu_and_gradcheck():
    x = torch.randn(2, 7, 19, 23, dtype=torch.float64)
    xc, xh = x.cuda().requires_grad_(), x.clone().requires_grad_()
    a, b = channelnorm(xc), channelnorm(xh)
    torch.testing.assert_close(a.cpu(), b)
    g = torch.randn_like(b)
    torch.testing.assert_close(
        torch.autograd.grad(a, xc, g.cuda())[0].cpu(), torch.autograd.grad(b, xh, g)[0]
    )
    small = torch.randn(1, 3, 4, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(channelnorm, (small,), atol=1e-6)


def test_wrapper_falls_back_to_pure_pytorch(monkeypatch):
    import importlib

    # The module, not the function of the same name that lecinpaint.ops exports.
    mod = importlib.import_module("lecinpaint.ops.channelnorm")

    monkeypatch.setattr(mod, "backend_for", lambda t: "fallback")
    x = torch.zeros(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    out = channelnorm(x)
    (gx,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(gx, torch.zeros_like(gx))  # the eps backward, not sqrt's nan
    y = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(channelnorm(y), channelnorm_ref(y), rtol=1e-12, atol=1e-12)
