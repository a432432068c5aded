"""lecinpaint.io: y4m and raw streams, colour conversion, compositing (in-process, ffmpeg as the oracle)."""

from __future__ import annotations

import io
import re
from fractions import Fraction

import numpy as np
import pytest

from lecinpaint.io.color import chroma_mask, composite_yuv, default_matrix, rgb_to_yuv, yuv_to_rgb
from lecinpaint.io.rawvideo import RawFormat, RawReader, RawVideoError, RawWriter, parse_rate, parse_size
from lecinpaint.io.y4m import Y4MError, Y4MHeader, Y4MReader, Y4MWriter, parse_layout

from ._helpers import ffmpeg_encode_raw, needs_ffmpeg, planes_via_ffmpeg, scene, y4m_from_frames

# pix_fmt -> (expected C token, sub_x, sub_y, depth)
LAYOUTS = {
    "yuv420p": ("420jpeg", 2, 2, 8),
    "yuv422p": ("422", 2, 1, 8),
    "yuv444p": ("444", 1, 1, 8),
    "yuv411p": ("411", 4, 1, 8),
    "gray": ("mono", 0, 0, 8),
    "yuv420p10le": ("420p10", 2, 2, 10),
    "yuv444p12le": ("444p12", 1, 1, 12),
}


@needs_ffmpeg
@pytest.mark.parametrize("pix_fmt", list(LAYOUTS))
@pytest.mark.parametrize("size", [(64, 48), (33, 17)], ids=["even", "odd"])
def test_reader_matches_ffmpeg_planes_and_writer_roundtrips(pix_fmt: str, size: tuple[int, int]) -> None:
    if size[0] % 2 and LAYOUTS[pix_fmt][3] > 8:
        # ffmpeg's y4m muxer writes half a sample per chroma row at odd widths above 8 bits.
        pytest.skip("ffmpeg cannot write odd-width y4m above 8 bits")
    frames, _, _ = scene(*size, n=3)
    data = y4m_from_frames(frames, pix_fmt)
    reader = Y4MReader(io.BytesIO(data))
    token, sx, sy, depth = LAYOUTS[pix_fmt]
    lay = reader.header.layout
    assert (lay.token, lay.sub_x, lay.sub_y, lay.depth) == (token, sx, sy, depth)
    assert (reader.header.width, reader.header.height, reader.header.rate) == (*size, Fraction(25))
    got = list(reader)
    assert len(got) == 3
    # ffmpeg's own decoding of the same stream gives the same bytes, plane after plane.
    assert b"".join(p.tobytes() for f in got for p in f.planes) == planes_via_ffmpeg(data, pix_fmt)
    # Writing back what was read reproduces the stream byte for byte (header fields passed through).
    out = io.BytesIO()
    w = Y4MWriter(out, reader.header)
    for f in got:
        w.write(f)
    assert out.getvalue() == data


def test_header_passthrough_and_rate_change() -> None:
    line = b"YUV4MPEG2 W64 H48 F30000:1001 It A128:117 C420paldv XYSCSS=420PALDV XCOLORRANGE=FULL XFOO\n"
    h = Y4MHeader.parse(line)
    assert h.encode() == line
    assert h.rate == Fraction(30000, 1001) and h.interlace == "t" and h.full_range is True
    assert h.extensions["XFOO"] == ""
    assert h.with_rate(Fraction(5)).encode() == line.replace(b"F30000:1001", b"F5:1")
    assert Y4MHeader.parse(b"YUV4MPEG2 W4 H2 F25:1").layout.token == "420jpeg"  # the format's default


@pytest.mark.parametrize("token", ["420jpeg", "420mpeg2", "420paldv", "420", "422", "444", "mono", "420p10",
                                   "mono16", "422p12"])
