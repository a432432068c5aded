"""DFC-Net, the flow completion network of Deep Flow-Guided Video Inpainting (Xu et al., CVPR 2019).

Each stage is a DeepLab-style ResNet (DESIGN.md §5) whose state_dict keys match the released
checkpoints (after the ``module.`` prefix of ``nn.DataParallel`` is removed):

- Caffe-style bottleneck (the stride sits on the first 1x1 convolution), ``conv1`` 7x7/2 *with* bias,
  max-pool 3/2 with ``ceil_mode``, ``layer3`` dilated by 2 and ``layer4`` by 4 (output stride 8),
  every BatchNorm frozen (always in eval mode, even under ``.train()``);
- a head ``layer5``: multi-scale (up-sample to 1/4, conv 5x5 2048->256, ReLU; to 1/2, conv 3x3
  256->128, ReLU; to full size, conv 1x1 128->out) for the ResNet-50 stages, or single-scale
  (conv 1x1 2048->out, then up-sample) for the ResNet-101 ``resnet101_movie`` variant.
  Up-sampling is bilinear with ``align_corners=False``.

Variants and their checkpoints (DFGVI's release, Google Drive / Baidu links in its README,
https://github.com/nbei/Deep-Flow-Guided-Video-Inpainting):

    stage "1"        resnet50_stage1.pth   ResNet-50, multi-scale, 33 -> 2 channels
    stage "2"        davis_stage2.pth      ResNet-50, multi-scale, 66 -> 4 channels
    stage "3"        davis_stage3.pth      ResNet-50, multi-scale, 66 -> 4 channels
    stage "movie"    resnet101_movie.pth   ResNet-101, single-scale, 33 -> 2 channels

Input layout. Stage 1 (and "movie"): 11 frames ``t-5 .. t+5`` (indices clipped to the sequence),
per frame ``(u, v, mask)``: 33 channels, the flow's hole pre-filled by a Laplace interpolation of the
flow around it. Stages 2 and 3: the 11 forward flows with their masks, then the 11 backward flows
with theirs (66 channels); output channels 0-1 are the forward flow of frame t, 2-3 the backward one.
Flows are in pixels of the grid the network runs on; masks are 1 in the hole.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lecinpaint.models._weights import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint_file,
    load_state_dict_strict,
    tensor_state_dict,
)

__all__ = [
    "DFC_CHECKPOINTS",
    "DFC_SOURCE",
    "DFCNet",
    "PrefillFn",
    "complete_flows",
    "dfcnet",
    "laplace_fill",
    "load_dfc",
]

DFC_SOURCE = (
    "the release of Deep Flow-Guided Video Inpainting (Xu et al., CVPR 2019), "
    "https://github.com/nbei/Deep-Flow-Guided-Video-Inpainting (README: 'pretrained models')"
)

#: stage -> (file name, depth, in channels, out channels, head)
DFC_CHECKPOINTS: dict[str, tuple[str, int, int, int, str]] = {
    "1": ("resnet50_stage1.pth", 50, 33, 2, "multi"),
    "2": ("davis_stage2.pth", 50, 66, 4, "multi"),
    "3": ("davis_stage3.pth", 50, 66, 4, "multi"),
    "movie": ("resnet101_movie.pth", 101, 33, 2, "single"),
}

_LAYERS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
WINDOW = 11  # frames per input window, centred on the target frame
HALF = WINDOW // 2

#: ``prefill(flow (N,2,H,W), hole (N,1,H,W) bool) -> flow`` with the hole filled from its surroundings.
PrefillFn = Callable[[Tensor, Tensor], Tensor]


class _Bottleneck(nn.Module):
    """Caffe-style bottleneck: 1x1 (carries the stride) -> 3x3 (dilated) -> 1x1, frozen BatchNorm."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class _MultiScaleHead(nn.Module):
    """1/8 features -> 1/4 (conv 5x5 -> 256) -> 1/2 (conv 3x3 -> 128) -> full size (conv 1x1 -> out)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 256, 5, padding=2)
        self.conv2 = nn.Conv2d(256, 128, 3, padding=1)
        self.conv3 = nn.Conv2d(128, out_channels, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        h, w = size
        x = _resize(x, (h // 4, w // 4))
        x = self.relu(self.conv1(x))
        x = _resize(x, (h // 2, w // 2))
        x = self.relu(self.conv2(x))
        return self.conv3(_resize(x, (h, w)))


class _SingleScaleHead(nn.Module):
    """conv 1x1 at 1/8, then bilinear up-sampling to the input size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        return _resize(self.conv1(x), size)


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=(max(1, size[0]), max(1, size[1])), mode="bilinear", align_corners=False)


