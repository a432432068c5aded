"""Fuzzing the stream readers (y4m, raw video) and the mask reader with hypothesis.

Properties:
- any bytes: the reader yields whole frames or raises its own error type (``Y4MError``,
  ``RawVideoError``, ``ValueError`` for masks) with a message, never another exception, never a hang;
- valid streams round-trip exactly through writer and reader, whatever the layout, depth, size and
  frame parameters; a valid stream cut anywhere yields the complete frames before the cut, then errors;
- mask images of any kind (grey, colour, alpha, 16 bit, corrupt bytes) give the hole an independent
  numpy reference computes, or a one-line ``ValueError``.

The suite runs a fast set (``LECINPAINT_FUZZ_EXAMPLES``, default 60 per property); a long run is
``LECINPAINT_FUZZ_EXAMPLES=100000 python -m pytest tests/frontends/test_fe_fuzz.py``.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (requirements-dev.txt)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lecinpaint.io.rawvideo import RawFormat, RawReader, RawVideoError, RawWriter  # noqa: E402
from lecinpaint.io.y4m import Y4MError, Y4MHeader, Y4MReader, Y4MWriter, YUVFrame  # noqa: E402

EXAMPLES = int(os.environ.get("LECINPAINT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

LAYOUTS = ["420jpeg", "420mpeg2", "420paldv", "420", "422", "444", "411", "mono",
           "420p10", "422p12", "444p16", "mono9", "420p9", "444p14"]


def _read_all_y4m(data: bytes) -> tuple[list[YUVFrame], Exception | None]:
    frames: list[YUVFrame] = []
    try:
        reader = Y4MReader(io.BytesIO(data))
        for f in reader:
            frames.append(f)
    except Y4MError as exc:
        assert str(exc)
        return frames, exc
    return frames, None


@st.composite
def y4m_streams(draw: st.DrawFn) -> tuple[Y4MHeader, list[YUVFrame], bytes]:
    w = draw(st.integers(1, 19))
    h = draw(st.integers(1, 13))
    layout = draw(st.sampled_from(LAYOUTS))
    rate = Fraction(draw(st.integers(1, 120000)), draw(st.integers(1, 1001)))
    extra = draw(st.lists(st.sampled_from(["XCOLORRANGE=FULL", "XCOLORRANGE=LIMITED", "XLENGTH=3",
                                           "XYSCSS=420JPEG"]), max_size=2))
    header = Y4MHeader.make(w, h, rate, layout, *extra)
    shapes = header.layout.plane_shapes(w, h)
    peak = (1 << header.layout.depth) - 1
    n = draw(st.integers(0, 3))
    frames = []
    for _ in range(n):
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        planes = [rng.integers(0, peak + 1, s).astype(header.layout.dtype) for s in shapes]
        params = draw(st.sampled_from([b"", b"Ip", b"XFOO=1"]))
        frames.append(YUVFrame(planes, params))
    buf = io.BytesIO()
    writer = Y4MWriter(buf, header, flush=False)
    for f in frames:
        writer.write(f)
    return header, frames, buf.getvalue()


@FUZZ
@given(st.binary(max_size=600))
def test_y4m_reader_any_bytes(data: bytes) -> None:
    _read_all_y4m(data)  # only Y4MError may escape (anything else fails the test)


@FUZZ
@given(y4m_streams(), st.binary(max_size=40), st.integers(0, 10**6))
def test_y4m_round_trip_and_every_cut(stream: tuple, junk: bytes, cut_at: int) -> None:
    header, frames, data = stream
    got, exc = _read_all_y4m(data)
    assert exc is None
    assert len(got) == len(frames)
    for a, b in zip(got, frames):
        assert a.params == b.params
        assert all(np.array_equal(p, q) and p.dtype == q.dtype for p, q in zip(a.planes, b.planes))
    assert Y4MReader(io.BytesIO(data)).header.encode() == header.encode()
    # Cut anywhere: the frames before the cut come out whole, then a Y4MError (or a clean end when
    # the cut falls exactly between frames).
    cut = cut_at % (len(data) + 1)
    part, exc = _read_all_y4m(data[:cut])
    assert len(part) <= len(frames)
    for a, b in zip(part, frames):
        assert all(np.array_equal(p, q) for p, q in zip(a.planes, b.planes))
    whole = len(header.encode()) + sum(len(b"FRAME" + (b" " + f.params if f.params else b"") + b"\n")
                                       + header.frame_bytes for f in frames[: len(part)])
    assert (exc is None) == (cut == whole), (cut, whole, exc)
    # Junk after the last frame is an error, not a silent frame.
    if junk and not junk.startswith(b"F"):
        tail, exc = _read_all_y4m(data + junk)
        assert len(tail) == len(frames) and isinstance(exc, Y4MError)


@FUZZ
@given(y4m_streams(), st.integers(0, 10**6), st.integers(0, 255))
def test_y4m_flipped_byte_never_crashes(stream: tuple, where: int, value: int) -> None:
    _, _, data = stream
    if not data:
        return
    b = bytearray(data)
    b[where % len(b)] = value
    _read_all_y4m(bytes(b))


@FUZZ
@given(st.integers(1, 17), st.integers(1, 11), st.sampled_from(["rgb24", "bgr24", "yuv420p"]),
       st.integers(0, 3), st.binary(max_size=64), st.integers(0, 2**32 - 1))
def test_raw_reader_round_trip_and_truncation(w: int, h: int, pix_fmt: str, n: int, tail: bytes,
                                              seed: int) -> None:
    fmt = RawFormat(w, h, pix_fmt)
    rng = np.random.default_rng(seed)
    frames = [[rng.integers(0, 256, s).astype(np.uint8) for s in fmt.plane_shapes()] for _ in range(n)]
    buf = io.BytesIO()
    writer = RawWriter(buf, fmt, flush=False)
    for f in frames:
        writer.write(f)
    data = buf.getvalue()
    assert len(data) == n * fmt.frame_bytes
    got = list(RawReader(io.BytesIO(data), fmt))
    assert len(got) == n
    for a, b in zip(got, frames):
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
    # Extra bytes that are not a whole frame: the whole frames first, then RawVideoError.
    extra = tail[: max(0, min(len(tail), fmt.frame_bytes - 1))]
    reader = RawReader(io.BytesIO(data + extra), fmt)
    out = []
    if extra:
        with pytest.raises(RawVideoError, match="truncated raw frame"):
            for f in reader:
                out.append(f)
        assert len(out) == n
    else:
        assert len(list(reader)) == n


@FUZZ
@given(st.integers(1, 9), st.integers(1, 9), st.binary(max_size=400))
def test_raw_reader_any_bytes(w: int, h: int, data: bytes) -> None:
    fmt = RawFormat(w, h, "yuv420p")
    try:
        got = list(RawReader(io.BytesIO(data), fmt))
    except RawVideoError as exc:
        assert "truncated" in str(exc)
        assert len(data) % fmt.frame_bytes != 0
    else:
        assert len(got) == len(data) // fmt.frame_bytes and len(data) % fmt.frame_bytes == 0


# --------------------------------------------------------------------------------------------------
# The mask reader (folders of images)
# --------------------------------------------------------------------------------------------------


def _reference_hole(image: np.ndarray, lossy: bool) -> np.ndarray:
    """An independent statement of MaskSource's rule (its docstring): any channel nonzero (> 127 for
    lossy formats); with 4 channels the colour, or the alpha where the colour is all black."""
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3] if image[:, :, :3].any() else image[:, :, 3]
    hole = image > (127 if lossy else 0)
    return hole.any(axis=2) if hole.ndim == 3 else hole


@st.composite
def mask_images(draw: st.DrawFn) -> tuple[str, np.ndarray | bytes]:
    kind = draw(st.sampled_from(["grey", "bgr", "bgra", "grey16", "corrupt", "empty"]))
    if kind == "corrupt":
        return ".png", draw(st.binary(min_size=1, max_size=64))
    if kind == "empty":
        return ".png", b""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.floats(0, 1))
    if kind == "grey16":
        img = (rng.random((h, w)) < density) * rng.integers(1, 65536, (h, w))
        return ".png", img.astype(np.uint16)
    ch = {"grey": 1, "bgr": 3, "bgra": 4}[kind]
    img = ((rng.random((h, w, ch)) < density) * rng.integers(1, 256, (h, w, ch))).astype(np.uint8)
    if kind == "bgra" and draw(st.booleans()):
        img[:, :, :3] = 0  # a cut-out whose mask is in the alpha channel
    suffix = draw(st.sampled_from([".png", ".bmp", ".tif"])) if ch != 4 else ".png"
    return suffix, img[:, :, 0] if ch == 1 else img


@settings(max_examples=max(10, EXAMPLES // 4), deadline=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(mask_images(), min_size=1, max_size=4))
def test_mask_folder(tmp_path_factory: pytest.TempPathFactory, images: list) -> None:
    import cv2

    from lecinpaint.masks import MaskSource

    folder = tmp_path_factory.mktemp("masks")
    expected: list[np.ndarray | None] = []
    for i, (suffix, img) in enumerate(images):
        path = folder / f"m{i}{suffix}"
        if isinstance(img, bytes):
            path.write_bytes(img)
            decoded = cv2.imdecode(np.frombuffer(img, np.uint8), cv2.IMREAD_UNCHANGED) if img else None
        else:
            assert cv2.imwrite(str(path), img)
            decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        expected.append(None if decoded is None else _reference_hole(decoded, False))
    got: list[np.ndarray] = []
    try:
        for m in MaskSource(folder):
            got.append(m)
    except ValueError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg
        i = len(got)
        # It stopped at a file that cannot be read, or at one of another size than the first.
        assert expected[i] is None or expected[i].shape != expected[0].shape, msg
    for m, e in zip(got, expected):
        assert e is not None and m.dtype == bool and np.array_equal(m, e)
    if len(got) == len(expected):
        assert all(e is not None and e.shape == expected[0].shape for e in expected)