def test_supported_layouts(token: str) -> None:
    assert parse_layout(token).token == token


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello world\n", "not a y4m stream"),
        (b"\x00\xff\x10garbage" * 50, "not a y4m stream"),
        (b"YUV4MPEG2 W64 F25:1\n", "width (W) or height (H) is missing"),
        (b"YUV4MPEG2 W64 H48\n", "frame rate (F) is missing"),
        (b"YUV4MPEG2 W64 H48 F25\n", "bad frame rate"),
        (b"YUV4MPEG2 W64 H0 F25:1\n", "bad height"),
        (b"YUV4MPEG2 Wx H48 F25:1\n", "bad width"),
        (b"YUV4MPEG2 W64 H48 F25:1 C444alpha\n", "unsupported y4m colour layout C444alpha"),
        (b"YUV4MPEG2 W64 H48 F25:1 C420p11\n", "unsupported"),
        (b"YUV4MPEG2 W64 H48 F25:1 Q9\n", "unknown field"),
        (b"YUV4MPEG2 W64 H48 F25:1", "truncated y4m header"),
        (b"YUV4MPEG2 W64 H48 F25:1 " + b"X" * 5000 + b"\n", "too long"),
    ],
)
def test_bad_headers(data: bytes, message: str) -> None:
    with pytest.raises(Y4MError, match=re.escape(message)):
        Y4MReader(io.BytesIO(data))


def test_truncated_and_garbled_frames_keep_the_frames_before() -> None:
    hdr = b"YUV4MPEG2 W4 H2 F25:1 C444\n"
    frame = b"FRAME\n" + bytes(range(24))
    r = Y4MReader(io.BytesIO(hdr + frame + frame[:10]))
    assert r.read() is not None
    with pytest.raises(Y4MError, match="truncated y4m frame 1: the input ended after 4 of 24 bytes"):
        r.read()
    r = Y4MReader(io.BytesIO(hdr + frame + b"FRAMX\n" + bytes(24)))
    assert r.read() is not None
    with pytest.raises(Y4MError, match="expected 'FRAME' before frame 1"):
        r.read()
    r = Y4MReader(io.BytesIO(hdr + b"FRAME Ixyz\n" + bytes(24)))
    assert r.read().params == b"Ixyz"


@needs_ffmpeg
@pytest.mark.parametrize("matrix, full", [("bt601", False), ("bt709", False), ("bt601", True)])
def test_yuv_to_rgb_matches_ffmpeg(matrix: str, full: bool) -> None:
    frames, _, _ = scene(n=1)
    space = {"bt601": "bt470bg", "bt709": "bt709"}[matrix]
    rng = "pc" if full else "tv"
    # Make 4:4:4 planes with ffmpeg, then compare our RGB with ffmpeg's RGB of the same planes.
    planes = ffmpeg_encode_raw(frames, ["-vf", f"scale=out_color_matrix={matrix}:out_range={rng}",
                                        "-pix_fmt", "yuv444p", "-f", "rawvideo", "-"])
    h, w = frames.shape[1:3]
    p = np.frombuffer(planes, np.uint8).reshape(3, h, w)
    import subprocess

    ref = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", f"{w}x{h}", "-i", "-",
         "-vf", f"scale=in_color_matrix={matrix}:in_range={rng}:flags=accurate_rnd+full_chroma_int",
         "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], input=planes, capture_output=True, check=True).stdout
    ref = np.frombuffer(ref, np.uint8).reshape(h, w, 3).astype(int)
    ours = yuv_to_rgb(list(p), depth=8, matrix=matrix, full_range=full).astype(int)
    assert np.abs(ours - ref).max() <= 2
    # ... and the original RGB comes back within the quantisation of the YUV planes.
    assert np.abs(ours - frames[0].astype(int)).max() <= 3


