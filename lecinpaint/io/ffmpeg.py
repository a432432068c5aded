"""ffmpeg / ffprobe process helpers: probing a file, decoding it to RGB frames, encoding frames.

Everything runs the ``ffmpeg`` and ``ffprobe`` programs as subprocesses (nothing is linked in). When
they are missing, :class:`FFmpegError` says how to install them.

Example::

    info = probe("lecture.mp4")
    for rgb in decode_rgb("lecture.mp4", info):      # (H, W, 3) uint8 frames, every decoded frame once
        ...
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from lecinpaint.io.y4m import ChromaLayout, YUVFrame

__all__ = [
    "FFmpegError",
    "VideoInfo",
    "find_program",
    "probe",
    "decode_rgb",
    "YUVDecoder",
    "FrameEncoder",
    "MaskWriter",
    "VIDEO_SUFFIXES",
]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm", ".nut", ".y4m", ".ts")


class FFmpegError(RuntimeError):
    """ffmpeg or ffprobe is missing, or failed (the message carries the end of its error output)."""


def find_program(name: str) -> str:
    """The path of ``ffmpeg`` / ``ffprobe``.

    Raises:
        FFmpegError: not on PATH.
    """
    path = shutil.which(name)
    if path is None:
        raise FFmpegError(
            f"{name} not found on PATH: install FFmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; "
            "macOS: brew install ffmpeg)"
        )
    return path


def _fraction(text: str | None) -> Fraction | None:
    if not text or text in ("0/0", "N/A"):
        return None
    try:
        f = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


@dataclass
class VideoInfo:
    """What the front ends need to know about an input file (from ffprobe).

    Attributes:
        width, height: size of the first video stream.
        rate: its frame rate (``avg_frame_rate``, else ``r_frame_rate``; 25 when neither is known).
        frames: frame count if the container says (``nb_frames``), else an estimate from the duration,
            else None.
        duration: seconds, or None.
        pix_fmt, color_space, color_range, color_primaries, color_transfer: as ffprobe reports them
            (None when unknown or unspecified).
        audio, subtitles: number of audio / subtitle streams; subtitle_codecs their codec names.
        chapters: number of chapters.
        vfr: True when ``r_frame_rate`` and ``avg_frame_rate`` disagree (probably variable frame rate).
    """

    width: int
    height: int
    rate: Fraction
    frames: int | None = None
    duration: float | None = None
    pix_fmt: str | None = None
    color_space: str | None = None
    color_range: str | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None
    audio: int = 0
    subtitles: int = 0
    subtitle_codecs: list[str] = field(default_factory=list)
    chapters: int = 0
    vfr: bool = False


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Probe ``path`` with ffprobe.

    Raises:
        FileNotFoundError: the file does not exist.
        FFmpegError: ffprobe is missing or cannot read it, or it has no video stream.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input file {str(p)!r} does not exist")
    if p.is_dir():
        raise FFmpegError(f"{str(p)!r} is a folder; give a video file")
    cmd = [
        find_program("ffprobe"), "-v", "error", "-of", "json",
        "-show_streams", "-show_chapters", "-show_format", str(p),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise FFmpegError(f"ffprobe cannot read {str(p)!r}: {tail}")
    data = json.loads(res.stdout or "{}")
    streams = data.get("streams", [])
    video = [
        s for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not video:
        raise FFmpegError(f"{str(p)!r} has no video stream")
    v = video[0]
    avg = _fraction(v.get("avg_frame_rate"))
    real = _fraction(v.get("r_frame_rate"))
    rate = avg or real or Fraction(25)
    duration = None
    for src in (v.get("duration"), data.get("format", {}).get("duration")):
        try:
            duration = float(src)
            break
        except (TypeError, ValueError):
            continue
    frames = None
    try:
        frames = int(v["nb_frames"])
    except (KeyError, ValueError, TypeError):
        if duration is not None:
            frames = max(1, round(duration * float(rate)))

    def tag(key: str) -> str | None:
        val = v.get(key)
        return None if val in (None, "unknown", "unspecified", "reserved") else str(val)

    subs = [s for s in streams if s.get("codec_type") == "subtitle"]
    return VideoInfo(
        width=int(v["width"]),
        height=int(v["height"]),
        rate=rate.limit_denominator(1_000_000),
        frames=frames,
        duration=duration,
        pix_fmt=tag("pix_fmt"),
        color_space=tag("color_space"),
        color_range=tag("color_range"),
        color_primaries=tag("color_primaries"),
        color_transfer=tag("color_transfer"),
        audio=sum(1 for s in streams if s.get("codec_type") == "audio"),
        subtitles=len(subs),
        subtitle_codecs=[str(s.get("codec_name", "")) for s in subs],
        chapters=len(data.get("chapters", [])),
        vfr=bool(avg and real and avg != real),
    )


def _stderr_tail(proc: subprocess.Popen, limit: int = 3) -> str:
    if proc.stderr is None:
        return ""
    try:
        text = proc.stderr.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-limit:])


def decode_rgb(
    path: str | os.PathLike[str], info: VideoInfo, *, vf: str | None = None
) -> Iterator[np.ndarray]:
    """Decode the first video stream of ``path`` to ``(H, W, 3)`` uint8 RGB frames.

    Every decoded frame is yielded once, in presentation order (``-fps_mode passthrough``:
    no frames are duplicated or dropped to force a constant rate). ``vf`` is an optional extra ffmpeg
    filter applied before the conversion (it must keep the size).

    Raises:
        FFmpegError: ffmpeg failed (raised after the frames decoded before the failure).
    """
    cmd = [find_program("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0"]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    # A session of its own: a Ctrl-C in the terminal reaches only the caller, which stops ffmpeg itself.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None  # stdout=PIPE
    size = info.width * info.height * 3
    finished = False
    try:
        while True:
            buf = bytearray(size)  # a fresh, writable buffer per frame: consumers may keep the frames
            view = memoryview(buf)
            got = 0
            while got < size:
                k = proc.stdout.readinto(view[got:])
                if not k:
                    break
                got += k
            if got < size:
                break
            yield np.frombuffer(buf, np.uint8).reshape(info.height, info.width, 3)
        finished = True
    finally:
        if not finished:
            proc.kill()
        proc.stdout.close()
        rc = proc.wait()
        err = _stderr_tail(proc)
        if proc.stderr is not None:
            proc.stderr.close()
    if rc != 0:
        raise FFmpegError(f"ffmpeg could not decode {str(path)!r}: {err or f'exit status {rc}'}")


class YUVDecoder:
    """An ffmpeg process decoding the first video stream of a file to raw planes of a planar format.

    Iterating yields :class:`YUVFrame` objects (planes as :class:`ChromaLayout` describes them), every
    decoded frame once, in presentation order (``-fps_mode passthrough``). Raw video rather than y4m:
    ffmpeg 5.1's y4m writer gets the chroma rows of odd widths wrong above 8 bits. Raises
    :class:`FFmpegError` with ffmpeg's own message when it fails (after the frames decoded before the
    failure). :meth:`close` stops it early.

    ``seek`` (seconds, ffmpeg's input ``-ss``) starts at the first frame at or after that time, and
    ``frames`` stops after that many frames (see :mod:`lecinpaint.batch.decode` for frame-exact ranges).
    """

    def __init__(self, path: str | os.PathLike[str], pix_fmt: str, layout: ChromaLayout, width: int,
                 height: int, *, seek: float | None = None, frames: int | None = None) -> None:
        self.path = str(path)
        self.layout = layout
        self._shapes = layout.plane_shapes(width, height)
        self._bytes = layout.frame_bytes(width, height)
        cmd = [find_program("ffmpeg"), "-nostdin", "-v", "error"]
        if seek is not None:
            cmd += ["-ss", f"{seek:.6f}"]
        cmd += ["-i", self.path, "-map", "0:v:0", "-fps_mode", "passthrough"]
        if frames is not None:
            cmd += ["-frames:v", str(frames)]
        cmd += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
        # A session of its own: a Ctrl-C in the terminal reaches only the caller, which stops ffmpeg.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True)

    def _read(self) -> YUVFrame | None:
        assert self._proc.stdout is not None  # stdout=PIPE
        buf = bytearray(self._bytes)  # fresh per frame: consumers may keep the planes
        view = memoryview(buf)
        got = 0
        while got < self._bytes:
            k = self._proc.stdout.readinto(view[got:])
            if not k:
                return None  # the end (a partial frame at the end is ffmpeg's failure, reported below)
            got += k
        planes, off = [], 0
        dtype = self.layout.dtype
        for rows, cols in self._shapes:
            planes.append(np.frombuffer(buf, dtype, rows * cols, off).reshape(rows, cols))
            off += rows * cols * dtype.itemsize
        return YUVFrame(planes)

    def __iter__(self) -> Iterator[YUVFrame]:
        finished = False
        try:
            while (frame := self._read()) is not None:
                yield frame
            finished = True
        finally:
            rc = self._finish(killed=not finished)
        if rc != 0:
            raise FFmpegError(f"ffmpeg could not decode {self.path!r}: {self._err or f'exit status {rc}'}")

    def _finish(self, killed: bool) -> int:
        if killed and self._proc.poll() is None:
            self._proc.kill()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        rc = self._proc.wait()
        self._err = _stderr_tail(self._proc)
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        return rc

    def close(self) -> None:
        """Stop decoding (harmless after the end)."""
        if self._proc.returncode is None:
            self._finish(killed=True)


class FrameEncoder:
    """An ffmpeg process that takes raw frames on its stdin and writes a file.

    Args:
        cmd: the whole ffmpeg command line, reading ``-f rawvideo ... -i -`` as its first input.
        frame_shape: shape of one frame array, e.g. ``(H, W, 3)`` for rgb24 or ``(H, W)`` for gray.

    :meth:`write` raises :class:`FFmpegError` when ffmpeg has died (with its error output);
    :meth:`close` waits for it and raises if it failed; :meth:`abort` kills it.
    """

    def __init__(self, cmd: Sequence[str], frame_shape: tuple[int, ...]) -> None:
        self.cmd = list(cmd)
        self.frame_shape = tuple(frame_shape)
        # A session of its own: on Ctrl-C the caller decides whether the file is finished or discarded.
        self._proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        """Send one frame (uint8, ``frame_shape``)."""
        if frame.shape != self.frame_shape:
            raise ValueError(f"encoder: frame of shape {frame.shape}, expected {self.frame_shape}")
        assert self._proc.stdin is not None  # stdin=PIPE
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            tail = _stderr_tail(self._proc) or "it exited early"
            raise FFmpegError(f"ffmpeg (encoding) failed: {tail}") from None

    def write_bytes(self, data: bytes | memoryview) -> None:
        """Send bytes as they are (a frame of a format the command line describes)."""
        assert self._proc.stdin is not None  # stdin=PIPE
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            tail = _stderr_tail(self._proc) or "it exited early"
            raise FFmpegError(f"ffmpeg (encoding) failed: {tail}") from None


    def close(self) -> None:
        """Finish the file: close ffmpeg's input and wait for it.

        Raises:
            FFmpegError: ffmpeg exited with an error.
        """
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        rc = self._proc.wait()
        if rc != 0:
            raise FFmpegError(f"ffmpeg (encoding) failed: {_stderr_tail(self._proc) or f'exit status {rc}'}")
        if self._proc.stderr is not None:
            self._proc.stderr.close()

    def abort(self) -> None:
        """Kill ffmpeg (the output file is incomplete and must be discarded)."""
        if self._proc.poll() is None:
            self._proc.kill()
        for s in (self._proc.stdin, self._proc.stderr):
            try:
                if s is not None:
                    s.close()
            except (BrokenPipeError, OSError):
                pass
        self._proc.wait()


class MaskWriter:
    """Saves hole masks, ``(H, W)`` bool, as a folder of PNGs or as a video file.

    A ``path`` ending in a video suffix (:data:`VIDEO_SUFFIXES`) becomes a lossless grey video (FFV1 in
    .mkv/.avi/.nut, lossless x264 otherwise; hole = 255); anything else is a folder of
    ``mask_000000.png``, ... (created if needed). Both read back with ``--masks``.
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, rate: Fraction) -> None:
        self.path = Path(path)
        self.count = 0
        self._encoder: FrameEncoder | None = None
        if self.path.suffix.lower() in VIDEO_SUFFIXES:
            if self.path.suffix.lower() in (".mkv", ".avi", ".nut"):
                codec = ["-c:v", "ffv1", "-pix_fmt", "gray"]
            else:
                codec = ["-c:v", "libx264", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "yuv444p"]
            cmd = [
                find_program("ffmpeg"), "-nostdin", "-v", "error", "-y",
                "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}",
                "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-", *codec, str(self.path),
            ]
            self._encoder = FrameEncoder(cmd, (height, width))
        else:
            self.path.mkdir(parents=True, exist_ok=True)

    def write(self, mask: np.ndarray) -> None:
        """Save the next mask."""
        img = np.where(mask, np.uint8(255), np.uint8(0))
        if self._encoder is not None:
            self._encoder.write(img)
        else:
            import cv2

            name = self.path / f"mask_{self.count:06d}.png"
            if not cv2.imwrite(str(name), img):
                raise OSError(f"cannot write mask image {str(name)!r}")
        self.count += 1

    def close(self) -> None:
        """Finish the mask video (no-op for a folder)."""
        if self._encoder is not None:
            self._encoder.close()

    def abort(self) -> None:
        """Stop without finishing (the mask video is incomplete)."""
        if self._encoder is not None:
            self._encoder.abort()
