"""VapourSynth front end: ``lecinpaint.vs.inpaint(clip)`` removes the lecturer from a ``vs.VideoNode``.

Example (a ``.vpy`` script)::

    import vapoursynth as vs
    from lecinpaint.vs import inpaint

    clip = vs.core.bs.VideoSource("lecture.mp4")          # any source plugin
    clip = inpaint(clip, device="cuda")                   # same length, format and frame rate
    clip.set_output()

    # vspipe -c y4m script.vpy - | ffmpeg -i - -c:v libx264 -crf 18 out.mp4

Formats: RGB24 and integer YUV (4:2:0, 4:2:2, 4:4:4, 4:1:1, any depth) and GRAY are processed as they
are, through the same conversion as the ``lecinpaint`` command and the ffmpeg filter
(:mod:`lecinpaint.io.stream`): the three give the same frames for the same input and masks. Other
formats (RGBS, RGBH, RGB30/48, float YUV) are converted to RGB24 with ``core.resize`` for the engine,
and the result converted back. In every case the output equals the input, bit for bit and in every
plane, outside the hole (a subsampled chroma sample changes when any luma pixel it covers is in the
hole). YUV without a ``_Matrix`` frame property is taken as BT.709 from 720 lines up and BT.601 below,
or as ``matrix=``; the range is the ``_Range`` property (limited when absent).

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
(``pip install ".[vs]"`` from a checkout, Python >= 3.12; it brings the ``bs`` source plugin too);
``import lecinpaint`` works without it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from lecinpaint.io.stream import Colour, composite_rgb, inpaint_stream

try:
    import vapoursynth as vs
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lecinpaint.vs needs VapourSynth: pip install vapoursynth vapoursynth-bestsource (Python >= 3.12; "
        "from a checkout: pip install '.[vs]')"
    ) from _exc

__all__ = ["inpaint"]

_NAME = "lecinpaint"
_MATRIX_CODES = {"bt601": 6, "bt709": 1, "bt2020": 9}
_MATRIX_NAMES = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}

Planes = list[np.ndarray]


def _error(msg: str) -> vs.Error:
    return vs.Error(f"{_NAME}: {msg}")


class _Windows:
    """Computes and caches the output planes and hole, window by window (thread-safe).

    ``read(i)`` gives frame ``i``'s planes; ``to_rgb`` / ``composite`` are the shared conversions of
    :mod:`lecinpaint.io.stream`, so this front end gives the frames the command and the filter give.
    ``shape``: the clip's ``(height, width)``, which every frame read must have.
    """

    def __init__(self, read: Callable[[int], Planes], n: int, mask: vs.VideoNode | None, engine: Any,
                 codec: tuple[Callable[..., Any], Callable[..., Any]], window: int, warmup: int,
                 cache: int, *, shape: tuple[int, int]) -> None:
        self.read = read
        self.n = n
        self.shape = shape
        self.mask = mask
        self.engine = engine
        self.to_rgb, self.composite = codec
        self.window = window
        self.warmup = warmup
        self.cache_size = cache
        self._cache: OrderedDict[int, list[tuple[Planes, np.ndarray]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, n: int) -> tuple[Planes, np.ndarray]:
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

    def _masks(self, lo: int, hi: int) -> Iterator[np.ndarray]:
        assert self.mask is not None
        fmt = self.mask.format
        for i in range(lo, hi):
            m = np.asarray(self.mask.get_frame(i)[0])
            if fmt.sample_type == vs.FLOAT:
                yield m > 0.5
            else:
                yield m > ((1 << fmt.bits_per_sample) - 1) // 2

    def _compute(self, k: int) -> list[tuple[Planes, np.ndarray]]:
        first = k * self.window
        last = min(self.n, first + self.window)
        lo = max(0, first - self.warmup)
        hi = min(self.n, last + int(self.engine.lookahead))
        masks = self._masks(lo, hi) if self.mask is not None else None

        # The frames go in numbered by the clip: the engine numbers them from the window's start (its
        # error would name the wrong frame), so a bad frame is caught here, by the clip's frame number.
        def to_rgb(item: tuple[int, Planes]) -> np.ndarray:
            i, planes = item
            rgb = self.to_rgb(planes)
            if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.shape == (*self.shape, 3)):
                from lecinpaint.intake import check_frame

                check_frame(rgb, i, self.shape)  # the engine's own check (it raises), numbered by the clip
            return rgb

        def composite(item: tuple[int, Planes], rgb: np.ndarray,
                      hole: np.ndarray) -> tuple[Planes, np.ndarray]:
            return self.composite(item[1], rgb, hole), hole

        out: list[tuple[Planes, np.ndarray]] = []
        try:
            frames = ((i, self.read(i)) for i in range(lo, hi))
            for i, item in inpaint_stream(self.engine, frames, to_rgb, composite, masks=masks, start=lo):
                if first <= i + lo < last:
                    out.append(item)
                elif i + lo >= last:
                    break
        except vs.Error:
            raise
        except Exception as exc:
            raise _error(str(exc) or type(exc).__name__) from exc
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
    if prop is not None and int(prop) in _MATRIX_NAMES:
        return int(prop)
    return 1 if clip.height >= 720 else 6


def _variable_format(clip: vs.VideoNode) -> bool:
    """True for a clip whose frames may differ in format (VapourSynth R55 and later report it as the
    format ``NONE``, with id 0; older versions as None)."""
    return clip.format is None or clip.format.id == vs.NONE


def _check_args(clip: Any, mask: Any, window: Any, warmup: Any, cache: Any, options: dict[str, Any]) -> None:
    if not isinstance(clip, vs.VideoNode):
        raise _error(f"clip must be a vapoursynth.VideoNode, got {type(clip).__name__}")
    if _variable_format(clip) or clip.width == 0 or clip.height == 0:
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
        if not isinstance(mask, vs.VideoNode) or _variable_format(mask):
            raise _error("mask must be a clip with a constant format")
        if (mask.width, mask.height) != (clip.width, clip.height) or mask.num_frames < clip.num_frames:
            raise _error(f"mask must have the clip's size {clip.width}x{clip.height} and at least its "
                         f"{clip.num_frames} frames; got {mask.width}x{mask.height}, "
                         f"{mask.num_frames} frames")


def _make_engine(options: dict[str, Any]) -> Any:
    from lecinpaint.engine import Config, Engine

    # A clip is read from VapourSynth's own threads only: a worker thread of the engine asking for a
    # frame while every VapourSynth thread waits in this filter for the engine would wait for ever. The
    # engine runs on the calling thread; VapourSynth requests frames (windows) in parallel itself.
    options = {**options, "segment_ahead": 0}
    try:
        return Engine(Config(**options))
    except TypeError as exc:
        raise _error(f"unknown option: {exc}") from None
    except Exception as exc:  # ValueError naming the field, missing checkpoint, missing package
        raise _error(str(exc)) from None


def _yuv_codec(clip: vs.VideoNode, matrix: str | None) -> tuple[Callable[..., Any], ...] | None:
    """(to_rgb, composite) through :class:`Colour` for integer YUV / GRAY clips, None for the others."""
    fmt = clip.format
    if fmt.color_family not in (vs.YUV, vs.GRAY) or fmt.sample_type != vs.INTEGER:
        return None
    if fmt.color_family == vs.YUV and (fmt.subsampling_w, fmt.subsampling_h) not in ((1, 1), (1, 0), (0, 0),
                                                                                     (2, 0)):
        return None
    code = _matrix(clip, matrix)
    full = clip.get_frame(0).props.get("_Range") == 0  # VapourSynth: 0 = full, 1 = limited
    sub = (0, 0) if fmt.color_family == vs.GRAY else (1 << fmt.subsampling_w, 1 << fmt.subsampling_h)
    colour = Colour(fmt.bits_per_sample, sub[0], sub[1], _MATRIX_NAMES.get(code or 1, "bt709"), full)
    return colour.to_rgb, colour.composite


def _rgb_codec() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(to_rgb, composite) for RGB24 planes."""

    def to_rgb(planes: Planes) -> np.ndarray:
        return np.stack(planes, axis=-1)

    def composite(planes: Planes, rgb: np.ndarray, hole: np.ndarray) -> Planes:
        out = composite_rgb(np.stack(planes, axis=-1), rgb, hole)
        return [np.ascontiguousarray(out[:, :, p]) for p in range(3)]

    return to_rgb, composite


