"""flow_consistency against a per-pixel loop reference, in both threshold regimes (40 px and 3 px)."""

from __future__ import annotations

import pytest
import torch
from conftest import requires_ext
from ref_warp import flow_consistency_ref

from lecinpaint.ops import flow_consistency
from lecinpaint.ops.flow_consistency import _flow_consistency_fallback

pytestmark = requires_ext


def make_pair(N, H, W, scale, noise, dtype=torch.float64, seed=0):
    """A forward flow and a backward flow that is its negative plus noise (so errors vary)."""
    g = torch.Generator().manual_seed(seed)
    fwd = torch.randn(N, 2, H, W, generator=g, dtype=dtype) * scale
    bwd = -fwd + torch.randn(N, 2, H, W, generator=g, dtype=dtype) * noise
    return fwd, bwd


@pytest.mark.parametrize("threshold", [40.0, 3.0])
@pytest.mark.parametrize(
    "shape,scale,noise",
    [((2, 7, 9), 2.0, 3.0), ((1, 5, 4), 20.0, 30.0), ((3, 2, 2), 1.0, 2.0), ((1, 1, 6), 5.0, 5.0)],
)
def test_matches_reference(threshold, shape, scale, noise):
    fwd, bwd = make_pair(*shape, scale, noise)
    error, valid, mid = flow_consistency(fwd, bwd, threshold)
    r_error, r_valid, r_mid = flow_consistency_ref(fwd, bwd, threshold)
    torch.testing.assert_close(error, r_error, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mid, r_mid, rtol=1e-12, atol=1e-12)
    assert valid.dtype == torch.bool
    assert torch.equal(valid, r_valid)


def test_threshold_regimes_differ_as_expected():
    fwd, bwd = make_pair(2, 16, 20, 1.0, 4.0)
    e40, v40, _ = flow_consistency(fwd, bwd, 40.0)
    e3, v3, _ = flow_consistency(fwd, bwd, 3.0)
    assert torch.equal(e40, e3)
    assert bool((v3 <= v40).all())  # a stricter threshold only removes pixels
    assert v40.sum() > v3.sum() > 0
    between = (e3 >= 3.0) & (e3 < 40.0) & v40
    assert between.any() and not (v3 & between).any()


def test_threshold_is_strict():
    fwd = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    bwd = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    bwd[:, 0] = 3.0  # error exactly 3 everywhere
    error, valid, _ = flow_consistency(fwd, bwd, 3.0)
    assert torch.equal(error, torch.full_like(error, 3.0))
    assert not valid.any()


def test_consistent_pair_and_mid_flow():
    # A constant translation by (1.25, -0.5) and its exact inverse: error 0, mid = the flow.
    fwd = torch.empty(1, 2, 6, 8, dtype=torch.float64)
    fwd[:, 0], fwd[:, 1] = 1.25, -0.5
    error, valid, mid = flow_consistency(fwd, -fwd, 3.0)
    assert torch.equal(error, torch.zeros_like(error))
    torch.testing.assert_close(mid, fwd)
    # inside: floor(x + 1.25) in [0, W-2] and floor(y - 0.5) in [0, H-2]
    expected = torch.zeros(6, 8, dtype=torch.bool)
    expected[1:6, 0:6] = True
    assert torch.equal(valid[0], expected)


def test_far_outside_nan_empty_and_non_contiguous():
    fwd, bwd = make_pair(1, 5, 6, 1.0, 1.0)
    fwd[0, 0, 0, 0] = 1e6
    fwd[0, 1, 1, 1] = float("nan")
    error, valid, mid = flow_consistency(fwd, bwd, 40.0)
    assert not valid[0, 0, 0] and not valid[0, 1, 1]
    assert torch.isfinite(error[0, 0, 0])
    e, v, m = flow_consistency(torch.zeros(0, 2, 3, 4), torch.zeros(0, 2, 3, 4), 3.0)
    assert e.shape == (0, 3, 4) and v.shape == (0, 3, 4) and m.shape == (0, 2, 3, 4)
    big_f, big_b = make_pair(2, 14, 18, 2.0, 2.0)
    f, b = big_f[:, :, ::2, ::2], big_b[:, :, 1::2, ::2]
    for got, ref in zip(flow_consistency(f, b, 3.0), flow_consistency_ref(f, b, 3.0)):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threshold", [40.0, 3.0])
def test_fallback_agrees_with_compiled(threshold):
    fwd, bwd = make_pair(3, 21, 25, 3.0, 2.0, dtype=torch.float32)
    e, v, m = flow_consistency(fwd, bwd, threshold)
    fe, fv, fm = _flow_consistency_fallback(fwd, bwd, threshold)
    torch.testing.assert_close(e, fe, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m, fm, rtol=1e-5, atol=1e-5)
    # Errors within rounding of the threshold may flip; nothing else may.
    differ = v != fv
    assert not (differ & ((e - threshold).abs() > 1e-4)).any()


def test_opcheck_and_no_backward():
    fwd, bwd = make_pair(2, 5, 6, 2.0, 2.0)
    torch.library.opcheck(torch.ops.lecinpaint.flow_consistency.default, (fwd, bwd, 3.0))
    error, _, _ = flow_consistency(fwd.requires_grad_(), bwd, 3.0)
    with pytest.raises(RuntimeError, match="flow_consistency is not differentiable"):
        error.sum().backward()


def test_errors_name_the_op():
    fwd, bwd = make_pair(1, 4, 5, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"flow_consistency: flow_st must have shape \(N, 2, H, W\)"):
        flow_consistency(fwd, torch.zeros(1, 3, 4, 5, dtype=torch.float64), 3.0)
    with pytest.raises(ValueError, match="flow_consistency: flow_ts and flow_st must have the same N, H, W"):
        flow_consistency(fwd, bwd[:, :, :3], 3.0)
    with pytest.raises(TypeError, match="flow_consistency: flow_ts and flow_st must have the same dtype"):
        flow_consistency(fwd, bwd.float(), 3.0)
    with pytest.raises(ValueError, match="flow_consistency: threshold must not be NaN"):
        flow_consistency(fwd, bwd, float("nan"))
    with pytest.raises(RuntimeError, match="flow_consistency: flow_ts must have shape"):
        torch.ops.lecinpaint.flow_consistency(fwd[:, :1], bwd, 3.0)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    fwd, bwd = make_pair(4, 33, 41, 4.0, 3.0)
    for got, ref in zip(flow_consistency(fwd.cuda(), bwd.cuda(), 3.0), flow_consistency(fwd, bwd, 3.0)):
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-12, atol=1e-12)


def test_wrapper_falls_back_to_pure_pytorch(monkeypatch):
    import importlib

    # The module, not the function of the same name that lecinpaint.ops exports.
    mod = importlib.import_module("lecinpaint.ops.flow_consistency")

    monkeypatch.setattr(mod, "backend_for", lambda t: "fallback")
    fwd, bwd = make_pair(2, 7, 9, 2.0, 3.0)
    for got, ref in zip(flow_consistency(fwd, bwd, 3.0), flow_consistency_ref(fwd, bwd, 3.0)):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
