"""The last holes: what propagation could not explain.

Two steps, in order:

1. :class:`BackgroundMemory`: per pixel, the last value seen there while it was background (not in the
   hole), with the frame index. Constant memory (one frame and one index map), a few milliseconds per
   frame. It is used only while the scene has not changed under it: the engine resets it when the
   camera moves (a pixel-aligned memory is wrong after a pan). Flow propagation already carries the
   background along chains of frames; the memory is the safety net where a chain broke (an
   inconsistent flow for a frame, the last image row and column that nearest sampling never reads).
2. :class:`Inpainter`: image inpainting (OpenCV Telea by default, or Navier-Stokes) of what is left,
   on a crop around the hole and at a reduced resolution, since a smooth fill is all it can give anyway.

Conventions: frames ``(H, W, 3)`` uint8 (torch on the engine's device, numpy for the inpainter), holes
``(H, W)`` bool with True = hole, flat pixel index ``y * W + x``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from lecinpaint.propagation import UNKNOWN

__all__ = ["INPAINT_METHODS", "BackgroundMemory", "Inpainter"]

INPAINT_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


class BackgroundMemory:
    """Per-pixel last-seen background value and the index of the frame it was seen in.

    Example:
        >>> mem = BackgroundMemory()
        >>> f = torch.full((2, 2, 3), 7, dtype=torch.uint8); hole = torch.zeros(2, 2, dtype=torch.bool)
        >>> mem.update(f, hole, 0)
        >>> val, src = mem.lookup(torch.tensor([3]))
        >>> val.tolist(), src.tolist()
        ([[7, 7, 7]], [0])
    """

    def __init__(self) -> None:
        self._val: Tensor | None = None  # (HW, 3) uint8
        self._time: Tensor | None = None  # (HW,) int32, UNKNOWN where never seen

    def reset(self) -> None:
        """Forget everything (the camera moved, or the scene cut)."""
        if self._time is not None:
            self._time.fill_(UNKNOWN)

    def update(self, frame: Tensor, hole: Tensor, t: int, hole_idx: Tensor | None = None) -> None:
        """Remember the background pixels (``~hole``) of frame ``t``.

        ``hole_idx`` (the flat indices of the hole pixels, ascending) may be given to save a search.
        """
        h, w = hole.shape
        flat = frame.reshape(h * w, 3)
        if self._val is None or self._time is None or self._val.shape[0] != h * w:
            self._val = flat.clone()
            self._time = torch.full((h * w,), UNKNOWN, dtype=torch.int32, device=frame.device)
            self._time.masked_fill_(~hole.reshape(-1), t)
            return
        if hole_idx is None:
            hole_idx = torch.nonzero(hole.reshape(-1)).squeeze(1)
        # Copy the whole frame (a memcpy) and put back what the hole hides: cheaper than a masked select.
        kept_val = self._val[hole_idx]
        kept_time = self._time[hole_idx]
        self._val.copy_(flat)
        self._time.fill_(t)
        self._val[hole_idx] = kept_val
        self._time[hole_idx] = kept_time

    def lookup(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Values ``(M, 3)`` uint8 and frame indices ``(M,)`` int32 (``UNKNOWN``: never seen) at ``idx``."""
        if self._val is None or self._time is None:
            return (
                torch.zeros((idx.numel(), 3), dtype=torch.uint8, device=idx.device),
                torch.full((idx.numel(),), UNKNOWN, dtype=torch.int32, device=idx.device),
            )
        return self._val[idx], self._time[idx]


class Inpainter:
    """Image inpainting of the remaining holes, on a crop and at reduced resolution.

    Args:
        method: ``"telea"`` (default) or ``"ns"`` (OpenCV's two methods).
        radius: the inpainting neighbourhood radius, in pixels of the reduced image.
        scale: resolution of the inpainting as a fraction of the frame's, in (0, 1].

    ``__call__(frame, hole)``: ``frame`` (H, W, 3) uint8 numpy, ``hole`` (H, W) bool numpy; returns a new
    frame equal to ``frame`` outside the hole and inpainted inside.
    """

    def __init__(self, method: str = "telea", radius: int = 3, scale: float = 0.5) -> None:
        if method not in INPAINT_METHODS:
            raise ValueError(f"inpaint method must be one of {', '.join(INPAINT_METHODS)}; got {method!r}")
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"inpaint scale must be in (0, 1], got {scale!r}")
        self.method = method
        self.radius = int(radius)
        self.scale = float(scale)

    def __call__(self, frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
        out = frame.copy()
        rows = np.flatnonzero(hole.any(axis=1))
        if rows.size == 0:
            return out
        cols = np.flatnonzero(hole.any(axis=0))
        h, w = hole.shape
        if hole.all():
            return out  # nothing to inpaint from: leave the input
        margin = int(np.ceil((self.radius + 2) / self.scale)) + 2
        y0, y1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, h)
        x0, x1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, w)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        hcrop = hole[y0:y1, x0:x1].astype(np.uint8)
        ch, cw = hcrop.shape
        sh, sw = max(1, int(round(ch * self.scale))), max(1, int(round(cw * self.scale)))
        if (sh, sw) != (ch, cw):
            small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
            # Any hole pixel in a block makes the block a hole: no hole colour leaks into the fill.
            hsmall = (cv2.resize(hcrop * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
            if hsmall.all():
                hsmall = (cv2.resize(hcrop * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 127).astype(
                    np.uint8
                )
            filled = cv2.inpaint(small, hsmall, self.radius, INPAINT_METHODS[self.method])
            filled = cv2.resize(filled, (cw, ch), interpolation=cv2.INTER_LINEAR)
        else:
            filled = cv2.inpaint(crop, hcrop, self.radius, INPAINT_METHODS[self.method])
        sel = hcrop.astype(bool)
        out[y0:y1, x0:x1][sel] = filled[sel]
        return out
