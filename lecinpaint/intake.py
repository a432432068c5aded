"""The engine's first stages: read (check frames and masks, drop frames for an fps reduction) and segment.

Both passes of a two-pass run start with this same short chain: :func:`read` yields ``(k, frame, mask)``
for the kept frames (``mask`` None when the person must be segmented), and :class:`Segmentation` turns that
stream into :class:`~lecinpaint.restore.Ready` frames with their masks (segmenter, then the temporal mask
stabiliser; user masks pass through).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from lecinpaint.ahead import ahead
from lecinpaint.restore import Ready

__all__ = ["Segmentation", "check_frame", "check_mask", "read", "segment_stream"]


def read(
    frames: Iterable[Any],
    masks: Iterator[Any] | None,
    keep: Any,
    times: dict[str, float],
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Checked frames (and masks, in lockstep) of the kept frames, numbered from 0 in kept order.

    ``keep``: ``FrameRateReducer.keep`` or None (every frame). Time spent reading goes to ``times["read"]``.
    """
    shape: tuple[int, int] | None = None
    k = 0
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        frame = check_frame(frame, i, shape)
        if shape is None:
            shape = frame.shape[:2]
        mask = None
        if masks is not None:
            try:
                mask = next(masks)
            except StopIteration:
                raise ValueError(
                    f"masks: the masks ran out at frame {i} ({i} masks for more frames); give one mask per frame"
                ) from None
            mask = check_mask(mask, i, shape)
        times["read"] += time.perf_counter() - t0
        if keep is None or keep(i):
            yield k, frame, mask
            k += 1
        t0 = time.perf_counter()
    times["read"] += time.perf_counter() - t0


class Segmentation:
    """Person masks for the frames that have none: the segmenter, then the temporal stabiliser.

    ``stream(items)`` takes :func:`read`'s output and yields :class:`Ready` frames in order. The segmenter
    is loaded on construction (a missing model is an error before any frame) and freed by ``close()``.
    """

    def __init__(self, engine: Any) -> None:
        from lecinpaint import masks as masks_mod
        from lecinpaint.segmentation import make_segmenter

        cfg = engine.config
        self.times = engine.stage_times
        t0 = time.perf_counter()
        self.segmenter = make_segmenter(cfg.segmenter, device=str(engine.device), weights=cfg.segmenter_weights)
        self.stabilizer = masks_mod.MaskStabilizer(lookahead=cfg.stabilize, threshold=cfg.mask_threshold)
        self.depth = int(cfg.segment_ahead)
        self.times["segment"] += time.perf_counter() - t0

    def close(self) -> None:
        self.segmenter.close()

    def stream(self, items: Iterable[tuple[int, np.ndarray, np.ndarray | None]]) -> Iterator[Ready]:
        """Ready frames in order. The reading and the segmenter run ``Config.segment_ahead`` frames ahead
        on a worker thread (the same results as on one thread: one worker calls them in order)."""
        times = self.times
        waiting: deque[tuple[int, np.ndarray]] = deque()  # frames whose stabilised mask is not out yet

        # The worker pulls the items through the segmenter (all of its work is on that thread); ``ahead``
        # has nothing left to compute.
        pairs = segment_stream(items, self.segmenter, times)
        for ((k, frame, mask), prob), _ in ahead(pairs, _nothing, self.depth):
            if mask is not None:
                yield Ready(k, frame, mask)
                continue
            t2 = time.perf_counter()
            waiting.append((k, frame))
            done = list(self.stabilizer.push(prob))
            times["masks"] += time.perf_counter() - t2
            for m in done:
                kk, ff = waiting.popleft()
                yield Ready(kk, ff, m)
        t2 = time.perf_counter()
        rest = list(self.stabilizer.flush()) if waiting else []
        times["masks"] += time.perf_counter() - t2
        for m in rest:
            kk, ff = waiting.popleft()
            yield Ready(kk, ff, m)


def segment_stream(
    items: Iterable[tuple[int, np.ndarray, np.ndarray | None]], segmenter: Any, times: dict[str, float]
) -> Iterator[tuple[tuple[int, np.ndarray, np.ndarray | None], np.ndarray | None]]:
    """``(item, probability)`` for :func:`read`'s items, in order (None where the item has its mask).

    A segmenter that is ``settling`` (the whole-lecturer stage while its picture of the board is young:
    the stream's start, after a cut) has the frames it segments held back, at most its
    ``look_back_frames`` of them, and revised together by its ``look_back(frames, probs)`` once it has
    settled (or the cap is reached, or the stream ends). Other segmenters pass straight through. Every
    call to the segmenter happens on the thread that iterates this generator, in order. Time spent goes
    to ``times["segment"]``.
    """
    cap = int(getattr(segmenter, "look_back_frames", 0))
    held: list[tuple[tuple[int, np.ndarray, np.ndarray | None], np.ndarray]] = []

    def release() -> list[tuple[tuple[int, np.ndarray, np.ndarray | None], np.ndarray]]:
        t1 = time.perf_counter()
        probs = segmenter.look_back([item[1] for item, _ in held], [prob for _, prob in held])
        revised = list(zip([item for item, _ in held], probs))
        held.clear()
        times["segment"] += time.perf_counter() - t1
        return revised

    for item in items:
        if item[2] is not None:
            yield item, None
            continue
        t1 = time.perf_counter()
        prob = segmenter(item[1])
        settling = cap > 0 and segmenter.settling
        times["segment"] += time.perf_counter() - t1
        if settling:
            held.append((item, prob))
            if len(held) >= cap:
                yield from release()
            continue
        if held:
            yield from release()
        yield item, prob
    if held:
        yield from release()


def _nothing(_: object) -> None:
    """``ahead``'s function when the items already carry their results."""


def check_frame(frame: Any, i: int, shape: tuple[int, int] | None) -> np.ndarray:
    """Frame ``i`` as a C-contiguous ``(H, W, 3)`` uint8 copy, or a ``ValueError`` naming it."""
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


def check_mask(mask: Any, i: int, shape: tuple[int, int]) -> np.ndarray:
    """Mask ``i`` as a C-contiguous ``(H, W)`` bool copy (nonzero = hole), or a ``ValueError`` naming it."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] in (1, 3, 4):
        mask = mask.any(axis=2)  # any nonzero channel marks the hole (bool or numeric alike)
    if mask.ndim != 2:
        raise ValueError(f"mask {i}: expected an (H, W) bool array, got shape {mask.shape}")
    if mask.shape != shape:
        raise ValueError(
            f"mask {i}: size {mask.shape[1]}x{mask.shape[0]} differs from frame {i}'s {shape[1]}x{shape[0]}"
        )
    if mask.dtype != np.bool_:
        return np.ascontiguousarray(mask != 0)
    return np.array(mask, order="C", copy=True)
