"""The engine: composes the stages over a stream of frames, at constant memory.

::

    frames ─► segment (or user masks) ─► stabilise ─► dilate ─► [fps reduction happens first]
           ─► flow (forward + backward, only for pairs that touch a hole)
           ─► flow completion in the hole
           ─► streaming propagation (lookahead L)
           ─► background memory, then image inpainting of what is left
           ─► composite: input pixels outside the hole, bit for bit ─► frames out

Usage::

    from lecinpaint import Engine, Config

    engine = Engine(Config(segmenter="mediapipe", device="auto"))
    for frame in engine.run(frames):        # any iterable of (H, W, 3) uint8 RGB numpy arrays
        ...                                  # one finished (H, W, 3) uint8 RGB frame per input frame

Memory is bounded by the latency (``Engine.lookahead`` frames plus a few per-frame buffers), never by the
video's length. Nothing here prints, parses arguments or touches stdin/stdout.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import torch

from lecinpaint.completion import COMPLETIONS, make_completion
from lecinpaint.fill import INPAINT_METHODS, BackgroundMemory, Inpainter
from lecinpaint.flow import DIS_PRESETS, FLOWS, make_flow, upsample_flow
from lecinpaint.propagation import (
    INPAINTED,
    UNKNOWN,
    PairFlows,
    Propagated,
    StreamingPropagator,
    pack_rgb,
    unpack_rgb,
)

__all__ = ["Config", "Engine", "SEGMENTER_CHOICES", "STAGES"]

SEGMENTER_CHOICES = ("mediapipe", "deeplabv3", "fcn", "masks")
STAGES = ("read", "segment", "masks", "flow", "complete", "propagate", "fill", "composite")


@dataclass
class Config:
    """Everything the engine can be told. Validated on construction (``ValueError`` naming the field).

    Segmentation:
        segmenter: ``"mediapipe"`` (default; also ``"mediapipe:selfie"``, ``"mediapipe:pose"``,
            ``"mediapipe:combined"``), ``"deeplabv3"``, ``"fcn"`` (torchvision, seed tier), or
            ``"masks"`` (masks from ``mask_source``: a folder of images or a mask video).
        mask_source: path of the masks, for ``segmenter="masks"``.
        segmenter_weights: checkpoint for ``deeplabv3`` / ``fcn`` (None: torch's cache).
        mask_threshold: person probability above which a pixel is a hole. 0.2: the selfie model is
            unsure of legs and arms far from the face; on the lecture benchmark's own-segmentation runs
            0.2 against 0.5 raised the PSNR in the mask from 25.4 to 29.6 dB (pan clip) and from 31.1
            to 37.0 dB (720p), with recall of the person 0.94 against 0.86 and precision 0.91 against 0.97.
        stabilize: lookahead, in frames, of the temporal mask stabiliser (0: per-frame masks).
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


@dataclass
class _Ready:
    """A frame with its final hole, on its way to the propagator."""

    index: int
    frame: np.ndarray
    mask: np.ndarray


class Engine:
    """Streaming video inpainting over a :class:`Config` (see the module docstring).

    Attributes:
        config: the configuration.
        device: the torch device the engine works on.
        lookahead: frames the engine reads ahead before it emits a frame (its latency): the mask
            stabiliser's (``Config.stabilize``; skipped when masks are given to ``run``, so the latency is
            then that much lower) plus the flow completion's plus the propagation's.
        stage_times: seconds spent per stage so far (``dict[str, float]``), accumulated over runs.
    """

    def __init__(self, config: Config | None = None, **overrides: Any) -> None:
        if config is None:
            config = Config(**overrides)
        elif overrides:
            config = config.replace(**overrides)
        if not isinstance(config, Config):
            raise TypeError(f"Engine(config): expected a lecinpaint.Config, got {type(config).__name__}")
        self.config = config
        self.device = resolve_device(config.device)
        self.stage_times: dict[str, float] = {s: 0.0 for s in STAGES}
        self._input_rate: Fraction | None = config.input_fps
        # The seed tier's networks load here, so that a missing checkpoint is an error now, not later.
        self._flow = make_flow(
            config.flow,
            device=self.device,
            weights=config.flownet2_weights,
            scale=config.flow_scale,
            preset=config.dis_preset,
        )
        self._completion = make_completion(
            config.completion,
            device=self.device,
            weights=config.dfc_weights,
            options={"scale": self._flow.scale} if config.completion == "laplace" else None,
        )
        stab = config.stabilize if config.segmenter.partition(":")[0] not in ("masks",) else 0
        self.lookahead = stab + self._completion.lookahead + config.lookahead

    # ------------------------------------------------------------------------------------------------
    def output_rate(self, rate: Fraction | float | int | str) -> Fraction:
        """The output frame rate for an input at ``rate``: ``min(fps, rate)`` with ``fps``, else ``rate``.

        With ``fps`` set and no ``input_fps`` in the config, this also tells the engine the input's
        rate (front ends call it before ``run``).
        """
        r = _check_rate("input_fps", rate)
        if self.config.fps is None:
            return r
        if self.config.input_fps is None:
            self._input_rate = r
        return min(self.config.fps, r)  # type: ignore[type-var]

    # ------------------------------------------------------------------------------------------------
    def run(
        self,
        frames: Iterable[np.ndarray],
        masks: Iterable[np.ndarray] | None = None,
        progress: Callable[[int], Any] | None = None,
        with_masks: bool = False,
        with_index: bool = False,
    ) -> Iterator[Any]:
        """Inpaint a stream: yield one finished frame per input frame (per kept frame with ``fps``).

        Args:
            frames: any iterable of ``(H, W, 3)`` uint8 RGB numpy arrays, all of one size.
            masks: optional iterable of ``(H, W)`` bool masks (True = hole), in lockstep with ``frames``;
                it replaces segmentation (the masks are still dilated by ``Config.dilation``).
            progress: called with the number of frames emitted so far, after each one.
            with_masks: yield ``(frame, hole)`` pairs, ``hole`` being the final dilated mask.
            with_index: yield ``(index, item)``, ``index`` being the 0-based position in ``frames`` of
                the input this output replaces (with ``fps`` the dropped inputs have no output), so that
                front ends pair outputs with originals without redoing the frame-rate decision.

        Raises:
            ValueError: a frame or mask of the wrong size, dtype or shape (the message names its index),
                masks running out before frames, ``fps`` without a known input rate.
        """
        items = self._run(frames, masks, progress, with_masks)
        return self._indexed(items) if with_index else items

    def _indexed(self, items: Iterator[Any]) -> Iterator[tuple[int, Any]]:
        keep: Callable[[int], bool] | None = None
        i = 0
        for item in items:
            if keep is None:  # after the first item: _run has checked the rates by then
                from lecinpaint.masks import FrameRateReducer

                fps, rate = self.config.fps, self._input_rate
                keep = (lambda j: True) if fps is None else FrameRateReducer(rate, fps).keep  # type: ignore
            while not keep(i):
                i += 1
            yield i, item
            i += 1

    def _run(self, frames, masks, progress, with_masks):
        from lecinpaint import masks as masks_mod

        cfg = self.config
        times = self.stage_times
        reducer = None
        if cfg.fps is not None:
            if self._input_rate is None:
                raise ValueError(
                    "Config.input_fps: fps reduction needs the input frame rate: set Config.input_fps, or "
                    "call Engine.output_rate(input_rate) before run()"
                )
            reducer = masks_mod.FrameRateReducer(self._input_rate, cfg.fps)

        mask_iter: Iterator[np.ndarray] | None = None
        if masks is not None:
            mask_iter = iter(masks)
        elif cfg.segmenter == "masks":
            mask_iter = iter(masks_mod.MaskSource(cfg.mask_source))  # type: ignore[arg-type]
        segmenter = None
        stabilizer = None
        old_threads = torch.get_num_threads()
        waiting: deque[tuple[int, np.ndarray]] = deque()  # frames whose stabilised mask is not out yet
        shape: tuple[int, int] | None = None
        n_kept = 0
        emitted = 0
        try:
            if cfg.threads is not None:
                torch.set_num_threads(cfg.threads)
            if mask_iter is None:
                from lecinpaint.segmentation import make_segmenter

                t0 = time.perf_counter()
                segmenter = make_segmenter(
                    cfg.segmenter, device=str(self.device), weights=cfg.segmenter_weights
                )
                stabilizer = masks_mod.MaskStabilizer(lookahead=cfg.stabilize, threshold=cfg.mask_threshold)
                times["segment"] += time.perf_counter() - t0
            state = _RunState(self)
            t0 = time.perf_counter()
            for i, frame in enumerate(frames):
                frame = _check_frame(frame, i, shape)
                if shape is None:
                    shape = frame.shape[:2]
                    state.start(shape)
                mask = None
                if mask_iter is not None:
                    try:
                        mask = next(mask_iter)
                    except StopIteration:
                        raise ValueError(
                            f"masks: the masks ran out at frame {i} ({i} masks for more frames); "
                            "give one mask per frame"
                        ) from None
                    mask = _check_mask(mask, i, shape)
                times["read"] += time.perf_counter() - t0
                if reducer is not None and not reducer.keep(i):
                    t0 = time.perf_counter()
                    continue
                k = n_kept
                n_kept += 1
                ready: list[_Ready] = []
                if mask is not None:
                    ready.append(_Ready(k, frame, mask))
                else:
                    t1 = time.perf_counter()
                    prob = segmenter(frame)  # type: ignore[misc]
                    t2 = time.perf_counter()
                    times["segment"] += t2 - t1
                    waiting.append((k, frame))
                    for m in stabilizer.push(prob):  # type: ignore[union-attr]
                        kk, ff = waiting.popleft()
                        ready.append(_Ready(kk, ff, m))
                    times["masks"] += time.perf_counter() - t2
                for r in ready:
                    for out in state.push(r):
                        emitted += 1
                        yield out if with_masks else out[0]
                        if progress is not None:
                            progress(emitted)
                t0 = time.perf_counter()
            # End of the stream.
            if stabilizer is not None:
                t2 = time.perf_counter()
                rest = stabilizer.flush()
                times["masks"] += time.perf_counter() - t2
                for m in rest:
                    kk, ff = waiting.popleft()
                    for out in state.push(_Ready(kk, ff, m)):
                        emitted += 1
                        yield out if with_masks else out[0]
                        if progress is not None:
                            progress(emitted)
            for out in state.finish():
                emitted += 1
                yield out if with_masks else out[0]
                if progress is not None:
                    progress(emitted)
        finally:
            if segmenter is not None:
                segmenter.close()
            if cfg.threads is not None:
                torch.set_num_threads(old_threads)


class _RunState:
    """Per-run state of the stages after segmentation (everything bounded by the window)."""

    def __init__(self, engine: Engine) -> None:
        cfg = engine.config
        self.engine = engine
        self.cfg = cfg
        self.device = engine.device
        self.times = engine.stage_times
        self.flow = engine._flow
        self.completion = engine._completion.fresh()  # streaming state per run, networks shared
        self.prop = StreamingPropagator(cfg.lookahead, cfg.threshold)
        self.memory = BackgroundMemory() if cfg.memory else None
        self.inpainter = Inpainter(cfg.inpaint, cfg.inpaint_radius, cfg.inpaint_scale)
        self.radius = 0
        self.shape: tuple[int, int] = (0, 0)
        self.prev: tuple[int, np.ndarray, np.ndarray, Any] | None = None  # (index, frame, hole, flow prep)
        self.motion: dict[int, tuple[float, float]] = {}  # camera motion into frame k (full-res px)
        self.drift = np.zeros(2)
        self.holes: dict[int, np.ndarray] = {}

    def start(self, shape: tuple[int, int]) -> None:
        from lecinpaint.masks import default_dilation

        self.shape = shape
        d = self.cfg.dilation
        self.radius = default_dilation(*shape) if d is None else int(d)

    # ------------------------------------------------------------------------------------------------
    def push(self, r: _Ready) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from lecinpaint.masks import dilate

        t0 = time.perf_counter()
        hole = dilate(r.mask, self.radius) if self.radius else r.mask.copy()
        self.times["masks"] += time.perf_counter() - t0
        pair = None
        prep = None
        if self.prev is not None and (self.prev[2].any() or hole.any()):
            pair, prep = self._pair(r.frame, hole)
        self.completion_pass(r, hole, pair)
        self.prev = (r.index, r.frame, hole, prep)
        yield from self._drain()

    def completion_pass(self, r: _Ready, hole: np.ndarray, pair: Any) -> None:
        # The completion may delay pairs (DFC-Net's window); frames go through it in order either way.
        t0 = time.perf_counter()
        if pair is None:
            done = self.completion.push(None, None, (r, hole, None))  # type: ignore[arg-type]
        else:
            flows, small_hole, box_info = pair
            done = self.completion.push(flows, small_hole, (r, hole, box_info))
        self.times["complete"] += time.perf_counter() - t0
        for item in done:
            self._to_propagator(*item)

    def _to_propagator(self, flows, small_hole, tag) -> None:
        r, hole, box_info = tag
        t0 = time.perf_counter()
        pair = None
        if flows is not None:
            pair, self.motion[r.index] = self._finish_pair(flows, small_hole, hole, box_info)
        self.times["complete"] += time.perf_counter() - t0
        t1 = time.perf_counter()
        frame_t = torch.from_numpy(r.frame).to(self.device)
        hole_t = torch.from_numpy(hole).to(self.device)
        self.holes[r.index] = hole
        self.prop.push(frame_t, hole_t, pair)
        self.times["propagate"] += time.perf_counter() - t1

    def finish(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for item in self.completion.flush():
            self._to_propagator(*item)
        self.prop.finish()
        yield from self._drain()

    # ------------------------------------------------------------------------------------------------
    def _pair(self, frame: np.ndarray, hole: np.ndarray):
        """Flows of the pair (previous frame, this frame) at the working resolution, and the hole."""
        t0 = time.perf_counter()
        pidx, pframe, phole, pprep = self.prev  # type: ignore[misc]
        if pprep is None:
            pprep = self.flow.prepare(pframe)
        prep = self.flow.prepare(frame)
        flows = self.flow.pair(pprep, prep)  # (2, 2, h, w)
        h, w = self.shape
        sh, sw = flows.shape[-2:]
        union = hole | phole
        if (sh, sw) != (h, w):
            small = cv2.resize(union.view(np.uint8) * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 0
        else:
            small = union.copy()
        # Flow estimated near the lecturer's outline is dragged along with the lecturer (DIS's patches
        # straddle it): widen the region whose flow is replaced by the completion.
        r = self.cfg.flow_margin
        if r:
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            small = cv2.dilate(small.view(np.uint8), disc).view(bool)
        # The camera's motion (for the background memory): median flow over the background, sampled.
        bg = ~small[::4, ::4]
        f0 = flows[0, :, ::4, ::4].cpu().numpy()
        mx = my = 0.0
        if bg.any():
            mx = float(np.median(f0[0][bg])) * w / sw
            my = float(np.median(f0[1][bg])) * h / sh
        self.times["flow"] += time.perf_counter() - t0
        return (flows, torch.from_numpy(small).to(flows.device), (union, (mx, my))), prep

    def _finish_pair(self, flows, small_hole, hole, box_info) -> tuple[PairFlows, tuple[float, float]]:
        """The completed flows on the full-resolution box that holds both holes and their targets."""
        union, motion = box_info
        h, w = self.shape
        sh, sw = flows.shape[-2:]
        rows = np.flatnonzero(union.any(axis=1))
        cols = np.flatnonzero(union.any(axis=0))
        # Margin: wide enough that the hole's pixels land inside the box. Only the flow inside the
        # (completed) hole matters: it is where the chains move.
        fmax = float(flows[:, :, small_hole].abs().amax()) if bool(small_hole.any()) else 0.0
        margin = int(math.ceil(fmax * max(h / sh, w / sw))) + 8
        y0, y1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, h)
        x0, x1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, w)
        full = upsample_flow(flows, (h, w), (y0, y1, x0, x1)).contiguous()
        return PairFlows(full, (y0, y1, x0, x1)), motion

    # ------------------------------------------------------------------------------------------------
    def _drain(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while self.prop.ready():
            t0 = time.perf_counter()
            p = self.prop.pop()
            t1 = time.perf_counter()
            self.times["propagate"] += t1 - t0
            out, hole = self._fill(p)
            yield out, hole

    def _fill(self, p: Propagated) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        values, src = p.values, p.src
        hole_np = self.holes.pop(p.index)
        motion = self.motion.pop(p.index, (0.0, 0.0))
        mem = self.memory
        if mem is not None:
            # A still camera's motion estimate is noise of a few hundredths of a pixel: not a move.
            self.drift += np.where(np.abs(motion) < 0.1, 0.0, motion)
            if abs(self.drift[0]) + abs(self.drift[1]) > 1.0:
                mem.reset()
                self.drift[:] = 0.0
        h, w = self.shape
        # The frame is the engine's own copy: its hole is filled in place, and it then becomes the forward
        # state (the memory reads only its background pixels, which stay as they were).
        out = p.frame
        unknown_idx = None
        if p.hole_idx.numel():
            weak_idx = torch.nonzero((src == UNKNOWN) | (src == INPAINTED)).squeeze(1)
            if mem is not None and weak_idx.numel():
                # The memory's last-seen background beats nothing and beats earlier inpainting.
                mval, mtime = mem.lookup(p.hole_idx.index_select(0, weak_idx))
                seen = mtime != UNKNOWN
                if bool(seen.any()):
                    hit = weak_idx[seen]
                    values = values.index_copy(0, hit, pack_rgb(mval[seen]))
                    src = src.index_copy(0, hit, mtime[seen])
            unknown = src == UNKNOWN
            out.view(h * w, 3).index_copy_(0, p.hole_idx, unpack_rgb(values))
            if bool(unknown.any()):
                unknown_idx = p.hole_idx[unknown]
                src = src.masked_fill(unknown, INPAINTED)
        if unknown_idx is not None:
            # Image inpainting of what no frame explained, from the finished pixels around it.
            umask = np.zeros(h * w, dtype=bool)
            umask[unknown_idx.cpu().numpy()] = True
            umask = umask.reshape(h, w)
            if out.device.type == "cpu":
                self.inpainter.fill_in_place(out.numpy(), umask)
            else:
                filled = self.inpainter(out.cpu().numpy(), umask)
                out.copy_(torch.from_numpy(filled).to(out.device))
        t1 = time.perf_counter()
        self.times["fill"] += t1 - t0
        self.prop.commit(p, out, src)
        if mem is not None:
            mem.update(p.frame, p.hole, p.index, p.hole_idx)
        # The caller gets its own array, so that writing to it cannot touch the engine's state.
        out_np = out.cpu().numpy() if out.device.type != "cpu" else out.numpy().copy()
        self.times["composite"] += time.perf_counter() - t1
        return out_np, hole_np


def _check_frame(frame: Any, i: int, shape: tuple[int, int] | None) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        try:
            frame = np.asarray(frame)
        except Exception:
            raise ValueError(
                f"frame {i}: expected an (H, W, 3) uint8 RGB numpy array, got {type(frame).__name__}"
            ) from None
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {i}: expected an (H, W, 3) uint8 RGB array, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame {i}: expected dtype uint8, got {frame.dtype}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame {i}: empty frame of shape {frame.shape}")
    if shape is not None and frame.shape[:2] != shape:
        raise ValueError(
            f"frame {i}: size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
            f"{shape[1]}x{shape[0]}; all frames of a stream must have one size"
        )
    # A copy: the engine holds frames for its lookahead, and readers often reuse one buffer.
    return np.array(frame, order="C", copy=True)


def _check_mask(mask: Any, i: int, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] in (1, 3, 4):
        mask = mask.any(axis=2) if mask.dtype != np.bool_ else mask.any(axis=2)
    if mask.ndim != 2:
        raise ValueError(f"mask {i}: expected an (H, W) bool array, got shape {mask.shape}")
    if mask.shape != shape:
        raise ValueError(
            f"mask {i}: size {mask.shape[1]}x{mask.shape[0]} differs from frame {i}'s {shape[1]}x{shape[0]}"
        )
    if mask.dtype != np.bool_:
        return np.ascontiguousarray(mask != 0)
    return np.array(mask, order="C", copy=True)
