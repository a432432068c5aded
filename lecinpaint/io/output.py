"""How a file front end writes its result: the formats, the colour conversion and the encoder command.

Shared by the ``lecinpaint`` command and ``lecinpaint batch`` so that both give the same frames for the
same input and options: the same planar work format (the source's own YUV at its own depth where
possible), the same YUV <-> RGB conversion for the engine, the same output pixel format choice, and the
same ffmpeg command line around the encoder (audio, subtitles, chapters, metadata and colour tags from
the source).

Example::

    opts = EncodeOptions(codec="libx265", crf=22)
    fmt = output_format_for(opts, info)          # info from lecinpaint.io.ffmpeg.probe
    cmd = encoder_command(opts, "lecture.mp4", fmt.info, fmt.work, rate, fmt.pix_fmt, tmp, ".mkv")
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from lecinpaint.io.ffmpeg import VideoInfo, find_program
from lecinpaint.io.pixfmt import PixFmt, encoder_pix_fmts, output_format, work_format
from lecinpaint.io.y4m import ChromaLayout, parse_layout

__all__ = [
    "EncodeOptions",
    "OutputFormat",
    "output_format_for",
    "encoder_command",
    "subtitle_note",
    "lossless_part_command",
]

# ffprobe's colour space tag -> the matrix the conversion uses.
_MATRIX_OF_SPACE = {
    "bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt2020nc": "bt2020", "bt2020c": "bt2020",
}
_TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
_MP4_LIKE = (".mp4", ".m4v", ".mov")
_CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")
_PRESET_CODECS = ("libx264", "libx265", "libsvtav1")


@dataclass(frozen=True)
class EncodeOptions:
    """The encoding options of the file front ends (``--codec``, ``--crf``, ...), with their defaults."""

    codec: str = "libx264"
    crf: float | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None
    matrix: str = "auto"
    audio_codec: str = "copy"
    encoder_args: str = ""

    @classmethod
    def from_namespace(cls, args: argparse.Namespace | dict[str, Any] | EncodeOptions) -> EncodeOptions:
        """The options from parsed arguments (or a dict of them); missing ones keep their defaults."""
        if isinstance(args, EncodeOptions):
            return args
        src = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
        return cls(**{k: src[k] for k in cls.__dataclass_fields__ if k in src})

    def extra_args(self) -> list[str]:
        """``encoder_args`` split as a shell would.

        Raises:
            ValueError: unbalanced quotes (the message names the option).
        """
        try:
            return shlex.split(self.encoder_args or "")
        except ValueError as exc:
            raise ValueError(f"bad --encoder-args: {exc}") from None


@dataclass(frozen=True)
class OutputFormat:
    """What a run works in and writes, decided once per input.

    Attributes:
        work: the planar format frames are decoded to and composited in.
        exact: whether ``work`` holds the source's samples exactly (False: ffmpeg converts, e.g. RGB).
        pix_fmt: the pixel format the encoder writes.
        info: the source's probe, with its colour tags replaced where the work format is a conversion
            (ffmpeg's BT.601 limited range), so that the output is tagged as what it holds.
        matrix: the YUV matrix of the conversion for the engine and back.
        full_range: full ("PC") range samples.
        notes: what the user should know (a converted source, a pixel format the encoder cannot write).
    """

    work: PixFmt
    exact: bool
    pix_fmt: str
    info: VideoInfo
    matrix: str | None
    full_range: bool
    notes: tuple[str, ...] = ()

    @property
    def layout(self) -> ChromaLayout:
        """The plane layout of ``work``."""
        return parse_layout(self.work.y4m_layout)

    def colour(self) -> Any:
        """The :class:`lecinpaint.io.stream.Colour` of this format (imports torch)."""
        from lecinpaint.io.stream import Colour

        return Colour.for_layout(self.layout, self.info.height, matrix=self.matrix,
                                 full_range=self.full_range)

    def frame_bytes(self) -> int:
        """Bytes of one raw frame of ``work``."""
        return self.layout.frame_bytes(self.info.width, self.info.height)


def output_format_for(opts: EncodeOptions, info: VideoInfo) -> OutputFormat:
    """The work format, output pixel format and colour conversion for ``info`` under ``opts``."""
    notes: list[str] = []
    work, exact = work_format(info.pix_fmt)
    if not exact:
        notes.append(f"{info.pix_fmt or 'the input format'} is processed as {work.name} "
                     "(converted by ffmpeg)")
    if opts.pix_fmt:
        pix_fmt = opts.pix_fmt
    else:
        supported = encoder_pix_fmts(find_program("ffmpeg"), opts.codec)
        pix_fmt, note = output_format(opts.codec, work, info.width, info.height, supported)
        if note:
            notes.append(note)
    matrix = opts.matrix if opts.matrix != "auto" else _MATRIX_OF_SPACE.get(info.color_space or "")
    if not exact:  # ffmpeg converts RGB with its default, BT.601 limited range, and we tag it so
        matrix, info = "bt601", replace(info, color_space="smpte170m", color_range="tv")
    full = work.full_range or info.color_range == "pc"
    return OutputFormat(work, exact, pix_fmt, info, matrix, full, tuple(notes))


def subtitle_note(info: VideoInfo, out_suffix: str) -> str | None:
    """A warning when the source's subtitles cannot go into the output's container (else None)."""
    if info.subtitles and out_suffix.lower() in _MP4_LIKE \
            and not all(c in _TEXT_SUBS for c in info.subtitle_codecs):
        return ("warning: image subtitles cannot go into an MP4/MOV file; they are dropped "
                "(use .mkv to keep them)")
    return None


def _raw_input(work: PixFmt, info: VideoInfo, rate: Fraction) -> list[str]:
    rate = Fraction(rate)
    return [find_program("ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", work.name,
            "-s", f"{info.width}x{info.height}", "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-"]


def encoder_command(opts: EncodeOptions, source: str | Path, info: VideoInfo, work: PixFmt, rate: Fraction,
                    pix_fmt: str, tmp: str | Path, out_suffix: str) -> list[str]:
    """ffmpeg reading raw ``work`` frames on stdin (already at the output's frame rate) plus ``source``
    for its audio, subtitles, chapters and metadata, and writing ``tmp`` as the container of
    ``out_suffix`` (the final output's extension) would be written.

    Raises:
        ValueError: ``opts.encoder_args`` cannot be split.
    """
    cmd = _raw_input(work, info, rate) + [
        "-i", str(source),
        "-map", "0:v:0", "-map", "1:a?", "-map_metadata", "1", "-map_metadata:s:v:0", "1:s:v:0",
        "-map_chapters", "1"]
    suffix = out_suffix.lower()
    if info.subtitles:
        if suffix in _MP4_LIKE:
            if all(c in _TEXT_SUBS for c in info.subtitle_codecs):
                cmd += ["-map", "1:s?", "-c:s", "mov_text"]
        else:
            cmd += ["-map", "1:s?", "-c:s", "copy"]
    cmd += ["-c:a", opts.audio_codec, "-c:v", opts.codec]
    if opts.crf is not None and opts.codec in _CRF_CODECS:
        cmd += ["-crf", f"{opts.crf:g}"]
    if opts.preset and opts.codec in _PRESET_CODECS:
        cmd += ["-preset", opts.preset]
    cmd += ["-pix_fmt", pix_fmt]
    for flag, val in (("-colorspace", info.color_space), ("-color_primaries", info.color_primaries),
                      ("-color_trc", info.color_transfer), ("-color_range", info.color_range)):
        if val:
            cmd += [flag, val]
    if suffix in _MP4_LIKE:
        cmd += ["-movflags", "+faststart"]
    return cmd + opts.extra_args() + [str(tmp)]


def lossless_part_command(info: VideoInfo, work: PixFmt, rate: Fraction, tmp: str | Path) -> list[str]:
    """ffmpeg writing raw ``work`` frames from stdin losslessly (FFV1 in Matroska, ``tmp`` ending in
    .mkv) in ``work`` itself: every sample at the source's depth, read back bit for bit by decoding to
    ``work``. Used for the pieces of a video that are joined into one encoding afterwards."""
    supported = encoder_pix_fmts(find_program("ffmpeg"), "ffv1")
    store = work.name
    if supported is not None and store not in supported and work.grey and work.depth > 8:
        # FFV1 lacks gray14le: 16 bits hold the same samples (ffmpeg shifts up and back exactly).
        store = "gray16le"
    return _raw_input(work, info, rate) + ["-c:v", "ffv1", "-level", "3", "-pix_fmt", store, str(tmp)]
