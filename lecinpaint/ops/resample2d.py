"""resample2d: FlowNet2's warping layer (bilinear backward warp with border clamping)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lecinpaint.ops._checks import check_4d, check_floating, check_flow, check_pair
from lecinpaint.ops._loader import backend_for, extension_available

__all__ = ["resample2d"]


def resample2d(input: Tensor, flow: Tensor, kernel_size: int = 1) -> Tensor:
    """Backward-warp ``input`` by ``flow`` (FlowNet2's Resample2d).

    Convention:
        input (N, C, H, W) float32/float64; flow (N, 2, H, W) of the same dtype, device, N, H, W, in
        pixels, channel 0 = dx, channel 1 = dy.
        ``out(p) = input(p + flow(p))``, bilinear; the sampling point is clipped to the image
        (each corner index clamped to the border, "replicate").

    Values and gradients (for both ``input`` and ``flow``) equal
    ``grid_sample(input, grid, mode="bilinear", padding_mode="border", align_corners=True)`` with
    ``grid = 2 * (p + flow) / (W - 1, H - 1) - 1``: the derivative with respect to the flow is zero where
    the sampling point lies on or beyond the border.

    Args:
        input: the image or features to warp.
        flow: the displacement, on the output's grid.
        kernel_size: only 1 is supported (FlowNet2's kernel_size > 1 reads out of bounds); it exists so
            that code written for FlowNet2's layer keeps working.

    Returns:
        (N, C, H, W), same dtype as ``input``.

    Example:
        >>> import torch
        >>> from lecinpaint.ops import resample2d
        >>> img = torch.arange(12.0).reshape(1, 1, 3, 4)
        >>> flow = torch.zeros(1, 2, 3, 4)
        >>> flow[:, 0] = 1.0                      # every pixel reads its right neighbour
        >>> resample2d(img, flow)[0, 0, 0].tolist()
        [1.0, 2.0, 3.0, 3.0]
    """
    op = "resample2d"
    if kernel_size != 1:
        raise ValueError(
            f"{op}: kernel_size must be 1, got {kernel_size} (FlowNet2's kernel_size > 1 path reads out of "
            "bounds and is not meaningful)"
        )
    check_4d(op, input, "input")
    check_flow(op, flow)
    check_floating(op, input, "input")
    check_pair(op, input, "input", flow, "flow", same_dtype=True)
    backend = backend_for(input)
    if backend == "compiled":
        return torch.ops.lecinpaint.resample2d(input, flow)
    if backend == "cupy":
        return _Resample2dCupy.apply(input, flow)
    return _resample2d_fallback(input, flow)


def _base_grid(flow: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel coordinates x (1, W) and y (H, 1) of the flow's grid, in the flow's dtype."""
    H, W = flow.shape[-2:]
    xs = torch.arange(W, dtype=flow.dtype, device=flow.device).view(1, W)
    ys = torch.arange(H, dtype=flow.dtype, device=flow.device).view(H, 1)
    return xs, ys


def _resample2d_fallback(input: Tensor, flow: Tensor) -> Tensor:
    """Pure-PyTorch resample2d: grid_sample with border padding; autograd differentiates it directly."""
    H, W = input.shape[-2:]
    xs, ys = _base_grid(flow)
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    # W == 1 or H == 1: the normalisation divides by zero; any coordinate maps to the single column/row.
    gx = 2 * x / (W - 1) - 1 if W > 1 else torch.zeros_like(x)
    gy = 2 * y / (H - 1) - 1 if H > 1 else torch.zeros_like(y)
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(input, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
    input, flow = ctx.saved_tensors
    gi, gf = torch.ops.lecinpaint._resample2d_backward(grad.contiguous(), input, flow)
    return (gi if ctx.needs_input_grad[0] else None, gf if ctx.needs_input_grad[1] else None)


def _setup_context(ctx, inputs: tuple, output: Tensor) -> None:
    input, flow = inputs
    ctx.save_for_backward(input, flow)


class _Resample2dCupy(torch.autograd.Function):
    """The cupy (NVRTC) path, with the same backward kernel as the compiled one."""

    @staticmethod
    def forward(ctx, input: Tensor, flow: Tensor) -> Tensor:
        from lecinpaint.ops import _cupy

        ctx.save_for_backward(input, flow)
        return _cupy.resample2d_forward(input, flow)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        from lecinpaint.ops import _cupy

        input, flow = ctx.saved_tensors
        return _cupy.resample2d_backward(grad, input, flow)


if extension_available():

    @torch.library.register_fake("lecinpaint::resample2d")
    def _(input: Tensor, flow: Tensor) -> Tensor:
        return torch.empty_like(input, memory_format=torch.contiguous_format)

    @torch.library.register_fake("lecinpaint::_resample2d_backward")
    def _(grad_output: Tensor, input: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
        return (
            torch.empty_like(input, memory_format=torch.contiguous_format),
            torch.empty_like(flow, memory_format=torch.contiguous_format),
        )

    torch.library.register_autograd("lecinpaint::resample2d", _backward, setup_context=_setup_context)
