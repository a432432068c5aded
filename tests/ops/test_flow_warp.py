"""flow_warp against a per-pixel loop reference (numpy rint, DFGVI's validity)."""

from __future__ import annotations

import pytest
import torch
from conftest import requires_ext
from ref_warp import flow_warp_ref

from lecinpaint.ops import flow_warp
from lecinpaint.ops.flow_warp import _flow_warp_fallback

pytestmark = requires_ext

MODES = {"nearest": 0, "bilinear": 1}


def make(N, C, H, W, scale, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(N, C, H, W, generator=g, dtype=dtype)
    flow = torch.randn(N, 2, H, W, generator=g, dtype=dtype) * scale
    return src, flow


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (1, 1, 2, 2), (1, 2, 1, 5), (3, 1, 9, 4)])
@pytest.mark.parametrize("scale", [0.8, 3.0, 1e4])
def test_matches_reference(mode, shape, scale):
    src, flow = make(*shape, scale)
    warped, valid = flow_warp(src, flow, mode)
    ref_w, ref_v = flow_warp_ref(src, flow, mode)
    assert valid.dtype == torch.bool and valid.shape == (shape[0], shape[2], shape[3])
    assert torch.equal(valid, ref_v)
    torch.testing.assert_close(warped, ref_w, rtol=1e-12, atol=1e-12)


def test_nearest_rounds_half_to_even_and_rejects_last_row_and_column():
    H, W = 4, 6
    src = torch.arange(H * W, dtype=torch.float32).view(1, 1, H, W)
    flow = torch.zeros(1, 2, H, W)
    flow[:, 0] = 0.5  # x + 0.5: ties, round half to even
    warped, valid = flow_warp(src, flow, "nearest")
    # x = 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 4.5 -> 4 (valid, < W-1 = 5), 5.5 -> 6 (invalid)
    assert warped[0, 0, 0].tolist() == [0.0, 2.0, 2.0, 4.0, 4.0, 0.0]
    assert valid[0, 0].tolist() == [True, True, True, True, True, False]
    assert not valid[0, H - 1].any()  # the last row is never valid (DFGVI)


def test_bilinear_validity_needs_all_four_taps():
    H, W = 3, 4
    src = torch.ones(1, 1, H, W, dtype=torch.float64)
    flow = torch.zeros(1, 2, H, W, dtype=torch.float64)
    flow[:, 0] = -0.001
    _, valid = flow_warp(src, flow, "bilinear")
    assert not valid[0, :, 0].any() and valid[0, 0, 1:].all()
    assert not valid[0, H - 1].any()  # floor(y) = H-1 has no row below
    flow[:, 0] = 1.0  # x + 1 < W - 1 only for x <= W-3
    _, valid = flow_warp(src, flow, "bilinear")
    assert valid[0, 0].tolist() == [True, True, False, False]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool, torch.float16, torch.int32])
def test_nearest_copies_any_dtype_exactly(dtype):
    src, flow = make(2, 3, 7, 9, 2.0)
    src = (src * 100).to(dtype)
    warped, valid = flow_warp(src, flow.float(), "nearest")
    ref_w, ref_v = flow_warp_ref(src, flow.float(), "nearest")
    assert warped.dtype == dtype
    assert torch.equal(valid, ref_v)
    assert torch.equal(warped, ref_w.to(dtype))


def test_nan_and_huge_flows_are_invalid():
    src, flow = make(1, 2, 5, 6, 1.0)
    flow[0, 0, 1, 1] = float("nan")
    flow[0, 1, 2, 2] = float("inf")
    flow[0, 0, 3, 3] = -1e30
    for mode in MODES:
        warped, valid = flow_warp(src, flow, mode)
        for i, j in ((1, 1), (2, 2), (3, 3)):
            assert not valid[0, i, j]
            assert torch.equal(warped[0, :, i, j], torch.zeros(2, dtype=src.dtype))


