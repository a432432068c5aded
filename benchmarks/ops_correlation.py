"""Benchmark cases for correlation (see bench_ops.py): FlowNetC's cost volume.

FlowNetC correlates 256-channel features at 1/8 of the (multiple-of-64) input size with
pad_size=20, kernel_size=1, max_displacement=20, stride1=1, stride2=2 (441 output channels). Sizes:
1/8 of 1024x448 (128x56) and of 1920x1088 (240x136), batch 1, 2 and 4.

Baseline: the plain-PyTorch shift-and-mean formulation, one displacement at a time written into a
preallocated output (the memory-frugal way to do it without a custom kernel):
``out[:, k] = mean_c(f1 * pad(f2)[..., dy:dy+H, dx:dx+W])`` for the 21x21 displacements, dy-major.
One more case times forward + backward (both inputs) against autograd through that baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks._harness import BenchCase

__all__ = ["cases"]

PARAMS = {"pad_size": 20, "kernel_size": 1, "max_displacement": 20, "stride1": 1, "stride2": 2}
SIZES = {"1/8 of 1024x448": (56, 128), "1/8 of 1920x1088": (136, 240)}
CHANNELS = 256


def _shift_and_mean(f1: Tensor, f2: Tensor) -> Tensor:
    pad, md, s2 = PARAMS["pad_size"], PARAMS["max_displacement"], PARAMS["stride2"]
    n, _, h, w = f1.shape
    steps = range(-(md // s2) * s2, (md // s2) * s2 + 1, s2)
    p2 = F.pad(f2, [pad] * 4)
    out = f1.new_empty((n, len(steps) ** 2, h, w))
    k = 0
    for dy in steps:
        for dx in steps:
            out[:, k] = (f1 * p2[:, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w]).mean(1)
            k += 1
    return out


def _shift_and_mean_autograd(f1: Tensor, f2: Tensor, grad: Tensor) -> tuple[Tensor, ...]:
    # The preallocated output is not differentiable in place: stack the planes instead.
    pad, md, s2 = PARAMS["pad_size"], PARAMS["max_displacement"], PARAMS["stride2"]
    _, _, h, w = f1.shape
    steps = range(-(md // s2) * s2, (md // s2) * s2 + 1, s2)
    p2 = F.pad(f2, [pad] * 4)
    planes = [
        (f1 * p2[:, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w]).mean(1) for dy in steps for dx in steps
    ]
    return torch.autograd.grad(torch.stack(planes, 1), (f1, f2), grad)


def _ours(f1: Tensor, f2: Tensor) -> Tensor:
    from lecinpaint.ops.correlation import correlation

    return correlation(f1, f2, **PARAMS)


def _ours_train(f1: Tensor, f2: Tensor, grad: Tensor) -> tuple[Tensor, ...]:
    from lecinpaint.ops.correlation import correlation

    return torch.autograd.grad(correlation(f1, f2, **PARAMS), (f1, f2), grad)


def _check(ours: Tensor, base: Tensor) -> None:
    torch.testing.assert_close(ours, base, rtol=1e-4, atol=1e-5)


def _check_train(ours: tuple[Tensor, ...], base: tuple[Tensor, ...]) -> None:
    for o, b in zip(ours, base):
        torch.testing.assert_close(o, b, rtol=1e-4, atol=1e-6)


def _features(n: int, h: int, w: int, seed: int, requires_grad: bool = False):
    def setup(device: str) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        # Post-ReLU-like features: non-negative, as FlowNetC's conv3 outputs are.
        f1 = torch.randn(n, CHANNELS, h, w, generator=g).relu_().to(device)
        f2 = torch.randn(n, CHANNELS, h, w, generator=g).relu_().to(device)
        if not requires_grad:
            return f1, f2
        grad = torch.randn(n, 441, h, w, generator=g).to(device)
        return f1.requires_grad_(), f2.requires_grad_(), grad

    return setup


def cases(device: str) -> list[BenchCase]:
    """FlowNetC-sized correlation cases on ``device``, smallest first."""
    out: list[BenchCase] = []
    for name, (h, w) in SIZES.items():
        for n in (1, 2, 4):
            out.append(
                BenchCase(
                    op="correlation",
                    label=f"B={n} C={CHANNELS} {w}x{h} ({name})",
                    baseline_name="shift-and-mean",
                    setup=_features(n, h, w, seed=n),
                    ours=_ours,
                    baseline=_shift_and_mean,
                    check=_check,
                    meta={"batch": n, "channels": CHANNELS, "height": h, "width": w, **PARAMS},
                )
            )
    h, w = SIZES["1/8 of 1024x448"]
    out.append(
        BenchCase(
            op="correlation",
            label=f"B=1 C={CHANNELS} {w}x{h} fwd+bwd",
            baseline_name="shift-and-mean autograd",
            setup=_features(1, h, w, seed=7, requires_grad=True),
            ours=_ours_train,
            baseline=_shift_and_mean_autograd,
            check=_check_train,
            meta={"batch": 1, "channels": CHANNELS, "height": h, "width": w, "backward": True, **PARAMS},
        )
    )
    return out
