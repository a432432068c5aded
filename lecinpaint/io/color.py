"""YUV <-> RGB conversion (in torch) and YUV-space compositing, for the y4m / raw front ends.

Conventions:
    - RGB frames are ``(H, W, 3)`` uint8 numpy arrays (the engine's input and output).
    - YUV frames are lists of numpy planes ``[Y, U, V]`` (``[Y]`` for grey), uint8 for 8 bits and
      uint16 holding ``depth``-bit values above 8 bits. Chroma planes are ``ceil(H/sub_y) x ceil(W/sub_x)``.
    - Matrices: ``bt601`` (Kr 0.299, Kb 0.114), ``bt709`` (0.2126, 0.0722), ``bt2020`` (0.2627, 0.0593).
      y4m does not carry the matrix: :func:`default_matrix` picks BT.709 from 720 lines up and BT.601
      below, as players do.
    - Range: limited ("TV": luma 16..235, chroma 16..240, scaled by 2^(depth-8)) unless ``full_range``.
    - Chroma is upsampled bilinearly with centred samples and downsampled by box averaging; chroma
      siting variants (``420jpeg`` / ``420mpeg2`` / ``420paldv``) are all treated as centred.

:func:`composite_yuv` puts the inpainted result back into the original planes only where the hole mask
is set (a chroma sample is replaced when any luma pixel it covers is in the hole), so every pixel outside
the hole is bit-exact in every plane, whatever the conversion loses.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MATRICES", "default_matrix", "yuv_to_rgb", "rgb_to_yuv", "composite_yuv", "chroma_mask"]

MATRICES: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}


def default_matrix(height: int) -> str:
    """BT.709 for HD (>= 720 lines), BT.601 below: the usual guess when the stream does not say."""
    return "bt709" if height >= 720 else "bt601"


def _coeffs(matrix: str) -> tuple[float, float, float]:
    try:
        kr, kb = MATRICES[matrix]
    except KeyError:
        raise ValueError(f"unknown colour matrix {matrix!r}; choose one of {', '.join(MATRICES)}") from None
    return kr, 1.0 - kr - kb, kb


def _scales(depth: int, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma scale, chroma offset, chroma scale) in code values."""
    peak = float((1 << depth) - 1)
    half = float(1 << (depth - 1))
    if full_range:
        return 0.0, peak, half, peak
    s = float(1 << (depth - 8))
    return 16.0 * s, 219.0 * s, half, 224.0 * s


def _plane(p: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(p).astype(np.float32, copy=False))


def yuv_to_rgb(planes: list[np.ndarray], *, depth: int, matrix: str, full_range: bool) -> np.ndarray:
    """Convert YUV planes to an ``(H, W, 3)`` uint8 RGB frame (see the module docstring)."""
    y_off, y_scale, c_off, c_scale = _scales(depth, full_range)
    y = (_plane(planes[0]) - y_off) / y_scale
    h, w = y.shape
    if len(planes) == 1:
        rgb = y.unsqueeze(-1).expand(h, w, 3)
    else:
        kr, kg, kb = _coeffs(matrix)
        uv = torch.stack([_plane(planes[1]), _plane(planes[2])])
        if uv.shape[-2:] != (h, w):
            # The chroma grid covers ceil(h/sy) x ceil(w/sx) samples; interpolate on the padded grid
            # and crop, so that sample centres line up for odd sizes too.
            sy, sx = -(-h // uv.shape[1]), -(-w // uv.shape[2])
            uv = F.interpolate(uv[None], scale_factor=(sy, sx), mode="bilinear", align_corners=False)[0]
            uv = uv[:, :h, :w]
        cb, cr = (uv - c_off) / c_scale
        r = y + 2.0 * (1.0 - kr) * cr
        b = y + 2.0 * (1.0 - kb) * cb
        g = (y - kr * r - kb * b) / kg
        rgb = torch.stack([r, g, b], dim=-1)
    return (rgb * 255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def rgb_to_yuv(
    rgb: np.ndarray, *, depth: int, matrix: str, full_range: bool, sub_x: int, sub_y: int
) -> list[np.ndarray]:
    """Convert an ``(H, W, 3)`` uint8 RGB frame to YUV planes (``sub_x == 0``: luma only)."""
    y_off, y_scale, c_off, c_scale = _scales(depth, full_range)
    kr, kg, kb = _coeffs(matrix)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(torch.float32) / 255.0
    r, g, b = x.unbind(-1)
    y = kr * r + kg * g + kb * b
    peak = (1 << depth) - 1
    dtype = torch.uint8 if depth <= 8 else torch.int32
    np_dtype = np.uint8 if depth <= 8 else np.uint16

    def quant(t: torch.Tensor, off: float, scale: float) -> np.ndarray:
        return (t * scale + off).round_().clamp_(0, peak).to(dtype).numpy().astype(np_dtype, copy=False)

    out = [quant(y, y_off, y_scale)]
    if sub_x == 0:
        return out
    cb = (b - y) / (2.0 * (1.0 - kb))
    cr = (r - y) / (2.0 * (1.0 - kr))
    uv = torch.stack([cb, cr])
    if sub_x > 1 or sub_y > 1:
        h, w = y.shape
        ph, pw = (-h) % sub_y, (-w) % sub_x
        if ph or pw:
            uv = F.pad(uv[None], (0, pw, 0, ph), mode="replicate")[0]
        uv = F.avg_pool2d(uv[None], (sub_y, sub_x))[0]
    out += [quant(uv[0], c_off, c_scale), quant(uv[1], c_off, c_scale)]
    return out


def chroma_mask(mask: np.ndarray, sub_x: int, sub_y: int) -> np.ndarray:
    """The chroma-resolution hole: a sample is in the hole when any luma pixel it covers is."""
    if sub_x <= 1 and sub_y <= 1:
        return mask
    h, w = mask.shape
    ph, pw = (-h) % sub_y, (-w) % sub_x
    m = np.pad(mask, ((0, ph), (0, pw))) if ph or pw else mask
    return m.reshape(m.shape[0] // sub_y, sub_y, m.shape[1] // sub_x, sub_x).any(axis=(1, 3))


def composite_yuv(
    original: list[np.ndarray], filled: list[np.ndarray], mask: np.ndarray, *, sub_x: int, sub_y: int
) -> list[np.ndarray]:
    """``filled`` inside the hole ``mask`` (``(H, W)`` bool, True = hole), ``original`` elsewhere."""
    out = [np.where(mask, filled[0], original[0])]
    if len(original) > 1:
        cm = chroma_mask(mask, sub_x, sub_y)
        out += [np.where(cm, f, o) for f, o in zip(filled[1:], original[1:])]
    return out
