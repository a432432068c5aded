"""``python -m lecinpaint.filter`` as a user runs it: a subprocess, real y4m/raw bytes, real ffmpeg."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ._helpers import (
    ENGINE_ARGS,
    H,
    N,
    PY,
    ROOT,
    W,
    default_signals,
    ffmpeg_encode_raw,
    ffprobe,
    filter_cmd,
    needs_ffmpeg,
    planes_via_ffmpeg,
    run_filter,
    scene,
    write_mask_dir,
    y4m_from_frames,
)

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    frames, masks, bg = scene()
    d = tmp_path_factory.mktemp("filter")
    mask_dir = write_mask_dir(masks, d / "masks")
    return {"frames": frames, "masks": masks, "bg": bg, "mask_dir": mask_dir, "dir": d}


def _args(data: dict) -> list[str]:
    return ["--masks", str(data["mask_dir"]), *ENGINE_ARGS]


def _planes(raw: bytes, pix_fmt: str, n: int) -> list[list[np.ndarray]]:
    """Split ffmpeg's raw planar output into per-frame planes (Y, U, V or Y)."""
    subs = {"yuv420p": (2, 2), "yuv422p": (2, 1), "yuv444p": (1, 1), "gray": None, "yuv420p10le": (2, 2)}
    sub = subs[pix_fmt]
    dt = np.dtype("<u2") if pix_fmt.endswith("10le") else np.dtype(np.uint8)
    shapes = [(H, W)] + ([] if sub is None else [(-(-H // sub[1]), -(-W // sub[0]))] * 2)
    arr = np.frombuffer(raw, dt)
    assert arr.size == n * sum(a * b for a, b in shapes)
    out, off = [], 0
    for _ in range(n):
        planes = []
        for s in shapes:
            planes.append(arr[off : off + s[0] * s[1]].reshape(s))
            off += s[0] * s[1]
        out.append(planes)
    return out


def _chroma(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    sy, sx = -(-mask.shape[0] // shape[0]), -(-mask.shape[1] // shape[1])
    m = np.pad(mask, ((0, shape[0] * sy - mask.shape[0]), (0, shape[1] * sx - mask.shape[1])))
    return m.reshape(shape[0], sy, shape[1], sx).any(axis=(1, 3))


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p", "gray", "yuv420p10le"])
def test_y4m_round_trip(data: dict, pix_fmt: str) -> None:
    stream = y4m_from_frames(data["frames"], pix_fmt)
    res = run_filter(_args(data), stream)
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout
    # The header is passed through unchanged; ffmpeg reads the output with the same size/rate/count.
    assert out.split(b"\n", 1)[0] == stream.split(b"\n", 1)[0]
    path = data["dir"] / f"out_{pix_fmt}.y4m"
    path.write_bytes(out)
    st = ffprobe(path)["streams"][0]
    assert (st["width"], st["height"], st["r_frame_rate"], int(st["nb_read_frames"])) == (W, H, "25/1", N)
    # Outside the hole every sample of every plane equals the input; inside, the block is gone.
    before = _planes(planes_via_ffmpeg(stream, pix_fmt), pix_fmt, N)
    after = _planes(planes_via_ffmpeg(out, pix_fmt), pix_fmt, N)
    bg = _planes(planes_via_ffmpeg(y4m_from_frames(data["bg"][None], pix_fmt), pix_fmt), pix_fmt, 1)[0]
    scale = 4 if pix_fmt.endswith("10le") else 1
    for i in range(N):
        m = data["masks"][i]
        for p, (b, a) in enumerate(zip(before[i], after[i])):
            pm = m if p == 0 else _chroma(m, b.shape)
            assert np.array_equal(a[~pm], b[~pm]), f"frame {i} plane {p} changed outside the hole"
        y_err_after = np.abs(after[i][0][m].astype(int) - bg[0][m]).mean()
        y_err_before = np.abs(before[i][0][m].astype(int) - bg[0][m]).mean()
        assert y_err_after < 0.5 * y_err_before and y_err_after < 12 * scale, (i, y_err_after, y_err_before)


def test_header_fields_and_frame_params_pass_through(data: dict) -> None:
    stream = y4m_from_frames(data["frames"], "yuv420p")
    hdr, rest = stream.split(b"\n", 1)
    hdr = hdr.replace(b"C420jpeg", b"C420paldv").replace(b"XYSCSS=420JPEG", b"XYSCSS=420PALDV")
    hdr += b" XLENGTH=8 XCUSTOM=1"
    rest = rest.replace(b"FRAME\n", b"FRAME Ixyz\n", 1)
    res = run_filter(_args(data), hdr + b"\n" + rest)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.split(b"\n", 1)[0] == hdr
    assert res.stdout.count(b"FRAME Ixyz\n") == 1 and res.stdout.count(b"FRAME\n") == N - 1


@pytest.mark.parametrize("pix_fmt", ["rgb24", "bgr24", "yuv420p"])
def test_rawvideo_round_trip(data: dict, pix_fmt: str) -> None:
    raw = ffmpeg_encode_raw(data["frames"], ["-pix_fmt", pix_fmt, "-f", "rawvideo", "-"])
    res = run_filter(["--input-format", "rawvideo", "--size", f"{W}x{H}", "--pix-fmt", pix_fmt,
                      "--rate", "30000/1001", *_args(data)], raw)
    assert res.returncode == 0, res.stderr.decode()
    assert len(res.stdout) == len(raw)
    if pix_fmt == "yuv420p":
        before = _planes(raw, "yuv420p", N)
        after = _planes(res.stdout, "yuv420p", N)
        for i in range(N):
            m = data["masks"][i]
            assert np.array_equal(after[i][0][~m], before[i][0][~m])
            cm = _chroma(m, before[i][1].shape)
            assert np.array_equal(after[i][1][~cm], before[i][1][~cm])
        return
    a = np.frombuffer(res.stdout, np.uint8).reshape(N, H, W, 3)
    b = np.frombuffer(raw, np.uint8).reshape(N, H, W, 3)
    m = data["masks"]
    assert np.array_equal(a[~m], b[~m])
    rgb = a if pix_fmt == "rgb24" else a[..., ::-1]
    err_after = np.abs(rgb[m].astype(int) - np.broadcast_to(data["bg"], rgb.shape)[m]).mean()
    err_before = np.abs(data["frames"][m].astype(int) - np.broadcast_to(data["bg"], rgb.shape)[m]).mean()
    assert err_after < 0.5 * err_before


def test_ffmpeg_pipeline_keeps_audio(data: dict, tmp_path: Path) -> None:
    """DESIGN's round trip: ffmpeg -> filter -> ffmpeg with the audio of the source copied."""
    src = tmp_path / "in.mp4"
    ffmpeg_encode_raw(data["frames"], ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.32", "-map", "0:v",
                                       "-map", "1:a", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p",
                                       "-c:a", "aac", "-y", str(src)])
    out = tmp_path / "out.mp4"
    dec = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-i", str(src), "-map", "0:v:0",
                            "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"], stdout=subprocess.PIPE)
    flt = subprocess.Popen(filter_cmd(*_args(data)), stdin=dec.stdout, stdout=subprocess.PIPE, cwd=ROOT)
    dec.stdout.close()
    enc = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-", "-i", str(src),
                          "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "libx264", "-crf", "18", "-c:a", "copy",
                          str(out)], stdin=flt.stdout)
    flt.stdout.close()
    assert flt.wait() == 0 and dec.wait() == 0 and enc.returncode == 0
    info = ffprobe(out)
    v = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    a = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert (v["width"], v["height"], v["r_frame_rate"], int(v["nb_read_frames"])) == (W, H, "25/1", N)
    assert len(a) == 1 and a[0]["codec_name"] == "aac"


# ------------------------------------------------------------------------------------------------
# Bad input: one line on stderr, non-zero exit, no traceback, frames already complete are written.
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "stream, args, message",
    [
        (b"", [], "the y4m stream is empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(300), [], "not a y4m stream"),
        (b"YUV4MPEG2 W64 F25:1\n", [], "width (W) or height (H) is missing"),
        (b"YUV4MPEG2 W64 H48 F25:1 C444alpha\n", [], "unsupported y4m colour layout C444alpha"),
        (bytes(W * H * 3 + 10), ["--input-format", "rawvideo", "--size", f"{W}x{H}", "--pix-fmt", "rgb24",
                                 "--rate", "25"], "truncated raw frame 1"),
    ],
    ids=["empty", "garbage", "missing-height", "unsupported-layout", "wrong-raw-size"],
)
def test_bad_input(data: dict, stream: bytes, args: list[str], message: str) -> None:
    res = run_filter([*args, *_args(data)], stream)
    err = res.stderr.decode()
    assert res.returncode == 1
    assert message in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if "error" in ln]) == 1
    if "raw" in message:
        assert len(res.stdout) == W * H * 3  # the complete frame before the bad one is written
    else:
        assert b"FRAME" not in res.stdout


