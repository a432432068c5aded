"""Frame-exact access to a time range of a video: the frame timestamps of a file, and decoding frames
``[start, stop)`` of it without decoding everything before ``start``.

A chunk of a long lecture must start at an exact frame: one frame too many or too few at a join is a
visible stutter. ffmpeg's input seek (``-ss`` before ``-i``) jumps to the key frame before the position and
then drops the decoded frames whose timestamp is earlier than the position, so seeking to a time strictly
between frame ``start - 1`` and frame ``start`` yields frame ``start`` first, whatever the key frame
spacing or the B-frame reordering. The timestamps come from ffprobe's packet list (no decoding), sorted
into presentation order.

Example::

    times = frame_times("lecture.mp4")                  # one presentation time per frame, seconds
    work, _ = work_format(info.pix_fmt)                 # lecinpaint.io.pixfmt
    for frame in decode_range("lecture.mp4", info, times, 250, 500, work):
        ...                                              # frames 250..499, YUVFrame planes of `work`
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from lecinpaint.io.ffmpeg import FFmpegError, VideoInfo, YUVDecoder, find_program
from lecinpaint.io.pixfmt import PixFmt
from lecinpaint.io.y4m import YUVFrame, parse_layout

__all__ = ["FrameTimes", "frame_times", "decode_range"]


@dataclass(frozen=True)
class FrameTimes:
    """Presentation times of every frame of a video's first video stream.

    Attributes:
        times: seconds, sorted, one per frame (``len(times)`` is the exact frame count), or None when
            the container gives no usable timestamps (then ranges are decoded from the start).
        count: the number of frames.
        start_time: the container's start time in seconds (ffmpeg's ``-ss`` is relative to it).
    """

    times: tuple[float, ...] | None
    count: int
    start_time: float

    def seek_position(self, start: int) -> float | None:
        """The ``-ss`` value that makes ffmpeg's first output frame be frame ``start`` (None: no seek)."""
        if start <= 0 or self.times is None:
            return None
        t0, t1 = self.times[start - 1], self.times[start]
        if not t1 > t0:  # equal timestamps: the frame cannot be told apart by time
            return None
        # The midpoint: immune to the rounding of the printed timestamps.
        return max(0.0, (t0 + t1) / 2 - self.start_time)


def frame_times(path: str | os.PathLike[str]) -> FrameTimes:
    """Read the frame timestamps of ``path`` with ffprobe (packets only: fast, nothing is decoded).

    Raises:
        FFmpegError: ffprobe failed or found no video packet.
    """
    cmd = [find_program("ffprobe"), "-v", "error", "-select_streams", "v:0",
           "-show_entries", "packet=pts_time,flags:format=start_time", "-of", "csv=p=0", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise FFmpegError(f"ffprobe cannot list the frames of {str(path)!r}: {tail}")
    lines = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
    start_time = 0.0
    times: list[float] = []
    usable = True
    for ln in lines:
        parts = ln.split(",")
        if len(parts) == 1:  # the format section: start_time
            try:
                start_time = float(parts[0])
            except ValueError:
                start_time = 0.0
            continue
        pts, flags = parts[0], parts[1]
        if "D" in flags:  # a packet the demuxer discards (e.g. before an MP4 edit list's start)
            continue
        try:
            times.append(float(pts))
        except ValueError:
            usable = False
            times.append(float("nan"))
    if not times:
        raise FFmpegError(f"{str(path)!r}: no video frames found")
    if not usable:
        return FrameTimes(None, len(times), start_time)
    times.sort()
    return FrameTimes(tuple(times), len(times), start_time)


def decode_range(
    path: str | os.PathLike[str],
    info: VideoInfo,
    times: FrameTimes,
    start: int,
    stop: int,
    work: PixFmt,
) -> Iterator[YUVFrame]:
    """Yield frames ``start .. stop-1`` of ``path`` as planes of ``work`` (fewer if the file ends).

    ``work`` is the planar format the run works in (:func:`lecinpaint.io.output.output_format_for`), so
    that the frames are the samples the single-file command decodes. Seeks when the timestamps allow it
    (see the module docstring); otherwise decodes from the start and drops the frames before ``start``.

    Raises:
        FFmpegError: ffmpeg failed.
    """
    if stop <= start:
        return
    layout = parse_layout(work.y4m_layout)
    pos = times.seek_position(start)
    if pos is None:
        decoder = YUVDecoder(path, work.name, layout, info.width, info.height, frames=stop)
        skip = start
    else:
        decoder = YUVDecoder(path, work.name, layout, info.width, info.height, seek=pos, frames=stop - start)
        skip = 0
    try:
        for i, frame in enumerate(decoder):
            if i >= skip:
                yield frame
    finally:
        decoder.close()  # stops ffmpeg when the caller stops early
