"""The one way every front end turns source frames into inpainted frames of the same format.

The engine works on RGB; the sources are mostly YUV (y4m pipes, decoded files, VapourSynth clips). All
front ends go through this module so that they give the same frames for the same input and masks:

    source frame ─► :meth:`Colour.to_rgb` ─► Engine.run ─► (rgb, hole)
                 ─► :meth:`Colour.composite`: the source planes, with only the hole replaced

Only samples inside the hole (a chroma sample when any luma pixel it covers is) are rewritten, so
everything outside the hole is bit-identical to the source in every plane and at every bit depth.

:func:`inpaint_stream` pairs each output with its original through the engine's own index
(``Engine.run(with_index=True)``), so front ends never redo the engine's ``--fps`` decision.

Example::

    colour = Colour.for_layout(reader.header.layout, reader.header.height, full_range=False)
    for index, frame in inpaint_stream(engine, reader, colour.to_rgb_frame, colour.composite_frame):
        writer.write(frame)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from lecinpaint.io.y4m import ChromaLayout, YUVFrame


__all__ = ["Colour", "composite_rgb", "inpaint_stream"]

T = TypeVar("T")


@dataclass(frozen=True)
class Colour:
    """How planes of one YUV format convert to RGB for the engine and back.

    Attributes:
        depth: bits per sample (8..16).
        sub_x, sub_y: chroma subsampling (0, 0 for grey).
        matrix: ``"bt601"``, ``"bt709"`` or ``"bt2020"``.
        full_range: full ("PC") range instead of limited ("TV").
    """

    depth: int
    sub_x: int
    sub_y: int
    matrix: str
    full_range: bool

    @classmethod
    def for_layout(
        cls, layout: ChromaLayout, height: int, *, matrix: str | None = None, full_range: bool | None = None
    ) -> Colour:
        """The conversion for a y4m layout: ``matrix`` None = :func:`color.default_matrix` of the height,
        ``full_range`` None = limited range."""
        from lecinpaint.io import color  # torch: front ends import it only once stdout is protected

        return cls(layout.depth, layout.sub_x, layout.sub_y, matrix or color.default_matrix(height),
                   bool(full_range))

    def to_rgb(self, planes: list[np.ndarray]) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB of the planes, as the engine gets it."""
        from lecinpaint.io import color

        return color.yuv_to_rgb(planes, depth=self.depth, matrix=self.matrix, full_range=self.full_range)

    def composite(self, planes: list[np.ndarray], rgb: np.ndarray, hole: np.ndarray) -> list[np.ndarray]:
        """The original ``planes`` with the hole replaced by ``rgb`` converted back to this format."""
        hole = np.asarray(hole, dtype=bool).reshape(planes[0].shape)
        if not hole.any():
            return list(planes)
        from lecinpaint.io import color

        # Only the hole's bounding box, widened to whole chroma blocks, is converted: every chroma sample
        # in it covers the same luma pixels as in the whole frame, so the result is the same.
        sy, sx = max(1, self.sub_y), max(1, self.sub_x)
        h, w = hole.shape
        rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        y0, x0 = int(rows[0]) // sy * sy, int(cols[0]) // sx * sx
        y1, x1 = min(h, -(-(int(rows[-1]) + 1) // sy) * sy), min(w, -(-(int(cols[-1]) + 1) // sx) * sx)
        filled = color.rgb_to_yuv(rgb[y0:y1, x0:x1], depth=self.depth, matrix=self.matrix,
                                  full_range=self.full_range, sub_x=self.sub_x, sub_y=self.sub_y)
        out = [p.copy() for p in planes]
        boxes = [(y0, y1, x0, x1)] + [(y0 // sy, -(-y1 // sy), x0 // sx, -(-x1 // sx))] * (len(planes) - 1)
        crops = [p[a:b, c:d] for p, (a, b, c, d) in zip(planes, boxes)]
        mixed = color.composite_yuv(crops, filled, hole[y0:y1, x0:x1], sub_x=self.sub_x, sub_y=self.sub_y)
        for o, m, (a, b, c, d) in zip(out, mixed, boxes):
            o[a:b, c:d] = m
        return out

    def to_rgb_frame(self, frame: YUVFrame) -> np.ndarray:
        """:meth:`to_rgb` of a :class:`YUVFrame`."""
        return self.to_rgb(frame.planes)

    def composite_frame(self, frame: YUVFrame, rgb: np.ndarray, hole: np.ndarray) -> YUVFrame:
        """:meth:`composite` of a :class:`YUVFrame`, keeping its frame parameters."""
        return YUVFrame(self.composite(frame.planes, rgb, hole), frame.params)


def composite_rgb(original: np.ndarray, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """For RGB sources: ``rgb`` inside the hole, ``original`` elsewhere."""
    hole = np.asarray(hole, dtype=bool).reshape(original.shape[:2])
    return np.where(hole[:, :, None], rgb, original)


def inpaint_stream(
    engine: Any,
    source: Iterable[T],
    to_rgb: Callable[[T], np.ndarray],
    composite: Callable[[T, np.ndarray, np.ndarray], T],
    *,
    masks: Iterable[np.ndarray] | None = None,
    progress: Callable[[int], Any] | None = None,
    start: int = 0,
) -> Iterator[tuple[int, T]]:
    """Run ``engine`` over ``source`` and yield ``(input index, composited frame)`` in order.

    Each source item is converted with ``to_rgb`` for the engine, and kept until the engine's output for
    it comes back, so memory holds at most the engine's lookahead of originals (plus, with ``fps``, the
    dropped frames between two kept ones). ``composite(original, rgb, hole)`` builds the output.

    A ``source`` that can be read twice (an iterable that is not an iterator, e.g. a decoder started
    anew by each ``iter()``) lets the engine make its first pass (the plate) over it; the originals are
    kept only during the reading whose outputs come back. ``start``: see ``Engine.run``.
    """
    pending: deque[T] = deque()
    base = 0  # input index of pending[0]
    feed = _Feed(source, to_rgb, pending)
    frames: Iterable[np.ndarray] = iter(feed)
    first_pass = getattr(engine, "makes_first_pass", None)  # engines without a plate make none
    if not isinstance(source, Iterator) and first_pass is not None and first_pass(feed):
        feed.skip = 1
        frames = feed
    extra = {"start": start} if start else {}  # a piece of a longer video (VapourSynth windows)
    results = engine.run(frames, masks=masks, progress=progress, with_masks=True, with_index=True, **extra)
    for index, (rgb, hole) in results:
        while base < index:  # inputs the engine dropped (fps reduction) have no output
            pending.popleft()
            base += 1
        original = pending.popleft()
        base += 1
        yield index, composite(original, rgb, hole)


class _Feed:
    """The engine's frames: ``to_rgb`` of the source's items; the originals are kept in ``pending`` from
    the reading after the first ``skip`` ones on (the first pass reads without output)."""

    def __init__(self, source: Iterable[Any], to_rgb: Callable[[Any], np.ndarray], pending: deque) -> None:
        self.source, self.to_rgb, self.pending = source, to_rgb, pending
        self.skip = 0
        self._reads = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        keep = self._reads >= self.skip
        self._reads += 1
        for item in self.source:
            if keep:
                self.pending.append(item)
            yield self.to_rgb(item)