def test_truncated_stream_keeps_complete_frames(data: dict) -> None:
    """A stream cut inside its last frame: one error line, exit 1, the 7 complete frames written."""
    stream = y4m_from_frames(data["frames"], "yuv420p")
    res = run_filter(_args(data), stream[:-50])
    assert res.returncode == 1 and b"truncated y4m frame 7" in res.stderr
    assert b"Traceback" not in res.stderr and res.stderr.count(b"error") == 1
    assert res.stdout.count(b"FRAME\n") == N - 1
    assert len(res.stdout) == stream.rindex(b"FRAME")  # header + the 7 complete frames, nothing else


def test_usage_errors_and_help() -> None:
    res = subprocess.run(filter_cmd("--input-format", "rawvideo"), capture_output=True, cwd=ROOT, input=b"")
    assert res.returncode == 2 and b"needs --size, --pix-fmt and --rate" in res.stderr
    res = subprocess.run(filter_cmd("--dilation", "many"), capture_output=True, cwd=ROOT, input=b"")
    assert res.returncode == 2
    res = subprocess.run(filter_cmd("--help"), capture_output=True, cwd=ROOT)
    assert res.returncode == 0
    assert b"ffmpeg -nostdin -i in.mp4" in res.stdout and b"yuv4mpegpipe" in res.stdout


