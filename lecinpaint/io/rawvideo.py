"""Headerless raw video streams (ffmpeg's ``-f rawvideo``): rgb24, bgr24 and yuv420p.

Raw video carries no header, so the size, pixel format and rate come from the user
(``--size WxH --pix-fmt rgb24 --rate 25``). A frame is exactly ``frame_bytes`` bytes:

    rgb24 / bgr24   H x W x 3 interleaved bytes
    yuv420p         Y (H x W), then U and V (ceil(H/2) x ceil(W/2)), 8 bit

A stream whose length is not a whole number of frames ends in a truncated frame; the error says so and
names the size and format, the usual cause being a wrong ``--size`` or ``--pix-fmt``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np

__all__ = ["RawFormat", "RawVideoError", "RawReader", "RawWriter", "parse_size", "parse_rate", "PIX_FMTS"]

PIX_FMTS = ("rgb24", "bgr24", "yuv420p")


class RawVideoError(ValueError):
    """A raw stream or its description (size, pixel format, rate) is invalid."""


def parse_size(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)``.

    Raises:
        RawVideoError: not ``WxH`` with positive integers.
    """
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise RawVideoError(f"bad size {text!r}: expected WxH, e.g. 1280x720")
    return int(m.group(1)), int(m.group(2))


def parse_rate(text: str) -> Fraction:
    """``"25"``, ``"30000/1001"``, ``"30000:1001"`` or ``"29.97"`` -> a positive Fraction.

    Raises:
        RawVideoError: not a positive number or ratio.
    """
    try:
        rate = Fraction(text.strip().replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        raise RawVideoError(
            f"bad frame rate {text!r}: expected N, N/D or a decimal, e.g. 30000/1001"
        ) from None
    if rate <= 0:
        raise RawVideoError(f"bad frame rate {text!r}: it must be positive")
    return rate.limit_denominator(1_000_000)


@dataclass(frozen=True)
class RawFormat:
    """Geometry of a raw stream."""

    width: int
    height: int
    pix_fmt: str

    def __post_init__(self) -> None:
        if self.pix_fmt not in PIX_FMTS:
            raise RawVideoError(
                f"unsupported pixel format {self.pix_fmt!r}; choose one of {', '.join(PIX_FMTS)}"
            )
        if self.width <= 0 or self.height <= 0:
            raise RawVideoError(f"bad size {self.width}x{self.height}")

    @property
    def planar(self) -> bool:
        """True for yuv420p (a list of planes), False for packed RGB/BGR."""
        return self.pix_fmt == "yuv420p"

    def plane_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the arrays of one frame."""
        if self.planar:
            ch, cw = -(-self.height // 2), -(-self.width // 2)
            return [(self.height, self.width), (ch, cw), (ch, cw)]
        return [(self.height, self.width, 3)]

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame."""
        return sum(int(np.prod(s)) for s in self.plane_shapes())


class RawReader:
    """Reads fixed-size raw frames. Iterating yields, per frame, a list of arrays: ``[rgb_or_bgr]``
    (``(H, W, 3)`` uint8) or ``[Y, U, V]`` for yuv420p.

    Raises (while iterating):
        RawVideoError: the stream ends inside a frame.
    """

    def __init__(self, stream: BinaryIO, fmt: RawFormat) -> None:
        self._stream = stream
        self.format = fmt
        self.frames_read = 0

    def read(self) -> list[np.ndarray] | None:
        """The next frame's arrays, or None at the end of the stream."""
        n = self.format.frame_bytes
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self._stream.readinto(view[got:])
            if not k:
                if got == 0:
                    return None
                f = self.format
                raise RawVideoError(
                    f"truncated raw frame {self.frames_read}: the input ended after {got} of {n} bytes "
                    f"(a {f.width}x{f.height} {f.pix_fmt} frame); check --size and --pix-fmt"
                )
            got += k
        out: list[np.ndarray] = []
        off = 0
        for shape in self.format.plane_shapes():
            size = int(np.prod(shape))
            out.append(np.frombuffer(buf, np.uint8, size, off).reshape(shape))
            off += size
        self.frames_read += 1
        return out

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        while (frame := self.read()) is not None:
            yield frame


class RawWriter:
    """Writes raw frames of a given :class:`RawFormat` (flushing after each frame by default)."""

    def __init__(self, stream: BinaryIO, fmt: RawFormat, *, flush: bool = True) -> None:
        self._stream = stream
        self.format = fmt
        self._flush = flush
        self.frames_written = 0

    def write(self, arrays: list[np.ndarray]) -> None:
        """Write one frame given as the arrays :class:`RawReader` yields.

        Raises:
            ValueError: the arrays do not match the format.
        """
        shapes = self.format.plane_shapes()
        if len(arrays) != len(shapes) or any(a.shape != s for a, s in zip(arrays, shapes)):
            got = [a.shape for a in arrays]
            raise ValueError(f"raw writer: arrays of shapes {got}, expected {shapes}")
        self._stream.write(b"".join(np.ascontiguousarray(a, dtype=np.uint8).data for a in arrays))
        if self._flush:
            self._stream.flush()
        self.frames_written += 1
