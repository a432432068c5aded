"""FlowNet2 (Ilg et al., CVPR 2017), laid out to load NVIDIA's ``FlowNet2_checkpoint.pth.tar`` exactly.

The network is a stack of five sub-networks (DESIGN.md §4)::

    x      = (imgs - mean) / 255      mean per sample and channel, over both frames and all pixels
    C  :   flowc  = up4_bilinear(FlowNetC(x) * 20)
           w      = resample2d(x1, flowc) ; e = channelnorm(x0 - w)
    S1 :   flows1 = up4_bilinear(FlowNetS(cat(x, w, flowc / 20, e)) * 20)        12 input channels
    S2 :   the same 12-channel input built from flows1 ; flows2 = up4_nearest(FlowNetS(...) * 20)
    SD :   flowsd = up4_nearest(FlowNetSD(x) / 20)                            the /20 is the original's
    F  :   flow   = FlowNetFusion(cat(x0, flowsd, flows2, |flowsd|, |flows2|,
                                      |x0 - warp(x1, flowsd)|, |x0 - warp(x1, flows2)|))   11 channels

``x0``, ``x1`` are the *normalised* frames: the warps and the brightness errors are computed on them,
as in the original network the checkpoint was trained with. Convolutions are ``Sequential(conv,
LeakyReLU(0.1))`` (hence the ``.0.`` in the checkpoint's key names), deconvolutions
``ConvTranspose2d(k=4, s=2, p=1)``, no batch normalisation.

Bilinear x4 up-sampling uses ``align_corners=False``. The original's ``nn.Upsample(mode="bilinear")``
predates that argument; since PyTorch 0.4 it means ``align_corners=False``, which is what the
FlowNet2 runs of Deep Flow-Guided Video Inpainting computed, so we keep that value.

Flow convention (DESIGN.md §2): ``(N, 2, H, W)`` float32 in pixels, channel 0 = dx, from ``img0`` to
``img1``: ``img0(p) ~ img1(p + flow(p))``.

The weights are NVIDIA's (research-only licence) and are never downloaded by this module; see
:func:`load_flownet2`.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lecinpaint import ops as _ops
from lecinpaint.models._weights import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint_file,
    load_state_dict_strict,
    tensor_state_dict,
)

__all__ = [
    "FLOWNET2_CHECKPOINT",
    "FLOWNET2_SOURCE",
    "FlowNet2",
    "FlowNetC",
    "FlowNetFusion",
    "FlowNetS",
    "FlowNetSD",
    "load_flownet2",
]

FLOWNET2_CHECKPOINT = "FlowNet2_checkpoint.pth.tar"
FLOWNET2_SOURCE = (
    "NVIDIA's flownet2-pytorch page, https://github.com/NVIDIA/flownet2-pytorch "
    "(section 'Converted Caffe Pre-trained Models', FlowNet2 [620MB]; research-only licence)"
)

_DIV_FLOW = 20.0
_RGB_MAX = 255.0


def _conv(cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """Convolution with bias, 'same' padding, followed by leaky ReLU 0.1 (keys ``<name>.0.*``)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=True),
        nn.LeakyReLU(0.1, inplace=True),
    )


def _iconv(cin: int, cout: int) -> nn.Sequential:
    """A 3x3 convolution with no activation, wrapped like the original (keys ``<name>.0.*``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=True))


def _deconv(cin: int, cout: int) -> nn.Sequential:
    """x2 transposed convolution with bias, followed by leaky ReLU 0.1."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=True),
        nn.LeakyReLU(0.1, inplace=True),
    )


def _predict_flow(cin: int) -> nn.Conv2d:
    return nn.Conv2d(cin, 2, 3, stride=1, padding=1, bias=True)


def _upflow(bias: bool) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1, bias=bias)


def _init(module: nn.Module) -> None:
    # Random initialisation only matters for tests and training; the checkpoint overwrites it.
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.uniform_(m.bias)


