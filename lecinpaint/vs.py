"""VapourSynth front end: ``lecinpaint.vs.inpaint(clip)`` removes the lecturer from a ``vs.VideoNode``.

Example (a ``.vpy`` script)::

    import vapoursynth as vs
    from lecinpaint.vs import inpaint

    clip = vs.core.bs.VideoSource("lecture.mp4")          # any source plugin
    clip = inpaint(clip, device="cuda")                   # same length, format and frame rate
    clip.set_output()

    # vspipe -c y4m script.vpy - | ffmpeg -i - -c:v libx264 -crf 18 out.mp4

Formats: RGB24 is processed directly. Any other constant format (RGBS, RGBH, YUV of any subsampling and
depth, GRAY) is converted to RGB24 with ``core.resize`` for the engine, and the result converted back;
the output equals the input, bit for bit and in every plane, outside the hole (a subsampled chroma sample
changes when any luma pixel it covers is in the hole). YUV without a ``_Matrix`` frame property is taken
as BT.709 from 720 lines up and BT.601 below, or as ``matrix=``.

Random access and determinism: the engine is a streaming, temporal filter, so frame ``n`` is computed as
part of its *window*: frames ``[k*window, (k+1)*window)`` with ``k = n // window`` are produced by one run
of the engine over ``[k*window - warmup, (k+1)*window + lookahead)`` (clipped to the clip). The result of
frame ``n`` is therefore a fixed function of the clip, whatever order frames are requested in: random
access gives exactly the frames of a sequential pass. A small cache keeps the last ``cache`` windows.
``warmup`` frames before a window give the engine's background memory something to start from; at window
borders the engine restarts, so a larger ``window`` means fewer restarts and more latency for a seek.

Threads: VapourSynth may request frames in parallel (``core.num_threads``). Windows of one ``inpaint``
call are computed one at a time (the engine is not re-entrant and uses every core itself); frames of a
finished window are served concurrently from the cache. Source frames are fetched from inside the frame
callback with ``get_frame``, which VapourSynth supports (the waiting thread is released to the pool).

Errors are raised as ``vs.Error("lecinpaint: ...")``. vapoursynth is an optional dependency
(``pip install "lecinpaint[vs]"``, Python >= 3.12); ``import lecinpaint`` works without it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

try:
    import vapoursynth as vs
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lecinpaint.vs needs VapourSynth: pip install 'lecinpaint[vs]' (or pip install vapoursynth; "
        "its wheels need Python >= 3.12)"
    ) from _exc

__all__ = ["inpaint"]

_NAME = "lecinpaint"
_MATRIX_CODES = {"bt601": 6, "bt709": 1, "bt2020": 9}


def _error(msg: str) -> vs.Error:
    return vs.Error(f"{_NAME}: {msg}")


class _Windows:
    """Computes and caches the engine's output window by window (thread-safe)."""

    def __init__(self, rgb: vs.VideoNode, mask: vs.VideoNode | None, engine: Any, window: int, warmup: int,
                 cache: int) -> None:
        self.rgb = rgb
        self.mask = mask
        self.engine = engine
        self.window = window
        self.warmup = warmup
        self.cache_size = cache
        self.n = rgb.num_frames
        self._cache: OrderedDict[int, list[tuple[np.ndarray, np.ndarray]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        k = n // self.window
        with self._lock:
            res = self._cache.get(k)
            if res is None:
                res = self._compute(k)
                self._cache[k] = res
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(k)
            return res[n - k * self.window]

    def _frames(self, lo: int, hi: int) -> Any:
        for i in range(lo, hi):
            f = self.rgb.get_frame(i)
            yield np.stack([np.asarray(f[p]) for p in range(3)], axis=-1)

    def _masks(self, lo: int, hi: int) -> Any:
        assert self.mask is not None
        fmt = self.mask.format
        for i in range(lo, hi):
            m = np.asarray(self.mask.get_frame(i)[0])
            if fmt.sample_type == vs.FLOAT:
                yield m > 0.5
            else:
                yield m > ((1 << fmt.bits_per_sample) - 1) // 2

    def _compute(self, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        first = k * self.window
        last = min(self.n, first + self.window)
        lo = max(0, first - self.warmup)
        hi = min(self.n, last + int(self.engine.lookahead))
        masks = self._masks(lo, hi) if self.mask is not None else None
        out: list[tuple[np.ndarray, np.ndarray]] = []
        try:
            results = self.engine.run(self._frames(lo, hi), masks=masks, with_masks=True, start=lo)
            for i, (frame, hole) in enumerate(results, lo):
                if first <= i < last:
                    out.append((frame, hole))
                elif i >= last:
                    break
        except vs.Error:
            raise
        except Exception as exc:
            raise _error(f"{type(exc).__name__}: {exc}") from exc
        if len(out) != last - first:
            raise _error(f"the engine returned {len(out)} frames for frames {first}..{last - 1}")
        return out


def _matrix(clip: vs.VideoNode, matrix: str | None) -> int | None:
    """The YUV matrix code (VapourSynth's ``_Matrix`` numbering) to convert ``clip`` with; None for RGB."""
    if clip.format.color_family not in (vs.YUV, vs.GRAY):
        return None
    if matrix is not None:
        try:
            return _MATRIX_CODES[matrix]
        except KeyError:
            raise _error(f"unknown matrix {matrix!r}; use one of {', '.join(_MATRIX_CODES)}") from None
    prop = clip.get_frame(0).props.get("_Matrix")
    if prop is not None and int(prop) not in (0, 2):  # 2 = unspecified
        return int(prop)
    return 1 if clip.height >= 720 else 6


def _chroma_mask(mask: np.ndarray, ssw: int, ssh: int) -> np.ndarray:
    if not ssw and not ssh:
        return mask
    sx, sy = 1 << ssw, 1 << ssh
    h, w = mask.shape
    m = np.pad(mask, ((0, (-h) % sy), (0, (-w) % sx)))
    return m.reshape(m.shape[0] // sy, sy, m.shape[1] // sx, sx).any(axis=(1, 3))


def inpaint(
    clip: vs.VideoNode,
    mask: vs.VideoNode | None = None,
    *,
    window: int = 64,
    warmup: int = 16,
    cache: int = 2,
    matrix: str | None = None,
    **options: Any,
) -> vs.VideoNode:
    """Remove the lecturer (or whatever ``mask`` marks) from ``clip``.

    Args:
        clip: constant format and size; RGB24 natively, any other format through ``core.resize``.
        mask: optional clip of the same size and length whose first plane marks the hole (> half the
            maximum value, or > 0.5 for float); replaces person segmentation.
        window: frames per engine run (see the module docstring on random access).
        warmup: frames before each window fed to the engine first (not output).
        cache: finished windows kept in memory.
        matrix: YUV matrix when the frames carry no ``_Matrix``: ``"bt601"``, ``"bt709"`` or ``"bt2020"``.
        **options: engine options, as in ``lecinpaint.Config`` (``segmenter``, ``dilation``, ``flow``,
            ``completion``, ``threshold``, ``lookahead``, ``device``, weights paths, ``ghost``, ...).
            ``fps`` is not accepted: a VapourSynth filter keeps the frame count. ``plate``: ``"auto"``
            (default) reads the whole clip once when ``inpaint`` is called, to build the first-seen
            plate; ``"off"``; or a plate file from ``lecinpaint plate``.

    Returns:
        A clip of the same length, format, size and frame rate, with the frame properties of ``clip``.

    Raises:
        vs.Error: invalid clip, mask or options (``"lecinpaint: ..."``); errors while computing a frame
            are raised as ``vs.Error`` from ``get_frame``.
    """
    if not isinstance(clip, vs.VideoNode):
        raise _error(f"clip must be a vapoursynth.VideoNode, got {type(clip).__name__}")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise _error("clip must have a constant format and size")
    if clip.num_frames < 1:
        raise _error("clip has no frames")
    for name, value, lo in (("window", window, 1), ("warmup", warmup, 0), ("cache", cache, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise _error(f"{name} must be an integer >= {lo}, got {value!r}")
    if "fps" in options or "input_fps" in options:
        raise _error("fps is not supported here (a VapourSynth filter keeps the frame count); "
                     "use core.std.SelectEvery or similar before inpaint()")
    if mask is not None:
        if not isinstance(mask, vs.VideoNode) or mask.format is None:
            raise _error("mask must be a clip with a constant format")
        if (mask.width, mask.height) != (clip.width, clip.height) or mask.num_frames < clip.num_frames:
            raise _error(f"mask must have the clip's size {clip.width}x{clip.height} and at least its "
                         f"{clip.num_frames} frames; got {mask.width}x{mask.height}, "
                         f"{mask.num_frames} frames")

    from lecinpaint.engine import Config, Engine

    try:
        engine = Engine(Config(**options))
    except TypeError as exc:
        raise _error(f"unknown option: {exc}") from None
    except Exception as exc:  # ValueError naming the field, missing checkpoint, missing package
        raise _error(str(exc)) from None

    core = vs.core
    fmt = clip.format
    mtx = _matrix(clip, matrix)
    if fmt.id == vs.RGB24:
        rgb = clip
    else:
        kw: dict[str, Any] = {"format": vs.RGB24, "dither_type": "none"}
        if mtx is not None:
            kw["matrix_in"] = mtx
        try:
            rgb = core.resize.Bicubic(clip, **kw)
        except vs.Error as exc:
            raise _error(f"cannot convert {fmt.name} to RGB24: {exc}") from None

    windows = _Windows(rgb, mask, engine, window, warmup, cache)
    if options.get("plate", "auto") == "auto":
        # The first pass, over the whole clip once: each window then uses the plate (``plate="off"``
        # skips it; a plate file's path is loaded by the engine).
        try:
            engine.use_plate(engine.build_plate(windows._frames(0, clip.num_frames),
                                                windows._masks(0, clip.num_frames) if mask is not None else None))
        except Exception as exc:
            raise _error(f"first pass: {type(exc).__name__}: {exc}") from exc

    def filled(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        frame, _ = windows.get(n)
        fout = f.copy()
        for p in range(3):
            np.copyto(np.asarray(fout[p]), frame[:, :, p])
        return fout

    out = core.std.ModifyFrame(rgb, rgb, filled)
    if fmt.id == vs.RGB24:
        return out

    kw = {"format": fmt.id, "dither_type": "none"}
    if mtx is not None:
        kw["matrix"] = mtx
    try:
        back = core.resize.Bicubic(out, **kw)
    except vs.Error as exc:
        raise _error(f"cannot convert RGB24 back to {fmt.name}: {exc}") from None
    ssw, ssh = fmt.subsampling_w, fmt.subsampling_h

    def composite(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        orig, new = f
        _, hole = windows.get(n)
        fout = orig.copy()
        for p in range(fmt.num_planes):
            m = hole if p == 0 or fmt.color_family == vs.RGB else _chroma_mask(hole, ssw, ssh)
            dst = np.asarray(fout[p])
            np.copyto(dst, np.asarray(new[p]), where=m)
        return fout

    return core.std.ModifyFrame(clip, [clip, back], composite)
