"""lecinpaint.batch.decode beyond the common case: the seek position, files whose packets carry no
timestamps (raw H.264), packets an MP4 edit list discards, and ffprobe's failures.

The reference for every range is the whole file decoded from its start by the same decoder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lecinpaint.batch.decode import FrameTimes, decode_range, frame_times
from lecinpaint.io.ffmpeg import FFmpegError, YUVDecoder, probe
from lecinpaint.io.pixfmt import work_format
from lecinpaint.io.y4m import parse_layout

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg)")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def _count_frames(path: Path) -> int:
    """The frames ffmpeg decodes from ``path`` (independent: it decodes; ffprobe's packet list does not)."""
    res = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return int(res.stdout.strip())


def _check_ranges(path: Path, ranges: list[tuple[int, int]]) -> FrameTimes:
    """Each range of ``path`` decoded by ``decode_range`` equals the same frames decoded from the start."""
    info = probe(path)
    times = frame_times(path)
    work, _ = work_format(info.pix_fmt)
    layout = parse_layout(work.y4m_layout)
    full = [f.planes for f in YUVDecoder(path, work.name, layout, info.width, info.height)]
    assert times.count == len(full) == _count_frames(path)
    for a, b in ranges:
        got = list(decode_range(path, info, times, a, b, work))
        assert len(got) == max(0, min(b, len(full)) - a), (a, b)
        for k, g in enumerate(got):
            assert all(np.array_equal(x, y) for x, y in zip(g.planes, full[a + k])), (a, b, k)
    return times


def test_seek_position() -> None:
    t = FrameTimes((1.0, 1.04, 1.08, 1.08, 1.12), 5, 1.0)
    assert t.seek_position(0) is None  # the first frame: no seek at all
    assert t.seek_position(1) == pytest.approx(0.02)  # between frames 0 and 1, relative to the start time
    assert t.seek_position(2) == pytest.approx(0.06)
    assert t.seek_position(3) is None  # frames 2 and 3 share a time: a seek cannot tell them apart
    assert t.seek_position(4) == pytest.approx(0.10)
    assert FrameTimes(None, 5, 0.0).seek_position(3) is None  # no usable timestamps
    # A file whose first packet's time is before the container's start: never a negative -ss.
    assert FrameTimes((0.0, 0.04), 2, 0.5).seek_position(1) == 0.0


@needs_ffmpeg
def test_raw_h264_has_no_timestamps_and_is_decoded_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "lecture.h264"  # an elementary stream: ffprobe gives every packet's time as N/A
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-t", "2", "-c:v", "libx264", "-bf", "2",
            "-g", "12", "-pix_fmt", "yuv420p", str(path))
    times = _check_ranges(path, [(0, 5), (13, 29), (44, 60), (20, 10), (7, 7)])
    assert times.times is None and times.count == 50 and times.start_time == 0.0


@needs_ffmpeg
def test_packets_an_edit_list_discards_are_not_frames(tmp_path: Path) -> None:
    # A stream copy cut between key frames: the MP4 keeps the packets from the key frame before the cut
    # and an edit list that makes the demuxer discard them; they are no frames of the video.
    src, cut = tmp_path / "src.mp4", tmp_path / "cut.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-t", "4", "-c:v", "libx264", "-bf", "2",
            "-g", "50", "-pix_fmt", "yuv420p", str(src))
    _ffmpeg("-ss", "1.3", "-i", str(src), "-c", "copy", "-t", "2", str(cut))
    listed = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                             "packet=flags", "-of", "csv=p=0", str(cut)],
                            capture_output=True, text=True, check=True).stdout
    assert "D" in listed  # the file has what this test is about
    times = _check_ranges(path=cut, ranges=[(0, 4), (1, 9), (30, 52), (9, 4), (5, 5)])
    assert times.times is not None and all(b > a for a, b in zip(times.times, times.times[1:]))


def test_an_empty_range_starts_no_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoder(*args: object, **kwargs: object) -> None:
        raise AssertionError("ffmpeg started for an empty range")

    monkeypatch.setattr("lecinpaint.batch.decode.YUVDecoder", no_decoder)
    work, _ = work_format("yuv420p")
    times = FrameTimes(tuple(i / 25 for i in range(50)), 50, 0.0)
    for a, b in [(5, 5), (9, 4), (0, 0)]:
        assert list(decode_range("unused.mp4", None, times, a, b, work)) == []  # type: ignore[arg-type]


@needs_ffmpeg
def test_frame_times_errors(tmp_path: Path) -> None:
    missing = r"^ffprobe cannot list the frames of '.*missing\.mp4': .*No such file"
    with pytest.raises(FFmpegError, match=missing):
        frame_times(tmp_path / "missing.mp4")
    sound = tmp_path / "sound.wav"  # ffprobe succeeds, and lists no video packet
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", str(sound))
    with pytest.raises(FFmpegError, match=r"^'.*sound\.wav': no video frames found$"):
        frame_times(sound)
