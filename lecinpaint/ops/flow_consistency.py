"""flow_consistency: the forward/backward flow check of propagation, batched over frames."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lecinpaint.ops._checks import check_flow, check_pair
from lecinpaint.ops._loader import backend_for, extension_available
from lecinpaint.ops.resample2d import _resample2d_fallback

__all__ = ["flow_consistency"]


def flow_consistency(
    flow_ts: Tensor, flow_st: Tensor, threshold: float = 40.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Check a pair of flows for consistency, for pulling pixels of frame t from frame s.

    Convention (DFGVI's check, DESIGN.md section 3): flows (N, 2, H, W) float32/float64, pixels,
    channel 0 = dx; ``flow_ts`` lives on t's grid and points into s, ``flow_st`` the reverse::

        q      = p + flow_ts(p)                       # where p of frame t lands in frame s
        inside = floor(q) in [0, H-2] x [0, W-2]
        fhat   = bilinear(flow_st, q)                 # border-clamped, as resample2d: finite everywhere
        error  = || flow_ts(p) + fhat ||_2            # 0 for a perfectly consistent pair
        valid  = inside and error < threshold         # strict
        mid    = (flow_ts(p) - fhat) / 2              # symmetric estimate: sample s at p + mid

    DFGVI's default threshold is 40 px (permissive); 3 px suits a static camera (its DAVIS setting).

    Not differentiable: it produces masks for propagation; backpropagating through it raises an error.

    Returns:
        ``(error, valid, mid)``: error (N, H, W) in the flows' dtype, valid (N, H, W) bool,
        mid (N, 2, H, W).

    Example:
        >>> import torch
        >>> from lecinpaint.ops import flow_consistency
        >>> fwd = torch.full((1, 2, 4, 4), 0.5)
        >>> error, valid, mid = flow_consistency(fwd, -fwd, threshold=3.0)
        >>> float(error.max()), valid[0, 0].tolist(), float(mid[0, 0, 0, 0])
        (0.0, [True, True, True, False], 0.5)
    """
    op = "flow_consistency"
    check_flow(op, flow_ts, "flow_ts")
    check_flow(op, flow_st, "flow_st")
    check_pair(op, flow_ts, "flow_ts", flow_st, "flow_st", same_dtype=True)
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError(f"{op}: threshold must not be NaN")
    backend = backend_for(flow_ts)
    if backend == "compiled":
        return torch.ops.lecinpaint.flow_consistency(flow_ts, flow_st, threshold)
    if backend == "cupy":
        from lecinpaint.ops import _cupy

        return _cupy.flow_consistency(flow_ts, flow_st, threshold)
    return _flow_consistency_fallback(flow_ts, flow_st, threshold)


def _flow_consistency_fallback(
    flow_ts: Tensor, flow_st: Tensor, threshold: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch flow_consistency: resample2d's fallback (grid_sample) plus arithmetic."""
    N, _, H, W = flow_ts.shape
    fhat = _resample2d_fallback(flow_st, flow_ts)
    e = flow_ts + fhat
    error = torch.sqrt(e[:, 0] * e[:, 0] + e[:, 1] * e[:, 1])
    xs = torch.arange(W, dtype=flow_ts.dtype, device=flow_ts.device).view(1, W)
    ys = torch.arange(H, dtype=flow_ts.dtype, device=flow_ts.device).view(H, 1)
    qx = xs + flow_ts[:, 0]
    qy = ys + flow_ts[:, 1]
    inside = (qx >= 0) & (qx < W - 1) & (qy >= 0) & (qy < H - 1)
    valid = inside & (error < threshold)
    mid = (flow_ts - fhat) * 0.5
    return error, valid, mid


def _no_backward(ctx, *grads: Tensor) -> None:
    raise RuntimeError("flow_consistency is not differentiable: it computes propagation masks, not a loss")


def _setup_context(ctx, inputs: tuple, output: tuple) -> None:
    pass


if extension_available():

    @torch.library.register_fake("lecinpaint::flow_consistency")
    def _(flow_ts: Tensor, flow_st: Tensor, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
        N, _, H, W = flow_ts.shape
        return (
            flow_ts.new_empty((N, H, W)),
            flow_ts.new_empty((N, H, W), dtype=torch.bool),
            torch.empty_like(flow_ts, memory_format=torch.contiguous_format),
        )

    torch.library.register_autograd(
        "lecinpaint::flow_consistency", _no_backward, setup_context=_setup_context
    )
