"""The two-pass plan: for a source that can be read twice, a first pass builds the first-seen plate.

::

    first pass:   read ─► segment ─► cache the masks ─► camera motion ─► plate builder   (no output)
    second pass:  read ─► the cached masks ─► the engine's stages, with the plate as a source

The first pass is segmentation and camera motion only (a phase correlation of small grey images per
frame), so it costs a fraction of the second; its masks are kept (:class:`MaskCache`: bit-packed and
zlib-compressed, lossless, in memory while small and in a temporary folder past that, always removed) so
that segmentation runs once. What can be read twice: a path (decoded with ffmpeg, each pass opening it
anew) or a re-iterable object, one whose ``iter()`` returns a fresh iterator each time (a list, a
``range``-like sequence, a class with ``__iter__``); a generator or an iterator cannot and gets one pass.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lecinpaint.camera import CameraTracker
from lecinpaint.plate import Plate, PlateBuilder
from lecinpaint.restore import Ready

__all__ = ["MaskCache", "Reiterable", "VideoFile", "first_pass", "readable_twice", "with_cached_masks"]


class VideoFile:
    """A video file as a re-iterable source of ``(H, W, 3)`` uint8 RGB frames (ffmpeg decodes it)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from lecinpaint.io.ffmpeg import probe

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such video file: {str(self.path)!r}")
        self.info = probe(self.path)

    def __iter__(self) -> Iterator[np.ndarray]:
        from lecinpaint.io.ffmpeg import decode_rgb

        return iter(decode_rgb(self.path, self.info))


def readable_twice(frames: Any) -> bool:
    """True for sources that give the same frames to a second ``iter()`` (see the module docstring)."""
    if isinstance(frames, (str, os.PathLike, VideoFile)):
        return True
    # Not by calling iter(): for some sources that is costly (it may start a decoder).
    return isinstance(frames, Iterable) and not isinstance(frames, Iterator)


class MaskCache:
    """Masks of a whole video, lossless and compact, to be read back once in order.

    Each mask is bit-packed (``numpy.packbits``) and zlib-compressed: a lecturer's mask at 1080p takes a
    few kilobytes. Up to ``memory_limit`` bytes stay in memory; past that, everything goes to one file in
    a temporary folder, which :meth:`close` removes (also on error: use it as a context manager).
    """

    def __init__(self, memory_limit: int = 64 << 20) -> None:
        self.memory_limit = int(memory_limit)
        self._chunks: list[bytes] = []
        self._sizes: list[int] = []
        self._bytes = 0
        self._dir: str | None = None
        self._file: Any = None
        self.shape: tuple[int, int] | None = None

    def __enter__(self) -> MaskCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def nbytes(self) -> int:
        """Compressed size of the masks so far."""
        return self._bytes

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def append(self, mask: np.ndarray) -> None:
        if self.shape is None:
            self.shape = (int(mask.shape[0]), int(mask.shape[1]))
        blob = zlib.compress(np.packbits(mask, axis=None).tobytes(), 1)
        self._bytes += len(blob)
        self._sizes.append(len(blob))
        if self._file is None and self._bytes > self.memory_limit:
            self._dir = tempfile.mkdtemp(prefix="lecinpaint-masks-")
            self._file = open(os.path.join(self._dir, "masks.bin"), "w+b")
            for c in self._chunks:
                self._file.write(c)
            self._chunks = []
        if self._file is not None:
            self._file.write(blob)
        else:
            self._chunks.append(blob)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.shape is None:
            return
        h, w = self.shape
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
        for i, n in enumerate(self._sizes):
            blob = self._file.read(n) if self._file is not None else self._chunks[i]
            bits = np.frombuffer(zlib.decompress(blob), np.uint8)
            yield np.unpackbits(bits, count=h * w).reshape(h, w).view(bool)

    def close(self) -> None:
        """Free the masks and remove the temporary folder (safe to call twice)."""
        self._chunks = []
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def first_pass(engine: Any, items: Iterable[Ready], cache: MaskCache | None = None) -> Plate:
    """Build the plate from a stream of :class:`Ready` frames (masks appended to ``cache`` if given).

    The hole is the mask grown by the engine's dilation, as in the second pass, so that the lecturer's
    fringe never enters the plate. The reading (with the segmentation before it) and the dilation run
    ``Config.segment_ahead`` frames ahead on a worker thread, while this thread registers the frames and
    writes the plate: the second core's share. Both threads take the frames in order, so the plate is the
    same whatever the scheduling (``segment_ahead=0`` runs it all on the caller's thread).
    """
    import time

    from lecinpaint.ahead import ahead
    from lecinpaint.masks import default_dilation, dilate

    cfg = engine.config
    times = engine.stage_times
    builder: PlateBuilder | None = None
    tracker = CameraTracker()
    radius: list[int] = []

    def hole_of(r: Ready) -> np.ndarray:
        if not radius:
            h, w = r.mask.shape
            radius.append(default_dilation(h, w) if cfg.dilation is None else int(cfg.dilation))
        return dilate(r.mask, radius[0]) if radius[0] else r.mask

    for r, hole in ahead(items, hole_of, int(cfg.segment_ahead)):
        t0 = time.perf_counter()
        if cache is not None:
            cache.append(r.mask)
        if builder is None:
            builder = PlateBuilder(r.mask.shape)
        builder.push(r.frame, hole, tracker.push(r.frame, hole))
        times["plate"] += time.perf_counter() - t0
    if builder is None:
        return PlateBuilder((1, 1), margin=0).finish()
    return builder.finish()


def with_cached_masks(
    items: Iterable[tuple[int, np.ndarray, np.ndarray | None]], cache: MaskCache
) -> Iterator[Ready]:
    """The second pass's frames with the first pass's masks (the frame counts must agree)."""
    masks = iter(cache)
    for k, frame, _ in items:
        try:
            mask = next(masks)
        except StopIteration:
            raise ValueError(
                f"the source gave more frames on its second reading than on its first ({k + 1} > "
                f"{len(cache)}); a source read twice must give the same frames"
            ) from None
        yield Ready(k, frame, mask)
    if next(masks, None) is not None:
        raise ValueError(
            f"the source gave fewer frames on its second reading than on its first ({len(cache)}); a source "
            "read twice must give the same frames"
        )


class Reiterable:
    """A source read anew by each ``iter()``: ``factory()`` returns a fresh iterator of frames (a
    decoder started again), so that the engine can make its first pass."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.factory())