def test_stray_output_from_libraries_goes_to_stderr(data: dict) -> None:
    """A print() and a raw write(1, ...) while the engine loads must not reach the frame stream."""
    code = (
        "import os, sys\n"
        "import lecinpaint.filter._server as s\n"
        "orig = s.make_engine\n"
        "def noisy(settings):\n"
        "    print('stray print'); sys.stdout.flush(); os.write(1, b'stray C write\\n')\n"
        "    return orig(settings)\n"
        "s.make_engine = noisy\n"
        "sys.exit(s.main())\n"
    )
    stream = y4m_from_frames(data["frames"], "yuv420p")
    res = subprocess.run([PY, "-c", code, *_args(data)], input=stream, capture_output=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    assert b"stray" not in res.stdout and b"stray print" in res.stderr and b"stray C write" in res.stderr
    assert res.stdout.startswith(b"YUV4MPEG2 ") and res.stdout.count(b"FRAME\n") == N


def _read_exactly(stream, n: int, timeout: float = 240.0) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while len(buf) < n:
        left = end - time.monotonic()
        assert left > 0, "no output in time"
        r, _, _ = select.select([stream], [], [], left)
        if r:
            chunk = os.read(stream.fileno(), n - len(buf))
            assert chunk, "the filter ended early"
            buf += chunk
    return buf


def test_broken_pipe_ends_quietly(data: dict) -> None:
    stream = y4m_from_frames(data["frames"], "yuv420p")
    hdr_len = stream.index(b"\n") + 1
    p = subprocess.Popen(filter_cmd(*_args(data)), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    p.stdin.write(stream)
    p.stdin.close()
    _read_exactly(p.stdout, hdr_len + 10)
    p.stdout.close()  # downstream goes away
    err = p.stderr.read().decode()
    assert p.wait(timeout=240) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_flushes_finished_frames(data: dict, sig: int) -> None:
    """Streaming: the first frame comes out before the input ends; a signal then flushes what was read."""
    stream = y4m_from_frames(data["frames"], "yuv420p")
    hdr_len = stream.index(b"\n") + 1
    frame_len = 6 + W * H * 3 // 2
    fed = 6  # > lookahead (2) + 1: at least one frame is emitted while the input stays open
    p = subprocess.Popen(filter_cmd(*_args(data)), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=default_signals)
    p.stdin.write(stream[: hdr_len + fed * frame_len])
    p.stdin.flush()
    got = _read_exactly(p.stdout, hdr_len + frame_len)  # stdin still open: this is streaming
    time.sleep(0.5)
    p.send_signal(sig)
    rest = p.stdout.read()  # stdin stays open: the signal, not the end of the input, stops the filter
    err = p.stderr.read()
    p.wait(timeout=240)
    p.stdin.close()
    out = got + rest
    assert p.returncode == 128 + sig, err.decode()
    assert len(out) == hdr_len + fed * frame_len and out.count(b"FRAME\n") == fed
    assert b"stopped by" in err and b"Traceback" not in err


def test_inherited_ignored_sigint_stays_ignored(data: dict) -> None:
    """Started with SIGINT ignored (a background job of a script, nohup), the filter ignores it like any
    POSIX tool and runs to the end of its input; SIGTERM still stops it."""
    stream = y4m_from_frames(data["frames"], "yuv420p")
    hdr_len = stream.index(b"\n") + 1
    frame_len = 6 + W * H * 3 // 2

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    p = subprocess.Popen(filter_cmd(*_args(data)), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=ignore_sigint)
    p.stdin.write(stream[: hdr_len + 6 * frame_len])
    p.stdin.flush()
    got = _read_exactly(p.stdout, hdr_len + frame_len)
    p.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert p.poll() is None, "an ignored SIGINT stopped the filter"
    p.stdin.write(stream[hdr_len + 6 * frame_len:])
    p.stdin.close()
    out = got + p.stdout.read()
    err = p.stderr.read()
    assert p.wait(timeout=240) == 0, err.decode()
    assert out.count(b"FRAME\n") == N and b"stopped by" not in err


def test_fps_reduction_keeps_exact_frames(data: dict) -> None:
    """--fps 12.5 on 25 fps input: frames 0, 2, 4, 6 come out, header F25:2, exact outside the hole."""
    stream = y4m_from_frames(data["frames"], "yuv444p")
    res = run_filter([*_args(data), "--fps", "25/2"], stream)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.split(b"\n", 1)[0] == stream.split(b"\n", 1)[0].replace(b"F25:1", b"F25:2")
    before = _planes(planes_via_ffmpeg(stream, "yuv444p"), "yuv444p", N)
    after = _planes(planes_via_ffmpeg(res.stdout, "yuv444p"), "yuv444p", N // 2)
    for k, i in enumerate(range(0, N, 2)):
        m = data["masks"][i]
        for a, b in zip(after[k], before[i]):
            assert np.array_equal(a[~m], b[~m]), f"output {k} is not input frame {i} outside the hole"
