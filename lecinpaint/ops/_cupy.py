"""The cupy backend: the CUDA kernels of csrc/kernels compiled at run time by NVRTC.

For users with a GPU but no CUDA compiler (``pip install lecinpaint[cupy]``): the very source that nvcc
compiles into ``lecinpaint._C`` (``csrc/common/*.h`` + ``csrc/kernels/*.cuh``) is read from the source
tree (``<repo>/csrc``) or from the copy installed with the package (``lecinpaint/_csrc``), its quoted
includes are inlined (so cupy's on-disk kernel cache is keyed by the full text), and it is compiled
once per process, lazily, by ``cupy.RawModule``. Kernels run on torch's current CUDA stream and read and
write torch tensors in place through ``__cuda_array_interface__`` (no copies).

These functions expect validated arguments (the public wrappers in ``lecinpaint.ops`` check them); they
are not differentiable by themselves: the wrappers attach the backward through autograd Functions.

Example (needs a CUDA GPU and cupy; lecinpaint.ops selects this backend by itself)::

    import torch
    from lecinpaint.ops import _cupy

    x = torch.rand(1, 3, 8, 8, device="cuda")
    assert torch.equal(_cupy.resample2d_forward(x, torch.zeros(1, 2, 8, 8, device="cuda")), x)
"""

from __future__ import annotations

import functools
import math
import os
import re

import torch
from torch import Tensor

__all__ = [
    "NAME_EXPRESSIONS",
    "NVRTC_OPTIONS",
    "channelnorm_backward",
    "channelnorm_forward",
    "correlation_backward",
    "correlation_forward",
    "flow_consistency",
    "flow_warp",
    "kernel_source",
    "resample2d_backward",
    "resample2d_forward",
    "source_root",
]

KERNEL_FILES = ("resample2d", "channelnorm", "flow_warp", "flow_consistency", "correlation")

# Every template instantiation launched from here; NVRTC instantiates exactly these.
_FLOATS = ("float", "double")
_BITS = ("unsigned char", "unsigned short", "unsigned int", "unsigned long long")
NAME_EXPRESSIONS: tuple[str, ...] = tuple(
    [f"lecinpaint::warp::resample2d_forward_kernel<{t}>" for t in _FLOATS]
    + [f"lecinpaint::warp::resample2d_backward_kernel<{t}>" for t in _FLOATS]
    + [f"lecinpaint::warp::channelnorm_forward_kernel<{t}>" for t in _FLOATS]
    + [f"lecinpaint::warp::channelnorm_backward_kernel<{t}>" for t in _FLOATS]
    + [f"lecinpaint::warp::flow_warp_nearest_kernel<{e}, {t}>" for e in _BITS for t in _FLOATS]
    + [f"lecinpaint::warp::flow_warp_bilinear_kernel<{t}>" for t in _FLOATS]
    + [f"lecinpaint::warp::flow_consistency_kernel<{t}>" for t in _FLOATS]
    + [f"lecinpaint::correlation::forward_kernel<{t}, {t}>" for t in _FLOATS]
    + [f"lecinpaint::correlation::backward_input1_kernel<{t}, {t}>" for t in _FLOATS]
    + [f"lecinpaint::correlation::backward_input2_kernel<{t}, {t}>" for t in _FLOATS]
)

NVRTC_OPTIONS: tuple[str, ...] = ("-std=c++17",)

# The launching functions, marked "pragma: no cover (CUDA)", need a GPU; tests/ops/test_cupy.py runs
# them against the CPU kernels where one is present. Source assembly and checks are covered everywhere.
_THREADS = 256
_MAX_BLOCKS = 65536
_CTYPE = {torch.float32: "float", torch.float64: "double"}
# Nearest warp copies bits: the integer type of each element size (the signed torch dtype is only a view).
_BITS_BY_SIZE = {1: ("unsigned char", torch.int8), 2: ("unsigned short", torch.int16),
                 4: ("unsigned int", torch.int32), 8: ("unsigned long long", torch.int64)}
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')


