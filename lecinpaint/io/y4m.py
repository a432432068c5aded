"""YUV4MPEG2 (y4m) stream reading and writing, with numpy planes.

The format, as ffmpeg and vspipe write it::

    YUV4MPEG2 W<w> H<h> F<num>:<den> I<p|t|b|m> A<n>:<d> C<layout> [X<extension>...]\\n
    FRAME[ <params>]\\n  <Y plane><U plane><V plane>     (no padding; >8 bit: 16-bit little-endian)
    FRAME\\n ...

Chroma planes are ``ceil(H / sub_y) x ceil(W / sub_x)`` (ffmpeg's rounding for odd sizes). The header
tokens this module does not interpret (``I``, ``A``, ``X...`` such as ``XCOLORRANGE=FULL``, vspipe's
``XLENGTH=``) are kept in order, and :meth:`Y4MHeader.encode` writes them back, so a filter that reads
and writes y4m passes them through unchanged.

Example::

    reader = Y4MReader(sys.stdin.buffer)
    writer = Y4MWriter(sys.stdout.buffer, reader.header)
    for frame in reader:
        writer.write(frame)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import BinaryIO

import numpy as np

__all__ = [
    "MAGIC",
    "Y4MError",
    "ChromaLayout",
    "Y4MHeader",
    "YUVFrame",
    "Y4MReader",
    "Y4MWriter",
    "parse_layout",
    "SUPPORTED_LAYOUTS",
]

MAGIC = b"YUV4MPEG2"
_MAX_HEADER = 4096  # a real header is < 200 bytes; a longer "line" means this is not y4m
_MAX_DIM = 1 << 15

SUPPORTED_LAYOUTS = (
    "420jpeg, 420mpeg2, 420paldv, 420, 422, 444, 411, mono, "
    "and 420p<d>, 422p<d>, 444p<d>, mono<d> for d = 9, 10, 12, 14, 16 bits"
)


class Y4MError(ValueError):
    """The bytes are not a y4m stream this module can read (the message says what is wrong)."""


@dataclass(frozen=True)
class ChromaLayout:
    """A y4m ``C`` layout: chroma subsampling and bit depth.

    Attributes:
        token: the layout as written in the header, e.g. ``"420jpeg"``, ``"420p10"``, ``"mono"``.
        sub_x, sub_y: horizontal and vertical chroma subsampling factors (1, 2 or 4); 0 for mono.
        depth: bits per sample (8..16); samples above 8 bits are stored as little-endian uint16.
    """

    token: str
    sub_x: int
    sub_y: int
    depth: int

    @property
    def mono(self) -> bool:
        """True for a luma-only (grey) layout."""
        return self.sub_x == 0

    @property
    def dtype(self) -> np.dtype:
        """numpy dtype of one sample (``uint8`` or little-endian ``uint16``)."""
        return np.dtype(np.uint8) if self.depth <= 8 else np.dtype("<u2")

    def plane_shapes(self, width: int, height: int) -> list[tuple[int, int]]:
        """(rows, cols) of each plane, Y first."""
        if self.mono:
            return [(height, width)]
        ch = -(-height // self.sub_y)
        cw = -(-width // self.sub_x)
        return [(height, width), (ch, cw), (ch, cw)]

    def frame_bytes(self, width: int, height: int) -> int:
        """Size of one frame's planes in bytes (without the ``FRAME`` line)."""
        return sum(r * c for r, c in self.plane_shapes(width, height)) * self.dtype.itemsize


_LAYOUT_RE = re.compile(r"^(420|422|444|411)(jpeg|mpeg2|paldv)?(?:p(9|10|12|14|16))?$")
_MONO_RE = re.compile(r"^mono(9|10|12|14|16)?$")


def parse_layout(token: str) -> ChromaLayout:
    """The :class:`ChromaLayout` of a ``C`` token (without the ``C``).

    Raises:
        Y4MError: a layout this module does not support (e.g. ``444alpha``).
    """
    m = _LAYOUT_RE.match(token)
    if m and not (m.group(2) and m.group(3)):
        sub = {"420": (2, 2), "422": (2, 1), "444": (1, 1), "411": (4, 1)}[m.group(1)]
        if m.group(2) and m.group(1) != "420":
            raise Y4MError(f"unsupported y4m colour layout C{token}; supported: {SUPPORTED_LAYOUTS}")
        return ChromaLayout(token, sub[0], sub[1], int(m.group(3) or 8))
    m = _MONO_RE.match(token)
    if m:
        return ChromaLayout(token, 0, 0, int(m.group(1) or 8))
    raise Y4MError(f"unsupported y4m colour layout C{token}; supported: {SUPPORTED_LAYOUTS}")


