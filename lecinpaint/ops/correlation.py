"""correlation: FlowNet2's correlation layer (the cost volume of FlowNetC)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lecinpaint.ops._loader import backend_for, extension_available

__all__ = ["correlation", "correlation_output_shape"]

_OP = "correlation"
_DTYPES = (torch.float16, torch.float32, torch.float64)


def correlation_output_shape(
    input_shape: tuple[int, ...] | torch.Size,
    pad_size: int = 20,
    kernel_size: int = 1,
    max_displacement: int = 20,
    stride1: int = 1,
    stride2: int = 2,
) -> tuple[int, int, int, int]:
    """The shape ``(N, D*D, outH, outW)`` of ``correlation`` for inputs of shape ``(N, C, H, W)``.

    ``D = 2 * (max_displacement // stride2) + 1`` and ``outH = ceil((H + 2*pad - 2*br) / stride1)`` with
    ``br = (kernel_size - 1) // 2 + max_displacement`` (``outW`` likewise). Sizes <= 0 are returned as
    they are; ``correlation`` rejects them.
    """
    n, _, h, w = input_shape
    border = (kernel_size - 1) // 2 + max_displacement
    d = 2 * (max_displacement // stride2) + 1

    def out(size: int) -> int:
        span = size + 2 * pad_size - 2 * border
        return -((-span) // stride1) if span > 0 else span

    return (n, d * d, out(h), out(w))


def correlation(
    input1: Tensor,
    input2: Tensor,
    pad_size: int = 20,
    kernel_size: int = 1,
    max_displacement: int = 20,
    stride1: int = 1,
    stride2: int = 2,
) -> Tensor:
    """FlowNet2's correlation of two feature maps (the defaults are FlowNetC's).

    Convention:
        input1, input2 (N, C, H, W), same shape, dtype and device; float32 or float64 (float16 on CUDA).
        ``P = input`` zero-padded by ``pad_size`` on every side, ``kr = (kernel_size - 1) // 2``,
        ``br = kr + max_displacement``, ``R = max_displacement // stride2``, ``D = 2R + 1``::

            out[b, (j+R)*D + (i+R), oy, ox] = 1/(kernel_size**2 * C) * sum_c sum_{dy,dx in [-kr, kr]}
                P1[b, c, Y+dy, X+dx] * P2[b, c, Y + j*stride2 + dy, X + i*stride2 + dx]
            Y = oy*stride1 + br,  X = ox*stride1 + br,  i, j in [-R, R]

        so the D*D output channels are the displacements, dy-major, and
        ``outH = ceil((H + 2*pad_size - 2*br) / stride1)`` (``outW`` likewise). When
        ``max_displacement`` is not a multiple of ``stride2`` the extreme displacement is never sampled.

    Differentiable with respect to both inputs. Runs the compiled kernels when ``lecinpaint._C`` has them
    for the device, the cupy (NVRTC) build of the same CUDA kernels on a GPU without compiled CUDA kernels,
    and otherwise a pure-PyTorch fallback (slower; a one-time warning says so).

    Args:
        input1: features of the first image.
        input2: features of the second image (the one displaced).
        pad_size: zero padding on each side, >= 0.
        kernel_size: side of the patch compared at each displacement; odd.
        max_displacement: largest displacement, in pixels, >= 0.
        stride1: step of the output grid over the (padded) input, >= 1.
        stride2: step between sampled displacements, >= 1.

    Returns:
        (N, D*D, outH, outW), the dtype of the inputs.

    Raises:
        TypeError: an input is not a floating-point tensor of a supported dtype, or the dtypes differ.
        ValueError: shapes differ or are not 4-D, devices differ, a parameter is out of range, or the
            output would be empty.

    Example:
        >>> import torch
        >>> from lecinpaint.ops import correlation
        >>> f1 = torch.randn(1, 8, 12, 16)
        >>> f2 = torch.roll(f1, shifts=2, dims=3)          # f2(x + 2) = f1(x)
        >>> out = correlation(f1, f2, pad_size=4, kernel_size=1, max_displacement=4, stride1=1, stride2=2)
        >>> out.shape                                      # D = 5: displacements -4, -2, 0, 2, 4
        torch.Size([1, 25, 12, 16])
        >>> int(out[0, :, 6, 8].argmax())                  # dy = 0 (row 2), dx = +2 (column 3)
        13
    """
    _check(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2)
    args = (int(pad_size), int(kernel_size), int(max_displacement), int(stride1), int(stride2))
    backend = backend_for(input1)
    if backend == "compiled":
        return torch.ops.lecinpaint.correlation(input1, input2, *args)
    if backend == "cupy" and _cupy_has_correlation():
        return _CorrelationCupy.apply(input1, input2, *args)
    return _correlation_fallback(input1, input2, *args)


def _check(
    input1: Tensor,
    input2: Tensor,
    pad_size: int,
    kernel_size: int,
    max_displacement: int,
    stride1: int,
    stride2: int,
) -> None:
    for name, t in (("input1", input1), ("input2", input2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_OP}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if input1.dim() != 4:
        raise ValueError(f"{_OP}: input1 must be 4-D (N, C, H, W), got shape {tuple(input1.shape)}")
    if input1.shape != input2.shape:
        raise ValueError(
            f"{_OP}: input1 and input2 must have the same shape, got {tuple(input1.shape)} and "
            f"{tuple(input2.shape)}"
        )
    if input1.device != input2.device:
        raise ValueError(
            f"{_OP}: input1 and input2 must be on the same device, got {input1.device} and {input2.device}"
        )
    if input1.dtype != input2.dtype:
        raise TypeError(f"{_OP}: input1 and input2 must have the same dtype, got {input1.dtype} and {input2.dtype}")
    if input1.dtype not in _DTYPES:
        raise TypeError(f"{_OP}: inputs must be float32 or float64 (or float16 on CUDA), got {input1.dtype}")
    if input1.dtype == torch.float16 and input1.device.type != "cuda":
        raise TypeError(f"{_OP}: float16 inputs are supported on CUDA only; convert to float32 on {input1.device}")
    for name, value in (
        ("pad_size", pad_size),
        ("kernel_size", kernel_size),
        ("max_displacement", max_displacement),
        ("stride1", stride1),
        ("stride2", stride2),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, torch.SymInt)):
            raise TypeError(f"{_OP}: {name} must be an int, got {type(value).__name__}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{_OP}: kernel_size must be odd and positive, got {kernel_size}")
    if pad_size < 0:
        raise ValueError(f"{_OP}: pad_size must be >= 0, got {pad_size}")
    if max_displacement < 0:
        raise ValueError(f"{_OP}: max_displacement must be >= 0, got {max_displacement}")
    if stride1 < 1 or stride2 < 1:
        raise ValueError(f"{_OP}: stride1 and stride2 must be >= 1, got {stride1} and {stride2}")
    _, _, out_h, out_w = correlation_output_shape(
        input1.shape, pad_size, kernel_size, max_displacement, stride1, stride2
    )
    if out_h <= 0 or out_w <= 0:
        raise ValueError(
            f"{_OP}: the output would be empty: input {input1.shape[2]}x{input1.shape[3]} with pad_size "
            f"{pad_size} is smaller than the window 2*(max_displacement + (kernel_size-1)//2) + 1 = "
            f"{2 * ((kernel_size - 1) // 2 + max_displacement) + 1}"
        )


def _correlation_fallback(
    input1: Tensor,
    input2: Tensor,
    pad_size: int = 20,
    kernel_size: int = 1,
    max_displacement: int = 20,
    stride1: int = 1,
    stride2: int = 2,
) -> Tensor:
    """Pure-PyTorch correlation, differentiable through autograd; same semantics as ``correlation``.

    One displacement at a time: the channel sum of ``P1 * shifted P2`` over the rows and columns that
    the windows cover, then a kernel_size x kernel_size mean taken every stride1 pixels (avg_pool2d).
    Memory: one (N, C, h, w) product at a time plus the output.
    """
    n, c, _, _ = input1.shape
    _, channels, out_h, out_w = correlation_output_shape(
        input1.shape, pad_size, kernel_size, max_displacement, stride1, stride2
    )
    if n == 0 or c == 0:
        return input1.new_zeros((n, channels, out_h, out_w)) + 0 * (input1.sum() + input2.sum())
    p1 = F.pad(input1, [pad_size] * 4)
    p2 = F.pad(input2, [pad_size] * 4)
    radius = max_displacement // stride2
    # Rows/columns covered by some window: centres br + o*stride1, taps -kr..kr, i.e. starting at md.
    span_h = (out_h - 1) * stride1 + kernel_size
    span_w = (out_w - 1) * stride1 + kernel_size
    md = max_displacement
    a = p1[:, :, md : md + span_h, md : md + span_w]
    outs = []
    for j in range(-radius, radius + 1):
        for i in range(-radius, radius + 1):
            oy, ox = md + j * stride2, md + i * stride2
            b = p2[:, :, oy : oy + span_h, ox : ox + span_w]
            s = (a * b).sum(1, keepdim=True) / c
            if kernel_size > 1 or stride1 > 1:
                s = F.avg_pool2d(s, kernel_size, stride=stride1)
            outs.append(s)
    return torch.cat(outs, dim=1)


def _cupy_has_correlation() -> bool:
    try:
        from lecinpaint.ops import _cupy
    except ImportError:
        return False
    return hasattr(_cupy, "correlation_forward") and hasattr(_cupy, "correlation_backward")


class _CorrelationCupy(torch.autograd.Function):
    """The cupy (NVRTC) path: the CUDA kernels of csrc/kernels/correlation.cuh compiled at run time."""

    @staticmethod
    def forward(ctx, input1: Tensor, input2: Tensor, *args: int) -> Tensor:  # type: ignore[override]
        from lecinpaint.ops import _cupy

        ctx.save_for_backward(input1, input2)
        ctx.args = args
        return _cupy.correlation_forward(input1, input2, *args)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        from lecinpaint.ops import _cupy

        input1, input2 = ctx.saved_tensors
        g1, g2 = _cupy.correlation_backward(grad.contiguous(), input1, input2, *ctx.args)
        return (g1, g2) + (None,) * len(ctx.args)


def _backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
    input1, input2 = ctx.saved_tensors
    g1, g2 = torch.ops.lecinpaint._correlation_backward(grad.contiguous(), input1, input2, *ctx.args)
    return (
        g1 if ctx.needs_input_grad[0] else None,
        g2 if ctx.needs_input_grad[1] else None,
        None,
        None,
        None,
        None,
        None,
    )


def _setup_context(ctx, inputs: tuple, output: Tensor) -> None:
    input1, input2, *args = inputs
    ctx.save_for_backward(input1, input2)
    ctx.args = tuple(args)


if extension_available():

    @torch.library.register_fake("lecinpaint::correlation")
    def _(
        input1: Tensor,
        input2: Tensor,
        pad_size: int,
        kernel_size: int,
        max_displacement: int,
        stride1: int,
        stride2: int,
    ) -> Tensor:
        shape = correlation_output_shape(input1.shape, pad_size, kernel_size, max_displacement, stride1, stride2)
        torch._check(shape[2] > 0 and shape[3] > 0, lambda: f"{_OP}: the output would be empty")
        return input1.new_empty(shape)

    @torch.library.register_fake("lecinpaint::_correlation_backward")
    def _(
        grad_output: Tensor,
        input1: Tensor,
        input2: Tensor,
        pad_size: int,
        kernel_size: int,
        max_displacement: int,
        stride1: int,
        stride2: int,
    ) -> tuple[Tensor, Tensor]:
        return (
            torch.empty_like(input1, memory_format=torch.contiguous_format),
            torch.empty_like(input2, memory_format=torch.contiguous_format),
        )

    torch.library.register_autograd("lecinpaint::correlation", _backward, setup_context=_setup_context)
