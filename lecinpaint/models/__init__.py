"""Seed-tier learned models and their checkpoint loaders (DESIGN.md §4, §5).

    load_flownet2(path, device) -> FlowNet2        NVIDIA's FlowNet2_checkpoint.pth.tar
    load_dfc(path, stage, device) -> DFCNet        DFGVI's resnet50_stage1 / davis_stage2/3 / resnet101_movie
    complete_flows(models, flows, holes)           DFC-Net stages 1(-3) on an 11-pair window
    load_person_segmenter(kind, weights, device)   torchvision FCN / DeepLabV3 ResNet-101, person probability
    read_flo / write_flo                           Middlebury .flo files

No function here downloads weights. A missing checkpoint raises :class:`CheckpointNotFoundError`, which
names the file, every place it was looked for (explicit path, ``$LECINPAINT_WEIGHTS``,
``torch.hub.get_dir()/checkpoints``) and where to get it; an unusable one raises
:class:`CheckpointError`.

The submodules are imported lazily, so importing this package costs nothing until a model is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "DFCNet",
    "FlowNet2",
    "PersonSegmenter",
    "complete_flows",
    "laplace_fill",
    "load_dfc",
    "load_flownet2",
    "load_person_segmenter",
    "read_flo",
    "write_flo",
]

_WHERE = {
    "CheckpointError": "_weights",
    "CheckpointNotFoundError": "_weights",
    "DFCNet": "dfcnet",
    "complete_flows": "dfcnet",
    "laplace_fill": "dfcnet",
    "load_dfc": "dfcnet",
    "FlowNet2": "flownet2",
    "load_flownet2": "flownet2",
    "PersonSegmenter": "segmentation",
    "load_person_segmenter": "segmentation",
    "read_flo": "flo",
    "write_flo": "flo",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"lecinpaint.models.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'lecinpaint.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
