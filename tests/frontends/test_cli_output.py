"""The ``lecinpaint`` command's output pixels: the lecturer is gone and the board behind is shown.

The scene's background is known exactly, so the inpainted pixels are compared with it (through the
lossy encode of the command's default codec, hence tolerances), and the pixels outside the hole with
the input decoded the same way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from ._helpers import ENGINE_ARGS, ROOT, cli_cmd, ffmpeg_encode_raw, needs_ffmpeg, scene, write_mask_dir

pytestmark = needs_ffmpeg

W, H, N = 96, 64, 12


def _decode(path: Path) -> np.ndarray:
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(res.stdout, np.uint8).reshape(-1, H, W, 3)


def test_output_shows_the_background_where_the_lecturer_was(tmp_path: Path) -> None:
    frames, masks, bg = scene(W, H, N)
    src = tmp_path / "in.mkv"
    # Lossless input: the only loss is the command's own encode.
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv444p", "-y", str(src)])
    out = tmp_path / "out.mp4"
    mask_dir = write_mask_dir(masks, tmp_path / "m")
    res = subprocess.run(cli_cmd(str(src), "-o", str(out), "--masks", str(mask_dir), *ENGINE_ARGS),
                         capture_output=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    got = _decode(out).astype(int)
    assert got.shape == frames.shape
    red = np.array([200, 40, 60])
    for t in range(N):
        m = masks[t]
        inside = got[t][m]
        # The block's colour is gone: every pixel of the hole is far from it ...
        assert np.abs(inside - red).sum(axis=1).min() > 100, t
        # ... and close to the background it hid. Measured: mean 2.6-3.1 levels (4.1 in frame 0, whose
        # left edge no frame ever showed), 99th percentile 9-11 (27); x264 at crf 51 gives 11-14 (47).
        err = np.abs(inside - bg[m].astype(int))
        assert err.mean() < (5.0 if t == 0 else 4.0), (t, err.mean())
        assert np.percentile(err, 99) < (32 if t == 0 else 16), t
        # Outside the hole the frame is the input's, up to the same encode (2.7; 11.7 at crf 51).
        assert np.abs(got[t][~m] - frames[t][~m].astype(int)).mean() < 4.0, t
