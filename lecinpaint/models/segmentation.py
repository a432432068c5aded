"""torchvision's FCN-ResNet101 and DeepLabV3-ResNet101 as person segmenters (seed tier).

The models are torchvision's, built with ``weights=None, weights_backbone=None`` so that building
never downloads anything, and then loaded from the checkpoint torchvision itself would have
downloaded (``COCO_WITH_VOC_LABELS_V1``: 21 Pascal VOC classes, person = 15):

    fcn         fcn_resnet101_coco-7ecb50ca.pth
    deeplabv3   deeplabv3_resnet101_coco-586e9e4e.pth

The file is taken from an explicit path, else from ``$LECINPAINT_WEIGHTS``, else from torch's hub cache
``torch.hub.get_dir()/checkpoints``, which is where torchvision keeps what it downloads: on a machine
that ever ran ``torchvision.models.segmentation.fcn_resnet101(weights="DEFAULT")`` the file is already
there. Offline and absent, loading fails with an error naming the file, the places searched and the
URL to fetch it from.

Pre-processing follows the weights' own transform: the shorter side resized to 520 px (bilinear,
antialiased), ImageNet mean/std normalisation; the class probabilities (softmax over the 21 classes)
are resized back to the input size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lecinpaint.models._weights import (
    find_checkpoint,
    load_checkpoint_file,
    load_state_dict_strict,
    tensor_state_dict,
)

__all__ = [
    "PERSON_CLASS",
    "PersonSegmenter",
    "checkpoint_name",
    "checkpoint_url",
    "load_person_segmenter",
]

PERSON_CLASS = 15  # index of "person" in the 21 Pascal VOC classes
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_KINDS = ("fcn", "deeplabv3")


def _weights_enum(kind: str):  # noqa: ANN202 (a torchvision enum member)
    from torchvision.models.segmentation import DeepLabV3_ResNet101_Weights, FCN_ResNet101_Weights

    if kind == "fcn":
        return FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1
    if kind == "deeplabv3":
        return DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1
    raise ValueError(f"person segmenter: kind must be one of {_KINDS}, got {kind!r}")


def checkpoint_url(kind: str) -> str:
    """The URL torchvision downloads the ``kind`` ("fcn" or "deeplabv3") weights from."""
    return str(_weights_enum(kind).url)


def checkpoint_name(kind: str) -> str:
    """The file name of the ``kind`` weights in torch's hub cache (``fcn_resnet101_coco-7ecb50ca.pth``...)."""
    return checkpoint_url(kind).rsplit("/", 1)[-1]


def _build(kind: str, aux_loss: bool) -> nn.Module:
    from torchvision.models import segmentation as seg

    builder = seg.fcn_resnet101 if kind == "fcn" else seg.deeplabv3_resnet101
    return builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=aux_loss)


class PersonSegmenter(nn.Module):
    """Wraps a torchvision segmentation model; calling it gives person probabilities.

    ``segmenter(frames) -> (N, H, W)`` float32 in [0, 1], on the model's device, where ``frames`` is

    - a numpy ``uint8`` RGB array ``(H, W, 3)`` or ``(N, H, W, 3)``, or
    - a torch tensor ``(N, 3, H, W)`` or ``(3, H, W)`` of RGB values in 0..255 (uint8 or float).

    Args:
        model: a torchvision FCN / DeepLabV3 with 21 VOC classes (its ``"out"`` head is used).
        resize: the shorter side is resized to this many pixels before the network (torchvision's
            transform for these weights uses 520); None runs at the input size.
    """

    def __init__(self, model: nn.Module, resize: int | None = 520) -> None:
        super().__init__()
        self.model = model
        self.resize = resize
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _as_batch(self, frames: np.ndarray | Tensor) -> Tensor:
        dev = self.mean.device
        if isinstance(frames, np.ndarray):
            if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[-1] != 3:
                raise ValueError(
                    "person segmenter: numpy frames must be uint8 RGB (H, W, 3) or (N, H, W, 3), "
                    f"got {frames.dtype} {frames.shape}"
                )
            t = torch.from_numpy(np.ascontiguousarray(frames))
            t = t.unsqueeze(0) if t.dim() == 3 else t
            return t.to(dev).permute(0, 3, 1, 2).float()
        if isinstance(frames, Tensor):
            t = frames.unsqueeze(0) if frames.dim() == 3 else frames
            if t.dim() != 4 or t.shape[1] != 3:
                raise ValueError(
                    "person segmenter: tensors must be RGB (N, 3, H, W) or (3, H, W), "
                    f"got {tuple(frames.shape)}"
                )
            return t.to(dev).float()
        raise TypeError(
            f"person segmenter: expected a numpy array or a torch tensor, got {type(frames).__name__}"
        )

    @torch.no_grad()
    def forward(self, frames: np.ndarray | Tensor) -> Tensor:
        x = self._as_batch(frames)
        n, _, h, w = x.shape
        if n == 0 or h == 0 or w == 0:
            return x.new_zeros((n, h, w))
        if self.resize is not None and min(h, w) != self.resize:
            # torchvision's rule: the shorter side becomes `resize`, the longer one is truncated
            long = max(1, int(self.resize * max(h, w) / min(h, w)))
            size = (self.resize, long) if h <= w else (long, self.resize)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        logits = self.model(x)["out"]
        prob = logits.float().softmax(dim=1)[:, PERSON_CLASS : PERSON_CLASS + 1]
        if prob.shape[-2:] != (h, w):
            prob = F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)
        return prob[:, 0].clamp_(0.0, 1.0)


def load_person_segmenter(
    kind: str = "deeplabv3",
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    *,
    resize: int | None = 520,
) -> PersonSegmenter:
    """Build torchvision's FCN- or DeepLabV3-ResNet101 and load its COCO/VOC weights, never downloading.

    Args:
        kind: ``"fcn"`` or ``"deeplabv3"``.
        weights: the checkpoint file (a state_dict, as torchvision saves it), or a directory holding
            it under torchvision's file name. When None it is looked for under :func:`checkpoint_name`
            in ``$LECINPAINT_WEIGHTS`` and then in ``torch.hub.get_dir()/checkpoints``.
        device: where to put the model.
        resize: see :class:`PersonSegmenter`.

    Raises:
        ValueError: unknown ``kind``.
        CheckpointNotFoundError: the file is not there; the message names it, the places searched and
            the URL it comes from.
        CheckpointError: the file is unreadable or is not a state_dict of this model.
    """
    if kind not in _KINDS:
        raise ValueError(f"load_person_segmenter: kind must be one of {_KINDS}, got {kind!r}")
    name = checkpoint_name(kind)
    what = f"{kind} person segmentation"
    source = f"{checkpoint_url(kind)} (torchvision's {kind}_resnet101 COCO_WITH_VOC_LABELS_V1 weights)"
    file: Path = find_checkpoint(name, weights, what=what, source=source)
    obj = load_checkpoint_file(file, what=what)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    state = tensor_state_dict(obj, file=file, what=what, expected="a state_dict mapping key names to tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    aux = any(k.startswith("aux_classifier.") for k in state)
    with torch.device("meta"):
        model = _build(kind, aux_loss=aux)
    load_state_dict_strict(model, state, file=file, what=what)
    if aux:  # the auxiliary head only serves training; drop it so inference does not pay for it
        model.aux_classifier = None
    return PersonSegmenter(model, resize=resize).to(device)
