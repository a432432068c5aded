"""channelnorm: the L2 norm over channels (FlowNet2's ChannelNorm)."""

from __future__ import annotations

import torch
from torch import Tensor

from lecinpaint.ops._checks import check_4d, check_floating
from lecinpaint.ops._loader import backend_for, extension_available

__all__ = ["channelnorm"]

#: Added to the norm in the backward pass, as FlowNet2 does, so the gradient is finite (zero) at x = 0.
EPS = 1e-9


def channelnorm(input: Tensor) -> Tensor:
    """The Euclidean norm over the channel dimension (FlowNet2's ChannelNorm).

    Convention:
        input (N, C, H, W) float32/float64 -> (N, 1, H, W), ``out = sqrt(sum_c input[:, c] ** 2)``.
        Backward: ``grad_input = grad * input / (out + 1e-9)``, finite (zero) where the norm is 0, unlike
        autograd through ``sqrt``.

    Example:
        >>> import torch
        >>> from lecinpaint.ops import channelnorm
        >>> x = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
        >>> channelnorm(x).flatten().tolist()
        [5.0]
    """
    op = "channelnorm"
    check_4d(op, input, "input")
    check_floating(op, input, "input")
    backend = backend_for(input)
    if backend == "compiled":
        return torch.ops.lecinpaint.channelnorm(input)
    if backend == "cupy":
        return _ChannelnormCupy.apply(input)
    return _ChannelnormFallback.apply(input)


def _channelnorm_fallback(input: Tensor) -> Tensor:
    """Pure-PyTorch channelnorm, differentiable with the op's backward (eps in the denominator)."""
    return _ChannelnormFallback.apply(input)


def _channelnorm_backward_fallback(grad: Tensor, input: Tensor, output: Tensor) -> Tensor:
    return (grad / (output + EPS)) * input


class _ChannelnormFallback(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input: Tensor) -> Tensor:
        out = input.square().sum(dim=1, keepdim=True).sqrt()
        ctx.save_for_backward(input, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        input, out = ctx.saved_tensors
        return _channelnorm_backward_fallback(grad, input, out)


class _ChannelnormCupy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input: Tensor) -> Tensor:
        from lecinpaint.ops import _cupy

        out = _cupy.channelnorm_forward(input)
        ctx.save_for_backward(input, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        from lecinpaint.ops import _cupy

        input, out = ctx.saved_tensors
        return _cupy.channelnorm_backward(grad, input, out)


def _backward(ctx, grad: Tensor) -> Tensor:
    input, out = ctx.saved_tensors
    return torch.ops.lecinpaint._channelnorm_backward(grad.contiguous(), input, out)


def _setup_context(ctx, inputs: tuple, output: Tensor) -> None:
    ctx.save_for_backward(inputs[0], output)


if extension_available():

    @torch.library.register_fake("lecinpaint::channelnorm")
    def _(input: Tensor) -> Tensor:
        N, _, H, W = input.shape
        return input.new_empty((N, 1, H, W))

    @torch.library.register_fake("lecinpaint::_channelnorm_backward")
    def _(grad_output: Tensor, input: Tensor, output: Tensor) -> Tensor:
        return torch.empty_like(input, memory_format=torch.contiguous_format)

    torch.library.register_autograd("lecinpaint::channelnorm", _backward, setup_context=_setup_context)
