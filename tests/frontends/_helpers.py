"""Helpers for the front-end tests: a tiny synthetic scene, ffmpeg round trips, subprocess runners.

The scene is a static textured background with a block (the "lecturer") moving across it; its masks
are exact, so the tests give them with ``--masks`` and ``--dilation 0`` and can check the output
outside the hole bit for bit, independently of segmentation quality.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
W, H, N = 64, 48, 8
# Light engine settings for tests: exact masks, no dilation, little lookahead, CPU.
ENGINE_ARGS = ["--dilation", "0", "--lookahead", "2", "--device", "cpu"]

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe not installed (scripts/setup.sh installs them; apt-get install ffmpeg)",
)


def scene(w: int = W, h: int = H, n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames (n,h,w,3) uint8 RGB, masks (n,h,w) bool, background (h,w,3) uint8)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.stack([
        128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0),
        110 + 50 * np.cos(xx / 9.0 + yy / 11.0),
        140 + 40 * np.sin((xx + yy) / 6.0),
    ], axis=-1).round().clip(0, 255).astype(np.uint8)
    frames = np.repeat(bg[None], n, axis=0)
    masks = np.zeros((n, h, w), bool)
    bw, bh = max(4, w // 5), max(4, h // 2)
    for i in range(n):
        x0 = int(round((w - bw) * i / max(1, n - 1)))
        y0 = h // 4
        masks[i, y0 : y0 + bh, x0 : x0 + bw] = True
        frames[i][masks[i]] = (200, 40, 60)
    return frames, masks, bg


def write_mask_dir(masks: np.ndarray, folder: Path) -> Path:
    """Masks as a folder of PNGs (hole = 255)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(masks):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.where(m, 255, 0).astype(np.uint8))
    return folder


def ffmpeg_encode_raw(frames: np.ndarray, args_out: list[str], rate: str = "25") -> bytes:
    """Pipe RGB frames into ffmpeg and return what it writes to stdout (``args_out`` ends with ``-``)."""
    h, w = frames.shape[1:3]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", rate, "-i", "-", *args_out]
    res = subprocess.run(cmd, input=frames.tobytes(), capture_output=True, check=True)
    return res.stdout


def y4m_from_frames(frames: np.ndarray, pix_fmt: str, rate: str = "25") -> bytes:
    """A y4m stream of ``frames`` as ffmpeg writes it for ``pix_fmt``."""
    return ffmpeg_encode_raw(frames, ["-pix_fmt", pix_fmt, "-strict", "-1", "-f", "yuv4mpegpipe", "-"], rate)


def planes_via_ffmpeg(y4m: bytes, pix_fmt: str) -> bytes:
    """ffmpeg's own decoding of a y4m stream to raw planes (an oracle independent of lecinpaint.io)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-f", "rawvideo",
           "-pix_fmt", pix_fmt, "-"]
    res = subprocess.run(cmd, input=y4m, capture_output=True, check=True)
    return res.stdout


def ffprobe(path: Path | str, *extra: str) -> dict:
    """ffprobe's JSON (streams with counted frames, chapters, format)."""
    res = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-count_frames", "-show_streams",
                          "-show_chapters", "-show_format", *extra, str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def default_signals() -> None:
    """``preexec_fn`` for a child that must react to SIGINT: a worker process of the test runner (xdist)
    may run with SIGINT ignored, and an ignored disposition is inherited across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_filter(args: list[str], data: bytes, **kw) -> subprocess.CompletedProcess:
    """``python -m lecinpaint.filter ARGS`` with ``data`` on stdin, run from the repository root."""
    return subprocess.run([PY, "-m", "lecinpaint.filter", *args], input=data, capture_output=True,
                          cwd=ROOT, timeout=300, **kw)


def filter_cmd(*args: str) -> list[str]:
    return [PY, "-m", "lecinpaint.filter", *args]


def cli_cmd(*args: str) -> list[str]:
    """The ``lecinpaint`` command (the console script's function, run as a module)."""
    return [PY, "-c", "import sys; from lecinpaint.cli import main; sys.exit(main())", *args]

