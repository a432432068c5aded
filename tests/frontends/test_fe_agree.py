"""The four front ends give the same frames for the same input and masks.

The command (file in, file out), the ffmpeg filter (y4m pipe), the VapourSynth function and the Python
API all run one engine; they differ only in how frames get in and out. Here they all see one lossless
YUV clip and one set of masks:

- command, filter and VapourSynth write YUV: they must agree bit for bit;
- the Python API returns RGB: it must match the others' frames converted to RGB within the rounding of
  one RGB -> YUV -> RGB round trip (a few code values in 4:4:4);
- and with nothing to remove, the command's output is the input, bit for bit (a lossless codec).

The oracles are ffmpeg's own decoding of the outputs, not lecinpaint's readers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ._helpers import ENGINE_ARGS, ROOT, cli_cmd, ffmpeg_encode_raw, needs_ffmpeg, run_filter, scene, \
    write_mask_dir

pytestmark = needs_ffmpeg

W, H, N = 64, 48, 10


def _planes(path: Path | bytes, pix_fmt: str) -> np.ndarray:
    """Every frame of a file (or y4m bytes) as raw planes, decoded by ffmpeg: (n, bytes per frame)."""
    src = ["-f", "yuv4mpegpipe", "-i", "-"] if isinstance(path, bytes) else ["-i", str(path)]
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *src, "-f", "rawvideo", "-pix_fmt", pix_fmt,
                          "-"], input=path if isinstance(path, bytes) else None, capture_output=True,
                         check=True)
    per = W * H * (3 if pix_fmt.startswith("yuv444") else 1.5) * (2 if "10" in pix_fmt else 1)
    return np.frombuffer(res.stdout, np.uint8).reshape(-1, int(per))


def _split(frame: np.ndarray, pix_fmt: str) -> list[np.ndarray]:
    dt = np.dtype("<u2") if "10" in pix_fmt else np.dtype(np.uint8)
    flat = frame.view(dt)
    cw, ch = (W, H) if pix_fmt.startswith("yuv444") else (W // 2, H // 2)
    y, u, v = np.split(flat, [W * H, W * H + cw * ch])
    return [y.reshape(H, W), u.reshape(ch, cw), v.reshape(ch, cw)]


def _inputs(tmp: Path, pix_fmt: str, empty: bool = False) -> tuple[Path, Path, np.ndarray]:
    frames, masks, _ = scene(W, H, N)
    if empty:
        masks[:] = False
    src = tmp / "in.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", pix_fmt, "-y", str(src)])
    return src, write_mask_dir(masks, tmp / "masks"), masks


def _vs_output(y4m: bytes, masks: np.ndarray, pix_fmt: str) -> np.ndarray:
    vs = pytest.importorskip("vapoursynth")
    from lecinpaint.vs import inpaint

    fmt = {"yuv420p": vs.YUV420P8, "yuv444p": vs.YUV444P8, "yuv420p10le": vs.YUV420P10}[pix_fmt]
    frames = _planes(y4m, pix_fmt)
    core = vs.core
    base = core.std.BlankClip(format=fmt, width=W, height=H, length=N, fpsnum=25, fpsden=1)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fo = f.copy()
        for p, plane in enumerate(_split(frames[n], pix_fmt)):
            np.copyto(np.asarray(fo[p]), plane)
        return fo

    mbase = core.std.BlankClip(format=vs.GRAY8, width=W, height=H, length=N)

    def draw_mask(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fo = f.copy()
        np.copyto(np.asarray(fo[0]), np.where(masks[n], 255, 0).astype(np.uint8))
        return fo

    clip = core.std.ModifyFrame(base, base, draw)
    mask = core.std.ModifyFrame(mbase, mbase, draw_mask)
    out = inpaint(clip, mask, window=N, warmup=0, device="cpu", lookahead=2, dilation=0)
    rows = []
    for f in out.frames():
        rows.append(np.concatenate([np.asarray(f[p]).reshape(-1).view(np.uint8) for p in range(3)]))
    return np.stack(rows)


@pytest.mark.slow
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p", "yuv420p10le"])
def test_front_ends_give_the_same_frames(tmp_path: Path, pix_fmt: str) -> None:
    src, mask_dir, masks = _inputs(tmp_path, pix_fmt)
    y4m = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-strict", "-1",
                          "-f", "yuv4mpegpipe", "-"], capture_output=True, check=True).stdout

    out = tmp_path / "out.mkv"
    res = subprocess.run(cli_cmd(str(src), "-o", str(out), "--codec", "ffv1", "--masks", str(mask_dir), "-q",
                                 *ENGINE_ARGS), capture_output=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stderr == b""
    command = _planes(out, pix_fmt)

    res = run_filter(["--masks", str(mask_dir), "-q", *ENGINE_ARGS], y4m)
    assert res.returncode == 0, res.stderr.decode()
    filtered = _planes(res.stdout, pix_fmt)

    source = _planes(src, pix_fmt)
    assert command.shape == filtered.shape == source.shape == (N, source.shape[1])
    assert np.array_equal(command, filtered)
    assert not np.array_equal(command, source)  # something was removed
    vapoursynth = _vs_output(y4m, masks, pix_fmt)
    assert np.array_equal(vapoursynth, command)

    # The Python API, on the RGB the others give the engine.
    from lecinpaint.engine import Config, Engine
    from lecinpaint.io.stream import Colour
    from lecinpaint.io.y4m import parse_layout

    layout = {"yuv420p": "420jpeg", "yuv444p": "444", "yuv420p10le": "420p10"}[pix_fmt]
    colour = Colour.for_layout(parse_layout(layout), H)
    rgb_in = [colour.to_rgb(_split(f, pix_fmt)) for f in source]
    engine = Engine(Config(device="cpu", lookahead=2, dilation=0, segmenter="masks",
                           mask_source=str(mask_dir)))
    api = list(engine.run(rgb_in))
    assert len(api) == N
    for i, (a, c) in enumerate(zip(api, command)):
        # Put back into the source's YUV, the API's frames are the others' frames exactly.
        same = colour.composite(_split(source[i], pix_fmt), a, masks[i])
        assert all(np.array_equal(p, q) for p, q in zip(same, _split(c, pix_fmt))), f"frame {i}"
        if pix_fmt == "yuv444p":  # no chroma resampling: in RGB they differ by the rounding only
            got = colour.to_rgb(_split(c, pix_fmt))
            assert np.array_equal(a[~masks[i]], got[~masks[i]]), f"frame {i}: outside the hole"
            assert np.abs(a.astype(int) - got.astype(int)).max() <= 3, f"frame {i}"


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p10le"])
def test_nothing_to_remove_is_bit_identical(tmp_path: Path, pix_fmt: str) -> None:
    src, mask_dir, _ = _inputs(tmp_path, pix_fmt, empty=True)
    out = tmp_path / "out.mkv"
    res = subprocess.run(cli_cmd(str(src), "-o", str(out), "--codec", "ffv1", "--masks", str(mask_dir), "-q",
                                 *ENGINE_ARGS), capture_output=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=pix_fmt,width,height",
                            "-of", "csv=p=0", str(out)], capture_output=True, text=True, check=True).stdout
    assert probe.strip() == f"{W},{H},{pix_fmt}"
    assert np.array_equal(_planes(out, pix_fmt), _planes(src, pix_fmt))
