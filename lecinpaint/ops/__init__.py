"""The custom ops of lecinpaint, with the conventions of DESIGN.md section 3.

Each op runs, per call, on the best backend for its input's device (see :func:`backend_for`): the
compiled library ``lecinpaint._C`` (CPU, and CUDA when it was built with CUDA), the cupy backend (the
same CUDA kernel source compiled at run time by NVRTC, for a GPU without a CUDA compiler), or a
pure-PyTorch fallback (slower; a one-time warning says why).

Conventions shared by all ops: images/features (N, C, H, W); flow (N, 2, H, W) in pixels, channel 0 = dx,
channel 1 = dy; a flow from frame a to frame b lives on a's grid: ``a(p) ~ b(p + f_ab(p))``.

Example:
    >>> import torch
    >>> from lecinpaint import ops
    >>> img = torch.rand(1, 3, 8, 8)
    >>> bool(torch.equal(ops.resample2d(img, torch.zeros(1, 2, 8, 8)), img))
    True
"""

from __future__ import annotations

from lecinpaint.ops._loader import backend_for, extension_available, has_cuda_kernels
from lecinpaint.ops.channelnorm import channelnorm
from lecinpaint.ops.correlation import correlation
from lecinpaint.ops.flow_consistency import flow_consistency
from lecinpaint.ops.flow_warp import flow_warp
from lecinpaint.ops.resample2d import resample2d

__all__ = [
    "backend_for",
    "channelnorm",
    "correlation",
    "extension_available",
    "flow_consistency",
    "flow_warp",
    "has_cuda_kernels",
    "resample2d",
]