@dataclass(frozen=True)
class Y4MHeader:
    """A parsed y4m stream header.

    Attributes:
        width, height: frame size in pixels.
        rate: frame rate (``F`` token).
        layout: the colour layout (``C`` token; ``420jpeg`` when absent, as the format specifies).
        tokens: every header token after the magic, in order, as read (used to write the header back
            with the fields this module does not interpret unchanged).
    """

    width: int
    height: int
    rate: Fraction
    layout: ChromaLayout
    tokens: tuple[str, ...] = field(default=())

    @property
    def interlace(self) -> str:
        """The ``I`` field (``p``, ``t``, ``b``, ``m`` or ``?``), ``"p"`` when absent."""
        for t in self.tokens:
            if t.startswith("I"):
                return t[1:]
        return "p"

    @property
    def extensions(self) -> dict[str, str]:
        """``X`` tokens as a dict, e.g. ``{"XCOLORRANGE": "FULL"}`` (tokens without ``=`` map to ``""``)."""
        out: dict[str, str] = {}
        for t in self.tokens:
            if t.startswith("X"):
                k, _, v = t.partition("=")
                out[k] = v
        return out

    @property
    def full_range(self) -> bool | None:
        """True/False from ``XCOLORRANGE=FULL|LIMITED``; None when the stream does not say."""
        v = self.extensions.get("XCOLORRANGE", "").upper()
        return {"FULL": True, "LIMITED": False}.get(v)

    @property
    def frame_bytes(self) -> int:
        """Bytes of plane data per frame."""
        return self.layout.frame_bytes(self.width, self.height)

    def with_rate(self, rate: Fraction) -> Y4MHeader:
        """A copy with another frame rate (the ``F`` token replaced in place)."""
        if not self.tokens:
            # A header built from its fields writes them all, F included, from the fields themselves.
            return replace(self, rate=rate)
        f = f"F{rate.numerator}:{rate.denominator}"
        tokens = tuple(f if t.startswith("F") else t for t in self.tokens)
        if not any(t.startswith("F") for t in tokens):
            tokens = tokens + (f,)
        return replace(self, rate=rate, tokens=tokens)

    def encode(self) -> bytes:
        """The header line, ``b"YUV4MPEG2 ...\\n"``."""
        tokens = self.tokens or (
            f"W{self.width}",
            f"H{self.height}",
            f"F{self.rate.numerator}:{self.rate.denominator}",
            "Ip",
            f"C{self.layout.token}",
        )
        return b" ".join([MAGIC] + [t.encode("ascii") for t in tokens]) + b"\n"

    @classmethod
    def make(cls, width: int, height: int, rate: Fraction, layout: str = "420jpeg", *extra: str) -> Y4MHeader:
        """A header for a new stream (``extra`` tokens, e.g. ``"XCOLORRANGE=FULL"``, appended)."""
        lay = parse_layout(layout)
        rate = Fraction(rate)
        tokens = (f"W{width}", f"H{height}", f"F{rate.numerator}:{rate.denominator}", "Ip", "A0:0",
                  f"C{layout}")
        return cls(width, height, Fraction(rate), lay, tokens + tuple(extra))

    @classmethod
    def parse(cls, line: bytes) -> Y4MHeader:
        """Parse a header line (with or without the trailing newline).

        Raises:
            Y4MError: not a y4m header, or a missing/invalid ``W``, ``H``, ``F`` or ``C`` field.
        """
        line = line.rstrip(b"\n")
        if not line.startswith(MAGIC + b" ") and line != MAGIC:
            raise Y4MError("input is not a y4m stream (it does not start with 'YUV4MPEG2')")
        try:
            text = line[len(MAGIC) :].decode("ascii")
        except UnicodeDecodeError:
            raise Y4MError("malformed y4m header: it contains non-ASCII bytes") from None
        tokens = tuple(text.split())
        width = height = None
        rate = None
        layout = parse_layout("420jpeg")
        for t in tokens:
            key, val = t[0], t[1:]
            if key in "WH":
                if not val.isdigit() or not 0 < int(val) <= _MAX_DIM:
                    raise Y4MError(f"malformed y4m header: bad {'width' if key == 'W' else 'height'} {t!r}")
                if key == "W":
                    width = int(val)
                else:
                    height = int(val)
            elif key == "F":
                num, sep, den = val.partition(":")
                if not (sep and num.isdigit() and den.isdigit()) or int(num) == 0 or int(den) == 0:
                    raise Y4MError(f"malformed y4m header: bad frame rate {t!r} (expected F<num>:<den>)")
                rate = Fraction(int(num), int(den))
            elif key == "C":
                layout = parse_layout(val)
            elif key not in "IAX":
                raise Y4MError(f"malformed y4m header: unknown field {t!r}")
        if width is None or height is None:
            raise Y4MError("malformed y4m header: the width (W) or height (H) is missing")
        if rate is None:
            raise Y4MError("malformed y4m header: the frame rate (F) is missing")
        return cls(width, height, rate, layout, tokens)


