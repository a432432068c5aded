"""The CPU kernels on shapes past their internal blocking, against the independent references.

The CPU correlation works in bands of 16 output rows (input2's rows are gathered per band) and flow_warp
in chunks of 128 columns (targets computed once per chunk); the other op tests use smaller images, so a
mistake in the second band or chunk would pass them. These cases have several bands and chunks, with a
partial last one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import requires_ext
from ref_correlation import explicit_loop, shift_and_mean
from ref_warp import (
    channelnorm_grad_ref,
    channelnorm_ref,
    flow_consistency_ref,
    flow_warp_ref,
    resample2d_ref,
)

from lecinpaint.ops import channelnorm, correlation, flow_consistency, flow_warp, resample2d

pytestmark = requires_ext


def _randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


@pytest.mark.parametrize("h", [17, 40, 49])  # 2 bands (1 row in the 2nd), 3 bands, 4 bands
def test_correlation_k1_many_output_bands(h: int) -> None:
    pad, md, s2 = 3, 3, 1
    f1, f2 = _randn(2, 8, h, 11, seed=h).float(), _randn(2, 8, h, 11, seed=h + 1).float()
    out = correlation(f1, f2, pad_size=pad, kernel_size=1, max_displacement=md, stride1=1, stride2=s2)
    assert out.shape[2] == h  # pad == md: as many output rows as input rows
    ref = shift_and_mean(f1.double(), f2.double(), pad, md, s2)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)


def test_correlation_flownetc_geometry_many_bands() -> None:
    # FlowNetC's (20, 1, 20, 1, 2) with 36 output rows: bands start at rows 0, 16 and 32.
    f1, f2 = _randn(1, 16, 36, 9, seed=3).float(), _randn(1, 16, 36, 9, seed=4).float()
    out = correlation(f1, f2, 20, 1, 20, 1, 2)
    ref = shift_and_mean(f1.double(), f2.double(), 20, 20, 2)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)


def test_correlation_k3_stride2_many_bands() -> None:
    # kernel 3, stride1 2: 19 output rows, and the band's row range depends on stride1 and kr.
    f1, f2 = _randn(1, 3, 40, 9, seed=5).float(), _randn(1, 3, 40, 9, seed=6).float()
    out = correlation(f1, f2, 2, 3, 2, 2, 1)
    ref = explicit_loop(f1, f2, 2, 3, 2, 2, 1)
    assert out.shape[2] == 19
    np.testing.assert_allclose(out.double().numpy(), ref, rtol=1e-5, atol=1e-6)


def test_correlation_backward_many_bands() -> None:
    f1 = _randn(1, 4, 35, 8, seed=7).requires_grad_()
    f2 = _randn(1, 4, 35, 8, seed=8).requires_grad_()
    g = _randn(1, 25, 35, 8, seed=9)
    (correlation(f1.float(), f2.float(), 2, 1, 2, 1, 1) * g.float()).sum().backward()
    a1 = f1.detach().clone().requires_grad_()
    a2 = f2.detach().clone().requires_grad_()
    (shift_and_mean(a1, a2, 2, 2, 1) * g).sum().backward()
    torch.testing.assert_close(f1.grad, a1.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f2.grad, a2.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("w", [129, 300])  # a 1-column 2nd chunk; 3 chunks with a partial last one
def test_flow_warp_wide_rows(mode: str, w: int) -> None:
    src = _randn(2, 2, 6, w, seed=w)
    # Large horizontal flows so that validity varies along the row (many targets fall outside).
    flow = _randn(2, 2, 6, w, seed=w + 1) * torch.tensor([80.0, 1.0], dtype=torch.float64).view(1, 2, 1, 1)
    warped, valid = flow_warp(src, flow, mode)
    ref_w, ref_v = flow_warp_ref(src, flow, mode)
    assert not bool(ref_v[:, :, 128:].all()) and bool(ref_v[:, :, 128:].any())
    assert torch.equal(valid, ref_v)
    torch.testing.assert_close(warped, ref_w, rtol=1e-12, atol=1e-12)


def test_flow_warp_wide_uint8_nearest() -> None:
    # The engine warps uint8 frames by nearest: the element-size dispatch on a wide frame.
    g = torch.Generator().manual_seed(11)
    src = torch.randint(0, 256, (1, 3, 3, 260), generator=g, dtype=torch.uint8)
    reach = torch.tensor([50.0, 0.6], dtype=torch.float64).view(1, 2, 1, 1)  # far along x, little along y
    flow = (_randn(1, 2, 3, 260, seed=12) * reach).float()
    warped, valid = flow_warp(src, flow, "nearest")
    ref_w, ref_v = flow_warp_ref(src, flow, "nearest")
    assert bool(ref_v[..., 128:].any()) and not bool(ref_v[..., 128:].all())
    assert torch.equal(valid, ref_v)
    assert torch.equal(warped, ref_w)


def test_resample2d_and_consistency_wide_rows() -> None:
    x = _randn(1, 2, 3, 270, seed=13)
    flow = _randn(1, 2, 3, 270, seed=14, scale=5.0)
    torch.testing.assert_close(resample2d(x, flow), resample2d_ref(x, flow), rtol=1e-10, atol=1e-10)
    back = -flow + _randn(1, 2, 3, 270, seed=15, scale=1.5)
    err, valid, mid = flow_consistency(flow, back, 2.0)
    ref_e, ref_v, ref_m = flow_consistency_ref(flow, back, 2.0)
    assert torch.equal(valid, ref_v)
    torch.testing.assert_close(err, ref_e, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(mid, ref_m, rtol=1e-9, atol=1e-9)


def test_channelnorm_past_its_pixel_blocks() -> None:
    # The CPU kernel works in blocks of 1024 pixels: 2400 pixels are two full blocks and a partial one.
    x = _randn(2, 3, 40, 60, seed=16).requires_grad_()
    out = channelnorm(x)
    torch.testing.assert_close(out, channelnorm_ref(x), rtol=1e-12, atol=1e-12)
    g = _randn(2, 1, 40, 60, seed=17)
    out.backward(g)
    torch.testing.assert_close(x.grad, channelnorm_grad_ref(g, x), rtol=1e-10, atol=1e-12)