@pytest.mark.parametrize("depth, sub", [(8, (2, 2)), (8, (2, 1)), (8, (1, 1)), (10, (2, 2)), (8, (0, 0))])
def test_rgb_yuv_roundtrip_on_smooth_content(depth: int, sub: tuple[int, int]) -> None:
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = np.stack([40 + 2 * xx, 30 + 3 * yy, 100 + xx + yy], axis=-1).astype(np.uint8)
    if sub == (0, 0):
        rgb = np.repeat(rgb[:, :, 1:2], 3, axis=2)  # grey content for a mono layout
    planes = rgb_to_yuv(rgb, depth=depth, matrix="bt709", full_range=False, sub_x=sub[0], sub_y=sub[1])
    assert planes[0].dtype == (np.uint8 if depth == 8 else np.uint16)
    assert planes[0].max() <= 235 << (depth - 8) and planes[0].min() >= 16 << (depth - 8)
    back = yuv_to_rgb(planes, depth=depth, matrix="bt709", full_range=False)
    tol = 2 if sub in ((1, 1), (0, 0)) else 4  # subsampled chroma: interpolation error at the borders
    assert np.abs(back.astype(int) - rgb.astype(int)).max() <= tol


def test_composite_is_bit_exact_outside_the_hole() -> None:
    rng = np.random.default_rng(0)
    h, w = 9, 11
    orig = [rng.integers(0, 1024, (h, w), dtype=np.uint16)] + [
        rng.integers(0, 1024, (5, 6), dtype=np.uint16) for _ in range(2)]
    filled = [np.full_like(p, 7) for p in orig]
    mask = np.zeros((h, w), bool)
    mask[3, 4] = True  # one luma pixel: one chroma sample (row 1, col 2)
    mask[8, 10] = True  # the odd last row/column maps to the last chroma sample
    out = composite_yuv(orig, filled, mask, sub_x=2, sub_y=2)
    cm = chroma_mask(mask, 2, 2)
    assert cm.sum() == 2 and cm[1, 2] and cm[4, 5]
    assert np.array_equal(out[0][~mask], orig[0][~mask]) and (out[0][mask] == 7).all()
    for o, p in zip(out[1:], orig[1:]):
        assert np.array_equal(o[~cm], p[~cm]) and (o[cm] == 7).all()


def test_default_matrix() -> None:
    assert default_matrix(720) == "bt709" and default_matrix(576) == "bt601"


def test_raw_formats_and_errors() -> None:
    assert parse_size("1280x720") == (1280, 720)
    assert parse_rate("30000/1001") == Fraction(30000, 1001) and parse_rate("25") == 25
    for bad in ("1280", "0x5", "axb"):
        with pytest.raises(RawVideoError, match="bad size"):
            parse_size(bad)
    for bad in ("0", "-3", "x", "1/0"):
        with pytest.raises(RawVideoError, match="bad frame rate"):
            parse_rate(bad)
    with pytest.raises(RawVideoError, match="unsupported pixel format"):
        RawFormat(4, 4, "nv12")
    fmt = RawFormat(5, 3, "yuv420p")
    assert fmt.frame_bytes == 15 + 2 * 6
    data = bytes(range(27)) * 2
    frames = list(RawReader(io.BytesIO(data), fmt))
    assert len(frames) == 2 and [a.shape for a in frames[0]] == [(3, 5), (2, 3), (2, 3)]
    out = io.BytesIO()
    RawWriter(out, fmt).write(frames[0])
    assert out.getvalue() == data[:27]
    r = RawReader(io.BytesIO(data[:40]), RawFormat(5, 3, "rgb24"))
    with pytest.raises(RawVideoError, match="truncated raw frame 0: the input ended after 40 of 45 bytes"):
        r.read()