class DFCNet(nn.Module):
    """One DFC-Net stage (see the module docstring for the variants and the input layout).

    ``forward(x)`` maps ``(N, in_channels, H, W)`` to ``(N, out_channels, H, W)`` for any H, W >= 8.
    :meth:`complete` (stage 1) and :meth:`refine` (stages 2/3) build the inputs from flows and masks.
    """

    def __init__(
        self, in_channels: int = 33, out_channels: int = 2, depth: int = 50, head: str = "multi"
    ) -> None:
        super().__init__()
        if depth not in _LAYERS:
            raise ValueError(f"DFCNet: depth must be 50 or 101, got {depth}")
        if head not in ("multi", "single"):
            raise ValueError(f"DFCNet: head must be 'multi' or 'single', got {head!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self._inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=True)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        n1, n2, n3, n4 = _LAYERS[depth]
        self.layer1 = self._make_layer(64, n1)
        self.layer2 = self._make_layer(128, n2, stride=2)
        self.layer3 = self._make_layer(256, n3, dilation=2)
        self.layer4 = self._make_layer(512, n4, dilation=4)
        self.layer5: nn.Module = (
            _MultiScaleHead(2048, out_channels) if head == "multi" else _SingleScaleHead(2048, out_channels)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        out = planes * _Bottleneck.expansion
        downsample = None
        if stride != 1 or self._inplanes != out or dilation in (2, 4):
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )
        layers = [_Bottleneck(self._inplanes, planes, stride, dilation, downsample)]
        self._inplanes = out
        layers += [_Bottleneck(out, planes, 1, dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def train(self, mode: bool = True) -> DFCNet:
        """Set training mode; BatchNorm layers stay frozen (eval mode) as in the original."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_channels, H, W)`` -> ``(N, out_channels, H, W)`` (flow in pixels of this grid)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"DFCNet: expected input (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        size = (int(x.shape[-2]), int(x.shape[-1]))
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.layer5(x, size)

    # ------------------------------------------------------------------------------------------------
    # Helpers that build the inputs the way DFGVI's data loaders do.

    @torch.no_grad()
    def complete(
        self,
        flows: Tensor,
        masks: Tensor,
        targets: Sequence[int] | None = None,
        *,
        prefill: PrefillFn | None = None,
        scale: float = 0.5,
        batch_size: int = 2,
    ) -> Tensor:
        """Stage-1 completion of one direction of flow inside the hole.

        Args:
            flows: ``(T, 2, H, W)`` flows of T consecutive frames (all forward or all backward), pixels.
            masks: ``(T, 1, H, W)`` or ``(T, H, W)`` bool, True = hole, the hole of each flow's frame.
            targets: which frames to complete (default: all T). Frame t sees the window
                ``t-5 .. t+5``, indices clipped to ``[0, T-1]``.
            prefill: fills the hole before the network sees it (default :func:`laplace_fill`); the
                engine may pass its own Laplace fill.
            scale: the network runs at ``scale`` times the image size (DFGVI: 0.5). Flows are resized
                and their values scaled to that grid, and back.
            batch_size: windows per network call.

        Returns:
            ``(len(targets), 2, H, W)``: ``pred * mask + flow * (1 - mask)``; outside the hole the input
            flow is returned unchanged.
        """
        if self.in_channels != 3 * WINDOW or self.out_channels != 2:
            raise ValueError(
                f"DFCNet.complete needs a stage-1 model (33 -> 2 channels), this one is "
                f"{self.in_channels} -> {self.out_channels}; use refine() for stages 2 and 3"
            )
        flows, masks = _check_flows_masks(flows, masks)
        t_all = flows.shape[0]
        targets = list(range(t_all)) if targets is None else [int(t) for t in targets]
        small_flow, small_mask = _to_grid(flows, masks, scale)
        fill = prefill if prefill is not None else laplace_fill
        filled = fill(small_flow, small_mask.bool())
        per_frame = torch.cat((filled, small_mask), dim=1)  # (T, 3, h, w)
        return self._run_windows(per_frame, [flows], masks, targets, batch_size)[0]

    @torch.no_grad()
    def refine(
        self,
        forward_flows: Tensor,
        backward_flows: Tensor,
        masks: Tensor,
        targets: Sequence[int] | None = None,
        *,
        size: tuple[int, int] | None = None,
        batch_size: int = 1,
    ) -> tuple[Tensor, Tensor]:
        """Stage-2/3 refinement of forward and backward flows together.

        Args:
            forward_flows, backward_flows: ``(T, 2, H, W)`` flows of frames 0..T-1 (already completed by
                the previous stage), pixels.
            masks: ``(T, 1, H, W)`` or ``(T, H, W)`` bool, True = hole.
            targets: frames to refine (default all); windows as in :meth:`complete`.
            size: ``(h, w)`` the network runs at (DFGVI: (320, 600) for stage 2, (480, 840) for
                stage 3); default the input size.
            batch_size: windows per network call.

        Returns:
            ``(forward, backward)``, each ``(len(targets), 2, H, W)``, replaced only inside the hole.
        """
        if self.in_channels != 6 * WINDOW or self.out_channels != 4:
            raise ValueError(
                f"DFCNet.refine needs a stage-2/3 model (66 -> 4 channels), this one is "
                f"{self.in_channels} -> {self.out_channels}; use complete() for stage 1"
            )
        forward_flows, masks = _check_flows_masks(forward_flows, masks)
        backward_flows, _ = _check_flows_masks(backward_flows, masks)
        t_all = forward_flows.shape[0]
        targets = list(range(t_all)) if targets is None else [int(t) for t in targets]
        h, w = forward_flows.shape[-2:]
        hs, ws = size if size is not None else (h, w)
        f_small, m_small = _to_grid(forward_flows, masks, (hs / h, ws / w), size=(hs, ws))
        b_small, _ = _to_grid(backward_flows, masks, (hs / h, ws / w), size=(hs, ws))
        per_frame = torch.cat((f_small, m_small, b_small, m_small), dim=1)  # (T, 6, h, w)
        out = self._run_windows(per_frame, [forward_flows, backward_flows], masks, targets, batch_size)
        return out[0], out[1]

    def _run_windows(
        self, per_frame: Tensor, flows: list[Tensor], masks: Tensor, targets: list[int], batch_size: int
    ) -> list[Tensor]:
        """Runs the network on the windows of ``targets`` and blends the result into ``flows``."""
        t_all = per_frame.shape[0]
        for t in targets:
            if not 0 <= t < t_all:
                raise IndexError(f"DFCNet: target frame {t} is outside the {t_all} frames given")
        if batch_size < 1:
            raise ValueError(f"DFCNet: batch_size must be >= 1, got {batch_size}")
        dev = next(self.parameters()).device
        h, w = flows[0].shape[-2:]
        c_frame = per_frame.shape[1]
        results: list[list[Tensor]] = [[] for _ in flows]
        for start in range(0, len(targets), batch_size):
            chunk = targets[start : start + batch_size]
            idx = torch.tensor(
                [[min(max(t + k, 0), t_all - 1) for k in range(-HALF, HALF + 1)] for t in chunk],
                dtype=torch.long,
            )
            win = per_frame[idx.to(per_frame.device)]  # (B, 11, c, h, w)
            if c_frame == 6:  # forward (u, v, m) x 11 then backward (u, v, m) x 11
                win = torch.cat((win[:, :, :3].flatten(1, 2), win[:, :, 3:].flatten(1, 2)), dim=1)
            else:
                win = win.flatten(1, 2)
            pred = self(win.to(dev, torch.float32)).to(flows[0].device)
            hs, ws = pred.shape[-2:]
            pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
            # the network's flow is in pixels of its own grid: rescale (u by w/ws, v by h/hs)
            gain = torch.tensor([w / ws, h / hs] * (pred.shape[1] // 2), dtype=pred.dtype, device=pred.device)
            pred = pred * gain.view(1, -1, 1, 1)
            m = masks[chunk].to(pred.dtype)
            for i, fl in enumerate(flows):
                p = pred[:, 2 * i : 2 * i + 2]
                results[i].append(p * m + fl[chunk].to(pred.dtype) * (1 - m))
        return [torch.cat(r, dim=0) if r else flows[0].new_zeros((0, 2, h, w)) for r in results]


def _check_flows_masks(flows: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    if flows.dim() != 4 or flows.shape[1] != 2:
        raise ValueError(f"DFCNet: flows must be (T, 2, H, W), got {tuple(flows.shape)}")
    if masks.dim() == 3:
        masks = masks.unsqueeze(1)
    if masks.dim() != 4 or masks.shape[1] != 1 or masks.shape[0] != flows.shape[0] or (
        masks.shape[-2:] != flows.shape[-2:]
    ):
        raise ValueError(
            f"DFCNet: masks must be (T, 1, H, W) or (T, H, W) matching flows {tuple(flows.shape)}, "
            f"got {tuple(masks.shape)}"
        )
    if flows.shape[0] == 0:
        raise ValueError("DFCNet: no frames given")
    return flows.float(), masks.bool()


def _to_grid(
    flows: Tensor, masks: Tensor, scale: float | tuple[float, float], size: tuple[int, int] | None = None
) -> tuple[Tensor, Tensor]:
    """Flows resized (bilinear, values scaled) and masks resized (nearest) to the network's grid."""
    h, w = flows.shape[-2:]
    if size is None:
        sy, sx = (scale, scale) if isinstance(scale, (int, float)) else scale
        size = (max(8, round(h * sy)), max(8, round(w * sx)))
    hs, ws = size
    if (hs, ws) == (h, w):
        return flows, masks.float()
    f = F.interpolate(flows, size=(hs, ws), mode="bilinear", align_corners=False)
    f = f * torch.tensor([ws / w, hs / h], dtype=f.dtype, device=f.device).view(1, 2, 1, 1)
    m = F.interpolate(masks.float(), size=(hs, ws), mode="nearest")
    return f, m


_SOR_OMEGA = 1.6


def laplace_fill(values: Tensor, hole: Tensor, iterations: int = 30) -> Tensor:
    """Fill ``values`` inside ``hole`` with a membrane (Laplace) interpolation of the values around it.

    Solves ``Δu = 0`` in the hole with the known values as boundary condition (zero normal derivative
    at the image border), coarse to fine: the hole is first filled on a half-size grid, recursively,
    then refined by red-black over-relaxed Gauss-Seidel sweeps. Pixels outside the hole are returned
    unchanged.

    Args:
        values: ``(N, C, H, W)`` float.
        hole: ``(N, 1, H, W)`` bool, True where values are unknown.
        iterations: sweeps per level.

    Returns:
        ``(N, C, H, W)``; an image whose every pixel is in the hole gets zeros.

    Example:
        >>> import torch
        >>> ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
        >>> ramp = (0.5 * xs - ys)[None, None]             # linear, hence harmonic
        >>> hole = torch.zeros(1, 1, 16, 20, dtype=torch.bool)
        >>> hole[..., 4:12, 5:15] = True
        >>> filled = laplace_fill(ramp.masked_fill(hole, 99.0), hole)
        >>> bool((filled - ramp).abs().max() < 1e-2)
        True
    """
    if hole.dim() != 4 or hole.shape[1] != 1 or hole.shape[0] != values.shape[0] or (
        hole.shape[-2:] != values.shape[-2:]
    ):
        raise ValueError(
            f"laplace_fill: hole must be (N, 1, H, W) matching values {tuple(values.shape)}, "
            f"got {tuple(hole.shape)}"
        )
    hole = hole.bool()
    if not bool(hole.any()):
        return values
    # Work on the hole's bounding box plus a one-pixel ring: that ring is known (or the image border),
    # so the solution inside the box does not depend on anything outside it.
    rows = hole.any(dim=3).any(dim=0).any(dim=0).nonzero()
    cols = hole.any(dim=2).any(dim=0).any(dim=0).nonzero()
    h, w = values.shape[-2:]
    y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, h)
    x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, w)
    if (y0, y1, x0, x1) != (0, h, 0, w):
        out = values.clone()
        box = (..., slice(y0, y1), slice(x0, x1))
        out[box] = _laplace_fill_box(values[box], hole[box], iterations)
        return out
    return _laplace_fill_box(values, hole, iterations)


def _laplace_fill_box(values: Tensor, hole: Tensor, iterations: int) -> Tensor:
    if not bool(hole.any()):
        return values
    known = (~hole).to(values.dtype)
    h, w = values.shape[-2:]
    if min(h, w) >= 4:
        # Masked 2x2 average: a coarse pixel is known if any of its fine pixels is.
        ksum = F.avg_pool2d(known, 2, ceil_mode=True) * 4
        vsum = F.avg_pool2d(values * known, 2, ceil_mode=True) * 4
        coarse_known = ksum > 0
        coarse = torch.where(coarse_known, vsum / ksum.clamp_min(1), torch.zeros_like(vsum))
        coarse = _laplace_fill_box(coarse, ~coarse_known, iterations)
        init = F.interpolate(coarse, scale_factor=2, mode="nearest")[..., :h, :w]
    else:
        cnt = known.sum(dim=(2, 3), keepdim=True)
        mean = (values * known).sum(dim=(2, 3), keepdim=True) / cnt.clamp_min(1)
        init = mean.expand_as(values)
    u = torch.where(hole, init, values)
    # Red-black Gauss-Seidel with over-relaxation: converges far faster than Jacobi, also for the
    # smooth error modes left where the hole meets the image border.
    ys = torch.arange(h, device=values.device).view(h, 1)
    xs = torch.arange(w, device=values.device).view(1, w)
    red = ((ys + xs) % 2 == 0).view(1, 1, h, w)
    phases = (hole & red, hole & ~red)
    for _ in range(iterations):
        for phase in phases:
            u = torch.where(phase, u + _SOR_OMEGA * (_neighbour_mean(u) - u), u)
    return u


def complete_flows(
    models: Mapping[int | str, DFCNet],
    flows: Tensor,
    holes: Tensor,
    *,
    prefill: PrefillFn | None = None,
    scales: Mapping[int | str, float] | None = None,
    batch_size: int = 2,
) -> Tensor:
    """Complete the forward and backward flow of the centre pair of a window with DFC-Net's stages.

    Args:
        models: ``{1: stage-1 model}`` (or ``{"movie": ...}``), optionally with ``2`` and ``3`` (the
            refinement stages), as returned by :func:`load_dfc`. Keys may be ints or strings.
        flows: ``(T, 2, 2, h, w)``: for each of T consecutive pairs (T = 11 for DFGVI's window, the
            ends repeated where the stream is shorter) the forward and the backward flow, pixels.
        holes: ``(T, h, w)`` or ``(T, 1, h, w)`` bool, True where the flows must be replaced.
        prefill: the Laplace fill used before stage 1 (default :func:`laplace_fill`), called as
            ``prefill(flow (N, 2, h', w'), hole (N, 1, h', w') bool)``.
        scales: the resolution each stage runs at, as a fraction of ``(h, w)``; default
            ``{1: 0.5, 2: 2/3, 3: 1.0}``, the proportions of DFGVI (stage 1 at half the image size,
            stage 2 at 320x600 and stage 3 at 480x840 for 480x840 frames).
        batch_size: windows per network call.

    Returns:
        ``(2, 2, h, w)``: the centre pair's completed forward and backward flows (only the hole changes).

    Stage 1 completes each direction on its own. With refinement stages, every stage needs the previous
    stage's result for all T pairs, so stage 1 (and stage 2 before stage 3) runs on all T pairs with
    windows clipped to the T given: near the window's ends this sees fewer neighbours than a
    whole-video run would.
    """
    stages = {str(k): v for k, v in models.items()}
    first = stages.get("1", stages.get("movie"))
    if first is None:
        raise ValueError(
            f"complete_flows: a stage-1 (or 'movie') model is required, got stages {sorted(stages)}"
        )
    unknown = set(stages) - set(DFC_CHECKPOINTS)
    if unknown:
        raise ValueError(f"complete_flows: unknown stages {sorted(unknown)}; use 1, 2, 3 or 'movie'")
    if flows.dim() != 5 or flows.shape[1:3] != (2, 2):
        raise ValueError(f"complete_flows: flows must be (T, 2, 2, h, w), got {tuple(flows.shape)}")
    frac = {"1": 0.5, "movie": 0.5, "2": 2.0 / 3.0, "3": 1.0}
    if scales is not None:
        frac.update({str(k): float(v) for k, v in scales.items()})
    t_all = flows.shape[0]
    centre = t_all // 2
    later = [s for s in ("2", "3") if s in stages]
    targets = list(range(t_all)) if later else [centre]
    fwd = first.complete(flows[:, 0], holes, targets, prefill=prefill, scale=frac["1"], batch_size=batch_size)
    bwd = first.complete(flows[:, 1], holes, targets, prefill=prefill, scale=frac["1"], batch_size=batch_size)
    h, w = flows.shape[-2:]
    for i, s in enumerate(later):
        size = (max(8, round(h * frac[s])), max(8, round(w * frac[s])))
        tg = [centre] if i == len(later) - 1 else targets
        fwd, bwd = stages[s].refine(fwd, bwd, holes, tg, size=size, batch_size=batch_size)
    c = 0 if fwd.shape[0] == 1 else centre
    return torch.stack((fwd[c], bwd[c]))


def _neighbour_mean(u: Tensor) -> Tensor:
    """Mean of the 4 neighbours, the image border replicated (zero normal derivative)."""
    # Built from slices rather than F.pad(mode="replicate"), whose kernel is needlessly slow on small
    # tensors when the CPU is shared.
    up = torch.cat((u[..., :1, :], u[..., :-1, :]), dim=-2)
    down = torch.cat((u[..., 1:, :], u[..., -1:, :]), dim=-2)
    left = torch.cat((u[..., :, :1], u[..., :, :-1]), dim=-1)
    right = torch.cat((u[..., :, 1:], u[..., :, -1:]), dim=-1)
    return (up + down + left + right) * 0.25


def dfcnet(stage: str = "1") -> DFCNet:
    """A randomly initialised DFC-Net of the given variant ("1", "2", "3" or "movie")."""
    if stage not in DFC_CHECKPOINTS:
        raise ValueError(f"DFC-Net: stage must be one of {sorted(DFC_CHECKPOINTS)}, got {stage!r}")
    _, depth, cin, cout, head = DFC_CHECKPOINTS[stage]
    return DFCNet(cin, cout, depth, head)


def load_dfc(
    path: str | os.PathLike[str] | None = None,
    stage: str | int = 1,
    device: str | torch.device = "cpu",
) -> DFCNet:
    """Build a DFC-Net stage and load one of DFGVI's checkpoints into it, strictly.

    Args:
        path: the checkpoint file, or a directory holding the stage's usual file name
            (``resnet50_stage1.pth``, ``davis_stage2.pth``, ``davis_stage3.pth``, ``resnet101_movie.pth``).
            When None, that file is looked for in ``$LECINPAINT_WEIGHTS`` and then in
            ``torch.hub.get_dir()/checkpoints``. Nothing is ever downloaded.
        stage: 1, 2, 3 or "movie".
        device: where to put the model.

    The file must be DFGVI's ``{'n_iter': int, 'model': state_dict}`` with ``module.``-prefixed keys
    (a bare state_dict, with or without the prefix, is accepted too).

    Raises:
        CheckpointNotFoundError: the file is not there (the message lists where it was looked for).
        CheckpointError: unreadable, another layout, or keys/shapes of another variant.
    """
    stage = str(stage)
    if stage not in DFC_CHECKPOINTS:
        raise ValueError(f"load_dfc: stage must be 1, 2, 3 or 'movie', got {stage!r}")
    filename = DFC_CHECKPOINTS[stage][0]
    what = f"DFC-Net stage {stage}"
    file = find_checkpoint(filename, path, what=what, source=DFC_SOURCE)
    ckpt = load_checkpoint_file(file, what=what)
    expected = "a dict {'n_iter', 'model'} whose 'model' maps ('module.'-prefixed) key names to tensors"
    if isinstance(ckpt, dict) and "model" in ckpt:
        ckpt = ckpt["model"]
    state = tensor_state_dict(ckpt, file=file, what=what, expected=expected)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    with torch.device("meta"):
        model = dfcnet(stage)
    load_state_dict_strict(model, state, file=file, what=what)
    return model.to(device)
