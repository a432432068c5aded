"""The cupy backend: NVRTC compiles the shared kernel source (no GPU needed); on a GPU it agrees with
the CPU kernels."""

from __future__ import annotations

import os
import re

import pytest
import torch
from conftest import requires_ext

cupy = pytest.importorskip("cupy", reason="cupy is not installed (pip install lecinpaint[cupy])")

from lecinpaint.ops import _cupy  # noqa: E402


def _nvrtc():
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # the NVRTC library ships as a wheel (nvidia-cuda-nvrtc); it may be absent
        pytest.skip(f"cupy's NVRTC library cannot be loaded: {exc}")
    return nvrtc


def test_source_is_self_contained():
    src = _cupy.kernel_source()
    assert not re.search(r'^\s*#\s*include\s+"', src, re.M), "quoted includes must be inlined"
    # The only angle includes are host-side ones behind `#if !defined(__CUDACC_RTC__)`.
    for name in ("resample2d_forward_kernel", "channelnorm_backward_kernel", "flow_warp_nearest_kernel",
                 "flow_consistency_kernel", "backward_input2_kernel"):
        assert name in src
    root = _cupy.source_root()
    assert os.path.isfile(os.path.join(root, "common", "macros.h"))


def test_nvrtc_compiles_every_kernel_without_a_device():
    """Compile to PTX with cupy's NVRTC binding directly: cupy.RawModule would query the device for the
    architecture, and there may be none. No include path is given, so the source cannot depend on
    CUDA toolkit headers, which a user's machine does not have."""
    nvrtc = _nvrtc()
    prog = nvrtc.createProgram(_cupy.kernel_source(), "lecinpaint_kernels.cu", [], [])
    for name in _cupy.NAME_EXPRESSIONS:
        nvrtc.addNameExpression(prog, name)
    try:
        nvrtc.compileProgram(prog, [*_cupy.NVRTC_OPTIONS, "-arch=compute_80"])
    except Exception as exc:
        pytest.fail(f"NVRTC failed: {exc}\n{nvrtc.getProgramLog(prog)}")
    lowered = {name: nvrtc.getLoweredName(prog, name) for name in _cupy.NAME_EXPRESSIONS}
    assert all(v.startswith("_Z") for v in lowered.values())
    ptx = nvrtc.getPTX(prog)
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    for mangled in lowered.values():
        assert f".entry {mangled}" in ptx


def test_installed_copy_is_used_when_the_tree_is_absent(tmp_path, monkeypatch):
    # An installed package has lecinpaint/_csrc and no ../csrc; the lookup must find it.
    import shutil

    pkg = tmp_path / "lecinpaint"
    (pkg / "ops").mkdir(parents=True)
    for sub in ("common", "kernels"):
        shutil.copytree(os.path.join(_cupy.source_root(), sub), pkg / "_csrc" / sub)
    monkeypatch.setattr(_cupy, "__file__", str(pkg / "ops" / "_cupy.py"))
    assert _cupy.source_root() == str(pkg / "_csrc")
    monkeypatch.setattr(_cupy, "__file__", str(tmp_path / "elsewhere" / "ops" / "_cupy.py"))
    with pytest.raises(FileNotFoundError, match="lecinpaint cupy backend: the CUDA kernel sources"):
        _cupy.source_root()


@pytest.mark.cuda
@requires_ext
def test_cupy_matches_cpu_kernels():
    from lecinpaint import ops

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 21, 27, generator=g, dtype=torch.float64)
    f = torch.randn(2, 2, 21, 27, generator=g, dtype=torch.float64) * 5
    b = -f + torch.randn(2, 2, 21, 27, generator=g, dtype=torch.float64)
    xc, fc, bc = x.cuda(), f.cuda(), b.cuda()
    torch.testing.assert_close(_cupy.resample2d_forward(xc, fc).cpu(), ops.resample2d(x, f))
    gout = torch.randn_like(x)
    for u, v in zip(_cupy.resample2d_backward(gout.cuda(), xc, fc),
                    torch.ops.lecinpaint._resample2d_backward(gout, x, f)):
        torch.testing.assert_close(u.cpu(), v)
    norm = _cupy.channelnorm_forward(xc)
    torch.testing.assert_close(norm.cpu(), ops.channelnorm(x))
    gn = torch.randn(2, 1, 21, 27, dtype=torch.float64)
    torch.testing.assert_close(_cupy.channelnorm_backward(gn.cuda(), xc, norm).cpu(),
                               torch.ops.lecinpaint._channelnorm_backward(gn, x, ops.channelnorm(x)))
    for mode in (0, 1):
        w, v = _cupy.flow_warp(xc, fc, mode)
        rw, rv = torch.ops.lecinpaint.flow_warp(x, f, mode)
        assert torch.equal(v.cpu(), rv)
        torch.testing.assert_close(w.cpu(), rw)
    u8 = (x * 40).to(torch.uint8)
    u8_ref = torch.ops.lecinpaint.flow_warp(u8, f, 0)[0]
    assert torch.equal(_cupy.flow_warp(u8.cuda(), fc, 0)[0].cpu(), u8_ref)
    consistency_ref = torch.ops.lecinpaint.flow_consistency(f, b, 3.0)
    for got, ref in zip(_cupy.flow_consistency(fc, bc, 3.0), consistency_ref):
        torch.testing.assert_close(got.cpu(), ref)
    a = torch.randn(2, 8, 12, 14, generator=g, dtype=torch.float64)
    c = torch.randn(2, 8, 12, 14, generator=g, dtype=torch.float64)
    args = (4, 1, 4, 1, 2)
    out = _cupy.correlation_forward(a.cuda(), c.cuda(), *args)
    torch.testing.assert_close(out.cpu(), torch.ops.lecinpaint.correlation(a, c, *args))
    go = torch.randn(out.shape, dtype=torch.float64)
    for u, v in zip(_cupy.correlation_backward(go.cuda(), a.cuda(), c.cuda(), *args),
                    torch.ops.lecinpaint._correlation_backward(go, a, c, *args)):
        torch.testing.assert_close(u.cpu(), v)