def _reference_rgb(planes: list[np.ndarray], depth: int, matrix: str, full: bool) -> np.ndarray:
    """Float64, pixel by pixel from the formulas: chroma upsampled by centred bilinear interpolation."""
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
    kg = 1 - kr - kb
    s = 2.0 ** (depth - 8)
    yo, ys, co, cs = (0.0, 2**depth - 1.0, 2.0 ** (depth - 1), 2**depth - 1.0) if full else (
        16 * s, 219 * s, 2.0 ** (depth - 1), 224 * s)
    y = (planes[0].astype(np.float64) - yo) / ys
    h, w = y.shape

    def up(c: np.ndarray) -> np.ndarray:
        ch, cw = c.shape
        fy = np.clip((np.arange(h) + 0.5) / (-(-h // ch)) - 0.5, 0, ch - 1)
        fx = np.clip((np.arange(w) + 0.5) / (-(-w // cw)) - 0.5, 0, cw - 1)
        y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
        y1, x1 = np.minimum(y0 + 1, ch - 1), np.minimum(x0 + 1, cw - 1)
        ay, ax = (fy - y0)[:, None], (fx - x0)[None, :]
        c = c.astype(np.float64)
        top = c[y0][:, x0] * (1 - ax) + c[y0][:, x1] * ax
        bot = c[y1][:, x0] * (1 - ax) + c[y1][:, x1] * ax
        return top * (1 - ay) + bot * ay

    cb, cr = (up(planes[1]) - co) / cs, (up(planes[2]) - co) / cs
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.rint(np.stack([r, g, b], -1) * 255), 0, 255)


@pytest.mark.parametrize("depth", [8, 10])
@pytest.mark.parametrize("size", [(48, 64), (37, 53)], ids=["even", "odd"])
@pytest.mark.parametrize("matrix, full", [("bt601", False), ("bt709", True)])
def test_yuv_to_rgb_matches_the_formulas(depth: int, size: tuple[int, int], matrix: str, full: bool) -> None:
    rng = np.random.default_rng(depth + size[0])
    h, w = size
    dt = np.uint8 if depth == 8 else np.uint16
    planes = [rng.integers(0, 2**depth, s).astype(dt) for s in [(h, w), ((h + 1) // 2, (w + 1) // 2)]]
    planes.append(rng.integers(0, 2**depth, planes[1].shape).astype(dt))
    ours = yuv_to_rgb(planes, depth=depth, matrix=matrix, full_range=full).astype(int)
    ref = _reference_rgb(planes, depth, matrix, full)
    # float32 arithmetic against float64: a rounding tie may go either way, nothing more.
    assert np.abs(ours - ref).max() <= 1 and (ours != ref).mean() < 1e-3


@pytest.mark.parametrize("layout", ["420jpeg", "422", "444", "mono", "420p10"])
@pytest.mark.parametrize("size", [(36, 50), (37, 53)], ids=["even", "odd"])
def test_colour_composite_converts_only_the_hole_box_with_the_same_result(layout: str, size) -> None:
    from lecinpaint.io.stream import Colour

    rng = np.random.default_rng(7)
    h, w = size
    lay = parse_layout(layout)
    colour = Colour.for_layout(lay, h)
    peak = 2**lay.depth - 1
    dt = np.uint8 if lay.depth == 8 else np.uint16
    planes = [rng.integers(0, peak + 1, s).astype(dt) for s in lay.plane_shapes(w, h)]
    rgb = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    for box in [(5, 12, 7, 20), (0, h, 0, w), (h - 3, h, w - 5, w), (1, 2, 3, 4)]:
        hole = np.zeros((h, w), bool)
        hole[box[0]:box[1], box[2]:box[3]] = rng.random((box[1] - box[0], box[3] - box[2])) < 0.7
        hole[box[0], box[2]] = True
        # The reference: the whole frame converted, then composited.
        whole = rgb_to_yuv(rgb, depth=lay.depth, matrix=colour.matrix, full_range=False, sub_x=lay.sub_x,
                           sub_y=lay.sub_y)
        ref = composite_yuv(planes, whole, hole, sub_x=lay.sub_x, sub_y=lay.sub_y)
        out = colour.composite(planes, rgb, hole)
        assert len(out) == len(ref)
        for o, r in zip(out, ref):
            assert o.dtype == r.dtype and np.array_equal(o, r)
