"""The documented .vpy (docs/frontends.md), run as a user runs it: ``vspipe`` on an mp4 opened with the
``bs`` source plugin that the ``vs`` extra installs, piped into ffmpeg."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ._helpers import ROOT, ffmpeg_encode_raw, ffprobe, needs_ffmpeg, scene, write_mask_dir

vs = pytest.importorskip("vapoursynth", reason="VapourSynth is not installed (requirements-vs.txt)")

pytestmark = needs_ffmpeg
W, H, N = 64, 48, 8


def _documented_script() -> str:
    """The first ``# lecture.vpy`` block of docs/frontends.md, exactly as written there."""
    text = (ROOT / "docs" / "frontends.md").read_text()
    m = re.search(r"```python\n(# lecture\.vpy\n.*?)```", text, re.S)
    assert m, "docs/frontends.md has no '# lecture.vpy' example"
    return m.group(1)


@pytest.mark.slow
def test_documented_vpy_through_vspipe(tmp_path: Path) -> None:
    if not hasattr(vs.core, "bs"):
        pytest.fail("no 'bs' source plugin: pip install vapoursynth-bestsource (the vs extra installs it)")
    vspipe = shutil.which("vspipe") or str(Path(sys.executable).parent / "vspipe")
    if not Path(vspipe).exists():
        pytest.skip("vspipe not found")
    frames, masks, _ = scene(W, H, N)
    ffmpeg_encode_raw(frames, ["-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", "-y",
                               str(tmp_path / "lecture.mp4")])
    # The documented script, with the documented mask variant (a mask video) and CPU settings small
    # enough for a test; the source line is the docs' own.
    script = _documented_script()
    assert 'core.bs.VideoSource("lecture.mp4")' in script
    script = script.replace('inpaint(clip, device="cuda")',
                            'inpaint(clip, core.bs.VideoSource("masks.mkv"), device="cpu", lookahead=2, '
                            'dilation=0, window=N)').replace("core = vs.core", f"core = vs.core\nN = {N}")
    mask_dir = write_mask_dir(masks, tmp_path / "m")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(mask_dir / "%04d.png"), "-c:v", "ffv1", "-pix_fmt", "gray",
                    str(tmp_path / "masks.mkv")], check=True)
    (tmp_path / "lecture.vpy").write_text(script)
    pipe = subprocess.Popen([vspipe, "-c", "y4m", "lecture.vpy", "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    enc = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-", "-c:v", "ffv1",
                          "clean.mkv"], stdin=pipe.stdout, capture_output=True, cwd=tmp_path)
    pipe.stdout.close()
    err = pipe.stderr.read().decode()
    assert pipe.wait(timeout=600) == 0, err
    assert enc.returncode == 0, enc.stderr.decode()
    v = ffprobe(tmp_path / "clean.mkv")["streams"][0]
    assert (v["width"], v["height"], int(v["nb_read_frames"])) == (W, H, N)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "clean.mkv"), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    out = np.frombuffer(raw, np.uint8).reshape(N, H, W, 3).astype(int)
    # The red block (the "lecturer") is gone where it stood: no pixel of the hole keeps its colour.
    for i in range(N):
        hole = out[i][masks[i]]
        assert (np.abs(hole - np.array([200, 40, 60])).sum(axis=1) < 60).mean() < 0.05, i