class _Decoder(nn.Module):
    """The refinement part shared by FlowNetC and FlowNetS: deconvolutions from 1/64 to 1/4."""

    def _decode(self, c2: Tensor, c3: Tensor, c4: Tensor, c5: Tensor, c6: Tensor) -> Tensor:
        flow6 = self.predict_flow6(c6)
        cat5 = torch.cat((c5, self.deconv5(c6), self.upsampled_flow6_to_5(flow6)), 1)
        flow5 = self.predict_flow5(cat5)
        cat4 = torch.cat((c4, self.deconv4(cat5), self.upsampled_flow5_to_4(flow5)), 1)
        flow4 = self.predict_flow4(cat4)
        cat3 = torch.cat((c3, self.deconv3(cat4), self.upsampled_flow4_to_3(flow4)), 1)
        flow3 = self.predict_flow3(cat3)
        cat2 = torch.cat((c2, self.deconv2(cat3), self.upsampled_flow3_to_2(flow3)), 1)
        return self.predict_flow2(cat2)

    def _build_decoder(self, upflow_bias: bool) -> None:
        self.deconv5 = _deconv(1024, 512)
        self.deconv4 = _deconv(1026, 256)
        self.deconv3 = _deconv(770, 128)
        self.deconv2 = _deconv(386, 64)
        self.predict_flow6 = _predict_flow(1024)
        self.predict_flow5 = _predict_flow(1026)
        self.predict_flow4 = _predict_flow(770)
        self.predict_flow3 = _predict_flow(386)
        self.predict_flow2 = _predict_flow(194)
        self.upsampled_flow6_to_5 = _upflow(upflow_bias)
        self.upsampled_flow5_to_4 = _upflow(upflow_bias)
        self.upsampled_flow4_to_3 = _upflow(upflow_bias)
        self.upsampled_flow3_to_2 = _upflow(upflow_bias)