def source_root() -> str:
    """The directory holding ``common/`` and ``kernels/``: the source tree, else the installed copy.

    The source tree wins so that a checkout never runs a stale copy left by an earlier build.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = (os.path.join(os.path.dirname(package), "csrc"), os.path.join(package, "_csrc"))
    for root in candidates:
        if all(os.path.isfile(os.path.join(root, "kernels", f"{k}.cuh")) for k in KERNEL_FILES):
            return root
    raise FileNotFoundError(
        "lecinpaint cupy backend: the CUDA kernel sources (kernels/*.cuh, common/*.h) were not found in "
        + " or ".join(candidates)
        + "; reinstall lecinpaint (its build copies them into the package as lecinpaint/_csrc)"
    )


def _inline(path: str, root: str, seen: set[str]) -> str:
    out: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = _INCLUDE.match(line)
            if m is None:
                out.append(line)
                continue
            dep = os.path.normpath(os.path.join(root, m.group(1)))
            if not os.path.isfile(dep):
                raise FileNotFoundError(
                    f"lecinpaint cupy backend: {path} includes {m.group(1)}, not found in {root}"
                )
            if dep not in seen:
                seen.add(dep)
                out.append(_inline(dep, root, seen))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def kernel_source(root: str | None = None) -> str:
    """All kernel files with their quoted includes inlined (angle includes stay: NVRTC skips them)."""
    root = root or source_root()
    seen: set[str] = set()
    parts = [_inline(os.path.join(root, "kernels", f"{k}.cuh"), root, seen) for k in KERNEL_FILES]
    return "// lecinpaint kernels for NVRTC\n" + "".join(parts)


def _cupy():
    try:
        import cupy
    except ImportError as exc:  # the wrappers only come here when cupy imported once already
        raise ImportError(
            "lecinpaint cupy backend: cupy is not installed (pip install lecinpaint[cupy])"
        ) from exc
    return cupy


@functools.lru_cache(maxsize=None)
def _module():  # pragma: no cover (CUDA: cupy compiles for the current device)
    """The compiled RawModule (compiled per device by cupy on first use, cached on disk by cupy)."""
    cupy = _cupy()
    return cupy.RawModule(
        code=kernel_source(), options=NVRTC_OPTIONS, name_expressions=list(NAME_EXPRESSIONS)
    )


def _arr(t: Tensor):  # pragma: no cover (CUDA)
    """A cupy view of a CUDA tensor's memory (zero-copy, through __cuda_array_interface__)."""
    return _cupy().asarray(t.detach())


