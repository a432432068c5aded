"""ffmpeg pixel formats: which one the command works in, and which one an encoder can write.

The ``lecinpaint`` command decodes a file to y4m in the source's own planar YUV format (so untouched
pixels stay bit-identical) and by default writes that same format back. Two things can stand in the way:

- the source format has no y4m layout (NV12, P010, RGB, alpha...): :func:`work_format` names the nearest
  planar format (NV12 -> yuv420p, P010 -> yuv420p10le keep every sample; RGB and palette formats are
  converted by ffmpeg, with ``exact`` False);
- the encoder cannot write it: libx264 cannot hold 12 bits, and no 4:2:0 encoder holds an odd width or
  height. :func:`output_format` then picks the closest format the encoder lists (never fewer bits when
  one with enough exists; finer chroma rather than a smaller picture) and says why.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass

__all__ = ["PixFmt", "parse_pix_fmt", "work_format", "encoder_pix_fmts", "output_format"]

_YUV_RE = re.compile(r"^(yuvj?)(420|422|444|411|440)p(?:(9|10|12|14|16)(le|be))?$")
_GRAY_RE = re.compile(r"^gray(?:(9|10|12|14|16)(le|be))?$")
_SUB = {"420": (2, 2), "422": (2, 1), "444": (1, 1), "411": (4, 1), "440": (1, 2)}
# Formats ffmpeg decodes to that have a planar twin holding exactly the same samples.
_TWINS = {
    "nv12": "yuv420p", "nv21": "yuv420p", "nv16": "yuv422p", "nv24": "yuv444p", "nv42": "yuv444p",
    "p010le": "yuv420p10le", "p010be": "yuv420p10le", "p016le": "yuv420p16le", "p016be": "yuv420p16le",
    "p210le": "yuv422p10le", "p410le": "yuv444p10le", "p012le": "yuv420p12le",
    "yuva420p": "yuv420p", "yuva422p": "yuv422p", "yuva444p": "yuv444p",
    "yuva420p10le": "yuv420p10le", "yuva422p10le": "yuv422p10le", "yuva444p10le": "yuv444p10le",
}
# Encoders that take odd sizes with subsampled chroma (the rest need dimensions divisible by it).
_ODD_SIZE_OK = {"ffv1", "rawvideo"}


@dataclass(frozen=True)
class PixFmt:
    """A planar YUV or grey pixel format: ffmpeg name, depth, chroma subsampling (0, 0 for grey), range."""

    name: str
    depth: int
    sub_x: int
    sub_y: int
    full_range: bool = False

    @property
    def grey(self) -> bool:
        """True for a luma-only format."""
        return self.sub_x == 0

    @property
    def y4m_layout(self) -> str:
        """The y4m ``C`` token ffmpeg writes for this format."""
        if self.grey:
            return "mono" if self.depth == 8 else f"mono{self.depth}"
        base = {(2, 2): "420", (2, 1): "422", (1, 1): "444", (4, 1): "411"}[(self.sub_x, self.sub_y)]
        if self.depth == 8:
            return "420jpeg" if base == "420" else base
        return f"{base}p{self.depth}"

    def fits(self, width: int, height: int) -> bool:
        """True when ``width`` x ``height`` is a whole number of chroma samples."""
        return self.grey or (width % self.sub_x == 0 and height % self.sub_y == 0)


def parse_pix_fmt(name: str) -> PixFmt | None:
    """The :class:`PixFmt` of an ffmpeg planar YUV / grey format name; None for any other format."""
    m = _YUV_RE.match(name)
    if m and m.group(2) != "440":
        sx, sy = _SUB[m.group(2)]
        return PixFmt(name, int(m.group(3) or 8), sx, sy, m.group(1) == "yuvj")
    m = _GRAY_RE.match(name)
    if m:
        return PixFmt(name, int(m.group(1) or 8), 0, 0)
    return None


def _le(fmt: PixFmt) -> PixFmt:
    """The little-endian spelling (y4m stores > 8 bits little-endian)."""
    if fmt.name.endswith("be"):
        return parse_pix_fmt(fmt.name[:-2] + "le")  # type: ignore[return-value]
    return fmt


def work_format(source: str | None) -> tuple[PixFmt, bool]:
    """The planar format to decode ``source`` (an ffmpeg pix_fmt name) to, and whether that is exact.

    Exact means every sample of the source is kept (planar twins, alpha dropped); otherwise ffmpeg
    converts (RGB, palette, unknown formats) to 4:4:4 of the source's depth (8 or 16 bits).
    """
    name = source or ""
    fmt = parse_pix_fmt(_TWINS.get(name, name))
    if fmt is not None:
        if fmt.depth > 8 or fmt.grey or (fmt.sub_x, fmt.sub_y) in ((2, 2), (2, 1), (1, 1), (4, 1)):
            return _le(fmt), True
    deep = re.search(r"(9|10|12|14|16)", name)
    if deep:
        depth = {"9": 10, "14": 16}.get(deep.group(1), int(deep.group(1)))
        return parse_pix_fmt(f"yuv444p{depth}le"), False  # type: ignore[return-value]
    return parse_pix_fmt("yuv444p"), False  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def encoder_pix_fmts(ffmpeg: str, codec: str) -> tuple[str, ...] | None:
    """The pixel formats ``ffmpeg -h encoder=codec`` lists; None when it lists none (or is unknown)."""
    try:
        res = subprocess.run([ffmpeg, "-hide_banner", "-h", f"encoder={codec}"], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in res.stdout.splitlines():
        if "Supported pixel formats:" in line:
            return tuple(line.split(":", 1)[1].split())
    return None


def output_format(
    codec: str, want: PixFmt, width: int, height: int, supported: tuple[str, ...] | None
) -> tuple[str, str | None]:
    """The pixel format to encode with, and a note when it is not ``want`` (None when it is).

    ``supported`` is the encoder's list (:func:`encoder_pix_fmts`); None means "anything".
    """
    odd_ok = codec in _ODD_SIZE_OK
    if (supported is None or want.name in supported) and (odd_ok or want.fits(width, height)):
        return want.name, None
    cands = [f for f in (parse_pix_fmt(n) for n in supported or ()) if f is not None]
    cands = [f for f in cands if f.grey == want.grey and (odd_ok or f.fits(width, height))
             and not f.name.endswith("be")]
    if not cands:
        return want.name, None  # nothing better: let the encoder say what it thinks

    def chroma(f: PixFmt) -> int:
        return f.sub_x * f.sub_y

    def cost(f: PixFmt) -> tuple[int, int, int, int, int]:
        fewer_bits = int(f.depth < want.depth)
        coarser = int(chroma(f) > chroma(want))
        return (fewer_bits, coarser, abs(f.depth - want.depth), abs(chroma(f) - chroma(want)),
                int(f.full_range != want.full_range))

    best = min(cands, key=cost)
    if supported is not None and want.name not in supported:
        why = f"{codec} cannot write {want.name}"
    else:
        why = f"{codec} cannot write {width}x{height} with {want.name}'s subsampled chroma (odd size)"
    lost = " (fewer bits: choose another --codec, e.g. libx265 or ffv1, to keep them)" \
        if best.depth < want.depth else ""
    return best.name, f"{why}; writing {best.name} instead{lost}"
