"""The first-seen plate: the board as first seen, per pixel, in the camera-registered frame.

When the lecturer stands in one place for longer than the engine's lookahead, neither the past nor the
lookahead has seen the board behind them. A first pass over the video (segmentation and camera motion
only, see :mod:`lecinpaint.twopass`) keeps, per board pixel, the **first** background value seen there and
**when**; the second pass then fills what the past and the lookahead could not explain from it (the
engine's order of sources: past, lookahead, plate, synthesis).

Registration. The camera's motion is a translation per frame, measured by phase correlation of small
grey images with the hole blanked (:class:`lecinpaint.camera.CameraTracker`): it follows static,
shaking and slowly panning cameras. The plate lives on a canvas larger than the frame by a margin;
frame ``k`` sits at the integer offset ``offsets[k]`` on it. A pan that leaves the margin starts a new
*segment* whose canvas is the old one shifted (what overlaps is kept); the last few canvases stay open,
so that what is first seen later (when the lecturer walks off during a pan) still reaches the frames
before, and memory stays a few canvases whatever the pan's length. Where registration fails (a cut,
fast motion, a zoom: a weak correlation peak, too large a step or a large residual after alignment) the
plate restarts: a new segment begins, with nothing in it, and nothing seen before the failure is used
after it. :attr:`Plate.failures` counts those frames so that the run can say so.

Memory: the live state is a few canvases (uint8 RGB) and time maps (int32); finished segments are kept
zlib-compressed in memory (a board compresses well, and a segment ends only at a cut, a registration
failure or a pan past the margin), and three integers per frame say which segment and offset a frame
uses.

File format (``lecinpaint plate INPUT -o PLATE``, read by ``--plate PLATE``): a NumPy ``.npz`` archive
(``numpy.savez_compressed``) holding

=============  =====================================================================================
``header``     a JSON string: ``{"format": "lecinpaint-plate", "version": 1, "width", "height",
               "frames", "margin", "segments", "failures"}``
``frames``     int32 ``(N, 3)``: per frame, segment index, offset y and offset x on the segment's canvas
``thumb``      float32 ``(18, 32)``: the first frame in grey at 32x18, to recognise the video
``cuts``       int32 ``(C,)``: the frames where registration failed (a new shot starts there)
``seg<i>_rgb`` uint8 ``(H + 2m, W + 2m, 3)``: segment ``i``'s canvas
``seg<i>_t``   int32 ``(H + 2m, W + 2m)``: the frame where each canvas pixel was first seen
               (``UNKNOWN`` = never)
=============  =====================================================================================

:func:`load_plate` checks the format, the version and every array's shape, and :meth:`Plate.check_first`
compares the video's size and first frame with the plate's, so that a plate of another video is a clear
error rather than a wrong fill.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lecinpaint.propagation import UNKNOWN

__all__ = [
    "PLATE_FORMAT",
    "PLATED",
    "PLATE_VERSION",
    "Plate",
    "PlateBuilder",
    "PlateError",
    "apply_light",
    "fit_light",
    "load_plate",
    "relight",
    "thumbnail",
]

PLATE_FORMAT = "lecinpaint-plate"
PLATE_VERSION = 1
_THUMB = (32, 18)  # (w, h)
# Mean absolute difference (grey levels) between a video's first frame and a plate's at 32x18 above
# which the plate is another video's: a re-encode moves it by a level or two, another shot by tens.
_THUMB_TOLERANCE = 12.0


class PlateError(ValueError):
    """A plate file that cannot be used: not a plate, another version, or another video's."""


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The frame in grey at 32x18, float32: a fingerprint that survives re-encoding."""
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass
class _Segment:
    """A finished segment: its canvas and time map, zlib-compressed."""

    rgb: bytes
    time: bytes


class Plate:
    """The product of a first pass: per frame, the board as first seen, registered to that frame.

    Attributes:
        shape: ``(H, W)`` of the video's frames.
        margin: the canvas' margin in pixels on each side.
        frames: int32 ``(N, 3)``: per frame, its segment and its offset ``(y, x)`` on the segment's canvas.
        failures: frames where camera registration failed (the plate restarted there; see :meth:`cut`).
        thumb: the first frame's fingerprint (:func:`thumbnail`).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        margin: int,
        frames: np.ndarray,
        segments: list[_Segment],
        failures: int,
        thumb: np.ndarray,
        cuts: Any = (),
    ) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.margin = int(margin)
        self.frames = frames
        self._segments = segments
        self.failures = int(failures)
        self.thumb = thumb
        self._open: tuple[int, np.ndarray, np.ndarray] | None = None  # the one decompressed segment
        self._cuts = set(int(c) for c in cuts)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def cut(self, k: int) -> bool:
        """True where frame ``k`` starts a new shot (registration failed between k-1 and k): nothing may
        be carried from frame k-1 into frame k."""
        return k in self._cuts

    @property
    def n_segments(self) -> int:
        return len(self._segments)

    def _canvas(self, seg: int) -> tuple[np.ndarray, np.ndarray]:
        if self._open is None or self._open[0] != seg:
            h, w = self.shape
            ch, cw = h + 2 * self.margin, w + 2 * self.margin
            s = self._segments[seg]
            rgb = np.frombuffer(zlib.decompress(s.rgb), np.uint8).reshape(ch, cw, 3)
            tm = np.frombuffer(zlib.decompress(s.time), np.int32).reshape(ch, cw)
            self._open = (seg, rgb, tm)
        return self._open[1], self._open[2]

    def view(self, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Frame ``k``'s plate: ``(values (H, W, 3) uint8, first-seen frame (H, W) int32)``, read-only
        views (``UNKNOWN`` where the board was never seen there), or None past the plate's frames."""
        if not 0 <= k < len(self):
            return None
        seg, oy, ox = (int(v) for v in self.frames[k])
        rgb, tm = self._canvas(seg)
        h, w = self.shape
        return rgb[oy : oy + h, ox : ox + w], tm[oy : oy + h, ox : ox + w]

    def check_first(self, frame: np.ndarray, hole: np.ndarray | None = None) -> None:
        """Raise :class:`PlateError` unless ``frame``, the video's first frame (``hole``: its lecturer),
        is the plate's video's: same size, and the same board where the plate saw it in that frame."""
        h, w = frame.shape[:2]
        if (h, w) != self.shape:
            raise PlateError(
                f"plate: made for {self.shape[1]}x{self.shape[0]} frames, but the video is {w}x{h}; "
                "make the plate from this video (lecinpaint plate INPUT -o PLATE)"
            )
        view = self.view(0)
        use = None
        if view is not None:
            use = (view[1] != UNKNOWN) & _grid(h, w, 2)
            if hole is not None:
                use &= ~hole
        if use is not None and use.sum() >= 64:
            a = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)[use].astype(np.float32)
            b = cv2.cvtColor(np.ascontiguousarray(view[0]), cv2.COLOR_RGB2GRAY)[use].astype(np.float32)
            a *= float(b.mean()) / max(float(a.mean()), 1e-3)  # the plate keeps its own light
        else:
            a, b = thumbnail(frame).reshape(-1), self.thumb.reshape(-1)
        diff = float(np.abs(a - b).mean())
        # Where both have structure, it must match too: two low-contrast scenes can be close in level.
        sa, sb = float(a.std()), float(b.std())
        corr = float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb)) if min(sa, sb) > 4.0 else 1.0
        if diff > _THUMB_TOLERANCE or corr < 0.7:
            raise PlateError(
                f"plate: made from another video (its first frame differs: {diff:.1f} grey levels on "
                f"average, correlation {corr:.2f}); make the plate from this video "
                "(lecinpaint plate INPUT -o PLATE)"
            )

    # ------------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the plate file (see the module docstring for the format)."""
        h, w = self.shape
        header = {
            "format": PLATE_FORMAT,
            "version": PLATE_VERSION,
            "width": w,
            "height": h,
            "frames": len(self),
            "margin": self.margin,
            "segments": self.n_segments,
            "failures": self.failures,
        }
        arrays: dict[str, Any] = {
            "header": np.array(json.dumps(header)),
            "frames": self.frames.astype(np.int32),
            "thumb": self.thumb.astype(np.float32),
            "cuts": np.array(sorted(self._cuts), dtype=np.int32),
        }
        for i in range(self.n_segments):
            rgb, tm = self._canvas(i)
            arrays[f"seg{i}_rgb"] = rgb
            arrays[f"seg{i}_t"] = tm
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_plate(path: str | Path) -> Plate:
    """Read a plate file written by :meth:`Plate.save`, checking format, version and shapes.

    Raises:
        FileNotFoundError: no such file. PlateError: not a plate file, another version, inconsistent.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"plate: no such file {str(p)!r}")
    try:
        z = np.load(p, allow_pickle=False)
        header = json.loads(str(z["header"]))
    except Exception:
        raise PlateError(f"plate: {str(p)!r} is not a lecinpaint plate file") from None
    with z:
        if not isinstance(header, dict) or header.get("format") != PLATE_FORMAT:
            raise PlateError(f"plate: {str(p)!r} is not a lecinpaint plate file")
        if header.get("version") != PLATE_VERSION:
            raise PlateError(
                f"plate: {str(p)!r} has format version {header.get('version')!r}; this lecinpaint reads "
                f"version {PLATE_VERSION} (make the plate again with this version)"
            )
        try:
            h, w, n = int(header["height"]), int(header["width"]), int(header["frames"])
            margin, nseg = int(header["margin"]), int(header["segments"])
            frames = np.asarray(z["frames"], dtype=np.int32)
            thumb = np.asarray(z["thumb"], dtype=np.float32)
            cuts = np.asarray(z["cuts"], dtype=np.int32).reshape(-1)
            segs = []
            for i in range(nseg):
                rgb = np.ascontiguousarray(z[f"seg{i}_rgb"], dtype=np.uint8)
                tm = np.ascontiguousarray(z[f"seg{i}_t"], dtype=np.int32)
                if rgb.shape != (h + 2 * margin, w + 2 * margin, 3) or tm.shape != rgb.shape[:2]:
                    raise ValueError(f"segment {i} has shape {rgb.shape}")
                segs.append(_Segment(zlib.compress(rgb.tobytes(), 1), zlib.compress(tm.tobytes(), 1)))
        except (KeyError, ValueError, TypeError) as exc:
            raise PlateError(f"plate: {str(p)!r} is damaged ({exc})") from None
    if frames.shape != (n, 3) or thumb.shape != (_THUMB[1], _THUMB[0]):
        raise PlateError(f"plate: {str(p)!r} is damaged (per-frame table of shape {frames.shape})")
    if n and (frames[:, 0].min() < 0 or frames[:, 0].max() >= nseg or frames[:, 1:].min() < 0
              or frames[:, 1].max() > 2 * margin or frames[:, 2].max() > 2 * margin):
        raise PlateError(f"plate: {str(p)!r} is damaged (offsets outside the canvas)")
    return Plate((h, w), margin, frames, segs, int(header.get("failures", 0)), thumb, cuts)


_GRID_STEP = 4  # the plate's light is fitted on every 4th pixel in both directions


def _grid(h: int, w: int, step: int = _GRID_STEP) -> np.ndarray:
    """Every ``step``-th pixel in both directions: a subsample for fits that need a few thousand."""
    g = np.zeros((h, w), bool)
    g[::step, ::step] = True
    return g


class PlateBuilder:
    """Builds a :class:`Plate` frame by frame, in order (the first pass's last stage).

    ``push(frame, hole, position)``: ``frame`` (H, W, 3) uint8, ``hole`` (H, W) bool (True = not board),
    ``position`` the frame's ``(x, y)`` relative to the shot's first frame
    (:class:`~lecinpaint.camera.CameraTracker`), or None where registration failed: the plate restarts
    there (a new, empty segment, and this frame starts a new shot).

    Args:
        shape: ``(H, W)``.
        margin: canvas margin in pixels per side (default an eighth of the longer side): how far the
            camera may wander before the canvas is re-centred.
    """

    def __init__(self, shape: tuple[int, int], margin: int | None = None, live: int = 4) -> None:
        h, w = shape
        self.shape = (int(h), int(w))
        self.margin = int(margin if margin is not None else max(8, round(max(h, w) / 8)))
        self.live = max(1, int(live))
        self._origin = np.array([self.margin] * 2, dtype=np.float64)  # shot's first frame on the canvas
        self._frames: list[tuple[int, int, int]] = []
        self._done: list[_Segment] = []  # segments no frame will write to again, compressed
        # The segments still written to: (canvas, time map, shift to the newest canvas's coordinates).
        self._live: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._thumb: np.ndarray | None = None
        self._cuts: list[int] = []
        self.failures = 0
        self._open_segment(None)

    def _canvas_shape(self) -> tuple[int, int]:
        return self.shape[0] + 2 * self.margin, self.shape[1] + 2 * self.margin

    def _open_segment(self, shift: tuple[int, int] | None) -> None:
        """A new canvas. ``shift``: it continues the newest one moved by ``(sy, sx)`` (a re-centring: it
        starts with what overlaps, and the older canvases keep receiving); None: a new shot."""
        ch, cw = self._canvas_shape()
        rgb = np.zeros((ch, cw, 3), np.uint8)
        tm = np.full((ch, cw), UNKNOWN, np.int32)
        if shift is None:
            while self._live:
                self._retire()
        else:
            sy, sx = shift
            old_rgb, old_t, _ = self._live[-1]
            ys, yd = (sy, 0) if sy >= 0 else (0, -sy)  # new[q] = old[q + s] where both exist
            xs, xd = (sx, 0) if sx >= 0 else (0, -sx)
            hh, ww = ch - abs(sy), cw - abs(sx)
            if hh > 0 and ww > 0:
                rgb[yd : yd + hh, xd : xd + ww] = old_rgb[ys : ys + hh, xs : xs + ww]
                tm[yd : yd + hh, xd : xd + ww] = old_t[ys : ys + hh, xs : xs + ww]
            # A point at q on the new canvas is at q + shift + (its older shift) on an older one.
            self._live = [(r, t, d + (sy, sx)) for r, t, d in self._live]
            while len(self._live) >= self.live:
                self._retire()
        self._live.append((rgb, tm, np.zeros(2, np.int64)))

    def _retire(self) -> None:
        rgb, tm, _ = self._live.pop(0)
        self._done.append(_Segment(zlib.compress(rgb.tobytes(), 1), zlib.compress(tm.tobytes(), 1)))

    def push(self, frame: np.ndarray, hole: np.ndarray, position: tuple[float, float] | None) -> None:
        if self._thumb is None:
            self._thumb = thumbnail(frame)
        k = len(self._frames)
        if position is None:
            self.failures += 1
            self._cuts.append(k)
            self._open_segment(None)
            self._origin[:] = self.margin
            position = (0.0, 0.0)
        # The scene moved by d since the shot's first frame: the frame's origin is d before it.
        pos = self._origin - (position[1], position[0])
        oy, ox = (int(round(v)) for v in pos)
        if not (0 <= oy <= 2 * self.margin and 0 <= ox <= 2 * self.margin):
            sy, sx = oy - self.margin, ox - self.margin
            self._open_segment((sy, sx))
            self._origin -= (sy, sx)
            oy, ox = oy - sy, ox - sx
        coef = None
        for i, (rgb, tm, d) in enumerate(reversed(self._live)):
            coef = self._write(rgb, tm, oy + int(d[0]), ox + int(d[1]), frame, hole, k, coef, first=i == 0)
        self._frames.append((len(self._done) + len(self._live) - 1, oy, ox))

    def _write(self, rgb, tm, oy, ox, frame, hole, k, coef, first):
        """Write what ``frame`` shows for the first time onto one canvas (clipped to it); returns the
        light correction it used, which the older canvases reuse."""
        h, w = self.shape
        ch, cw = tm.shape
        y0, x0 = max(oy, 0), max(ox, 0)
        y1, x1 = min(oy + h, ch), min(ox + w, cw)
        if y1 <= y0 or x1 <= x0:
            return coef
        region_t = tm[y0:y1, x0:x1]
        region = rgb[y0:y1, x0:x1]
        fy, fx = y0 - oy, x0 - ox
        f = frame[fy : fy + y1 - y0, fx : fx + x1 - x0]
        hl = hole[fy : fy + y1 - y0, fx : fx + x1 - x0]
        unknown = region_t == UNKNOWN
        new = unknown & ~hl
        # Coordinates, not boolean masks, from here on: after the first frames only a sliver is new, and
        # each pass of a frame-sized mask costs more than the whole write.
        yy, xx = np.nonzero(new)
        if not yy.size:
            return coef
        if first and not unknown.all():
            # The plate keeps one light (its first frame's): what is new is brought to it, so that a
            # pixel first seen under other light matches its neighbours, and the engine relights it all.
            # Fitted on every 4th pixel both ways, taken from strided views (the full-resolution masks
            # would only be subsampled afterwards).
            s = _GRID_STEP
            usable = (tm[oy : oy + h : s, ox : ox + w : s] != UNKNOWN) & ~hole[::s, ::s]
            gy, gx = np.nonzero(usable)
            coef = _fit_light_at(frame, rgb[oy : oy + h, ox : ox + w], gy * s, gx * s, h, w)
        vals = f[yy, xx]
        if coef is not None and not np.allclose(coef, [[1, 0, 0]] * 3, atol=1e-6):
            idx = (yy + fy) * w + (xx + fx)
            vals = np.clip(np.rint(vals / np.maximum(_gain(idx, w, h, coef), 1e-3)), 0, 255).astype(np.uint8)
        region[yy, xx] = vals
        region_t[yy, xx] = k
        return coef

    def finish(self) -> Plate:
        """The plate (the builder is spent)."""
        while self._live:
            self._retire()
        frames = np.asarray(self._frames, dtype=np.int32).reshape(-1, 3)
        h, w = self.shape
        thumb = self._thumb if self._thumb is not None else np.zeros((_THUMB[1], _THUMB[0]), np.float32)
        return Plate((h, w), self.margin, frames, self._done, self.failures, thumb, self._cuts)


PLATED = -(1 << 29)
"""Source time of a hole pixel filled from the plate. It sorts between real sources and
``propagation.INPAINTED`` (``source_distance`` is about 5e8 against 1e9), so any real observation of the
past or the lookahead beats it, it beats image inpainting, and the engine reads the plate again (relit)
for the next frame instead of carrying a value whose lighting ages."""


def fit_light(frame: np.ndarray, plate_rgb: np.ndarray, usable: np.ndarray) -> np.ndarray | None:
    """How the light changed from the plate to ``frame``, over the ``usable`` pixels (both show board).

    Fits, per channel, ``frame ≈ (a + b x + c y) * plate`` (least squares, refitted once without the
    pixels that disagree by more than three median deviations: new writing, the lecturer's fringe). A
    slowly varying gain is what a lecture room's light does (clouds, a dimmer, the camera's exposure).

    Returns the coefficients, float64 ``(3, 3)`` (channel x (a, b, c), x and y in units of the frame's
    width and height), or None when fewer than 64 pixels are usable.
    """
    h, w = usable.shape
    ys, xs = np.nonzero(usable)
    return _fit_light_at(frame, plate_rgb, ys, xs, h, w)


def _fit_light_at(frame: np.ndarray, plate_rgb: np.ndarray, ys: np.ndarray, xs: np.ndarray, h: int,
                  w: int) -> np.ndarray | None:
    """:func:`fit_light` over the pixels ``(ys, xs)`` (in row-major order) of an ``(h, w)`` frame."""
    if ys.size < 64:
        return None
    if ys.size > 20000:  # plenty for 9 unknowns: a regular subsample keeps it cheap at 4K
        step = ys.size // 20000 + 1
        ys, xs = ys[::step], xs[::step]
    f = frame[ys, xs].astype(np.float64)
    p = plate_rgb[ys, xs].astype(np.float64)
    u, v = xs / max(w - 1, 1), ys / max(h - 1, 1)
    coef = np.empty((3, 3))
    for c in range(3):
        a = np.stack([p[:, c], p[:, c] * u, p[:, c] * v], axis=1)
        keep = np.ones(ys.size, bool)
        for _ in range(2):
            # The normal equations (3x3): a quarter of the cost of a least-squares solve on the samples,
            # and the same minimum-norm solution where the samples cannot tell the terms apart.
            ak = a[keep]
            sol, *_ = np.linalg.lstsq(ak.T @ ak, ak.T @ f[keep, c], rcond=None)
            r = np.abs(a @ sol - f[:, c])
            mad = float(np.median(r[keep])) + 0.5
            keep = r <= 3.0 * 1.4826 * mad
            if keep.sum() < 32:
                break
        coef[c] = sol
    return coef


def relight(
    frame: np.ndarray, hole: np.ndarray, plate_rgb: np.ndarray, plate_time: np.ndarray, ring: int
) -> np.ndarray | None:
    """:func:`fit_light` over the board within ``ring`` pixels of the hole: the light near the hole."""
    from lecinpaint.masks import dilate

    return fit_light(frame, plate_rgb, dilate(hole, ring) & ~hole & (plate_time != UNKNOWN))


def _gain(idx: np.ndarray, width: int, height: int, coef: np.ndarray) -> np.ndarray:
    u = (idx % width) / max(width - 1, 1)
    v = (idx // width) / max(height - 1, 1)
    return coef[:, 0][None] + coef[:, 1][None] * u[:, None] + coef[:, 2][None] * v[:, None]


def apply_light(values: np.ndarray, idx: np.ndarray, width: int, height: int, coef: np.ndarray | None) -> np.ndarray:
    """Plate ``values`` ``(M, 3)`` uint8 at flat pixel indices ``idx``, relit by :func:`relight`'s
    coefficients; uint8."""
    if coef is None:
        return values
    return np.clip(np.rint(values * _gain(idx, width, height, coef)), 0, 255).astype(np.uint8)