def _reader(clip: vs.VideoNode) -> Callable[[int], Planes]:
    def read(i: int) -> Planes:
        f = clip.get_frame(i)
        return [np.array(f[p]) for p in range(f.format.num_planes)]

    return read


def _first_pass(windows: _Windows, options: dict[str, Any]) -> None:
    """``plate="auto"`` (the default): read the whole clip once now, segmentation and camera motion only,
    for the first-seen plate that every window then uses (``"off"``: none; a path: the engine loads it)."""
    if options.get("plate", "auto") != "auto":
        return
    n = windows.n
    frames = (windows.to_rgb(windows.read(i)) for i in range(n))
    masks = windows._masks(0, n) if windows.mask is not None else None
    try:
        windows.engine.use_plate(windows.engine.build_plate(frames, masks))
    except vs.Error:
        raise
    except Exception as exc:
        raise _error(f"first pass: {exc}") from exc


def _served(clip: vs.VideoNode, windows: _Windows) -> vs.VideoNode:
    """``clip`` with each frame's planes replaced by the computed ones (frame properties kept)."""

    def serve(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        planes, _ = windows.get(n)
        fout = f.copy()
        for p, plane in enumerate(planes):
            np.copyto(np.asarray(fout[p]), plane)
        return fout

    return vs.core.std.ModifyFrame(clip, clip, serve)


def _via_rgb24(clip: vs.VideoNode, mask: vs.VideoNode | None, engine: Any, matrix: str | None,
               sizes: tuple[int, int, int], options: dict[str, Any]) -> vs.VideoNode:
    """Formats the engine cannot take as they are (float, RGB30/48, odd subsampling): convert to RGB24
    with ``core.resize``, inpaint, convert back, and keep the source outside the hole."""
    from lecinpaint.io.color import chroma_mask

    core = vs.core
    fmt = clip.format
    mtx = _matrix(clip, matrix)
    kw: dict[str, Any] = {"format": vs.RGB24, "dither_type": "none"}
    if mtx is not None:
        kw["matrix_in"] = mtx
    try:
        rgb = core.resize.Bicubic(clip, **kw)
    except vs.Error as exc:
        raise _error(f"cannot convert {fmt.name} to RGB24: {exc}") from None
    windows = _Windows(_reader(rgb), clip.num_frames, mask, engine, _rgb_codec(), *sizes,
                       shape=(clip.height, clip.width))
    _first_pass(windows, options)
    kw = {"format": fmt.id, "dither_type": "none"}
    if mtx is not None:
        kw["matrix"] = mtx
    try:
        back = core.resize.Bicubic(_served(rgb, windows), **kw)
    except vs.Error as exc:
        raise _error(f"cannot convert RGB24 back to {fmt.name}: {exc}") from None
    sx, sy = 1 << fmt.subsampling_w, 1 << fmt.subsampling_h

    def composite(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        orig, new = f
        _, hole = windows.get(n)
        fout = orig.copy()
        for p in range(fmt.num_planes):
            m = hole if p == 0 or fmt.color_family == vs.RGB else chroma_mask(hole, sx, sy)
            np.copyto(np.asarray(fout[p]), np.asarray(new[p]), where=m)
        return fout

    return core.std.ModifyFrame(clip, [clip, back], composite)


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
        clip: constant format and size; RGB24 and integer YUV / GRAY natively, any other format through
            ``core.resize``.
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
    _check_args(clip, mask, window, warmup, cache, options)
    engine = _make_engine(options)
    sizes = (window, warmup, cache)
    codec = _rgb_codec() if clip.format.id == vs.RGB24 else _yuv_codec(clip, matrix)
    if codec is None:
        return _via_rgb24(clip, mask, engine, matrix, sizes, options)
    windows = _Windows(_reader(clip), clip.num_frames, mask, engine, codec, *sizes,
                       shape=(clip.height, clip.width))
    _first_pass(windows, options)
    return _served(clip, windows)