@dataclass
class YUVFrame:
    """One frame's planes (Y, U, V; Y only for mono), each ``(rows, cols)`` uint8 or uint16.

    ``params`` holds the bytes after ``FRAME`` on the frame's header line (usually empty); a writer
    writes them back.
    """

    planes: list[np.ndarray]
    params: bytes = b""


class Y4MReader:
    """Reads a y4m stream frame by frame (``readinto`` into fresh buffers, no per-byte work).

    The header is read in the constructor. Iterating yields :class:`YUVFrame` objects until the end of
    the stream. A stream that ends inside a frame, or has something else where a ``FRAME`` line should
    be, raises :class:`Y4MError` (the frames before it have already been yielded).
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.header = Y4MHeader.parse(self._read_line(first=True))
        self.frames_read = 0
        self._shapes = self.header.layout.plane_shapes(self.header.width, self.header.height)
        self._dtype = self.header.layout.dtype

    def _read_line(self, first: bool = False) -> bytes:
        buf = bytearray()
        while len(buf) <= _MAX_HEADER:
            c = self._stream.read(1)
            if not c:
                if first and not buf:
                    raise Y4MError("no input: the y4m stream is empty (missing header)")
                what = "header" if first else "frame header"
                raise Y4MError(f"truncated y4m {what}: the input ended in the middle of it")
            if c == b"\n":
                return bytes(buf)
            buf += c
            if first and len(buf) == len(MAGIC) and bytes(buf) != MAGIC:
                raise Y4MError("input is not a y4m stream (it does not start with 'YUV4MPEG2')")
        raise Y4MError("malformed y4m stream: header line too long")

    def _read_exact(self, n: int) -> bytearray | None:
        """n bytes; None at a clean end of stream (nothing read); Y4MError on a partial read."""
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self._stream.readinto(view[got:])
            if not k:
                if got == 0:
                    return None
                raise Y4MError(
                    f"truncated y4m frame {self.frames_read}: the input ended after {got} of {n} bytes"
                )
            got += k
        return buf

    def read(self) -> YUVFrame | None:
        """The next frame, or None at the end of the stream."""
        tag = self._read_exact(5)
        if tag is None:
            return None
        if bytes(tag) != b"FRAME":
            raise Y4MError(
                f"malformed y4m stream: expected 'FRAME' before frame {self.frames_read}, got {bytes(tag)!r}"
                " (wrong frame size in the header, or not a y4m stream)"
            )
        params = self._read_line()
        if params and not params.startswith(b" "):
            raise Y4MError(
                f"malformed y4m frame header before frame {self.frames_read}: {b'FRAME' + params!r}"
            )
        data = self._read_exact(self.header.frame_bytes)
        if data is None:
            raise Y4MError(f"truncated y4m frame {self.frames_read}: the input ended after its FRAME line")
        planes: list[np.ndarray] = []
        off = 0
        for rows, cols in self._shapes:
            n = rows * cols
            planes.append(np.frombuffer(data, self._dtype, n, off).reshape(rows, cols))
            off += n * self._dtype.itemsize
        self.frames_read += 1
        return YUVFrame(planes, params.strip())

    def __iter__(self) -> Iterator[YUVFrame]:
        while (frame := self.read()) is not None:
            yield frame


class Y4MWriter:
    """Writes a y4m stream: the header at construction, then one ``FRAME`` + planes per :meth:`write`.

    ``flush=True`` flushes after every frame, so a consumer downstream gets each frame as soon as it is
    finished (what a pipe filter wants).
    """

    def __init__(self, stream: BinaryIO, header: Y4MHeader, *, flush: bool = True) -> None:
        self._stream = stream
        self.header = header
        self._flush = flush
        self._shapes = header.layout.plane_shapes(header.width, header.height)
        self._dtype = header.layout.dtype
        self.frames_written = 0
        stream.write(header.encode())
        if flush:
            stream.flush()

    def write(self, frame: YUVFrame | list[np.ndarray]) -> None:
        """Write one frame (a :class:`YUVFrame` or a list of planes).

        Raises:
            ValueError: the planes do not match the header's layout.
        """
        planes, params = (frame.planes, frame.params) if isinstance(frame, YUVFrame) else (frame, b"")
        if len(planes) != len(self._shapes):
            raise ValueError(f"y4m writer: expected {len(self._shapes)} planes, got {len(planes)}")
        chunks = [b"FRAME " + params + b"\n" if params else b"FRAME\n"]
        for p, shape in zip(planes, self._shapes):
            if p.shape != shape:
                raise ValueError(f"y4m writer: plane of shape {p.shape}, expected {shape}")
            chunks.append(np.ascontiguousarray(p, dtype=self._dtype).data)
        self._stream.write(b"".join(chunks))
        if self._flush:
            self._stream.flush()
        self.frames_written += 1
