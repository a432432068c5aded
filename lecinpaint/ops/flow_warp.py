"""flow_warp: the batched backward warp of propagation, with the validity of each target."""

from __future__ import annotations

import torch
from torch import Tensor

from lecinpaint.ops._checks import check_4d, check_floating, check_flow, check_pair
from lecinpaint.ops._loader import backend_for, extension_available

__all__ = ["flow_warp"]

_MODES = {"nearest": 0, "bilinear": 1}


def flow_warp(src: Tensor, flow: Tensor, mode: str = "nearest") -> tuple[Tensor, Tensor]:
    """Warp ``src`` backward along ``flow``; also say which targets fall inside the image.

    Convention:
        src (N, C, H, W); flow (N, 2, H, W) float32/float64 on the same device with the same N, H, W,
        in pixels, channel 0 = dx. ``warped(p) = src(p + flow(p))``.

        ``mode="nearest"`` (propagation copies pixels, it does not blur them): the target is
        ``(r, c) = (rint(y), rint(x))``, round half to even, as DFGVI; ``valid`` is
        ``0 <= r < H-1 and 0 <= c < W-1`` (DFGVI's test, which also rejects the last row and column).
        Any dtype of ``src`` is copied bit for bit (uint8 frames, int64 index maps, bool masks).

        ``mode="bilinear"``: ``valid`` is ``floor(y) in [0, H-2] and floor(x) in [0, W-2]``, i.e. all four
        taps are inside the image (the ``inside`` test of :func:`flow_consistency`), so no clamping is
        involved; ``src`` must be floating with the flow's dtype.

        Where ``valid`` is False, ``warped`` is 0. NaN flows are invalid.

    Forward only: the result carries no gradient; backpropagating through it raises an error (use
    :func:`resample2d` for a differentiable warp).

    Returns:
        ``(warped, valid)``: warped (N, C, H, W) with src's dtype, valid (N, H, W) bool.

    Example:
        >>> import torch
        >>> from lecinpaint.ops import flow_warp
        >>> src = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> flow = torch.zeros(1, 2, 4, 4)
        >>> flow[:, 0] = 1.0
        >>> warped, valid = flow_warp(src, flow)
        >>> warped[0, 0, 0].tolist(), valid[0, 0].tolist()
        ([1.0, 2.0, 0.0, 0.0], [True, True, False, False])
    """
    op = "flow_warp"
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}")
    check_4d(op, src, "src")
    check_flow(op, flow)
    if src.is_complex():
        raise TypeError(f"{op}: complex src is not supported")
    if mode == "bilinear":
        check_floating(op, src, "src (bilinear mode)")
    check_pair(op, src, "src", flow, "flow", same_dtype=mode == "bilinear")
    backend = backend_for(src)
    if backend == "compiled":
        return torch.ops.lecinpaint.flow_warp(src, flow, _MODES[mode])
    if backend == "cupy":
        from lecinpaint.ops import _cupy

        return _cupy.flow_warp(src, flow, _MODES[mode])
    return _flow_warp_fallback(src, flow, _MODES[mode])


def _flow_warp_fallback(src: Tensor, flow: Tensor, mode: int) -> tuple[Tensor, Tensor]:
    """Pure-PyTorch flow_warp (gathers; same arithmetic as the kernels)."""
    N, C, H, W = src.shape
    xs = torch.arange(W, dtype=flow.dtype, device=flow.device).view(1, 1, W)
    ys = torch.arange(H, dtype=flow.dtype, device=flow.device).view(1, H, 1)
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    flat = src.reshape(N, C, H * W)
    if mode == 0:
        x = torch.round(x)  # torch.round rounds half to even, as rint
        y = torch.round(y)
        valid = (x >= 0) & (x < W - 1) & (y >= 0) & (y < H - 1)
        idx = torch.where(valid, y * W + x, 0).to(torch.int64).view(N, 1, H * W).expand(N, C, H * W)
        warped = flat.gather(2, idx).view(N, C, H, W)
        zero = torch.zeros((), dtype=src.dtype, device=src.device)
        return torch.where(valid.unsqueeze(1), warped, zero), valid
    valid = (x >= 0) & (x < W - 1) & (y >= 0) & (y < H - 1)
    x = torch.where(valid, x, 0)
    y = torch.where(valid, y, 0)
    x0 = x.floor()
    y0 = y.floor()
    wx = (x - x0).unsqueeze(1)
    wy = (y - y0).unsqueeze(1)
    i00 = (y0 * W + x0).to(torch.int64).view(N, 1, H * W).expand(N, C, H * W)

    def tap(offset: int) -> Tensor:
        # Invalid pixels index 0 (+offset), inside the image whenever any target can be valid.
        return flat.gather(2, (i00 + offset).clamp_(max=H * W - 1)).view(N, C, H, W)

    out = (
        (1 - wx) * (1 - wy) * tap(0) + wx * (1 - wy) * tap(1) + (1 - wx) * wy * tap(W) + wx * wy * tap(W + 1)
    )
    return torch.where(valid.unsqueeze(1), out, torch.zeros((), dtype=src.dtype, device=src.device)), valid


def _no_backward(ctx, *grads: Tensor) -> None:
    raise RuntimeError(
        "flow_warp is forward-only and has no backward; use lecinpaint.ops.resample2d for a differentiable "
        "(bilinear, border-clamped) warp"
    )


def _setup_context(ctx, inputs: tuple, output: tuple) -> None:
    pass


if extension_available():

    @torch.library.register_fake("lecinpaint::flow_warp")
    def _(src: Tensor, flow: Tensor, mode: int) -> tuple[Tensor, Tensor]:
        N, _, H, W = flow.shape
        return (
            torch.empty_like(src, memory_format=torch.contiguous_format),
            flow.new_empty((N, H, W), dtype=torch.bool),
        )

    torch.library.register_autograd("lecinpaint::flow_warp", _no_backward, setup_context=_setup_context)
