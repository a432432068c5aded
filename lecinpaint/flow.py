"""Optical flow between consecutive frames, forward and backward, behind one small interface.

Convention (DESIGN.md §2): a flow from frame a to frame b is ``float32`` ``(2, h, w)`` on a's grid, in
pixels, channel 0 = dx: ``a(p) ~ b(p + f_ab(p))``.

Estimators (``make_flow(name)``):

``"dis"`` (default, built-in tier)
    OpenCV's DIS optical flow on grey frames, computed at a reduced working resolution (``scale``) and
    returned there; the engine completes the flow in the hole at that resolution and up-samples only
    the part it needs (:func:`upsample_flow`). A lecture's background moves little and smoothly, so a
    half- or quarter-resolution flow loses nothing measurable while costing 4-16x less.

``"flownet2"`` (seed tier)
    The FlowNet2 of :mod:`lecinpaint.models.flownet2`, loading NVIDIA's checkpoint from the path given
    (or ``$LECINPAINT_WEIGHTS``, or torch's hub cache); a missing file is a clear error.

Each estimator has ``prepare(frame)`` (per-frame work, done once per frame even though every frame
belongs to two pairs) and ``pair(prep_a, prep_b) -> (2, 2, h, w)`` tensor: ``[0]`` = flow a->b on a's
grid, ``[1]`` = flow b->a on b's grid, at the working size ``working_size(H, W)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DIS_PRESETS",
    "DISFlow",
    "FLOWS",
    "FlowEstimator",
    "FlowNet2Flow",
    "make_flow",
    "upsample_flow",
]

FLOWS = ("dis", "flownet2")
_DIS_MIN = 32  # smallest side given to OpenCV's DIS (see DISFlow.pair)
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _working_size(h: int, w: int, scale: float) -> tuple[int, int]:
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


class FlowEstimator(ABC):
    """Forward and backward flow of a pair of frames (see the module docstring for the convention)."""

    name: str
    scale: float  # working size / frame size
    device: torch.device

    def working_size(self, h: int, w: int) -> tuple[int, int]:
        """The ``(h, w)`` on which :meth:`pair` returns its flows for ``h x w`` frames."""
        return _working_size(h, w, self.scale)

    @abstractmethod
    def prepare(self, frame: np.ndarray) -> Any:
        """Per-frame preprocessing of an ``(H, W, 3)`` uint8 RGB frame (cached by the caller)."""

    @abstractmethod
    def pair(self, a: Any, b: Any) -> Tensor:
        """``(2, 2, h, w)`` float32 on ``self.device``: ``[0]`` = flow a->b, ``[1]`` = flow b->a."""


class DISFlow(FlowEstimator):
    """OpenCV DIS flow on grey frames at ``scale`` times the frame size.

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (OpenCV's DIS presets).
        scale: working resolution as a fraction of the frame size, in (0, 1].
        device: where :meth:`pair` puts its flows (DIS itself runs on the CPU).

    Example:
        >>> est = DISFlow("fast", 0.5)
        >>> a = np.zeros((64, 96, 3), np.uint8); b = a.copy()
        >>> est.pair(est.prepare(a), est.prepare(b)).shape
        torch.Size([2, 2, 32, 48])
    """

    name = "dis"

    def __init__(
        self, preset: str = "ultrafast", scale: float = 0.5, device: str | torch.device = "cpu"
    ) -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {', '.join(DIS_PRESETS)}; got {preset!r}")
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"flow scale must be in (0, 1], got {scale!r}")
        self.preset = preset
        self.scale = float(scale)
        self.device = torch.device(device)
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        hh, ww = self.working_size(h, w)
        if (hh, ww) != (h, w):
            grey = cv2.resize(grey, (ww, hh), interpolation=cv2.INTER_AREA)
        return grey

    def pair(self, a: np.ndarray, b: np.ndarray) -> Tensor:
        h, w = a.shape
        # OpenCV's DIS refuses images under ~12 px and crashes (segfault) on thin ones, e.g. 31x300:
        # its pyramid depth follows the longer side. Pad (replicated border) and crop the flow back.
        need = max(_DIS_MIN, max(h, w) // 4)
        if h < need or w < need:
            pad = (0, max(0, need - h), 0, max(0, need - w))
            a = cv2.copyMakeBorder(a, *pad, cv2.BORDER_REPLICATE)
            b = cv2.copyMakeBorder(b, *pad, cv2.BORDER_REPLICATE)
        fab = self._dis.calc(a, b, None)[:h, :w]
        fba = self._dis.calc(b, a, None)[:h, :w]
        flows = np.stack((fab, fba)).transpose(0, 3, 1, 2)  # (2, h, w, 2) -> (2, 2, h, w)
        return torch.from_numpy(np.ascontiguousarray(flows)).to(self.device)


class FlowNet2Flow(FlowEstimator):
    """FlowNet2 (seed tier): NVIDIA's checkpoint through :func:`lecinpaint.models.flownet2.load_flownet2`.

    Args:
        weights: the checkpoint file or a folder holding ``FlowNet2_checkpoint.pth.tar`` (None: look in
            ``$LECINPAINT_WEIGHTS`` and torch's hub cache). Missing -> ``FileNotFoundError`` naming it.
        scale: working resolution as a fraction of the frame size (FlowNet2 itself resizes to multiples
            of 64 and back).
        device: the torch device the network runs on.
    """

    name = "flownet2"

    def __init__(
        self, weights: str | None = None, scale: float = 1.0, device: str | torch.device = "cpu"
    ) -> None:
        from lecinpaint.models.flownet2 import load_flownet2

        if not 0.0 < scale <= 1.0:
            raise ValueError(f"flow scale must be in (0, 1], got {scale!r}")
        self.scale = float(scale)
        self.device = torch.device(device)
        self.model = load_flownet2(weights, self.device).eval()

    def prepare(self, frame: np.ndarray) -> Tensor:
        img = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1)[None].float()
        h, w = img.shape[-2:]
        hh, ww = self.working_size(h, w)
        if (hh, ww) != (h, w):
            img = F.interpolate(img, size=(hh, ww), mode="area")
        return img

    @torch.no_grad()
    def pair(self, a: Tensor, b: Tensor) -> Tensor:
        # One batch of two: a->b and b->a.
        return self.model.estimate(torch.cat((a, b)), torch.cat((b, a))).float()


def make_flow(
    name: str = "dis",
    *,
    device: str | torch.device = "cpu",
    weights: str | None = None,
    scale: float | None = None,
    preset: str = "ultrafast",
) -> FlowEstimator:
    """Create a flow estimator by name: ``"dis"`` (default) or ``"flownet2"`` (needs ``weights``).

    ``scale`` is the working resolution as a fraction of the frame size (default 0.5 for DIS, 1.0 for
    FlowNet2); ``preset`` is the DIS preset.
    """
    if name == "dis":
        return DISFlow(preset, 0.5 if scale is None else scale, device)
    if name == "flownet2":
        return FlowNet2Flow(weights, 1.0 if scale is None else scale, device)
    raise ValueError(f"unknown flow {name!r}; choose one of {', '.join(FLOWS)}")


def upsample_flow(
    flow: Tensor, size: tuple[int, int], box: tuple[int, int, int, int] | None = None
) -> Tensor:
    """Resample working-resolution flows to part of the full frame, in full-resolution pixels.

    Args:
        flow: ``(N, 2, h, w)`` flows at the working resolution (pixels of that resolution).
        size: ``(H, W)``, the full frame size.
        box: ``(y0, y1, x0, x1)`` region of the full frame to produce (default: the whole frame).

    Returns:
        ``(N, 2, y1 - y0, x1 - x0)`` bilinearly interpolated (pixel centres aligned, as
        ``F.interpolate(align_corners=False)``), u scaled by ``W / w`` and v by ``H / h``.
    """
    n, _, h, w = flow.shape
    big_h, big_w = size
    y0, y1, x0, x1 = box if box is not None else (0, big_h, 0, big_w)
    sx, sy = w / big_w, h / big_h
    if (h, w) == (big_h, big_w):
        return flow[:, :, y0:y1, x0:x1]
    dev = flow.device
    fy, fx = big_h / h, big_w / w
    if fx == fy and fx == int(fx) and fx > 1:
        # An integer factor: bilinear interpolation of a slightly larger working crop (cheaper than
        # grid_sample, same values: pixel centres aligned, replicated borders).
        f = int(fx)
        sy0, sy1 = max(y0 // f - 1, 0), min((y1 - 1) // f + 2, h)
        sx0, sx1 = max(x0 // f - 1, 0), min((x1 - 1) // f + 2, w)
        part = F.pad(flow[:, :, sy0:sy1, sx0:sx1], (1, 1, 1, 1), mode="replicate")
        up = F.interpolate(part, scale_factor=f, mode="bilinear", align_corners=False)
        oy, ox = (sy0 - 1) * f, (sx0 - 1) * f
        return up[:, :, y0 - oy : y1 - oy, x0 - ox : x1 - ox] * f
    # Full-res pixel centre x maps to working coordinate (x + 0.5) * sx - 0.5; grid_sample wants it in
    # [-1, 1] with align_corners=False: g = (2 * xw + 1) / w - 1.
    xs = (torch.arange(x0, x1, device=dev, dtype=torch.float32) + 0.5) * sx
    ys = (torch.arange(y0, y1, device=dev, dtype=torch.float32) + 0.5) * sy
    gx = 2.0 * xs / w - 1.0
    gy = 2.0 * ys / h - 1.0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1).expand(n, -1, -1, -1)
    out = F.grid_sample(flow, grid, mode="bilinear", padding_mode="border", align_corners=False)
    scale = torch.tensor([1.0 / sx, 1.0 / sy], device=dev, dtype=out.dtype).view(1, 2, 1, 1)
    return out * scale
