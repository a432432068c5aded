"""lecinpaint.io.output: the formats and encoder command the command and ``lecinpaint batch`` share."""

from __future__ import annotations

import argparse
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lecinpaint.io.ffmpeg import VideoInfo, YUVDecoder
from lecinpaint.io.output import (
    EncodeOptions,
    encoder_command,
    lossless_part_command,
    output_format_for,
    subtitle_note,
)
from lecinpaint.io.pixfmt import parse_pix_fmt

from ._helpers import needs_ffmpeg

pytestmark = needs_ffmpeg


def _info(**kw: object) -> VideoInfo:
    base: dict = dict(width=97, height=65, rate=Fraction(25), pix_fmt="yuv420p10le")
    base.update(kw)
    return VideoInfo(**base)


def test_options_from_namespace_and_extra_args() -> None:
    ns = argparse.Namespace(input="a.mp4", output="b.mp4", codec="libx265", crf=22.0, preset="",
                            pix_fmt=None, matrix="bt709", audio_codec="aac", encoder_args="-tag:v hvc1")
    opts = EncodeOptions.from_namespace(ns)
    assert opts == EncodeOptions("libx265", 22.0, "", None, "bt709", "aac", "-tag:v hvc1")
    assert EncodeOptions.from_namespace(vars(ns)) == opts  # a dict (as the batch ships it) too
    assert EncodeOptions.from_namespace({}) == EncodeOptions()
    assert EncodeOptions.from_namespace(opts) is opts  # already options (a worker handing on its own)
    assert opts.extra_args() == ["-tag:v", "hvc1"]
    with pytest.raises(ValueError, match="bad --encoder-args"):
        EncodeOptions(encoder_args='-metadata "title=x').extra_args()


def test_output_format_keeps_depth_and_size_or_says_why() -> None:
    # ffv1 holds an odd-sized 10-bit 4:2:0 source as it is: no note.
    fmt = output_format_for(EncodeOptions(codec="ffv1"), _info())
    assert (fmt.work.name, fmt.exact, fmt.pix_fmt, fmt.notes) == ("yuv420p10le", True, "yuv420p10le", ())
    # libx264 cannot hold an odd size in 4:2:0: finer chroma at the same depth, with a note.
    fmt = output_format_for(EncodeOptions(codec="libx264"), _info())
    assert parse_pix_fmt(fmt.pix_fmt).depth == 10 and fmt.pix_fmt != "yuv420p10le"  # type: ignore[union-attr]
    assert len(fmt.notes) == 1 and "odd size" in fmt.notes[0]
    # --pix-fmt wins, and the matrix comes from the file's tag under auto.
    fmt = output_format_for(EncodeOptions(pix_fmt="yuv444p", matrix="auto"), _info(color_space="bt709"))
    assert fmt.pix_fmt == "yuv444p" and fmt.matrix == "bt709" and not fmt.full_range
    # An RGB source is converted by ffmpeg (BT.601 limited range) and tagged as what it then holds.
    fmt = output_format_for(EncodeOptions(codec="ffv1"), _info(pix_fmt="gbrp", color_space="gbr"))
    assert not fmt.exact and fmt.work.name == "yuv444p" and fmt.matrix == "bt601"
    assert (fmt.info.color_space, fmt.info.color_range) == ("smpte170m", "tv")
    assert "converted by ffmpeg" in fmt.notes[0]
    # Full-range sources composite in full range.
    assert output_format_for(EncodeOptions(), _info(pix_fmt="yuvj420p", width=96, height=64)).full_range


def test_encoder_command_streams_tags_and_options(tmp_path: Path) -> None:
    info = _info(subtitles=1, subtitle_codecs=["hdmv_pgs_subtitle"], color_space="bt709",
                 color_range="tv")
    work = parse_pix_fmt("yuv420p10le")
    assert work is not None
    opts = EncodeOptions(codec="libx265", crf=22, preset="slow", encoder_args="-g 250")
    mp4 = encoder_command(opts, "in.mkv", info, work, Fraction(30000, 1001), "yuv420p10le",
                          tmp_path / "o.mp4", ".mp4")
    assert mp4[mp4.index("-pix_fmt") + 1] == "yuv420p10le"  # the raw input: the work format
    assert mp4[mp4.index("-s") + 1] == "97x65" and mp4[mp4.index("-r") + 1] == "30000/1001"
    assert "1:s?" not in mp4  # image subtitles cannot go into MP4
    assert subtitle_note(info, ".mp4") is not None and subtitle_note(info, ".mkv") is None
    for flag, val in (("-crf", "22"), ("-preset", "slow"), ("-colorspace", "bt709"), ("-color_range", "tv"),
                      ("-movflags", "+faststart"), ("-g", "250")):
        assert mp4[mp4.index(flag) + 1] == val
    assert mp4[-1] == str(tmp_path / "o.mp4")
    mkv = encoder_command(EncodeOptions(codec="ffv1"), "in.mkv", info, work, Fraction(25), "yuv420p10le",
                          tmp_path / "o.mkv", ".mkv")
    assert mkv[mkv.index("1:s?") + 1: mkv.index("1:s?") + 3] == ["-c:s", "copy"]
    assert "-crf" not in mkv and "-preset" not in mkv and "-movflags" not in mkv


@pytest.mark.parametrize("name", ["yuv420p10le", "yuv444p", "gray14le"])
def test_lossless_part_round_trips_every_sample(tmp_path: Path, name: str) -> None:
    # A part written from raw work-format planes reads back, in that format, sample for sample.
    from lecinpaint.io.y4m import parse_layout

    work = parse_pix_fmt(name)
    assert work is not None
    w, h, n = 33, 17, 3
    layout = parse_layout(work.y4m_layout)
    rng = np.random.default_rng(1)
    dtype = layout.dtype
    top = 1 << work.depth
    frames = [[rng.integers(0, top, size=s).astype(dtype) for s in layout.plane_shapes(w, h)]
              for _ in range(n)]
    out = tmp_path / "part.mkv"
    cmd = lossless_part_command(_info(width=w, height=h, pix_fmt=name), work, Fraction(25), out)
    data = b"".join(p.tobytes() for f in frames for p in f)
    subprocess.run(cmd, input=data, check=True, capture_output=True)
    back = list(YUVDecoder(out, name, layout, w, h))
    assert len(back) == n
    for f, b in zip(frames, back):
        assert all(np.array_equal(x, y) for x, y in zip(f, b.planes))
