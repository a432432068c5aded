"""lecinpaint.ops.correlation against the independent references of tests/ops/ref_correlation.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.ops.correlation import _correlation_fallback, correlation, correlation_output_shape
from tests.conftest import requires_ext
from tests.ops.ref_correlation import explicit_loop, explicit_loop_grads, shift_and_mean

# (shape (N, C, H, W), (pad_size, kernel_size, max_displacement, stride1, stride2))
FLOWNETC = ((2, 72, 9, 13), (20, 1, 20, 1, 2))  # C >= 64 reaches the widest CPU vector blocks
LOOP_CASES = {
    "k3_s1_2": ((2, 5, 11, 13), (3, 3, 3, 2, 1)),
    "k3_s1_2_s2_2": ((1, 19, 12, 10), (2, 3, 2, 2, 2)),
    "md_not_multiple_of_s2": ((2, 9, 9, 11), (2, 1, 3, 1, 2)),
    "pad_lt_md": ((1, 6, 10, 9), (1, 1, 3, 1, 1)),
    "pad_gt_md": ((1, 4, 5, 7), (4, 1, 2, 1, 1)),
    "no_pad_k5": ((1, 3, 9, 10), (0, 5, 1, 1, 1)),
    "s1_3_odd": ((1, 10, 13, 14), (2, 1, 2, 3, 2)),
    "k1_s1_1_wide_C": ((1, 72, 7, 9), (2, 1, 2, 1, 1)),
}


def _rand(shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype),
        torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype),
    )


def _tol(dtype: torch.dtype) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-12}


# --- the fallback and the references (always run) ------------------------------------------------------
@pytest.mark.parametrize("case", sorted(LOOP_CASES))
def test_fallback_matches_explicit_loop(case: str) -> None:
    shape, params = LOOP_CASES[case]
    f1, f2 = _rand(shape, torch.float64)
    np.testing.assert_allclose(_correlation_fallback(f1, f2, *params).numpy(), explicit_loop(f1, f2, *params),
                               rtol=1e-10, atol=1e-12)


def test_references_agree_and_fallback_matches_shift_and_mean() -> None:
    # The two references are independent formulations; they must agree where both apply.
    f1, f2 = _rand((1, 6, 9, 10), torch.float64)
    sm = shift_and_mean(f1, f2, 3, 3, 2).numpy()
    np.testing.assert_allclose(sm, explicit_loop(f1, f2, 3, 1, 3, 1, 2), rtol=1e-12, atol=1e-14)
    f1, f2 = _rand(FLOWNETC[0], torch.float64)
    np.testing.assert_allclose(_correlation_fallback(f1, f2, *FLOWNETC[1]).numpy(),
                               shift_and_mean(f1, f2, 20, 20, 2).numpy(), rtol=1e-10, atol=1e-12)


def test_output_shape_and_channel_order() -> None:
    # f2 is f1 moved by (+2 rows, -4 columns): the best match of an interior pixel is the displacement
    # dy = +2, dx = -4, i.e. channel (j+R)*D + (i+R) with j = 1, i = -2 (stride2 = 2, R = 2, D = 5).
    f1 = torch.randn(1, 64, 20, 24, generator=torch.Generator().manual_seed(3))
    f2 = torch.roll(f1, shifts=(2, -4), dims=(2, 3))
    out = _correlation_fallback(f1, f2, 4, 1, 4, 1, 2)
    assert out.shape == correlation_output_shape(f1.shape, 4, 1, 4, 1, 2) == (1, 25, 20, 24)
    assert torch.all(out[0, :, 5:15, 6:18].argmax(0) == (1 + 2) * 5 + (-2 + 2))


# --- the compiled op -------------------------------------------------------------------------------------
@requires_ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_flownetc_forward_and_backward_match_shift_and_mean(dtype: torch.dtype) -> None:
    shape, params = FLOWNETC
    f1, f2 = _rand(shape, torch.float64, seed=1)
    r1, r2 = f1.clone().requires_grad_(), f2.clone().requires_grad_()
    ref = shift_and_mean(r1, r2, 20, 20, 2)
    grad = torch.randn(ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref.backward(grad)

    a, b = f1.to(dtype).requires_grad_(), f2.to(dtype).requires_grad_()
    out = correlation(a, b, *params)
    assert out.dtype == dtype and out.shape == ref.shape == (2, 441, 9, 13)
    torch.testing.assert_close(out.double(), ref.detach(), **_tol(dtype))
    out.backward(grad.to(dtype))
    torch.testing.assert_close(a.grad.double(), r1.grad, **_tol(dtype))
    torch.testing.assert_close(b.grad.double(), r2.grad, **_tol(dtype))


@requires_ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", sorted(LOOP_CASES))
def test_forward_and_backward_match_explicit_loop(case: str, dtype: torch.dtype) -> None:
    shape, params = LOOP_CASES[case]
    f1, f2 = _rand(shape, torch.float64, seed=4)
    out = correlation(f1.to(dtype), f2.to(dtype), *params)
    np.testing.assert_allclose(out.double().numpy(), explicit_loop(f1, f2, *params), **_tol(dtype))
    grad = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    g1, g2 = torch.ops.lecinpaint._correlation_backward(grad.to(dtype), f1.to(dtype), f2.to(dtype), *params)
    e1, e2 = explicit_loop_grads(f1, f2, grad, *params)
    np.testing.assert_allclose(g1.double().numpy(), e1, **_tol(dtype))
    np.testing.assert_allclose(g2.double().numpy(), e2, **_tol(dtype))


def _noncontiguous(t: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "transposed":  # same values, strides of a (N, C, W, H) tensor
        v = t.transpose(2, 3).contiguous().transpose(2, 3)
    elif kind == "channels_last":
        v = t.contiguous(memory_format=torch.channels_last)
    else:  # every other channel of a tensor twice as deep
        big = torch.zeros(t.shape[0], 2 * t.shape[1], *t.shape[2:], dtype=t.dtype)
        big[:, ::2] = t
        v = big[:, ::2]
    assert torch.equal(v, t) and (not v.is_contiguous() or kind == "channels_last")
    return v


@requires_ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["transposed", "channels_last", "sliced"])
def test_noncontiguous_inputs(kind: str, dtype: torch.dtype) -> None:
    shape, params = LOOP_CASES["k3_s1_2_s2_2"]
    f1, f2 = _rand(shape, dtype, seed=6)
    expected = correlation(f1, f2, *params)
    a, b = _noncontiguous(f1, kind).requires_grad_(), _noncontiguous(f2, kind).requires_grad_()
    out = correlation(a, b, *params)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    grad = torch.randn(out.shape, dtype=dtype, generator=torch.Generator().manual_seed(7))
    out.backward(_noncontiguous(grad, kind))
    e1, e2 = torch.ops.lecinpaint._correlation_backward(grad, f1, f2, *params)
    torch.testing.assert_close(a.grad, e1, rtol=0, atol=0)
    torch.testing.assert_close(b.grad, e2, rtol=0, atol=0)


@requires_ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_empty_batch_and_zero_channels(dtype: torch.dtype) -> None:
    params = (2, 3, 2, 1, 1)
    a = torch.randn(0, 4, 6, 7, dtype=dtype, requires_grad=True)
    out = correlation(a, a.detach().clone(), *params)
    assert out.shape == correlation_output_shape(a.shape, *params) == (0, 25, 4, 5)
    out.sum().backward()
    assert a.grad.shape == a.shape
    z = correlation(torch.randn(2, 0, 6, 7, dtype=dtype), torch.randn(2, 0, 6, 7, dtype=dtype), *params)
    assert z.shape == (2, 25, 4, 5) and torch.all(z == 0)


@requires_ext
@pytest.mark.parametrize(
    ("case", "seed"), [("k3_s1_2", 0), ("k3_s1_2", 1), ("md_not_multiple_of_s2", 2), ("pad_lt_md", 3)]
)
def test_gradcheck(case: str, seed: int) -> None:
    _, params = LOOP_CASES[case]
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(2, 2, 7, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(2, 2, 7, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: correlation(x, y, *params), (a, b))


@requires_ext
def test_opcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        a = torch.randn(2, 4, 8, 9, dtype=dtype, generator=gen, requires_grad=True)
        b = torch.randn(2, 4, 8, 9, dtype=dtype, generator=gen, requires_grad=True)
        torch.library.opcheck(torch.ops.lecinpaint.correlation.default, (a, b, 2, 3, 2, 2, 1))
        grad = torch.randn(correlation_output_shape(a.shape, 2, 3, 2, 2, 1), dtype=dtype, generator=gen)
        torch.library.opcheck(
            torch.ops.lecinpaint._correlation_backward.default, (grad, a.detach(), b.detach(), 2, 3, 2, 2, 1)
        )


@requires_ext
def test_fallback_agrees_with_compiled_op() -> None:
    shape, params = LOOP_CASES["s1_3_odd"]
    f1, f2 = _rand(shape, torch.float64, seed=8)
    a, b = f1.clone().requires_grad_(), f2.clone().requires_grad_()
    c, d = f1.clone().requires_grad_(), f2.clone().requires_grad_()
    out = correlation(a, b, *params)
    ref = _correlation_fallback(c, d, *params)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    out.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(a.grad, c.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(b.grad, d.grad, rtol=1e-10, atol=1e-12)


# --- bad arguments -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 9), {}), ValueError, "same shape"),
        (lambda: (torch.randn(3, 8, 8), torch.randn(3, 8, 8), {}), ValueError, "4-D"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), {"kernel_size": 2}), ValueError, "odd"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), {"stride1": 0}), ValueError, "stride1"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), {"stride2": -1}), ValueError, "stride2"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), {"pad_size": -1}), ValueError, "pad_size"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), {"pad_size": 0}), ValueError, "empty"),
        (lambda: (torch.ones(1, 3, 8, 8, dtype=torch.int32),) * 2 + ({},), TypeError, "float32"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8).double(), {}), TypeError, "same dtype"),
        (lambda: (torch.randn(1, 3, 8, 8).half(), torch.randn(1, 3, 8, 8).half(), {}), TypeError, "CUDA only"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8, device="meta"), {}), ValueError, "device"),
        (lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8), {"stride2": 1.0}), TypeError, "int"),
    ],
    ids=["shape", "ndim", "even_kernel", "stride1", "stride2", "pad", "empty_output", "int_dtype",
         "mixed_dtype", "cpu_half", "mixed_device", "float_param"],
)
def test_bad_arguments_raise_naming_the_op(make, error: type[Exception], match: str) -> None:
    a, b, kwargs = make()
    with pytest.raises(error, match=match) as info:
        correlation(a, b, **kwargs)
    assert str(info.value).startswith("correlation:")


@requires_ext
def test_compiled_op_checks_its_arguments() -> None:
    a = torch.randn(1, 3, 8, 8)
    for args, match in [
        ((a, a, 2, 2, 2, 1, 1), "kernel_size must be odd"),
        ((a, torch.randn(1, 3, 8, 7), 2, 1, 2, 1, 1), "same shape"),
        ((a, a, 0, 1, 4, 1, 1), "output would be empty"),
        ((a.int(), a.int(), 2, 1, 2, 1, 1), "float32 or float64"),
    ]:
        with pytest.raises(RuntimeError, match=match) as info:
            torch.ops.lecinpaint.correlation(*args)
        assert "lecinpaint::correlation" in str(info.value)
    with pytest.raises(RuntimeError, match="grad_output must have the output's shape"):
        torch.ops.lecinpaint._correlation_backward(torch.randn(1, 9, 8, 7), a, a, 1, 1, 1, 1, 1)


# --- CUDA ------------------------------------------------------------------------------------------------
_CUDA_CASES = [FLOWNETC, LOOP_CASES["k3_s1_2"], LOOP_CASES["md_not_multiple_of_s2"], LOOP_CASES["s1_3_odd"]]


@pytest.mark.cuda
@requires_ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", range(len(_CUDA_CASES)))
def test_cuda_matches_cpu(case: int, dtype: torch.dtype) -> None:
    shape, params = _CUDA_CASES[case]
    f1, f2 = _rand(shape, dtype, seed=10)
    a, b = f1.clone().requires_grad_(), f2.clone().requires_grad_()
    ca, cb = f1.cuda().requires_grad_(), _noncontiguous(f2, "transposed").cuda().requires_grad_()
    out, cout = correlation(a, b, *params), correlation(ca, cb, *params)
    assert cout.is_cuda
    torch.testing.assert_close(cout.cpu(), out, **_tol(dtype))
    grad = torch.randn(out.shape, dtype=dtype, generator=torch.Generator().manual_seed(11))
    out.backward(grad)
    cout.backward(grad.cuda())
    torch.testing.assert_close(ca.grad.cpu(), a.grad, **_tol(dtype))
    torch.testing.assert_close(cb.grad.cpu(), b.grad, **_tol(dtype))


@pytest.mark.cuda
@requires_ext
def test_cuda_half_accumulates_in_float() -> None:
    shape, params = FLOWNETC
    f1, f2 = _rand(shape, torch.float16, seed=12)
    out = correlation(f1.cuda(), f2.cuda(), *params)
    assert out.dtype == torch.float16
    ref = shift_and_mean(f1.double(), f2.double(), 20, 20, 2)
    torch.testing.assert_close(out.double().cpu(), ref, rtol=1e-2, atol=2e-3)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(13)).half()
    g1, g2 = torch.ops.lecinpaint._correlation_backward(grad.cuda(), f1.cuda(), f2.cuda(), *params)
    e1, e2 = torch.ops.lecinpaint._correlation_backward(grad.float(), f1.float(), f2.float(), *params)
    torch.testing.assert_close(g1.float().cpu(), e1, rtol=1e-2, atol=2e-3)
    torch.testing.assert_close(g2.float().cpu(), e2, rtol=1e-2, atol=2e-3)


@pytest.mark.cuda
@requires_ext
@pytest.mark.parametrize("seed", [0, 1])
def test_cuda_gradcheck(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(2, 3, 7, 8, dtype=torch.float64, generator=gen).cuda().requires_grad_()
    b = torch.randn(2, 3, 7, 8, dtype=torch.float64, generator=gen).cuda().requires_grad_()
    for params in (LOOP_CASES["k3_s1_2"][1], LOOP_CASES["md_not_multiple_of_s2"][1]):
        assert torch.autograd.gradcheck(lambda x, y: correlation(x, y, *params), (a, b))


@pytest.mark.cuda
@requires_ext
def test_cuda_empty_batch() -> None:
    a = torch.randn(0, 4, 6, 7, device="cuda", requires_grad=True)
    out = correlation(a, a.detach().clone(), 2, 3, 2, 1, 1)
    assert out.shape == (0, 25, 4, 5)
    out.sum().backward()
    assert a.grad.shape == a.shape

