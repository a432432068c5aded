"""Slow, independent references of FlowNet2's ops, used by the model tests.

They follow DESIGN.md §3 literally (shift-and-mean correlation, grid_sample with border clamping,
channel norm) and share no code with lecinpaint.ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def ref_correlation(f1: Tensor, f2: Tensor, pad: int = 20, md: int = 20, s2: int = 2) -> Tensor:
    """kernel_size=1, stride1=1 correlation: mean_c(f1 * shift(pad(f2), dy, dx)), dy-major channels."""
    n, c, h, w = f1.shape
    p2 = F.pad(f2, (pad, pad, pad, pad))
    outs = []
    for dy in range(-md, md + 1, s2):
        for dx in range(-md, md + 1, s2):
            shifted = p2[:, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w]
            outs.append((f1 * shifted).mean(dim=1))
    return torch.stack(outs, dim=1)


def ref_resample2d(img: Tensor, flow: Tensor) -> Tensor:
    """out(p) = img(p + flow(p)), bilinear, coordinates clamped to the border."""
    n, _, h, w = img.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=img.dtype, device=img.device),
        torch.arange(w, dtype=img.dtype, device=img.device),
        indexing="ij",
    )
    gx = 2 * (xs + flow[:, 0]) / max(w - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(h - 1, 1) - 1
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def ref_channelnorm(x: Tensor) -> Tensor:
    return torch.sqrt((x * x).sum(dim=1, keepdim=True))


# ----------------------------------------------------------------------------------------------------
# FlowNet2's sub-networks written functionally from the original architecture, reading the weights
# from a state_dict by key name: an independent check of the modules' wiring (concatenation order,
# strides, where the leaky ReLUs are and are not).

def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.1)


def _c(sd: dict, key: str, x: Tensor, stride: int = 1, act: bool = True) -> Tensor:
    """A convolution stored as ``key.0.*`` (Sequential) or ``key.*`` (bare), 'same' padding."""
    w = sd.get(f"{key}.0.weight", sd.get(f"{key}.weight"))
    b = sd.get(f"{key}.0.bias", sd.get(f"{key}.bias"))
    y = F.conv2d(x, w, b, stride=stride, padding=(w.shape[-1] - 1) // 2)
    return _lrelu(y) if act else y


def _up(sd: dict, key: str, x: Tensor, act: bool) -> Tensor:
    w = sd.get(f"{key}.0.weight", sd.get(f"{key}.weight"))
    b = sd.get(f"{key}.0.bias", sd.get(f"{key}.bias"))
    y = F.conv_transpose2d(x, w, b, stride=2, padding=1)
    return _lrelu(y) if act else y


def _decoder(sd: dict, p: str, skips: dict[int, Tensor], c6: Tensor, inter: bool) -> Tensor:
    """FlowNet's refinement: at each level cat(skip, deconv(features), upflow(flow)) -> flow."""
    x = c6
    flow = _c(sd, f"{p}predict_flow6", x, act=False)
    for lvl in (5, 4, 3, 2):
        deconv = _up(sd, f"{p}deconv{lvl}", x, True)
        upflow = _up(sd, f"{p}upsampled_flow{lvl + 1}_to_{lvl}", flow, False)
        cat = torch.cat((skips[lvl], deconv, upflow), 1)
        feat = _c(sd, f"{p}inter_conv{lvl}", cat, act=False) if inter else cat
        flow = _c(sd, f"{p}predict_flow{lvl}", feat, act=False)
        x = cat
    return flow


def functional_flownets(sd: dict, p: str, x: Tensor) -> Tensor:
    c = _c(sd, f"{p}conv1", x, 2)
    c2 = _c(sd, f"{p}conv2", c, 2)
    c3 = _c(sd, f"{p}conv3_1", _c(sd, f"{p}conv3", c2, 2))
    c4 = _c(sd, f"{p}conv4_1", _c(sd, f"{p}conv4", c3, 2))
    c5 = _c(sd, f"{p}conv5_1", _c(sd, f"{p}conv5", c4, 2))
    c6 = _c(sd, f"{p}conv6_1", _c(sd, f"{p}conv6", c5, 2))
    return _decoder(sd, p, {2: c2, 3: c3, 4: c4, 5: c5}, c6, inter=False)


def functional_flownetc(sd: dict, p: str, x: Tensor) -> Tensor:
    def trunk(img: Tensor) -> tuple[Tensor, Tensor]:
        a2 = _c(sd, f"{p}conv2", _c(sd, f"{p}conv1", img, 2), 2)
        return a2, _c(sd, f"{p}conv3", a2, 2)

    a2, a3 = trunk(x[:, :3])
    _, b3 = trunk(x[:, 3:])
    corr = _lrelu(ref_correlation(a3, b3))
    c3 = _c(sd, f"{p}conv3_1", torch.cat((_c(sd, f"{p}conv_redir", a3), corr), 1))
    c4 = _c(sd, f"{p}conv4_1", _c(sd, f"{p}conv4", c3, 2))
    c5 = _c(sd, f"{p}conv5_1", _c(sd, f"{p}conv5", c4, 2))
    c6 = _c(sd, f"{p}conv6_1", _c(sd, f"{p}conv6", c5, 2))
    return _decoder(sd, p, {2: a2, 3: c3, 4: c4, 5: c5}, c6, inter=False)


