"""Benchmark cases for resample2d, channelnorm, flow_warp and flow_consistency (see bench_ops.py).

Each case times our op against the plain-PyTorch way of computing the same thing, on the same seeded
inputs, and checks first that both agree:
    resample2d        grid from the flow + grid_sample(bilinear, border, align_corners=True)
    channelnorm       x.square().sum(1, keepdim=True).sqrt()
    flow_warp         coordinates, rint, validity mask + grid_sample(nearest | bilinear) * mask
    flow_consistency  grid_sample of the reverse flow + arithmetic (error, mask, mid-flow)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks._harness import BenchCase

__all__ = ["cases"]

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}


def _flow(g: torch.Generator, N: int, H: int, W: int, scale: float = 6.0) -> Tensor:
    # Smooth-ish motion plus noise: realistic gathers (mostly local) with some pixels leaving the image.
    base = torch.randn(N, 2, H // 16 + 1, W // 16 + 1, generator=g) * scale
    smooth = F.interpolate(base, size=(H, W), mode="bilinear", align_corners=False)
    return (smooth + torch.randn(N, 2, H, W, generator=g) * 0.5).contiguous()


def _coords(flow: Tensor) -> tuple[Tensor, Tensor]:
    H, W = flow.shape[-2:]
    xs = torch.arange(W, dtype=flow.dtype, device=flow.device).view(1, 1, W)
    ys = torch.arange(H, dtype=flow.dtype, device=flow.device).view(1, H, 1)
    return xs + flow[:, 0], ys + flow[:, 1]


def _grid(x: Tensor, y: Tensor) -> Tensor:
    H, W = x.shape[-2:]
    return torch.stack((x * (2.0 / (W - 1)) - 1.0, y * (2.0 / (H - 1)) - 1.0), dim=-1)


# --- resample2d -----------------------------------------------------------------------------------------
def _resample2d_baseline(img: Tensor, flow: Tensor) -> Tensor:
    x, y = _coords(flow)
    return F.grid_sample(img, _grid(x, y), mode="bilinear", padding_mode="border", align_corners=True)


def _resample2d_train_ours(img: Tensor, flow: Tensor, grad: Tensor) -> tuple[Tensor, ...]:
    from lecinpaint.ops import resample2d

    return torch.autograd.grad(resample2d(img, flow), (img, flow), grad)


def _resample2d_train_baseline(img: Tensor, flow: Tensor, grad: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(_resample2d_baseline(img, flow), (img, flow), grad)


def _check_train(ours: tuple[Tensor, Tensor], base: tuple[Tensor, Tensor]) -> None:
    torch.testing.assert_close(ours[0], base[0], rtol=1e-3, atol=1e-3)
    # The flow gradient jumps where the sampling point crosses a pixel line; grid_sample's float32
    # normalised coordinates move it by ~1e-4 px, so a handful of pixels may land on the other side.
    far = ((ours[1] - base[1]).abs() > 1e-2 + 1e-3 * base[1].abs()).float().mean().item()
    if far > 1e-4:
        raise AssertionError(
            f"resample2d backward: flow gradients differ from the baseline at {far:.2e} of pixels"
        )


def _close(atol: float):
    def check(a, b) -> None:
        a = a if isinstance(a, (tuple, list)) else (a,)
        b = b if isinstance(b, (tuple, list)) else (b,)
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, rtol=1e-4, atol=atol)

    return check


# --- flow_warp ------------------------------------------------------------------------------------------
def _flow_warp_baseline(src: Tensor, flow: Tensor, mode: str) -> tuple[Tensor, Tensor]:
    H, W = flow.shape[-2:]
    x, y = _coords(flow)
    if mode == "nearest":
        rx, ry = torch.round(x), torch.round(y)
        valid = (rx >= 0) & (rx < W - 1) & (ry >= 0) & (ry < H - 1)
        grid = _grid(rx, ry)  # sample at the rounded pixel itself: no second rounding
    else:
        valid = (x >= 0) & (x < W - 1) & (y >= 0) & (y < H - 1)
        grid = _grid(x, y)
    warped = F.grid_sample(src, grid, mode=mode, padding_mode="zeros", align_corners=True)
    return warped * valid.unsqueeze(1), valid


def _check_warp(ours: tuple[Tensor, Tensor], base: tuple[Tensor, Tensor]) -> None:
    if not torch.equal(ours[1], base[1]):
        raise AssertionError("flow_warp: validity masks differ from the baseline")
    # grid_sample's normalised coordinates round-trip with ~1e-4 px of float32 error at 720p.
    torch.testing.assert_close(ours[0], base[0], rtol=1e-3, atol=1e-3)


# --- flow_consistency -----------------------------------------------------------------------------------
def _consistency_baseline(
    flow_ts: Tensor, flow_st: Tensor, threshold: float
) -> tuple[Tensor, Tensor, Tensor]:
    H, W = flow_ts.shape[-2:]
    x, y = _coords(flow_ts)
    fhat = F.grid_sample(flow_st, _grid(x, y), mode="bilinear", padding_mode="border", align_corners=True)
    e = flow_ts + fhat
    # Not torch.linalg.vector_norm(dim=1): on the CPU it is several times slower than this.
    error = (e * e).sum(dim=1).sqrt()
    inside = (x >= 0) & (x < W - 1) & (y >= 0) & (y < H - 1)
    return error, inside & (error < threshold), (flow_ts - fhat) * 0.5


def _check_consistency(ours: tuple[Tensor, ...], base: tuple[Tensor, ...], threshold: float) -> None:
    torch.testing.assert_close(ours[0], base[0], rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(ours[2], base[2], rtol=1e-3, atol=1e-3)
    differ = ours[1] != base[1]
    # Only pixels whose error is within rounding of the threshold may be decided differently.
    if (differ & ((ours[0] - threshold).abs() > 1e-3)).any():
        raise AssertionError("flow_consistency: validity differs from the baseline away from the threshold")


def cases(device: str) -> list[BenchCase]:
    """The benchmark cases of the warp-family ops on ``device`` ("cpu" or "cuda")."""
    from lecinpaint import ops

    out: list[BenchCase] = []

    for name, (H, W) in SIZES.items():

        def setup(dev: str, H: int = H, W: int = W) -> tuple:
            g = torch.Generator().manual_seed(0)
            return torch.rand(1, 3, H, W, generator=g).to(dev), _flow(g, 1, H, W).to(dev)

        out.append(BenchCase("resample2d", f"1x3x{H}x{W} ({name})", "grid_sample", setup, ops.resample2d,
                             _resample2d_baseline, _close(1e-3), {"N": 1, "C": 3, "H": H, "W": W}))

    def setup_train(dev: str) -> tuple:
        g = torch.Generator().manual_seed(0)
        img = torch.rand(1, 3, 720, 1280, generator=g).to(dev).requires_grad_()
        flow = _flow(g, 1, 720, 1280).to(dev).requires_grad_()
        return img, flow, torch.rand(1, 3, 720, 1280, generator=g).to(dev)

    out.append(BenchCase("resample2d", "1x3x720x1280 forward+backward", "grid_sample + autograd", setup_train,
                         _resample2d_train_ours, _resample2d_train_baseline, _check_train,
                         {"N": 1, "C": 3, "H": 720, "W": 1280, "backward": True}))

    cn_sizes = (("1x3x720x1280", (1, 3, 720, 1280)), ("4x3x448x1024 (FlowNet2 input)", (4, 3, 448, 1024)))
    for label, shape in cn_sizes:

        def setup_cn(dev: str, shape: tuple = shape) -> tuple:
            g = torch.Generator().manual_seed(0)
            return (torch.randn(*shape, generator=g).to(dev),)

        out.append(BenchCase("channelnorm", label, "square-sum-sqrt", setup_cn, ops.channelnorm,
                             lambda x: x.square().sum(1, keepdim=True).sqrt(), _close(1e-5),
                             {"N": shape[0], "C": shape[1], "H": shape[2], "W": shape[3]}))

    N, H, W = 10, 720, 1280
    for mode in ("nearest", "bilinear"):

        def setup_fw(dev: str) -> tuple:
            g = torch.Generator().manual_seed(0)
            return torch.rand(N, 3, H, W, generator=g).to(dev), _flow(g, N, H, W).to(dev)

        out.append(BenchCase("flow_warp", f"{N}x3x{H}x{W} {mode}", "coords + grid_sample * mask", setup_fw,
                             lambda s, f, mode=mode: ops.flow_warp(s, f, mode),
                             lambda s, f, mode=mode: _flow_warp_baseline(s, f, mode), _check_warp,
                             {"N": N, "C": 3, "H": H, "W": W, "mode": mode}))

    for threshold in (3.0, 40.0):

        def setup_fc(dev: str) -> tuple:
            g = torch.Generator().manual_seed(0)
            fwd = _flow(g, N, H, W)
            bwd = -fwd + torch.randn(N, 2, H, W, generator=g) * 2.0
            return fwd.to(dev), bwd.to(dev)

        out.append(BenchCase("flow_consistency", f"{N}x2x{H}x{W} threshold {threshold:g}",
                             "grid_sample + arithmetic", setup_fc,
                             lambda a, b, th=threshold: ops.flow_consistency(a, b, th),
                             lambda a, b, th=threshold: _consistency_baseline(a, b, th),
                             lambda o, b, th=threshold: _check_consistency(o, b, th),
                             {"N": N, "H": H, "W": W, "threshold": threshold}))
    return out