def test_empty_and_non_contiguous():
    src, flow = make(0, 3, 5, 6, 1.0)
    w, v = flow_warp(src, flow)
    assert w.shape == (0, 3, 5, 6) and v.shape == (0, 5, 6)
    src, flow = make(2, 6, 12, 14, 3.0)
    s, f = src[:, ::2, ::2, ::2], flow[:, :, ::2, ::2]
    for mode in MODES:
        w, v = flow_warp(s, f, mode)
        rw, rv = flow_warp_ref(s, f, mode)
        assert torch.equal(v, rv)
        torch.testing.assert_close(w, rw, rtol=1e-12, atol=1e-12)
        w, v = flow_warp(src.to(memory_format=torch.channels_last), flow, mode)
        rw, rv = flow_warp(src, flow, mode)
        assert torch.equal(w, rw) and torch.equal(v, rv)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_fallback_agrees_with_compiled(mode):
    src, flow = make(3, 3, 17, 19, 6.0, dtype=torch.float32)
    # Exact half-pixel ties, where a rounding difference would show.
    flow[:, :, ::3] = torch.round(flow[:, :, ::3]) + 0.5
    w, v = flow_warp(src, flow, mode)
    fw, fv = _flow_warp_fallback(src, flow, MODES[mode])
    assert torch.equal(v, fv)
    torch.testing.assert_close(w, fw, rtol=1e-6, atol=1e-6)


def test_opcheck():
    src, flow = make(2, 3, 5, 6, 2.0)
    for mode in MODES.values():
        torch.library.opcheck(torch.ops.lecinpaint.flow_warp.default, (src, flow, mode))


def test_backward_raises_a_clear_error():
    src, flow = make(1, 1, 4, 5, 1.0)
    warped, _ = flow_warp(src.requires_grad_(), flow, "bilinear")
    with pytest.raises(RuntimeError, match="flow_warp is forward-only"):
        warped.sum().backward()


def test_errors_name_the_op():
    src, flow = make(1, 3, 4, 5, 1.0)
    with pytest.raises(ValueError, match="flow_warp: mode must be 'nearest' or 'bilinear'"):
        flow_warp(src, flow, "cubic")
    with pytest.raises(ValueError, match=r"flow_warp: flow must have shape \(N, 2, H, W\)"):
        flow_warp(src, torch.zeros(1, 3, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="flow_warp: src and flow must have the same N, H, W"):
        flow_warp(src, torch.zeros(2, 2, 4, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"flow_warp: src \(bilinear mode\) must be float32 or float64"):
        flow_warp(src.to(torch.uint8), flow, "bilinear")
    with pytest.raises(TypeError, match="flow_warp: flow must be float32 or float64"):
        flow_warp(src, flow.to(torch.int32))
    with pytest.raises(RuntimeError, match="flow_warp: mode must be 0"):
        torch.ops.lecinpaint.flow_warp(src, flow, 2)


@pytest.mark.cuda
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_cuda_matches_cpu(mode):
    src, flow = make(3, 3, 31, 45, 6.0, dtype=torch.float32)
    w, v = flow_warp(src.cuda(), flow.cuda(), mode)
    rw, rv = flow_warp(src, flow, mode)
    assert torch.equal(v.cpu(), rv)
    torch.testing.assert_close(w.cpu(), rw)
    u8 = (src * 50).to(torch.uint8)
    w, v = flow_warp(u8.cuda(), flow.cuda(), "nearest")
    assert torch.equal(w.cpu(), flow_warp(u8, flow, "nearest")[0])


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_wrapper_falls_back_to_pure_pytorch(monkeypatch, mode):
    import importlib

    # The module, not the function of the same name that lecinpaint.ops exports.
    mod = importlib.import_module("lecinpaint.ops.flow_warp")

    monkeypatch.setattr(mod, "backend_for", lambda t: "fallback")
    src, flow = make(2, 3, 6, 7, 3.0)
    warped, valid = flow_warp(src, flow, mode)
    ref_w, ref_v = flow_warp_ref(src, flow, mode)
    assert torch.equal(valid, ref_v)
    torch.testing.assert_close(warped, ref_w, rtol=1e-12, atol=1e-12)