class FlowNetC(_Decoder):
    """FlowNetC: a siamese encoder, a correlation layer, and the FlowNet decoder (39,175,298 parameters).

    Input ``(N, 6, H, W)``: the two normalised frames stacked on channels, H and W multiples of 64.
    Output ``(N, 2, H/4, W/4)``: flow divided by 20 (the training scale).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _conv(3, 64, 7, 2)
        self.conv2 = _conv(64, 128, 5, 2)
        self.conv3 = _conv(128, 256, 5, 2)
        self.conv_redir = _conv(256, 32, 1, 1)
        self.corr_activation = nn.LeakyReLU(0.1, inplace=True)
        self.conv3_1 = _conv(473, 256)  # 32 redirected + 441 = 21x21 correlation channels
        self.conv4 = _conv(256, 512, stride=2)
        self.conv4_1 = _conv(512, 512)
        self.conv5 = _conv(512, 512, stride=2)
        self.conv5_1 = _conv(512, 512)
        self.conv6 = _conv(512, 1024, stride=2)
        self.conv6_1 = _conv(1024, 1024)
        self._build_decoder(upflow_bias=True)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        a2 = self.conv2(self.conv1(x[:, :3]))
        a3 = self.conv3(a2)
        b3 = self.conv3(self.conv2(self.conv1(x[:, 3:])))
        corr = _ops.correlation(a3, b3, pad_size=20, kernel_size=1, max_displacement=20, stride1=1, stride2=2)
        c3 = self.conv3_1(torch.cat((self.conv_redir(a3), self.corr_activation(corr)), 1))
        c4 = self.conv4_1(self.conv4(c3))
        c5 = self.conv5_1(self.conv5(c4))
        c6 = self.conv6_1(self.conv6(c5))
        return self._decode(a2, c3, c4, c5, c6)


class FlowNetS(_Decoder):
    """FlowNetS with 12 input channels as used inside FlowNet2 (38,695,322 parameters).

    Input ``(N, 12, H, W)``: both normalised frames, the warped second frame, flow / 20 and the
    brightness error. Output ``(N, 2, H/4, W/4)``: flow divided by 20.
    """

    def __init__(self, in_channels: int = 12) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, 64, 7, 2)
        self.conv2 = _conv(64, 128, 5, 2)
        self.conv3 = _conv(128, 256, 5, 2)
        self.conv3_1 = _conv(256, 256)
        self.conv4 = _conv(256, 512, stride=2)
        self.conv4_1 = _conv(512, 512)
        self.conv5 = _conv(512, 512, stride=2)
        self.conv5_1 = _conv(512, 512)
        self.conv6 = _conv(512, 1024, stride=2)
        self.conv6_1 = _conv(1024, 1024)
        self._build_decoder(upflow_bias=False)  # FlowNetS's flow up-convolutions have no bias
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        c2 = self.conv2(self.conv1(x))
        c3 = self.conv3_1(self.conv3(c2))
        c4 = self.conv4_1(self.conv4(c3))
        c5 = self.conv5_1(self.conv5(c4))
        c6 = self.conv6_1(self.conv6(c5))
        return self._decode(c2, c3, c4, c5, c6)


class FlowNetSD(nn.Module):
    """FlowNet-SD, the small-displacement network (45,371,666 parameters).

    Input ``(N, 6, H, W)`` normalised frames; output ``(N, 2, H/4, W/4)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = _conv(6, 64)
        self.conv1 = _conv(64, 64, stride=2)
        self.conv1_1 = _conv(64, 128)
        self.conv2 = _conv(128, 128, stride=2)
        self.conv2_1 = _conv(128, 128)
        self.conv3 = _conv(128, 256, stride=2)
        self.conv3_1 = _conv(256, 256)
        self.conv4 = _conv(256, 512, stride=2)
        self.conv4_1 = _conv(512, 512)
        self.conv5 = _conv(512, 512, stride=2)
        self.conv5_1 = _conv(512, 512)
        self.conv6 = _conv(512, 1024, stride=2)
        self.conv6_1 = _conv(1024, 1024)
        self.deconv5 = _deconv(1024, 512)
        self.deconv4 = _deconv(1026, 256)
        self.deconv3 = _deconv(770, 128)
        self.deconv2 = _deconv(386, 64)
        self.inter_conv5 = _iconv(1026, 512)
        self.inter_conv4 = _iconv(770, 256)
        self.inter_conv3 = _iconv(386, 128)
        self.inter_conv2 = _iconv(194, 64)
        self.predict_flow6 = _predict_flow(1024)
        self.predict_flow5 = _predict_flow(512)
        self.predict_flow4 = _predict_flow(256)
        self.predict_flow3 = _predict_flow(128)
        self.predict_flow2 = _predict_flow(64)
        self.upsampled_flow6_to_5 = _upflow(True)
        self.upsampled_flow5_to_4 = _upflow(True)
        self.upsampled_flow4_to_3 = _upflow(True)
        self.upsampled_flow3_to_2 = _upflow(True)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        c1 = self.conv1_1(self.conv1(self.conv0(x)))
        c2 = self.conv2_1(self.conv2(c1))
        c3 = self.conv3_1(self.conv3(c2))
        c4 = self.conv4_1(self.conv4(c3))
        c5 = self.conv5_1(self.conv5(c4))
        c6 = self.conv6_1(self.conv6(c5))
        flow6 = self.predict_flow6(c6)
        cat5 = torch.cat((c5, self.deconv5(c6), self.upsampled_flow6_to_5(flow6)), 1)
        flow5 = self.predict_flow5(self.inter_conv5(cat5))
        cat4 = torch.cat((c4, self.deconv4(cat5), self.upsampled_flow5_to_4(flow5)), 1)
        flow4 = self.predict_flow4(self.inter_conv4(cat4))
        cat3 = torch.cat((c3, self.deconv3(cat4), self.upsampled_flow4_to_3(flow4)), 1)
        flow3 = self.predict_flow3(self.inter_conv3(cat3))
        cat2 = torch.cat((c2, self.deconv2(cat3), self.upsampled_flow3_to_2(flow3)), 1)
        return self.predict_flow2(self.inter_conv2(cat2))


