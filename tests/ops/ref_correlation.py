"""Slow, independent float64 references for lecinpaint.ops.correlation (FlowNet2's correlation layer).

Two formulations, neither shared with the code under test:
- ``shift_and_mean``: kernel_size=1, stride1=1 only. For each displacement (dy, dx) in
  ``range(-md, md+1, stride2)`` (md rounded down to a multiple of stride2), dy-major: ``mean_c(f1 * shift(pad(f2), dy, dx))``, cropped to the output.
  Differentiable, so autograd through it gives reference gradients.
- ``explicit_loop``: the definition written out element by element in Python over a zero-padded copy,
  for any kernel_size and strides. Tiny inputs only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def out_size(size: int, pad: int, k: int, md: int, s1: int) -> int:
    border = (k - 1) // 2 + md
    return math.ceil((size + 2 * pad - 2 * border) / s1)


def shift_and_mean(f1: Tensor, f2: Tensor, pad: int, md: int, s2: int) -> Tensor:
    """Correlation for kernel_size=1, stride1=1, in float64, differentiable with respect to f1 and f2."""
    n, c, h, w = f1.shape
    oh, ow = out_size(h, pad, 1, md, 1), out_size(w, pad, 1, md, 1)
    p1 = F.pad(f1.double(), [pad] * 4)
    p2 = F.pad(f2.double(), [pad] * 4)
    a = p1[:, :, md : md + oh, md : md + ow]
    # Displacements j*s2 for |j| <= md // s2: when md is not a multiple of s2 the extreme one is absent.
    steps = range(-(md // s2) * s2, (md // s2) * s2 + 1, s2)
    planes = []
    for dy in steps:
        for dx in steps:
            b = p2[:, :, md + dy : md + dy + oh, md + dx : md + dx + ow]
            planes.append((a * b).mean(1))
    return torch.stack(planes, 1)


def explicit_loop(f1: Tensor, f2: Tensor, pad: int, k: int, md: int, s1: int, s2: int) -> np.ndarray:
    """The definition, element by element, in float64 numpy (any odd k and strides)."""
    a = np.pad(f1.detach().double().cpu().numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    b = np.pad(f2.detach().double().cpu().numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = f1.shape
    kr = (k - 1) // 2
    br = kr + md
    r = md // s2
    d = 2 * r + 1
    oh, ow = out_size(h, pad, k, md, s1), out_size(w, pad, k, md, s1)
    out = np.zeros((n, d * d, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            y, x = oy * s1 + br, ox * s1 + br
            win1 = a[:, :, y - kr : y + kr + 1, x - kr : x + kr + 1]
            for j in range(-r, r + 1):
                for i in range(-r, r + 1):
                    y2, x2 = y + j * s2, x + i * s2
                    win2 = b[:, :, y2 - kr : y2 + kr + 1, x2 - kr : x2 + kr + 1]
                    out[:, (j + r) * d + (i + r), oy, ox] = (win1 * win2).sum(axis=(1, 2, 3)) / (k * k * c)
    return out


def explicit_loop_grads(
    f1: Tensor, f2: Tensor, grad: Tensor, pad: int, k: int, md: int, s1: int, s2: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of sum(grad * correlation) w.r.t. f1 and f2, by scattering each output's terms."""
    a = np.pad(f1.detach().double().cpu().numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    b = np.pad(f2.detach().double().cpu().numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    g = grad.detach().double().cpu().numpy()
    ga, gb = np.zeros_like(a), np.zeros_like(b)
    n, c, h, w = f1.shape
    kr = (k - 1) // 2
    br = kr + md
    r = md // s2
    d = 2 * r + 1
    oh, ow = g.shape[2], g.shape[3]
    norm = 1.0 / (k * k * c)
    for oy in range(oh):
        for ox in range(ow):
            y, x = oy * s1 + br, ox * s1 + br
            for j in range(-r, r + 1):
                for i in range(-r, r + 1):
                    y2, x2 = y + j * s2, x + i * s2
                    coef = (g[:, (j + r) * d + (i + r), oy, ox] * norm)[:, None, None, None]
                    ga[:, :, y - kr : y + kr + 1, x - kr : x + kr + 1] += (
                        coef * b[:, :, y2 - kr : y2 + kr + 1, x2 - kr : x2 + kr + 1]
                    )
                    gb[:, :, y2 - kr : y2 + kr + 1, x2 - kr : x2 + kr + 1] += (
                        coef * a[:, :, y - kr : y + kr + 1, x - kr : x + kr + 1]
                    )
    crop = (slice(None), slice(None), slice(pad, pad + h), slice(pad, pad + w))
    return ga[crop], gb[crop]
