"""Slow, independent references of FlowNet2's ops, used by the model tests.

They follow DESIGN.md §3 literally (shift-and-mean correlation, grid_sample with border clamping,
channel norm) and share no code with lecinpaint.ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def ref_correlation(f1: Tensor, f2: Tensor, pad: int = 20, md: int = 20, s2: int = 2) -> Tensor:
    """kernel_size=1, stride1=1 correlation: mean_c(f1 * shift(pad(f2), dy, dx)), dy-major channels."""
    n, c, h, w = f1.shape
    p2 = F.pad(f2, (pad, pad, pad, pad))
    outs = []
    for dy in range(-md, md + 1, s2):
        for dx in range(-md, md + 1, s2):
            shifted = p2[:, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w]
            outs.append((f1 * shifted).mean(dim=1))
    return torch.stack(outs, dim=1)


def ref_resample2d(img: Tensor, flow: Tensor) -> Tensor:
    """out(p) = img(p + flow(p)), bilinear, coordinates clamped to the border."""
    n, _, h, w = img.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=img.dtype, device=img.device),
        torch.arange(w, dtype=img.dtype, device=img.device),
        indexing="ij",
    )
    gx = 2 * (xs + flow[:, 0]) / max(w - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(h - 1, 1) - 1
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def ref_channelnorm(x: Tensor) -> Tensor:
    return torch.sqrt((x * x).sum(dim=1, keepdim=True))
