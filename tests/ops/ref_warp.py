"""Slow, independent float64 references for resample2d, channelnorm, flow_warp and flow_consistency.

Written from DESIGN.md section 3 in numpy, with explicit per-pixel loops where the op's definition is a
per-pixel rule; they share no code with lecinpaint.ops (neither the kernels nor the fallbacks).
Keep inputs tiny.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _corner_clamped_bilinear(plane: np.ndarray, x: float, y: float) -> float:
    """FlowNet2's formulation: floor, +1, then clamp each corner index to the image."""
    H, W = plane.shape
    if math.isnan(x) or math.isnan(y):
        x = y = -1.0
    x = min(max(x, -2.0), W + 1.0)  # far outside is the same as just outside, and keeps floor finite
    y = min(max(y, -2.0), H + 1.0)
    x0, y0 = math.floor(x), math.floor(y)
    ax, ay = x - x0, y - y0
    xa, xb = min(max(x0, 0), W - 1), min(max(x0 + 1, 0), W - 1)
    ya, yb = min(max(y0, 0), H - 1), min(max(y0 + 1, 0), H - 1)
    top = (1 - ax) * plane[ya, xa] + ax * plane[ya, xb]
    bot = (1 - ax) * plane[yb, xa] + ax * plane[yb, xb]
    return (1 - ay) * top + ay * bot


def resample2d_ref(input: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    x, f = _np(input), _np(flow)
    N, C, H, W = x.shape
    out = np.zeros_like(x)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                px, py = j + f[n, 0, i, j], i + f[n, 1, i, j]
                for c in range(C):
                    out[n, c, i, j] = _corner_clamped_bilinear(x[n, c], px, py)
    return torch.from_numpy(out)


def channelnorm_ref(input: torch.Tensor) -> torch.Tensor:
    x = _np(input)
    return torch.from_numpy(np.sqrt(np.sum(x * x, axis=1, keepdims=True)))


def channelnorm_grad_ref(grad: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    x, g = _np(input), _np(grad)
    norm = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    return torch.from_numpy(g * x / (norm + 1e-9))


def flow_warp_ref(src: torch.Tensor, flow: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel loop: numpy's rint (half to even) for nearest, 4 in-image taps for bilinear."""
    s = src.detach().cpu().numpy()
    f = _np(flow)
    N, C, H, W = s.shape
    out = np.zeros(s.shape, dtype=np.float64 if mode == "bilinear" else s.dtype)
    valid = np.zeros((N, H, W), dtype=bool)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                x, y = j + f[n, 0, i, j], i + f[n, 1, i, j]
                if mode == "nearest":
                    r, c = np.rint(y), np.rint(x)
                    ok = bool(0 <= r < H - 1 and 0 <= c < W - 1)
                    valid[n, i, j] = ok
                    if ok:
                        out[n, :, i, j] = s[n, :, int(r), int(c)]
                else:
                    ok = bool(0 <= y < H - 1 and 0 <= x < W - 1)
                    valid[n, i, j] = ok
                    if ok:
                        y0, x0 = int(math.floor(y)), int(math.floor(x))
                        ay, ax = y - y0, x - x0
                        p = s[n, :, y0 : y0 + 2, x0 : x0 + 2].astype(np.float64)
                        out[n, :, i, j] = (
                            (1 - ay) * ((1 - ax) * p[:, 0, 0] + ax * p[:, 0, 1])
                            + ay * ((1 - ax) * p[:, 1, 0] + ax * p[:, 1, 1])
                        )
    return torch.from_numpy(out), torch.from_numpy(valid)


def flow_consistency_ref(
    flow_ts: torch.Tensor, flow_st: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b = _np(flow_ts), _np(flow_st)
    N, _, H, W = a.shape
    error = np.zeros((N, H, W))
    valid = np.zeros((N, H, W), dtype=bool)
    mid = np.zeros((N, 2, H, W))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                u, v = a[n, 0, i, j], a[n, 1, i, j]
                qx, qy = j + u, i + v
                inside = bool(0 <= math.floor(qy) <= H - 2 and 0 <= math.floor(qx) <= W - 2)
                hu = _corner_clamped_bilinear(b[n, 0], qx, qy)
                hv = _corner_clamped_bilinear(b[n, 1], qx, qy)
                e = math.hypot(u + hu, v + hv)
                error[n, i, j] = e
                valid[n, i, j] = inside and e < threshold
                mid[n, :, i, j] = ((u - hu) / 2, (v - hv) / 2)
    return torch.from_numpy(error), torch.from_numpy(valid), torch.from_numpy(mid)
