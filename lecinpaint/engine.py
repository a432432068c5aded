"""The engine: composes the stages over a stream of frames, at constant memory.

::

    frames ─► segment (or user masks) ─► stabilise ─► dilate ─► [fps reduction happens first]
           ─► flow (forward + backward, only for pairs that touch a hole)
           ─► flow completion in the hole
           ─► streaming propagation (lookahead L)
           ─► background memory, the first-seen plate, then a board-like fill of what is left
           ─► composite: input pixels outside the hole, bit for bit (the lecturer as a ghost inside,
              on request) ─► frames out

Given a source that can be read twice (a path, a list, any re-iterable), ``run`` first makes a pass of
segmentation and camera motion only, which builds the first-seen plate (``lecinpaint.plate``) and caches
the masks; the pass that outputs then uses them (``lecinpaint.twopass``).

The modules: ``config`` (the options), ``intake`` (read, segment), ``twopass`` (the first pass),
``restore`` (the stages after segmentation, per run); this module only wires them.

Usage::

    from lecinpaint import Engine, Config

    engine = Engine(Config(segmenter="mediapipe", device="auto"))
    for frame in engine.run(frames):        # any iterable of (H, W, 3) uint8 RGB numpy arrays
        ...                                  # one finished (H, W, 3) uint8 RGB frame per input frame

Memory is bounded by the latency (``Engine.lookahead`` frames plus a few per-frame buffers), never by the
video's length. Nothing here prints, parses arguments or touches stdin/stdout.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from lecinpaint.completion import make_completion
from lecinpaint.config import SEGMENTER_CHOICES, Config, check_rate, resolve_device
from lecinpaint.flow import make_flow
from lecinpaint.flowahead import FlowAhead
from lecinpaint.intake import Segmentation, check_frame, check_mask, read
from lecinpaint.plate import Plate, load_plate
from lecinpaint.restore import Ready, RunState
from lecinpaint.twopass import MaskCache, VideoFile, first_pass, readable_twice, with_cached_masks

__all__ = ["Config", "Engine", "SEGMENTER_CHOICES", "STAGES", "resolve_device"]

STAGES = ("read", "segment", "masks", "plate", "flow", "complete", "propagate", "fill", "composite")
"""The stages timed in ``Engine.stage_times`` ("plate": the first pass's camera motion and plate)."""

log = logging.getLogger("lecinpaint")

# Kept for callers of the former names.
_check_frame, _check_mask = check_frame, check_mask


class Engine:
    """Streaming video inpainting over a :class:`Config` (see the module docstring).

    Attributes:
        config: the configuration.
        device: the torch device the engine works on.
        lookahead: frames the engine reads ahead before it emits a frame (its latency): the mask
            stabiliser's (``Config.stabilize``; skipped when masks are given to ``run``, so the latency is
            then that much lower) plus the flow completion's plus the propagation's. When segmenting, the
            frames after a cut (or a camera move too fast to follow) also wait, once, until the
            whole-lecturer stage has seen 12 of them (it looks back at them; at a stream's start the
            lookahead hides this).
        stage_times: seconds spent per stage so far (``dict[str, float]``), accumulated over runs.
        pass_times: seconds of the last run's first pass (0 without one) and second pass,
            ``{"first": s, "second": s}``.
        plate: the last run's first-seen plate (a :class:`lecinpaint.plate.Plate`), or None.
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
        self.pass_times = {"first": 0.0, "second": 0.0}
        self.plate: Plate | None = None
        # A plate file is read now, so that a missing or damaged file is an error before any frame.
        p = config.plate
        self._plate_given: Plate | None = (
            (None if p in ("auto", "off") else load_plate(p)) if isinstance(p, str) else p
        )
        self._plate_override: Plate | None = None

    # ------------------------------------------------------------------------------------------------
    def output_rate(self, rate: Fraction | float | int | str) -> Fraction:
        """The output frame rate for an input at ``rate``: ``min(fps, rate)`` with ``fps``, else ``rate``.

        With ``fps`` set and no ``input_fps`` in the config, this also tells the engine the input's
        rate (front ends call it before ``run``).
        """
        r = check_rate("input_fps", rate)
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
        start: int = 0,
    ) -> Iterator[Any]:
        """Inpaint a stream: yield one finished frame per input frame (per kept frame with ``fps``).

        Args:
            frames: any iterable of ``(H, W, 3)`` uint8 RGB numpy arrays, all of one size, or a video
                file's path. A path or a re-iterable (a list, an object whose ``iter()`` starts over) is
                read twice when ``Config.plate`` is ``"auto"``: first to build the first-seen plate.
            masks: optional iterable of ``(H, W)`` bool masks (True = hole), in lockstep with ``frames``;
                it replaces segmentation (the masks are still dilated by ``Config.dilation``).
            progress: called with the number of frames emitted so far, after each one.
            with_masks: yield ``(frame, hole)`` pairs, ``hole`` being the final dilated mask.
            with_index: yield ``(index, item)``, ``index`` being the 0-based position in ``frames`` of
                the input this output replaces (with ``fps`` the dropped inputs have no output), so that
                front ends pair outputs with originals without redoing the frame-rate decision.
            start: the index, in the plate's numbering, of this stream's first (kept) frame, when the
                stream is a piece of a longer video whose plate ``Config.plate`` gives.

        Raises:
            ValueError: a frame or mask of the wrong size, dtype or shape (the message names its index),
                masks running out before frames, ``fps`` without a known input rate, a plate of
                another video (:class:`lecinpaint.plate.PlateError`).
        """
        if isinstance(frames, (str, os.PathLike)):
            frames = VideoFile(frames)
        items = self._run(frames, masks, progress, with_masks, int(start))
        return self._indexed(items) if with_index else items

    def _indexed(self, items: Iterator[Any]) -> Iterator[tuple[int, Any]]:
        keep: Callable[[int], bool] | None = None
        i = 0
        for item in items:
            if keep is None:  # after the first item: _run has checked the rates by then
                keep = self._keep() or (lambda j: True)
            while not keep(i):
                i += 1
            yield i, item
            i += 1

    def makes_first_pass(self, frames: Any) -> bool:
        """Whether ``run(frames)`` reads ``frames`` twice: a first pass for the plate, then the run
        (``Config.plate="auto"``, no plate given, a source that can be read twice)."""
        plate = self._plate_override if self._plate_override is not None else self._plate_given
        return plate is None and self.config.plate == "auto" and readable_twice(frames)

    def _keep(self) -> Callable[[int], bool] | None:
        """The fps reduction's frame filter, or None."""
        cfg = self.config
        if cfg.fps is None:
            return None
        if self._input_rate is None:
            raise ValueError(
                "Config.input_fps: fps reduction needs the input frame rate: set Config.input_fps, or "
                "call Engine.output_rate(input_rate) before run()"
            )
        from lecinpaint.masks import FrameRateReducer

        return FrameRateReducer(self._input_rate, cfg.fps).keep

    def build_plate(self, frames: Iterable[np.ndarray] | str | os.PathLike[str],
                    masks: Iterable[np.ndarray] | None = None) -> Plate:
        """The first pass alone: segmentation (or ``masks``) and camera motion over ``frames``, and the
        first-seen plate they give (``Plate.save`` writes it; ``use_plate`` or ``Config.plate`` use it).
        Frames are dropped for ``fps`` as ``run`` drops them."""
        if isinstance(frames, (str, os.PathLike)):
            frames = VideoFile(frames)
        with contextlib.ExitStack() as stack:
            self._threads(stack)
            ready = self._intake(stack, frames, masks, self._keep())
            t0 = time.perf_counter()
            plate = first_pass(self, ready)
            self.pass_times = {"first": time.perf_counter() - t0, "second": 0.0}
        self._report(plate)
        self.plate = plate
        return plate

    def use_plate(self, plate: Plate | None) -> None:
        """Use ``plate`` in the runs that follow (instead of ``Config.plate``); None: back to the config."""
        self._plate_override = plate

    def _intake(self, stack: contextlib.ExitStack, frames: Any, masks: Any, keep: Any,
                cache: MaskCache | None = None) -> Iterator[Ready]:
        """read -> segment (or the given masks, or the first pass's ``cache``); ``stack`` frees the
        segmenter when the run ends."""
        cfg = self.config
        if cache is not None:
            return with_cached_masks(read(frames, None, keep, self.stage_times), cache)
        if masks is None and cfg.segmenter == "masks":
            from lecinpaint.masks import MaskSource

            masks = MaskSource(cfg.mask_source)  # type: ignore[arg-type]
        items = read(frames, None if masks is None else iter(masks), keep, self.stage_times)
        if masks is not None:
            return _given(items)
        seg = Segmentation(self)
        stack.callback(seg.close)
        return seg.stream(items)

    def _threads(self, stack: contextlib.ExitStack) -> None:
        """``Config.threads`` for the run; ``stack`` restores PyTorch's setting when it ends."""
        if self.config.threads is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(self.config.threads)

    def _report(self, plate: Plate) -> None:
        if plate.failures:
            log.warning("plate: camera registration failed at %d of %d frames (a cut, fast motion or a "
                        "zoom); the plate restarts there and nothing seen before is used after",
                        plate.failures, len(plate))

    def _run(self, frames, masks, progress, with_masks, start):
        keep = self._keep()
        plate = self._plate_override if self._plate_override is not None else self._plate_given
        two_pass = self.makes_first_pass(frames)
        with contextlib.ExitStack() as stack:
            self._threads(stack)
            t0 = time.perf_counter()
            cache = None
            if two_pass:
                cache = stack.enter_context(MaskCache())
                plate = first_pass(self, self._intake(stack, frames, masks, keep), cache)
                self._report(plate)
            self.plate = plate
            t1 = time.perf_counter()
            self.pass_times = {"first": t1 - t0 if two_pass else 0.0, "second": 0.0}
            ready = self._intake(stack, frames, masks, keep, cache)
            # The pairs' flows on a worker thread of their own (which also takes the reading when the masks
            # are given or cached): the second core's share when no segmentation thread runs.
            ready = FlowAhead(self._flow, self.stage_times).stream(ready, self.config.segment_ahead)
            check = plate is not None and not two_pass and start == 0
            state = RunState(self, plate, start, check_plate=check)
            # state.finish() is a generator: it runs only once every frame has been pushed.
            outputs = itertools.chain(itertools.chain.from_iterable(map(state.push, ready)), state.finish())
            for emitted, out in enumerate(outputs, 1):
                yield out if with_masks else out[0]
                if progress is not None:
                    progress(emitted)
            self.pass_times["second"] = time.perf_counter() - t1


def _iter_or_none(masks: Any) -> Iterator[Any] | None:
    return None if masks is None else iter(masks)


def _given(items: Iterator[tuple[int, np.ndarray, np.ndarray | None]]) -> Iterator[Ready]:
    """The frames of a run whose masks are given (by the caller or ``Config.mask_source``)."""
    for k, frame, mask in items:
        yield Ready(k, frame, mask)  # type: ignore[arg-type]