def functional_flownetsd(sd: dict, p: str, x: Tensor) -> Tensor:
    c1 = _c(sd, f"{p}conv1_1", _c(sd, f"{p}conv1", _c(sd, f"{p}conv0", x), 2))
    c2 = _c(sd, f"{p}conv2_1", _c(sd, f"{p}conv2", c1, 2))
    c3 = _c(sd, f"{p}conv3_1", _c(sd, f"{p}conv3", c2, 2))
    c4 = _c(sd, f"{p}conv4_1", _c(sd, f"{p}conv4", c3, 2))
    c5 = _c(sd, f"{p}conv5_1", _c(sd, f"{p}conv5", c4, 2))
    c6 = _c(sd, f"{p}conv6_1", _c(sd, f"{p}conv6", c5, 2))
    return _decoder(sd, p, {2: c2, 3: c3, 4: c4, 5: c5}, c6, inter=True)


def functional_fusion(sd: dict, p: str, x: Tensor) -> Tensor:
    c0 = _c(sd, f"{p}conv0", x)
    c1 = _c(sd, f"{p}conv1_1", _c(sd, f"{p}conv1", c0, 2))
    c2 = _c(sd, f"{p}conv2_1", _c(sd, f"{p}conv2", c1, 2))
    flow2 = _c(sd, f"{p}predict_flow2", c2, act=False)
    up1 = _up(sd, f"{p}upsampled_flow2_to_1", flow2, False)
    cat1 = torch.cat((c1, _up(sd, f"{p}deconv1", c2, True), up1), 1)
    flow1 = _c(sd, f"{p}predict_flow1", _c(sd, f"{p}inter_conv1", cat1, act=False), act=False)
    up0 = _up(sd, f"{p}upsampled_flow1_to_0", flow1, False)
    cat0 = torch.cat((c0, _up(sd, f"{p}deconv0", cat1, True), up0), 1)
    return _c(sd, f"{p}predict_flow0", _c(sd, f"{p}inter_conv0", cat0, act=False), act=False)


# ----------------------------------------------------------------------------------------------------
# DFC-Net (DFGVI's DeepLab-style ResNet) written functionally from the original, weights by key name.


def _bn(sd: dict, key: str, x: Tensor) -> Tensor:
    return F.batch_norm(
        x, sd[f"{key}.running_mean"], sd[f"{key}.running_var"], sd[f"{key}.weight"], sd[f"{key}.bias"],
        training=False, eps=1e-5,
    )


def functional_dfcnet(sd: dict, x: Tensor, blocks: tuple[int, int, int, int], head: str) -> Tensor:
    size = x.shape[-2:]
    y = F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"], stride=2, padding=3)
    y = F.max_pool2d(F.relu(_bn(sd, "bn1", y)), 3, stride=2, padding=1, ceil_mode=True)
    for layer, (n, stride, dil) in enumerate(zip(blocks, (1, 2, 1, 1), (1, 1, 2, 4)), start=1):
        for i in range(n):
            k = f"layer{layer}.{i}"
            s = stride if i == 0 else 1
            out = F.relu(_bn(sd, f"{k}.bn1", F.conv2d(y, sd[f"{k}.conv1.weight"], stride=s)))
            out = F.conv2d(out, sd[f"{k}.conv2.weight"], padding=dil, dilation=dil)
            out = F.relu(_bn(sd, f"{k}.bn2", out))
            out = _bn(sd, f"{k}.bn3", F.conv2d(out, sd[f"{k}.conv3.weight"]))
            if f"{k}.downsample.0.weight" in sd:
                y = _bn(sd, f"{k}.downsample.1", F.conv2d(y, sd[f"{k}.downsample.0.weight"], stride=s))
            y = F.relu(out + y)

    def up(t: Tensor, hw: tuple[int, int]) -> Tensor:
        return F.interpolate(t, size=hw, mode="bilinear", align_corners=False)

    h, w = size
    if head == "single":
        return up(F.conv2d(y, sd["layer5.conv1.weight"], sd["layer5.conv1.bias"]), (h, w))
    y = up(y, (h // 4, w // 4))
    y = F.relu(F.conv2d(y, sd["layer5.conv1.weight"], sd["layer5.conv1.bias"], padding=2))
    y = up(y, (h // 2, w // 2))
    y = F.relu(F.conv2d(y, sd["layer5.conv2.weight"], sd["layer5.conv2.bias"], padding=1))
    return F.conv2d(up(y, (h, w)), sd["layer5.conv3.weight"], sd["layer5.conv3.bias"])