class FlowNetFusion(nn.Module):
    """The fusion network: 11 channels in, full-resolution flow out (581,226 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = _conv(11, 64)
        self.conv1 = _conv(64, 64, stride=2)
        self.conv1_1 = _conv(64, 128)
        self.conv2 = _conv(128, 128, stride=2)
        self.conv2_1 = _conv(128, 128)
        self.deconv1 = _deconv(128, 32)
        self.deconv0 = _deconv(162, 16)
        self.inter_conv1 = _iconv(162, 32)
        self.inter_conv0 = _iconv(82, 16)
        self.predict_flow2 = _predict_flow(128)
        self.predict_flow1 = _predict_flow(32)
        self.predict_flow0 = _predict_flow(16)
        self.upsampled_flow2_to_1 = _upflow(True)
        self.upsampled_flow1_to_0 = _upflow(True)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        c0 = self.conv0(x)
        c1 = self.conv1_1(self.conv1(c0))
        c2 = self.conv2_1(self.conv2(c1))
        flow2 = self.predict_flow2(c2)
        cat1 = torch.cat((c1, self.deconv1(c2), self.upsampled_flow2_to_1(flow2)), 1)
        flow1 = self.predict_flow1(self.inter_conv1(cat1))
        cat0 = torch.cat((c0, self.deconv0(cat1), self.upsampled_flow1_to_0(flow1)), 1)
        return self.predict_flow0(self.inter_conv0(cat0))


def _up4(x: Tensor, mode: str) -> Tensor:
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=4, mode="nearest")


class FlowNet2(nn.Module):
    """The full FlowNet2 (162,518,834 parameters), state_dict keys as in NVIDIA's checkpoint.

    ``forward(img0, img1)`` takes RGB frames in 0..255, ``(N, 3, H, W)`` float, H and W multiples of 64,
    and returns the flow from img0 to img1, ``(N, 2, H, W)`` in pixels (channel 0 = dx).
    :meth:`estimate` takes frames of any size.

    Needs the ops ``lecinpaint.ops.correlation``, ``resample2d`` and ``channelnorm``.

    Example::

        net = load_flownet2(device="cuda")          # FlowNet2_checkpoint.pth.tar from the usual places
        flow = net.estimate(img0, img1)             # (N, 3, 360, 640) floats 0..255 -> (N, 2, 360, 640)
    """

    div_flow: float = _DIV_FLOW
    rgb_max: float = _RGB_MAX

    def __init__(self) -> None:
        super().__init__()
        self.flownetc = FlowNetC()
        self.flownets_1 = FlowNetS()
        self.flownets_2 = FlowNetS()
        self.flownets_d = FlowNetSD()
        self.flownetfusion = FlowNetFusion()
        # Inference only: the checkpoint's weights are used frozen.
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def normalise(img0: Tensor, img1: Tensor) -> Tensor:
        """``(imgs - mean) / 255`` stacked as ``(N, 6, H, W)``.

        The mean is taken per sample and channel over both frames and all pixels.
        """
        pair = torch.stack((img0, img1), dim=2)  # (N, 3, 2, H, W)
        mean = pair.mean(dim=(2, 3, 4), keepdim=True)
        x = (pair - mean) / _RGB_MAX
        return torch.cat((x[:, :, 0], x[:, :, 1]), dim=1)

    def _refine_input(self, x: Tensor, flow: Tensor) -> Tensor:
        """The 12-channel input of a FlowNetS stage: frames, warped frame 1, flow / 20, error."""
        warped = _ops.resample2d(x[:, 3:].contiguous(), flow.contiguous())
        err = _ops.channelnorm(x[:, :3] - warped)
        return torch.cat((x, warped, flow / self.div_flow, err), dim=1)

    def forward(self, img0: Tensor, img1: Tensor) -> Tensor:
        """Flow from ``img0`` to ``img1``, ``(N, 3, H, W)`` RGB 0..255, H and W multiples of 64."""
        _check_pair(img0, img1)
        h, w = img0.shape[-2:]
        if h % 64 or w % 64:
            raise ValueError(
                f"FlowNet2.forward: height and width must be multiples of 64, got {h}x{w}; "
                "use FlowNet2.estimate, which resizes to the next multiple and back"
            )
        x = self.normalise(img0, img1)
        x0 = x[:, :3]
        x1 = x[:, 3:].contiguous()

        flowc = _up4(self.flownetc(x) * self.div_flow, "bilinear")
        flows1 = _up4(self.flownets_1(self._refine_input(x, flowc)) * self.div_flow, "bilinear")
        flows2 = _up4(self.flownets_2(self._refine_input(x, flows1)) * self.div_flow, "nearest")
        flowsd = _up4(self.flownets_d(x) / self.div_flow, "nearest")

        err_sd = _ops.channelnorm(x0 - _ops.resample2d(x1, flowsd.contiguous()))
        err_s2 = _ops.channelnorm(x0 - _ops.resample2d(x1, flows2.contiguous()))
        fusion_in = torch.cat(
            (x0, flowsd, flows2, _ops.channelnorm(flowsd), _ops.channelnorm(flows2), err_sd, err_s2), dim=1
        )
        return self.flownetfusion(fusion_in)

    @torch.no_grad()
    def estimate(self, img0: Tensor, img1: Tensor) -> Tensor:
        """Flow from ``img0`` to ``img1`` for frames of any size.

        Args:
            img0, img1: ``(N, 3, H, W)`` or ``(3, H, W)`` RGB, values 0..255 (any float or uint8 dtype).
                They are moved to the model's device.

        Returns:
            ``(N, 2, H, W)`` float32 flow in pixels of the input grid (channel 0 = dx), ``(2, H, W)``
            for unbatched input, on the model's device.

        The frames are resized (bilinear, not cropped) to the next multiples of 64, ``H' x W'``; the
        network's flow is resized back (bilinear) and u is scaled by ``W / W'``, v by ``H / H'``.
        """
        unbatched = img0.dim() == 3
        if unbatched:
            img0, img1 = img0.unsqueeze(0), img1.unsqueeze(0)
        _check_pair(img0, img1)
        h, w = img0.shape[-2:]
        hh, ww = _next_multiple(h, 64), _next_multiple(w, 64)
        param = next(self.parameters(), None)
        dev = param.device if param is not None else img0.device
        img0, img1 = img0.to(dev, torch.float32), img1.to(dev, torch.float32)
        if (hh, ww) != (h, w):
            img0 = F.interpolate(img0, size=(hh, ww), mode="bilinear", align_corners=False)
            img1 = F.interpolate(img1, size=(hh, ww), mode="bilinear", align_corners=False)
        flow = self(img0, img1)
        if (hh, ww) != (h, w):
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            scale = torch.tensor([w / ww, h / hh], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
            flow = flow * scale
        return flow[0] if unbatched else flow


def _next_multiple(v: int, m: int) -> int:
    return max(m, int(math.ceil(v / m)) * m)


def _check_pair(img0: Tensor, img1: Tensor) -> None:
    if img0.dim() != 4 or img0.shape[1] != 3:
        raise ValueError(f"FlowNet2: expected RGB frames of shape (N, 3, H, W), got {tuple(img0.shape)}")
    if img0.shape != img1.shape:
        raise ValueError(
            f"FlowNet2: both frames must have the same shape, got {tuple(img0.shape)} and {tuple(img1.shape)}"
        )


def load_flownet2(
    path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> FlowNet2:
    """Build FlowNet2 and load NVIDIA's ``FlowNet2_checkpoint.pth.tar`` into it, strictly.

    Args:
        path: the checkpoint file, or a directory holding ``FlowNet2_checkpoint.pth.tar``. When None,
            the file is looked for in ``$LECINPAINT_WEIGHTS`` and then in
            ``torch.hub.get_dir()/checkpoints``. Nothing is ever downloaded.
        device: where to put the model.

    Returns:
        The model in eval mode, without gradients.

    Raises:
        CheckpointNotFoundError: the file is not there (the message lists where it was looked for and
            where it comes from).
        CheckpointError: the file is not a FlowNet2 checkpoint of the original layout
            ``{'epoch', 'state_dict', 'best_EPE'}`` with the 220 expected tensors.
    """
    what = "FlowNet2"
    file = find_checkpoint(FLOWNET2_CHECKPOINT, path, what=what, source=FLOWNET2_SOURCE)
    ckpt = load_checkpoint_file(file, what=what)
    expected = "a dict {'epoch', 'state_dict', 'best_EPE'} whose 'state_dict' maps key names to tensors"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{what}: {file} does not have the expected layout: {expected}.")
    state = tensor_state_dict(ckpt["state_dict"], file=file, what=what, expected=expected)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    with torch.device("meta"):
        model = FlowNet2()
    load_state_dict_strict(model, state, file=file, what=what)
    return model.to(device)
