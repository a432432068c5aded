"""Backend selection (lecinpaint.ops._loader) as it happens: the compiled library present, and absent.

"Absent" is made real in a child process whose import system refuses ``lecinpaint._C`` (as when the
library was not built, or was built against another torch); the selection code itself is not touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from lecinpaint.ops import _loader, correlation, flow_warp

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import importlib.abc, json, sys, warnings

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "lecinpaint._C":
            raise ImportError("lecinpaint._C refused by the test")
        return None

sys.meta_path.insert(0, Refuse())
import torch
from lecinpaint.ops import _loader, correlation, flow_warp

g = torch.Generator().manual_seed(0)
a, b = torch.randn(1, 4, 9, 10, generator=g), torch.randn(1, 4, 9, 10, generator=g)
src = torch.randn(1, 2, 6, 7, generator=g)
flow = torch.randn(1, 2, 6, 7, generator=g) * 2
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    backend = _loader.backend_for(a)
    corr = correlation(a, b, 2, 1, 2, 1, 1)
    warped, valid = flow_warp(src, flow, "nearest")
json.dump({
    "available": _loader.extension_available(),
    "cuda_kernels": _loader.has_cuda_kernels(),
    "reason": _loader._load()[1],
    "backend": backend,
    "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
    "corr": corr.tolist(), "warped": warped.tolist(), "valid": valid.tolist(),
}, sys.stdout)
"""


def _inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 4, 9, 10, generator=g), torch.randn(1, 4, 9, 10, generator=g)
    src = torch.randn(1, 2, 6, 7, generator=g)
    flow = torch.randn(1, 2, 6, 7, generator=g) * 2
    return a, b, src, flow


@pytest.mark.skipif(not _loader.extension_available(), reason="lecinpaint._C is not built")
def test_without_the_library_the_fallbacks_run_and_say_why_once() -> None:
    res = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["available"] is False and got["cuda_kernels"] is False
    assert got["reason"] == "lecinpaint._C refused by the test"
    assert got["backend"] == "fallback"
    # One warning, naming the reason, however many ops ran.
    assert len(got["warnings"]) == 1
    assert "pure-PyTorch fallbacks" in got["warnings"][0] and "refused by the test" in got["warnings"][0]
    # The fallbacks compute what the compiled kernels compute.
    a, b, src, flow = _inputs()
    corr = correlation(a, b, 2, 1, 2, 1, 1)
    torch.testing.assert_close(torch.tensor(got["corr"]), corr, rtol=1e-5, atol=1e-6)
    warped, valid = flow_warp(src, flow, "nearest")
    assert torch.equal(torch.tensor(got["valid"]), valid)
    torch.testing.assert_close(torch.tensor(got["warped"]), warped, rtol=0, atol=0)


@pytest.mark.skipif(not _loader.extension_available(), reason="lecinpaint._C is not built")
def test_with_the_library_cpu_tensors_use_it_silently() -> None:
    assert _loader._load() == (True, "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        assert _loader.backend_for(torch.zeros(1)) == "compiled"
    assert _loader.backend_for(torch.zeros(1, device="meta")) == "fallback"


def test_warning_is_issued_once_per_reason() -> None:
    _loader.warn_fallback_once.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            _loader.warn_fallback_once("reason A")
        _loader.warn_fallback_once("reason B")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and "reason A" in messages[0] and "reason B" in messages[1]
    _loader.warn_fallback_once.cache_clear()


def test_cupy_usable_reflects_whether_cupy_imports() -> None:
    import importlib.util

    _loader._cupy_usable.cache_clear()
    try:
        assert _loader._cupy_usable() == (importlib.util.find_spec("cupy") is not None)
    finally:
        _loader._cupy_usable.cache_clear()
