"""The engine's configuration: one validated dataclass, and the device resolution.

Every field is checked on construction, with a ``ValueError`` that names the field and says what it
accepts, so that front ends can report a bad option in one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from lecinpaint.completion import COMPLETIONS
from lecinpaint.fill import INPAINT_METHODS
from lecinpaint.flow import DIS_PRESETS, FLOWS

__all__ = ["Config", "SEGMENTER_CHOICES", "check_rate", "resolve_device"]

SEGMENTER_CHOICES = ("mediapipe", "deeplabv3", "fcn", "masks")
STAGES = ("read", "segment", "masks", "flow", "complete", "propagate", "fill", "composite")


@dataclass
class Config:
    """Everything the engine can be told. Validated on construction (``ValueError`` naming the field).

    Segmentation:
        segmenter: ``"mediapipe"`` (default: the whole-lecturer stage of :mod:`lecinpaint.lecturer`, also
            ``"mediapipe:lecturer"``; ``"mediapipe:lecturer-pose"``; the bare models
            ``"mediapipe:selfie"``, ``"mediapipe:pose"``, ``"mediapipe:combined"``), ``"deeplabv3"``,
            ``"fcn"`` (torchvision, seed tier), or ``"masks"`` (masks from ``mask_source``: a folder of
            images or a mask video).
        mask_source: path of the masks, for ``segmenter="masks"``.
        segmenter_weights: checkpoint for ``deeplabv3`` / ``fcn`` (None: torch's cache).
        mask_threshold: person probability above which a pixel is a hole. 0.2: the selfie model is
            unsure of legs and arms far from the face; on the lecture benchmark's own-segmentation runs
            0.2 against 0.5 raised the PSNR in the mask from 25.4 to 29.6 dB (pan clip) and from 31.1
            to 37.0 dB (720p), with recall of the person 0.94 against 0.86 and precision 0.91 against 0.97.
        stabilize: lookahead, in frames, of the temporal mask stabiliser (0: per-frame masks).
        segment_ahead: frames the worker threads run ahead of the rest (:func:`lecinpaint.ahead.ahead`):
            one reads and segments, one computes the optical flow of each pair (``lecinpaint.flowahead``);
            the second core's share of the work. The results are the same whatever the value; 0 runs
            everything on the caller's thread (the VapourSynth front end always does: a clip is read on
            VapourSynth's own threads).
        dilation: hole dilation radius in pixels (None: ``masks.default_dilation`` for the frame size).
    Frame rate:
        fps: output frame rate (None: every frame is processed; ``fps=5`` reproduces the seed).
        input_fps: the input's frame rate; needed with ``fps`` (or given by ``Engine.output_rate``).
    Flow:
        flow: ``"dis"`` (default) or ``"flownet2"`` (needs ``flownet2_weights`` or the file in
            ``$LECINPAINT_WEIGHTS`` / torch's hub cache).
        flow_scale: working resolution of the flow as a fraction of the frame (None: 0.5 for DIS,
            1.0 for FlowNet2).
        dis_preset: ``"ultrafast"`` (default), ``"fast"`` or ``"medium"``. Only the camera's motion is
            taken from the flow near the lecturer (see ``completion``), and on the lecture benchmark all
            three give the same quality at half resolution (mean PSNR in the mask 31.1 dB), while a
            quarter resolution loses 2 dB except with "medium"; hence ultrafast at 0.5.
        flownet2_weights: FlowNet2 checkpoint path.
        flow_margin: the flow is replaced by the completion in the hole grown by this many pixels of
            the flow's working resolution (flow next to the lecturer is dragged along with them).
    Completion:
        completion: ``"laplace"`` (default: the camera's motion inside and around the hole, rounded
            to whole pixels with the error carried over, see ``completion.LaplaceCompletion``; on the
            lecture benchmark: mean PSNR in the mask 31.1 dB, against 25.3 dB for a plain membrane fill
            of the flow and 30.1 dB without the rounding) or ``"dfc"``
            (DFC-Net, needs ``dfc_weights``; 5 frames more latency per stage).
        dfc_weights: DFC-Net checkpoint(s): a path for stage 1 or a dict ``{1: path, 2: path, 3: path}``.
    Propagation:
        threshold: forward/backward flow consistency threshold in pixels (DFGVI: 40; a static lecture
            camera wants a few px). With the default completion the flows in the hole are consistent by
            construction, so 2, 5 and 20 px measured the same.
        lookahead: frames of lookahead of the backward direction (latency and memory grow with it, the
            work per frame does not). Mean PSNR in the mask on the lecture benchmark: 29.6 dB at 8,
            30.4 at 16, 31.1 at 32, 31.1 at 64; hence 32.
    Last holes:
        memory: use the background memory (per-pixel last-seen background) while the camera is still.
        inpaint: ``"rows"`` (default: each row bridged from its known ends, see ``fill.row_fill``),
            ``"telea"``, ``"ns"`` (OpenCV) or ``"laplace"``; inpaint_radius (Telea / NS);
            inpaint_scale: resolution of the inpainting as a fraction of the frame's.
    First-seen plate (see ``lecinpaint.plate``):
        plate: ``"auto"`` (default: when ``Engine.run`` is given a source that can be read twice, a path
            or a re-iterable such as a list, a first pass of segmentation and camera motion builds the
            plate of the board as first seen, and the second pass uses it after the past and the
            lookahead), ``"off"``, a plate file's path (written by ``lecinpaint plate``), or a
            :class:`lecinpaint.plate.Plate`.
        board_fill: what neither the frames nor the plate ever showed is synthesised as board
            (``lecinpaint.board``: a smooth illumination field plus the straight structure crossing the
            hole) instead of by ``inpaint``; measured on the lecture benchmark's "never leaves" clips.
    Compositing:
        ghost: opacity of the lecturer over the restored board, 0 (default: removed) to 1 (the input);
            outside the hole the output is the input either way.
    Device:
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: PyTorch CPU threads while the engine runs (``torch.set_num_threads``, set when ``run``
            starts and restored when it ends; None leaves PyTorch's setting alone). The engine's tensors
            are small and its work is spread over many short operations: on a 2-core machine one thread
            measured 3x faster end to end than two (which wait for each other), hence the default 1.
    """

    segmenter: str = "mediapipe"
    mask_source: str | None = None
    segmenter_weights: str | None = None
    mask_threshold: float = 0.2
    stabilize: int = 2
    segment_ahead: int = 4
    dilation: int | None = None
    fps: Fraction | float | int | str | None = None
    input_fps: Fraction | float | int | str | None = None
    flow: str = "dis"
    flow_scale: float | None = None
    dis_preset: str = "ultrafast"
    flownet2_weights: str | None = None
    flow_margin: int = 4
    completion: str = "laplace"
    dfc_weights: Any = None
    threshold: float = 5.0
    lookahead: int = 32
    memory: bool = True
    inpaint: str = "rows"
    inpaint_radius: int = 3
    inpaint_scale: float = 0.5
    plate: Any = "auto"
    board_fill: bool = True
    ghost: float = 0.0
    device: str = "auto"
    threads: int | None = 1

    def __post_init__(self) -> None:
        base = str(self.segmenter).partition(":")[0]
        if base not in SEGMENTER_CHOICES:
            raise ValueError(
                f"Config.segmenter: must be one of {', '.join(SEGMENTER_CHOICES)}; got {self.segmenter!r}"
            )
        if ":" in str(self.segmenter) and base != "mediapipe":
            raise ValueError(f"Config.segmenter: only 'mediapipe' has variants; got {self.segmenter!r}")
        if base == "masks" and not self.mask_source:
            raise ValueError(
                "Config.mask_source: segmenter='masks' needs mask_source (a folder of mask images or a "
                "mask video), or pass masks= to Engine.run()"
            )
        _check_number("mask_threshold", self.mask_threshold, lo=0.0, hi=1.0, hi_open=True)
        _check_int("stabilize", self.stabilize, lo=0)
        _check_int("segment_ahead", self.segment_ahead, lo=0)
        if self.dilation is not None:
            _check_int("dilation", self.dilation, lo=0)
        for name in ("fps", "input_fps"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _check_rate(name, value))
        if self.flow not in FLOWS:
            raise ValueError(f"Config.flow: must be one of {', '.join(FLOWS)}; got {self.flow!r}")
        if self.flow_scale is not None:
            _check_number("flow_scale", self.flow_scale, lo=0.0, hi=1.0, lo_open=True)
        if self.dis_preset not in DIS_PRESETS:
            raise ValueError(
                f"Config.dis_preset: must be one of {', '.join(DIS_PRESETS)}; got {self.dis_preset!r}"
            )
        _check_int("flow_margin", self.flow_margin, lo=0)
        if self.completion not in COMPLETIONS:
            raise ValueError(
                f"Config.completion: must be one of {', '.join(COMPLETIONS)}; got {self.completion!r}"
            )
        _check_number("threshold", self.threshold, lo=0.0, lo_open=True)
        _check_int("lookahead", self.lookahead, lo=0)
        if not isinstance(self.memory, bool):
            raise ValueError(f"Config.memory: must be True or False; got {self.memory!r}")
        if self.inpaint not in INPAINT_METHODS:
            raise ValueError(
                f"Config.inpaint: must be one of {', '.join(INPAINT_METHODS)}; got {self.inpaint!r}"
            )
        _check_int("inpaint_radius", self.inpaint_radius, lo=1)
        _check_number("inpaint_scale", self.inpaint_scale, lo=0.0, hi=1.0, lo_open=True)
        # A Plate is recognised by what the engine calls on it (config does not import the plate module).
        if not (isinstance(self.plate, str) or self.plate is None
                or all(hasattr(self.plate, a) for a in ("view", "cut", "check_first"))):
            raise ValueError(
                f"Config.plate: must be 'auto', 'off', a plate file's path or a Plate; got {self.plate!r}"
            )
        if self.plate is None:
            self.plate = "off"
        if not isinstance(self.board_fill, bool):
            raise ValueError(f"Config.board_fill: must be True or False; got {self.board_fill!r}")
        _check_number("ghost", self.ghost, lo=0.0, hi=1.0)
        self.ghost = float(self.ghost)
        self.device = _check_device(self.device)
        if self.threads is not None:
            _check_int("threads", self.threads, lo=1)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(values)
        if unknown:
            raise ValueError(f"Config has no field(s) {', '.join(sorted(unknown))}")
        values.update(changes)
        return Config(**values)


def _check_int(name: str, value: Any, lo: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"Config.{name}: must be an integer; got {value!r}")
    if lo is not None and value < lo:
        raise ValueError(f"Config.{name}: must be >= {lo}; got {value!r}")


def _check_number(
    name: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"Config.{name}: must be a number; got {value!r}")
    v = float(value)
    if math.isnan(v) or (lo is not None and (v < lo or (lo_open and v == lo))) or (
        hi is not None and (v > hi or (hi_open and v == hi))
    ):
        lo_s = "" if lo is None else ("> " if lo_open else ">= ") + f"{lo:g}"
        hi_s = "" if hi is None else ("< " if hi_open else "<= ") + f"{hi:g}"
        rng = " and ".join(s for s in (lo_s, hi_s) if s)
        raise ValueError(f"Config.{name}: must be {rng}; got {value!r}")


def _check_rate(name: str, value: Any) -> Fraction:
    try:
        if isinstance(value, Fraction):
            f = value
        elif isinstance(value, str):
            f = Fraction(value.strip())
        elif isinstance(value, bool):
            raise ValueError
        else:
            f = Fraction(value).limit_denominator(1_000_000)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise ValueError(
            f"Config.{name}: must be a positive frame rate (e.g. 5, 29.97, '30000/1001'); got {value!r}"
        ) from None
    if f <= 0:
        raise ValueError(f"Config.{name}: must be a positive frame rate; got {value!r}")
    return f


def _check_device(device: Any) -> str:
    d = str(device)
    if d == "auto":
        return d
    try:
        dev = torch.device(d)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"Config.device: must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"Config.device: must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    return d


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; other values as given (CUDA checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"Config.device: {device!r} was asked for but CUDA is not available (use 'auto' or 'cpu')"
        )
    return dev


check_rate = _check_rate
