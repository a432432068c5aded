"""``lecinpaint batch`` on a real local Ray cluster (started by the command, 2 CPUs here).

The references are independent of the batch code: the plain ``lecinpaint`` command (one process, no Ray)
run on the same clip with the same options, with a lossless output (FFV1 in the source's own pixel
format), so that the YUV planes compare exactly.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ._helpers import (
    ENGINE_ARGS,
    ROOT,
    cli_cmd,
    default_signals,
    ffmpeg_encode_raw,
    ffprobe,
    needs_ffmpeg,
    scene,
    write_mask_dir,
)

pytest.importorskip("ray", reason="Ray is not installed (pip install 'lecinpaint[ray]')")
pytestmark = [needs_ffmpeg, pytest.mark.slow]

LOSSLESS = ["--codec", "ffv1"]  # the output keeps the source's pixel format, sample for sample


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), capture_output=True, cwd=ROOT, timeout=timeout, text=True)


def _clip(folder: Path, name: str, n: int, *, reverse: bool = False,
          audio: bool = False) -> tuple[Path, Path]:
    """A clip of the moving-block scene (``n`` frames at 25 fps) and its mask folder ``masks/<stem>/``."""
    frames, masks, _ = scene(96, 64, n)
    # A band above the "lecturer" whose grey level changes every frame: a chunk off by one frame, or a
    # frame lost or doubled at a join, shows there (the rest of the result is the static background).
    frames[:, :12] = ((np.arange(n) * 40) % 256).astype(np.uint8)[:, None, None, None]
    if reverse:
        frames, masks = frames[::-1].copy(), masks[::-1].copy()
    out = folder / name
    extra: list[str] = []
    if audio:
        dur = n / 25
        meta = folder / "meta.txt"
        meta.write_text(";FFMETADATA1\ntitle=Lecture 7\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\n"
                        f"END={int(500 * dur)}\ntitle=Intro\n[CHAPTER]\nTIMEBASE=1/1000\n"
                        f"START={int(500 * dur)}\nEND={int(1000 * dur)}\ntitle=Proof\n")
        extra = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={dur}", "-i", str(meta),
                 "-map", "0:v", "-map", "1:a", "-map_metadata", "2", "-map_chapters", "2", "-c:a", "flac"]
    ffmpeg_encode_raw(frames, [*extra, "-c:v", "libx264", "-crf", "8", "-pix_fmt", "yuv444p", "-bf", "2",
                               "-g", "12", "-y", str(out)])
    mdir = write_mask_dir(masks, folder / "masks" / out.stem)
    return out, mdir


def _frames(path: Path, pix_fmt: str = "yuv444p") -> np.ndarray:
    """The video's frames as raw planes, one row of bytes per frame; the file must hold ``pix_fmt``
    (the source's format: nothing is converted on the way in or out)."""
    info = [s for s in ffprobe(path)["streams"] if s["codec_type"] == "video"][0]
    assert info["pix_fmt"] == pix_fmt
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout
    n = int(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
                            "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True).stdout.strip())
    return np.frombuffer(raw, np.uint8).reshape(n, -1)


def _single_pass(src: Path, masks: Path, out: Path) -> np.ndarray:
    res = _run(str(src), "-o", str(out), "--masks", str(masks), *ENGINE_ARGS, *LOSSLESS)
    assert res.returncode == 0, res.stderr
    return _frames(out)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_batch_broken_input_then_rerun_skips(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    a, _ = _clip(src, "a.mkv", 12)
    b, _ = _clip(src, "b.mkv", 10, reverse=True)
    (src / "broken.mkv").write_bytes(b"\x1aE\xdf\xa3 this is not a video" * 50)
    (src / "masks" / "broken").mkdir()
    out = tmp_path / "out"
    args = ["batch", str(src), "-o", str(out), "--masks", str(src / "masks"), "--workers", "2",
            *ENGINE_ARGS, *LOSSLESS]
    res = _run(*args)
    assert res.returncode == 1, res.stderr
    # The broken file: its name and a one-line reason; the others are done.
    bad = [ln for ln in res.stderr.splitlines() if "broken.mkv" in ln and "error" in ln]
    assert len(bad) == 1 and "ffprobe" in bad[0], res.stderr
    assert "Traceback" not in res.stderr
    table = res.stdout.splitlines()
    assert table[0].split() == ["file", "frames", "frames/s", "status"]
    rows = {ln.split()[0]: ln.split() for ln in table[1:-1]}
    assert rows["a.mkv"][1:2] == ["12"] and rows["a.mkv"][3] == "ok"
    assert rows["b.mkv"][1:2] == ["10"] and rows["b.mkv"][3] == "ok"
    assert rows["broken.mkv"][3] == "failed:"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.mkv", "b.mkv"]
    # No partial file anywhere, the work folder is gone, the records are there.
    state = out / ".lecinpaint-batch"
    assert sorted(p.name for p in state.iterdir()) == ["a.mkv.done.json", "b.mkv.done.json"]
    assert not [p for p in out.rglob("*") if "partial" in p.name]
    # The results equal the single-file command's, frame for frame.
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    for clip in (a, b):
        ref = _single_pass(clip, src / "masks" / clip.stem, ref_dir / clip.name)
        got = _frames(out / clip.name)
        assert got.shape == ref.shape and np.array_equal(got, ref)

    # Again: a finished output is skipped (by its record), untouched; one whose record is gone is not
    # taken for finished (nor overwritten without -y); the broken one fails again.
    (state / "b.mkv.done.json").unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in [*out.glob("*.mkv"), *state.iterdir()]}
    res = _run(*args)
    assert res.returncode == 1, res.stderr
    rows = {ln.split()[0]: ln for ln in res.stdout.splitlines()[1:-1]}
    assert "skipped" in rows["a.mkv"] and "failed" in rows["broken.mkv"]
    assert "failed" in rows["b.mkv"] and "use -y" in rows["b.mkv"]
    assert {p.name: p.stat().st_mtime_ns for p in [*out.glob("*.mkv"), *state.iterdir()]} == stamps
    res = _run("batch", str(b), "-o", str(out), "-y", "--masks", str(src / "masks" / "b"), *ENGINE_ARGS,
               *LOSSLESS)
    assert res.returncode == 0, res.stderr
    assert (state / "b.mkv.done.json").exists()
    assert out.joinpath("b.mkv").stat().st_mtime_ns != stamps["b.mkv"]


def test_chunked_equals_single_pass(tmp_path: Path) -> None:
    n = 100  # 4 s at 25 fps: four 1-second chunks, pre-roll 1 s (not reaching back to the start)
    src, masks = _clip(tmp_path, "long.mkv", n, audio=True)
    ref = _single_pass(src, masks, tmp_path / "single.mkv")
    out = tmp_path / "out"
    res = _run("batch", str(src), "-o", str(out), "--chunk", "1", "--preroll", "1", "--workers", "2",
               "--masks", str(masks), *ENGINE_ARGS, *LOSSLESS)
    assert res.returncode == 0, res.stderr
    got = _frames(out / "long.mkv")
    assert got.shape == ref.shape == (n, 64 * 96 * 3)
    scores = [_psnr(x, y) for x, y in zip(got, ref)]
    mean = np.mean(np.minimum(scores, 100))
    print(f"chunked vs single pass: mean {mean:.2f} dB (identical = 100), worst {min(scores):.2f} dB")
    assert min(scores) >= 40.0
    # The other streams come from the source, once.
    a, b = ffprobe(src), ffprobe(out / "long.mkv")
    assert [s["codec_type"] for s in b["streams"]] == ["video", "audio"]
    aud_in = [s for s in a["streams"] if s["codec_type"] == "audio"][0]
    aud_out = [s for s in b["streams"] if s["codec_type"] == "audio"][0]
    assert aud_out["nb_read_frames"] == aud_in["nb_read_frames"]
    assert [c["tags"]["title"] for c in b["chapters"]] == ["Intro", "Proof"]
    assert b["format"]["tags"]["title"] == "Lecture 7"
    assert not list((out / ".lecinpaint-batch").glob("run-*"))


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker process through /proc")
def test_worker_killed_mid_task_is_retried(tmp_path: Path) -> None:
    n = 400
    src, masks = _clip(tmp_path, "lecture.mkv", n)
    out = tmp_path / "out"
    p = subprocess.Popen(cli_cmd("batch", str(src), "-o", str(out), "--workers", "1", "--masks", str(masks),
                                 *ENGINE_ARGS, *LOSSLESS),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True,
                         preexec_fn=default_signals)
    deadline = time.monotonic() + 300
    killed = None
    try:
        while killed is None:
            assert p.poll() is None, "the batch ended before its worker could be killed: " + p.stderr.read()
            assert time.monotonic() < deadline, "the worker never started on a chunk"
            for pid in _descendants(p.pid):
                # Ray names the process after the actor method it is running.
                if "ray::Worker.run_chunk" in _cmdline(pid):
                    time.sleep(0.3)
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
                    break
            time.sleep(0.1)
        stdout, stderr = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, stderr
    # (Ray itself reports the lost worker too; the summary table is the last thing printed.)
    row = [ln for ln in stdout.splitlines() if ln.startswith("lecture.mkv")]
    assert len(row) == 1 and row[0].split()[1:2] == [str(n)] and row[0].endswith("ok"), stdout
    ref = _single_pass(src, masks, tmp_path / "single.mkv")
    got = _frames(out / "lecture.mkv")
    assert got.shape == ref.shape and np.array_equal(got, ref)
    assert not list((out / ".lecinpaint-batch").glob("run-*"))


def _planes10(path: Path, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y, U, V) of a yuv420p10le video, as uint16 arrays (n, rows, cols)."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                          "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-"], capture_output=True,
                         check=True).stdout
    cw, ch = (w + 1) // 2, (h + 1) // 2
    a = np.frombuffer(raw, "<u2").reshape(-1, w * h + 2 * cw * ch)
    return (a[:, :w * h].reshape(-1, h, w), a[:, w * h:w * h + cw * ch].reshape(-1, ch, cw),
            a[:, w * h + cw * ch:].reshape(-1, ch, cw))


def test_chunked_keeps_size_depth_and_untouched_planes(tmp_path: Path) -> None:
    # An odd-sized 10-bit 4:2:0 source (lossless FFV1), in two chunks joined: the output keeps the size
    # and the depth, every sample outside the hole is the source's, and it matches the single pass.
    w, h, n = 97, 65, 60
    frames, masks, _ = scene(w, h, n)
    frames[:, :12] = ((np.arange(n) * 40) % 256).astype(np.uint8)[:, None, None, None]
    src = tmp_path / "deep.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv420p10le", "-y", str(src)])
    mdir = write_mask_dir(masks, tmp_path / "masks" / "deep")
    single = tmp_path / "single.mkv"
    res = _run(str(src), "-o", str(single), "--masks", str(mdir), *ENGINE_ARGS, *LOSSLESS)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    res = _run("batch", str(src), "-o", str(out), "--chunk", "1", "--preroll", "1", "--workers", "2",
               "--masks", str(mdir), *ENGINE_ARGS, *LOSSLESS)
    assert res.returncode == 0, res.stderr
    got_path = out / "deep.mkv"
    stream = [s for s in ffprobe(got_path)["streams"] if s["codec_type"] == "video"][0]
    assert (stream["width"], stream["height"], stream["pix_fmt"]) == (w, h, "yuv420p10le")
    sy, su, sv = _planes10(src, w, h)
    gy, gu, gv = _planes10(got_path, w, h)
    ry, ru, rv = _planes10(single, w, h)
    assert gy.shape == sy.shape == (n, h, w)
    # Outside the hole, bit for bit the source: luma everywhere the mask is off, chroma where none of
    # the luma pixels a chroma sample covers is in the hole.
    keep = ~masks
    assert np.array_equal(gy[keep], sy[keep])
    pad = np.pad(masks, ((0, 0), (0, h % 2), (0, w % 2)))
    chroma_hole = pad.reshape(n, (h + 1) // 2, 2, (w + 1) // 2, 2).any(axis=(2, 4))
    for g, s in ((gu, su), (gv, sv)):
        assert np.array_equal(g[~chroma_hole], s[~chroma_hole])
    assert masks.any() and not np.array_equal(gy, sy)  # something was removed
    # Against the single pass: every frame >= 40 dB (10-bit peak).
    scores = []
    for k in range(n):
        planes_g = np.concatenate([gy[k].ravel(), gu[k].ravel(), gv[k].ravel()]).astype(np.float64)
        planes_r = np.concatenate([ry[k].ravel(), ru[k].ravel(), rv[k].ravel()]).astype(np.float64)
        mse = float(np.mean((planes_g - planes_r) ** 2))
        scores.append(math.inf if mse == 0 else 10 * math.log10(1023.0**2 / mse))
    print(f"10-bit chunked vs single pass: mean {np.mean(np.minimum(scores, 100)):.2f} dB, "
          f"worst {min(scores):.2f} dB")
    assert min(scores) >= 40.0
