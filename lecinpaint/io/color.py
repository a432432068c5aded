"""YUV <-> RGB conversion (one affine transform per pixel, in OpenCV) and YUV-space compositing, for
the y4m / raw front ends.

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

import cv2
import numpy as np

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


def _to_rgb_matrix(depth: int, matrix: str, full_range: bool) -> np.ndarray:
    """The 3x4 affine map from code values ``(Y, U, V, 1)`` to RGB in 0..255 (float, unrounded)."""
    y_off, y_scale, c_off, c_scale = _scales(depth, full_range)
    kr, kg, kb = _coeffs(matrix)
    a = 255.0 / y_scale
    vr = 255.0 * 2.0 * (1.0 - kr) / c_scale  # Cr into R
    ub = 255.0 * 2.0 * (1.0 - kb) / c_scale  # Cb into B
    ug, vg = -ub * kb / kg, -vr * kr / kg     # G = (Y - kr R - kb B) / kg
    rows = [(a, 0.0, vr), (a, ug, vg), (a, ub, 0.0)]
    return np.array([[ry, ru, rv, -ry * y_off - (ru + rv) * c_off] for ry, ru, rv in rows], np.float64)


def _to_yuv_matrix(depth: int, matrix: str, full_range: bool) -> np.ndarray:
    """The 3x4 affine map from ``(R, G, B, 1)`` (0..255) to code values ``(Y, U, V)`` (unrounded)."""
    y_off, y_scale, c_off, c_scale = _scales(depth, full_range)
    kr, kg, kb = _coeffs(matrix)
    luma = np.array([kr, kg, kb]) / 255.0
    cb = (np.array([0.0, 0.0, 1.0]) / 255.0 - luma) / (2.0 * (1.0 - kb))
    cr = (np.array([1.0, 0.0, 0.0]) / 255.0 - luma) / (2.0 * (1.0 - kr))
    return np.array([[*(luma * y_scale), y_off], [*(cb * c_scale), c_off], [*(cr * c_scale), c_off]])


def _quantise(x: np.ndarray, peak: int) -> np.ndarray:
    """Round half to even and clamp to ``0..peak``: uint8 for ``peak <= 255``, uint16 above."""
    np.rint(x, out=x)
    np.clip(x, 0, peak, out=x)
    return x.astype(np.uint8 if peak <= 255 else np.uint16)


def _upsample_chroma(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    """A chroma plane brought to ``(h, w)``: bilinear with centred samples on the padded grid, cropped,
    so that sample centres line up for odd sizes too."""
    ch, cw = plane.shape
    sy, sx = -(-h // ch), -(-w // cw)
    src = np.ascontiguousarray(plane, dtype=np.float32)
    if (sy, sx) == (1, 1):
        return src
    return cv2.resize(src, (cw * sx, ch * sy), interpolation=cv2.INTER_LINEAR)[:h, :w]


def yuv_to_rgb(planes: list[np.ndarray], *, depth: int, matrix: str, full_range: bool) -> np.ndarray:
    """Convert YUV planes to an ``(H, W, 3)`` uint8 RGB frame (see the module docstring).

    One affine transform per pixel (``cv2.transform``) from the code values, in float32."""
    y_off, y_scale, _, _ = _scales(depth, full_range)
    luma = np.ascontiguousarray(planes[0], dtype=np.float32)
    h, w = luma.shape
    if len(planes) == 1:
        grey = (luma - np.float32(y_off)) * np.float32(255.0 / y_scale)
        return np.repeat(_quantise(grey, 255)[:, :, None], 3, axis=2)
    ycc = cv2.merge([luma, _upsample_chroma(planes[1], h, w), _upsample_chroma(planes[2], h, w)])
    return _quantise(cv2.transform(ycc, _to_rgb_matrix(depth, matrix, full_range)), 255)


def rgb_to_yuv(
    rgb: np.ndarray, *, depth: int, matrix: str, full_range: bool, sub_x: int, sub_y: int
) -> list[np.ndarray]:
    """Convert an ``(H, W, 3)`` uint8 RGB frame to YUV planes (``sub_x == 0``: luma only).

    Chroma is averaged over each ``sub_y x sub_x`` block before rounding (edge blocks of odd sizes
    repeat the last row or column)."""
    peak = (1 << depth) - 1
    m = _to_yuv_matrix(depth, matrix, full_range)
    src = np.ascontiguousarray(rgb, dtype=np.float32)
    if sub_x == 0:
        return [_quantise(cv2.transform(src, m[:1]), peak)]
    yuv = cv2.transform(src, m)
    y, u, v = cv2.split(yuv)
    out = [_quantise(y, peak)]
    for c in (u, v):
        if sub_x > 1 or sub_y > 1:
            h, w = c.shape
            ph, pw = (-h) % sub_y, (-w) % sub_x
            if ph or pw:
                c = cv2.copyMakeBorder(c, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            # An integer-factor INTER_AREA resize is the block mean.
            c = cv2.resize(c, (c.shape[1] // sub_x, c.shape[0] // sub_y), interpolation=cv2.INTER_AREA)
        out.append(_quantise(c, peak))
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
