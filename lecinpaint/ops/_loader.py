"""Loading of the compiled op library and the choice of backend for each call.

Three ways to run an op, chosen per call from the tensor's device:
    "compiled"  lecinpaint._C has a kernel for this device (CPU always, CUDA when built with CUDA)
    "cupy"      a CUDA tensor, the extension has no CUDA kernels, cupy is installed: the same kernel
                source compiled at run time by NVRTC (lecinpaint.ops._cupy)
    "fallback"  pure PyTorch (slower); a one-time warning says why
"""

from __future__ import annotations

import functools
import warnings

import torch

__all__ = ["extension_available", "has_cuda_kernels", "backend_for", "warn_fallback_once"]

_OPS = ("correlation", "resample2d", "channelnorm", "flow_warp", "flow_consistency")


@functools.lru_cache(maxsize=None)
def _load() -> tuple[bool, str]:
    try:
        from lecinpaint import _C  # noqa: F401  (registers torch.ops.lecinpaint.*)
    except ImportError as exc:  # not built, or built against another torch
        return False, str(exc)
    return True, ""


def extension_available() -> bool:
    """True when the compiled library ``lecinpaint._C`` loaded."""
    return _load()[0]


@functools.lru_cache(maxsize=None)
def has_cuda_kernels() -> bool:
    """True when every op has a CUDA kernel registered in the loaded extension."""
    if not extension_available():
        return False
    return all(torch._C._dispatch_has_kernel_for_dispatch_key(f"lecinpaint::{op}", "CUDA") for op in _OPS)


@functools.lru_cache(maxsize=None)
def _cupy_usable() -> bool:
    try:
        import cupy  # noqa: F401
    except Exception:
        return False
    return True


def backend_for(t: torch.Tensor) -> str:
    """"compiled", "cupy" or "fallback" for an op whose main input is ``t``."""
    if t.device.type == "cpu":
        if extension_available():
            return "compiled"
        warn_fallback_once("the compiled extension lecinpaint._C is not available: " + _load()[1])
        return "fallback"
    if t.device.type == "cuda":  # pragma: no cover (CUDA: the selection for GPU tensors needs a GPU)
        if has_cuda_kernels():
            return "compiled"
        if _cupy_usable():
            return "cupy"
        warn_fallback_once(
            "no CUDA kernels in lecinpaint._C and cupy is not installed (pip install lecinpaint[cupy])"
        )
        return "fallback"
    return "fallback"


@functools.lru_cache(maxsize=None)
def warn_fallback_once(reason: str) -> None:
    warnings.warn(
        f"lecinpaint.ops: using the pure-PyTorch fallbacks, which are slower ({reason})",
        RuntimeWarning,
        stacklevel=3,
    )
