"""The cupy backend's host-side parts, which need no GPU: source assembly errors, geometry, dtype checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lecinpaint.ops import _cupy
from lecinpaint.ops.correlation import correlation_output_shape


@pytest.mark.parametrize("params", [(20, 1, 20, 1, 2), (3, 3, 3, 2, 1), (2, 1, 3, 1, 2), (0, 5, 1, 1, 1)])
def test_correlation_geometry_matches_the_op(params: tuple[int, int, int, int, int]) -> None:
    pad, k, md, s1, s2 = params
    d, oh, ow = _cupy._correlation_geometry(37, 29, pad, k, md, s1, s2)
    assert correlation_output_shape((2, 8, 37, 29), pad, k, md, s1, s2) == (2, d * d, oh, ow)


def test_dtype_rules() -> None:
    assert _cupy._check_float("op", torch.zeros(1)) == "float"
    assert _cupy._check_float("op", torch.zeros(1, dtype=torch.float64)) == "double"
    with pytest.raises(TypeError, match=r"^resample2d \(cupy backend\): float32 or float64 expected"):
        _cupy._check_float("resample2d", torch.zeros(1, dtype=torch.int32))
    half = torch.zeros(2, dtype=torch.float16)
    assert _cupy._as_float(half).dtype == torch.float32
    f64 = torch.zeros(2, dtype=torch.float64)
    assert _cupy._as_float(f64) is f64


def test_launch_geometry() -> None:
    assert _cupy._blocks(0) == 1 and _cupy._blocks(1) == 1
    assert _cupy._blocks(256) == 1 and _cupy._blocks(257) == 2
    assert _cupy._blocks(10**12) == 65536  # capped at _MAX_BLOCKS
    v = _cupy._i(2**40)
    assert isinstance(v, np.int64) and int(v) == 2**40


def test_missing_include_is_named(tmp_path: Path) -> None:
    for sub in ("kernels", "common"):
        (tmp_path / sub).mkdir()
    for k in _cupy.KERNEL_FILES:
        (tmp_path / "kernels" / f"{k}.cuh").write_text('#include "common/absent.h"\n')
    with pytest.raises(FileNotFoundError, match=r"includes common/absent.h, not found in"):
        _cupy.kernel_source(str(tmp_path))


def test_shared_includes_are_inlined_once(tmp_path: Path) -> None:
    (tmp_path / "kernels").mkdir()
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "a.h").write_text("// header a\n")
    for k in _cupy.KERNEL_FILES:
        (tmp_path / "kernels" / f"{k}.cuh").write_text(f'#include "common/a.h"\n#include <cmath>\n// {k}\n')
    src = _cupy.kernel_source(str(tmp_path))
    assert src.count("// header a") == 1
    assert src.count("#include <cmath>") == len(_cupy.KERNEL_FILES)  # angle includes stay
    assert all(f"// {k}" in src for k in _cupy.KERNEL_FILES)


def test_no_sources_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cupy, "__file__", str(tmp_path / "pkg" / "ops" / "_cupy.py"))
    with pytest.raises(FileNotFoundError, match="reinstall lecinpaint"):
        _cupy.source_root()


def test_without_cupy_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install lecinpaint\[cupy\]"):
        _cupy._cupy()
