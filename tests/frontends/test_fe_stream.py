"""The pieces the front ends share: output/original pairing by the engine's index, pixel-format choice,
and the fd-level filter of native log lines."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from lecinpaint.io.pixfmt import output_format, parse_pix_fmt, work_format
from lecinpaint.io.stream import inpaint_stream

from ._helpers import ROOT


def test_engine_index_names_the_input_under_fps() -> None:
    from lecinpaint.engine import Config, Engine
    from lecinpaint.masks import FrameRateReducer

    n, h, w = 14, 24, 32
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    masks = [np.zeros((h, w), bool) for _ in range(n)]
    for i, m in enumerate(masks):
        m[4:12, i:i + 6] = True
    engine = Engine(Config(device="cpu", lookahead=2, dilation=0, segmenter="masks", mask_source=".",
                           fps=Fraction(10), input_fps=Fraction(25)))
    got = list(engine.run(frames, masks=masks, with_index=True))
    keep = FrameRateReducer(25, 10).keep
    assert [i for i, _ in got] == [i for i in range(n) if keep(i)] == [0, 3, 5, 8, 10, 13]
    for i, out in got:  # each output is its input outside the hole
        assert np.array_equal(out[~masks[i]], frames[i][~masks[i]])


class _FakeEngine:
    """Keeps every third input; the output is the input's RGB plus one, the hole a fixed block."""

    lookahead = 0

    def run(self, frames, masks=None, progress=None, with_masks=False, with_index=False):
        assert with_masks and with_index
        for i, rgb in enumerate(frames):
            if i % 3 == 0:
                hole = np.zeros(rgb.shape[:2], bool)
                hole[0, 0] = True
                yield i, (rgb + 1, hole)


def test_inpaint_stream_pairs_each_output_with_its_original() -> None:
    source = [np.full((2, 2, 3), 10 * k, np.uint8) for k in range(8)]
    seen: list[tuple[int, int]] = []

    def composite(orig, rgb, hole):
        seen.append((int(orig[0, 0, 0]), int(rgb[0, 0, 0])))
        return orig

    out = list(inpaint_stream(_FakeEngine(), source, lambda x: x, composite))
    assert [i for i, _ in out] == [0, 3, 6]
    assert seen == [(0, 1), (30, 31), (60, 61)]


@pytest.mark.parametrize("source,name,exact", [
    ("yuv420p", "yuv420p", True), ("yuv444p10le", "yuv444p10le", True), ("nv12", "yuv420p", True),
    ("p010le", "yuv420p10le", True), ("yuvj420p", "yuvj420p", True), ("gray", "gray", True),
    ("yuv420p10be", "yuv420p10le", True), ("rgb24", "yuv444p", False), ("gbrp10le", "yuv444p10le", False),
    (None, "yuv444p", False),
])
def test_work_format(source: str | None, name: str, exact: bool) -> None:
    fmt, ok = work_format(source)
    assert (fmt.name, ok) == (name, exact)


X264 = ("yuv420p yuvj420p yuv422p yuvj422p yuv444p yuvj444p nv12 nv16 nv21 yuv420p10le yuv422p10le "
        "yuv444p10le nv20le gray gray10le").split()


@pytest.mark.parametrize("want,size,expected,note", [
    ("yuv420p", (640, 360), "yuv420p", None),
    ("yuv420p10le", (853, 481), "yuv444p10le", "odd size"),
    ("yuv444p10le", (853, 481), "yuv444p10le", None),
    ("yuv420p12le", (640, 360), "yuv420p10le", "fewer bits"),
    ("yuv422p", (641, 360), "yuv444p", "odd size"),
    ("gray", (85, 49), "gray", None),
])
def test_output_format_for_libx264(want: str, size: tuple[int, int], expected: str, note: str | None) -> None:
    fmt = parse_pix_fmt(want)
    assert fmt is not None
    got, why = output_format("libx264", fmt, *size, tuple(X264))
    assert got == expected
    assert (why is None) == (note is None) and (note is None or note in why), why
    # FFV1 takes any size: nothing changes.
    assert output_format("ffv1", fmt, *size, None) == (want, None)


def test_native_log_lines_are_filtered_at_fd_level() -> None:
    """A child that writes, at fd level, the lines mediapipe's C++ writes and a real error: only the
    error and Python's own stderr come through."""
    code = r"""
import os, sys
from lecinpaint.io.native_log import NativeLogFilter
with NativeLogFilter():
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"W0000 00:00:1795950400.190397    8095 inference_feedback_manager.cc:114] Feedback\n")
    os.write(2, b"E0000 00:00:1795950400.190397    8095 model.cc:1] a real error\n")
    print("from python", file=sys.stderr)
    os.write(2, b"partial line without newline")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0
    lines = res.stderr.decode().splitlines()
    assert sorted(lines) == sorted(["E0000 00:00:1795950400.190397    8095 model.cc:1] a real error",
                                    "from python", "partial line without newline"]), lines