def _blocks(items: int, per_block: int = _THREADS) -> int:
    return max(1, min(_MAX_BLOCKS, (items + per_block - 1) // per_block))


def _launch(name: str, device: torch.device, blocks: int, args: tuple) -> None:  # pragma: no cover (CUDA)
    cupy = _cupy()
    index = device.index if device.index is not None else torch.cuda.current_device()
    stream = torch.cuda.current_stream(index)
    with cupy.cuda.Device(index), cupy.cuda.ExternalStream(stream.cuda_stream, index):
        kernel = _module().get_function(name)
        kernel((blocks,), (_THREADS,), args)


def _i(v: int):
    import numpy as np

    return np.int64(v)


def _check_float(op: str, t: Tensor) -> str:
    if t.dtype not in _CTYPE:
        raise TypeError(f"{op} (cupy backend): float32 or float64 expected, got {t.dtype}")
    return _CTYPE[t.dtype]


def resample2d_forward(input: Tensor, flow: Tensor) -> Tensor:  # pragma: no cover (CUDA)
    t = _check_float("resample2d", input)
    N, C, H, W = input.shape
    out = torch.empty_like(input, memory_format=torch.contiguous_format)
    if out.numel() == 0:
        return out
    x, f = input.contiguous(), flow.contiguous()
    _launch(f"lecinpaint::warp::resample2d_forward_kernel<{t}>", x.device, _blocks(N * H * W),
            (_arr(x), _arr(f), _arr(out), _i(N), _i(C), _i(H), _i(W)))
    return out


def resample2d_backward(  # pragma: no cover (CUDA)
    grad_output: Tensor, input: Tensor, flow: Tensor,
) -> tuple[Tensor, Tensor]:
    t = _check_float("resample2d", input)
    N, C, H, W = input.shape
    grad_input = torch.zeros(input.shape, dtype=input.dtype, device=input.device)
    grad_flow = torch.zeros(flow.shape, dtype=flow.dtype, device=flow.device)
    if input.numel() == 0:
        return grad_input, grad_flow
    g, x, f = grad_output.contiguous(), input.contiguous(), flow.contiguous()
    _launch(f"lecinpaint::warp::resample2d_backward_kernel<{t}>", x.device, _blocks(N * H * W),
            (_arr(g), _arr(x), _arr(f), _arr(grad_input), _arr(grad_flow), _i(N), _i(C), _i(H), _i(W)))
    return grad_input, grad_flow


def channelnorm_forward(input: Tensor) -> Tensor:  # pragma: no cover (CUDA)
    t = _check_float("channelnorm", input)
    N, C, H, W = input.shape
    out = torch.zeros((N, 1, H, W), dtype=input.dtype, device=input.device)
    if out.numel() == 0 or C == 0:
        return out
    x = input.contiguous()
    _launch(f"lecinpaint::warp::channelnorm_forward_kernel<{t}>", x.device, _blocks(N * H * W),
            (_arr(x), _arr(out), _i(N), _i(C), _i(H * W)))
    return out


def channelnorm_backward(  # pragma: no cover (CUDA)
    grad_output: Tensor, input: Tensor, output: Tensor,
) -> Tensor:
    t = _check_float("channelnorm", input)
    N, C, H, W = input.shape
    grad_input = torch.empty(input.shape, dtype=input.dtype, device=input.device)
    if grad_input.numel() == 0:
        return grad_input
    g, x, o = grad_output.contiguous(), input.contiguous(), output.contiguous()
    _launch(f"lecinpaint::warp::channelnorm_backward_kernel<{t}>", x.device, _blocks(N * C * H * W),
            (_arr(g), _arr(x), _arr(o), _arr(grad_input), _i(N), _i(C), _i(H * W)))
    return grad_input


def flow_warp(src: Tensor, flow: Tensor, mode: int) -> tuple[Tensor, Tensor]:  # pragma: no cover (CUDA)
    """mode 0 nearest (any dtype, bits copied), 1 bilinear (src of the flow's floating dtype)."""
    tf = _check_float("flow_warp", flow)
    N, C, H, W = src.shape
    out = torch.empty(src.shape, dtype=src.dtype, device=src.device)
    valid = torch.empty((N, H, W), dtype=torch.bool, device=src.device)
    if valid.numel() == 0:
        return out, valid
    s, f = src.contiguous(), flow.contiguous()
    if mode == 0:
        if src.element_size() not in _BITS_BY_SIZE or src.is_complex():
            raise TypeError(f"flow_warp (cupy backend): unsupported src dtype {src.dtype}")
        ctype, view = _BITS_BY_SIZE[src.element_size()]
        name = f"lecinpaint::warp::flow_warp_nearest_kernel<{ctype}, {tf}>"
        s, o = s.view(view), out.view(view)
    else:
        name = f"lecinpaint::warp::flow_warp_bilinear_kernel<{_check_float('flow_warp', src)}>"
        o = out
    _launch(name, s.device, _blocks(N * H * W),
            (_arr(s), _arr(f), _arr(o), _arr(valid), _i(N), _i(C), _i(H), _i(W)))
    return out, valid


def flow_consistency(  # pragma: no cover (CUDA)
    flow_ts: Tensor, flow_st: Tensor, threshold: float,
) -> tuple[Tensor, Tensor, Tensor]:
    import numpy as np

    t = _check_float("flow_consistency", flow_ts)
    N, _, H, W = flow_ts.shape
    error = torch.empty((N, H, W), dtype=flow_ts.dtype, device=flow_ts.device)
    valid = torch.empty((N, H, W), dtype=torch.bool, device=flow_ts.device)
    mid = torch.empty(flow_ts.shape, dtype=flow_ts.dtype, device=flow_ts.device)
    if error.numel() == 0:
        return error, valid, mid
    a, b = flow_ts.contiguous(), flow_st.contiguous()
    th = np.float32(threshold) if t == "float" else np.float64(threshold)
    _launch(f"lecinpaint::warp::flow_consistency_kernel<{t}>", a.device, _blocks(N * H * W),
            (_arr(a), _arr(b), th, _arr(error), _arr(valid), _arr(mid), _i(N), _i(H), _i(W)))
    return error, valid, mid


def _correlation_geometry(
    H: int, W: int, pad: int, k: int, md: int, s1: int, s2: int
) -> tuple[int, int, int]:
    br = (k - 1) // 2 + md
    D = 2 * (md // s2) + 1
    out_h = math.ceil((H + 2 * pad - 2 * br) / s1)
    out_w = math.ceil((W + 2 * pad - 2 * br) / s1)
    return D, out_h, out_w


def _as_float(t: Tensor) -> Tensor:
    # NVRTC builds no half kernels (cuda_fp16.h needs the toolkit headers): compute half in float32.
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def correlation_forward(  # pragma: no cover (CUDA)
    input1: Tensor, input2: Tensor, pad_size: int, kernel_size: int, max_displacement: int, stride1: int,
    stride2: int,
) -> Tensor:
    """FlowNet2 correlation forward (DESIGN.md section 3); inputs (N, C, H, W), validated by the caller."""
    dtype = input1.dtype
    a, b = _as_float(input1), _as_float(input2)
    t = _check_float("correlation", a)
    N, C, H, W = a.shape
    D, out_h, out_w = _correlation_geometry(H, W, pad_size, kernel_size, max_displacement, stride1, stride2)
    out = torch.zeros((N, D * D, max(out_h, 0), max(out_w, 0)), dtype=a.dtype, device=a.device)
    if out.numel() == 0 or C == 0:
        return out.to(dtype)
    # The kernels read channels-last, unpadded inputs: padding is a bounds check.
    a_nhwc = a.permute(0, 2, 3, 1).contiguous()
    b_nhwc = b.permute(0, 2, 3, 1).contiguous()
    warps_per_block = _THREADS // 32
    blocks = _blocks(out.numel(), warps_per_block)  # one warp per output element
    _launch(f"lecinpaint::correlation::forward_kernel<{t}, {t}>", a.device, blocks,
            (_arr(a_nhwc), _arr(b_nhwc), _arr(out), _i(N), _i(C), _i(H), _i(W), _i(pad_size), _i(kernel_size),
             _i(max_displacement), _i(stride1), _i(stride2)))
    return out.to(dtype)


def correlation_backward(  # pragma: no cover (CUDA)
    grad_output: Tensor, input1: Tensor, input2: Tensor, pad_size: int, kernel_size: int,
    max_displacement: int, stride1: int, stride2: int,
) -> tuple[Tensor, Tensor]:
    """Gradients of correlation_forward for both inputs, (N, C, H, W) each."""
    dtype = input1.dtype
    a, b, g = _as_float(input1), _as_float(input2), _as_float(grad_output)
    t = _check_float("correlation", a)
    N, C, H, W = a.shape
    g1 = torch.zeros((N, H, W, C), dtype=a.dtype, device=a.device)
    g2 = torch.zeros((N, H, W, C), dtype=a.dtype, device=a.device)
    if g1.numel() == 0 or g.numel() == 0:
        return g1.permute(0, 3, 1, 2).to(dtype), g2.permute(0, 3, 1, 2).to(dtype)
    a_nhwc = a.permute(0, 2, 3, 1).contiguous()
    b_nhwc = b.permute(0, 2, 3, 1).contiguous()
    g = g.contiguous()
    geometry = (_i(N), _i(C), _i(H), _i(W), _i(pad_size), _i(kernel_size), _i(max_displacement), _i(stride1),
                _i(stride2))
    blocks = _blocks(g1.numel())
    _launch(f"lecinpaint::correlation::backward_input1_kernel<{t}, {t}>", a.device, blocks,
            (_arr(g), _arr(b_nhwc), _arr(g1)) + geometry)
    _launch(f"lecinpaint::correlation::backward_input2_kernel<{t}, {t}>", a.device, blocks,
            (_arr(g), _arr(a_nhwc), _arr(g2)) + geometry)
    return (g1.permute(0, 3, 1, 2).contiguous().to(dtype), g2.permute(0, 3, 1, 2).contiguous().to(dtype))
