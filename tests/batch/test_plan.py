"""Batch planning without Ray: inputs, outputs, chunks, frame-exact range decoding, completion records."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lecinpaint.batch import record
from lecinpaint.batch.plan import expand_inputs, output_path, plan_chunks, rolls

ROOT = Path(__file__).resolve().parents[2]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg)")


@pytest.mark.parametrize("frames,chunk,pre,post", [(100, 25, 10, 3), (101, 25, 0, 0), (112, 25, 30, 5),
                                                   (7, 25, 4, 2), (60, 1, 2, 1), (50, None, 9, 9)])
def test_chunks_cover_every_frame_once(frames: int, chunk: int | None, pre: int, post: int) -> None:
    chunks = plan_chunks(frames, chunk, pre, post)
    covered = [i for c in chunks for i in range(c.start, c.stop)]
    assert covered == list(range(frames))
    for c in chunks:
        assert c.decode_start == max(0, c.start - pre) and c.decode_stop == min(frames, c.stop + post)
    if chunk is not None and chunk < frames:
        # No piece shorter than half a chunk (the tail is merged into the chunk before it).
        assert all(c.stop - c.start >= chunk / 2 for c in chunks)
        assert all(c.stop - c.start < 2 * chunk for c in chunks)
    else:
        assert len(chunks) == 1


def test_chunk_errors_and_rolls() -> None:
    with pytest.raises(ValueError, match="0 frames"):
        plan_chunks(0, 10, 0, 0)
    with pytest.raises(ValueError, match="at least one frame"):
        plan_chunks(10, 0, 0, 0)
    assert rolls(10, 3, 1.0) == (10, 3)
    assert rolls(10, 3, 6.0) == (61, 19)  # 30 -> 5 fps: six input frames per processed frame, plus one


def test_inputs_files_folders_globs(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for name in ("d/b.mp4", "d/a.mkv", "d/notes.txt", "c.mov", "e.webm"):
        (tmp_path / name).write_bytes(b"x")
    found, problems = expand_inputs([str(tmp_path / "d"), str(tmp_path / "*.mov"), str(tmp_path / "d/a.mkv"),
                                     str(tmp_path / "e.webm"), str(tmp_path / "nothing*.mp4"),
                                     str(tmp_path / "missing.mp4")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["d/a.mkv", "d/b.mp4", "c.mov", "e.webm"]
    assert len(problems) == 2 and "nothing*.mp4" in problems[0] and "missing.mp4" in problems[1]
    assert output_path(Path("x/talk.mp4"), Path("out"), None) == Path("out/talk.mp4")
    assert output_path(Path("x/talk.y4m"), Path("out"), None) == Path("out/talk.mkv")
    assert output_path(Path("x/talk.mp4"), Path("out"), ".mkv") == Path("out/talk.mkv")


def test_completion_record(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    src.write_bytes(b"a video")
    out = tmp_path / "out" / "in.mp4"
    out.parent.mkdir()
    done = tmp_path / "out" / "tmp.mp4"
    done.write_bytes(b"the result")
    assert not record.is_finished(src, out, "h1")
    record.write_record(src, out, done, "h1", frames=7)
    assert not record.is_finished(src, out, "h1")  # the record alone: the output is not there yet
    os.replace(done, out)
    assert record.is_finished(src, out, "h1")
    assert not record.is_finished(src, out, "h2")  # other settings
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not record.is_finished(src, out, "h1")  # the input changed
    assert record.fingerprint({"a": 1, "b": [2]}) == record.fingerprint({"b": [2], "a": 1})


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@needs_ffmpeg
@pytest.mark.parametrize("name,codec", [
    ("bframes.mp4", ["-c:v", "libx264", "-bf", "3", "-g", "17", "-pix_fmt", "yuv444p", "-crf", "4"]),
    ("bframes.mkv", ["-c:v", "libx264", "-bf", "2", "-g", "9", "-pix_fmt", "yuv444p", "-crf", "4"]),
    ("no_timestamps.avi", ["-c:v", "mpeg4", "-q:v", "2"]),
])
def test_decode_range_is_frame_exact(tmp_path: Path, name: str, codec: list[str]) -> None:
    from lecinpaint.batch.decode import decode_range, frame_times
    from lecinpaint.io.ffmpeg import YUVDecoder, probe
    from lecinpaint.io.pixfmt import work_format
    from lecinpaint.io.y4m import parse_layout

    path = tmp_path / name
    # testsrc draws a frame counter: every frame differs from its neighbours.
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-t", "4", *codec, str(path))
    info = probe(path)
    times = frame_times(path)
    work, exact = work_format(info.pix_fmt)
    assert exact
    # The reference: every frame decoded from the start, in the same (the source's own) planar format.
    full = [f.planes for f in YUVDecoder(path, work.name, parse_layout(work.y4m_layout), 96, 64)]
    assert times.count == len(full) == 100
    for a, b in [(0, 7), (1, 2), (23, 60), (61, 100), (95, 130)]:
        got = list(decode_range(path, info, times, a, b, work))
        assert len(got) == min(b, 100) - a
        for k, g in enumerate(got):
            assert len(g.planes) == len(full[a + k]), (a, b)
            assert all(np.array_equal(x, y) for x, y in zip(g.planes, full[a + k])), (a, b, k)


def test_import_and_command_without_ray(tmp_path: Path) -> None:
    # Ray made unimportable: the package imports, and the command says what to install, in one line.
    code = ("import sys; sys.modules['ray'] = None; import lecinpaint, lecinpaint.batch.command; "
            "from lecinpaint.cli import main; sys.exit(main())")
    res = subprocess.run([sys.executable, "-c", code, "batch", str(tmp_path), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "lecinpaint[ray]" in lines[0] and lines[0].startswith("lecinpaint: error:")
