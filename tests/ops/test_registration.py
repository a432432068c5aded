"""Every op and backward has a kernel registered for each backend the extension was built with."""

from __future__ import annotations

import pytest
import torch
from conftest import requires_ext

pytestmark = requires_ext

OPS = [
    "correlation",
    "_correlation_backward",
    "resample2d",
    "_resample2d_backward",
    "channelnorm",
    "_channelnorm_backward",
    "flow_warp",
    "flow_consistency",
]


def _has_kernel(op: str, key: str) -> bool:
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"lecinpaint::{op}", key)


@pytest.mark.parametrize("op", OPS)
def test_cpu_kernel_registered(op):
    assert _has_kernel(op, "CPU"), f"lecinpaint::{op} has no CPU kernel"


@pytest.mark.parametrize("op", OPS)
def test_cuda_kernel_registered_when_built_with_cuda(op):
    from lecinpaint import _C

    if _C.with_cuda != 1:
        pytest.skip("lecinpaint._C was built without CUDA kernels (LECINPAINT_CPU_ONLY=1 or no toolkit)")
    assert _has_kernel(op, "CUDA"), f"lecinpaint::{op} has no CUDA kernel in a CUDA build"


def test_has_cuda_kernels_reports_the_build():
    from lecinpaint import _C
    from lecinpaint.ops import has_cuda_kernels

    assert has_cuda_kernels() == (_C.with_cuda == 1)
