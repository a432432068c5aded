"""Synthetic lecture clips with exact ground truth, built from real footage.

A clip is a real clean whiteboard (``boards/``: a 1920x1080 photograph of a board with no person, plus a
pixel-exact binary image of its handwriting) with a real person (``people/schoolgirls``: a walking girl
with an exact per-frame mask) pasted in front of it. The person walks across the board, stops to
"write", walks on; while they stand, the handwriting near their hand appears stroke blob by stroke blob,
so part of the writing first appears while the body hides it (the case where a "last seen background"
fails). The camera is static, shakes slightly, or pans slowly with a slight shake.

Everything a metric needs is known exactly, per frame:

``frame``      the input: uint8 RGB ``(H, W, 3)``: board + person, lighting change, sensor noise.
``gt_frame``   the truth: uint8 RGB, the board with the writing revealed so far, **without** the person,
               **with** the same lighting change, **without** sensor noise (the noise-free scene).
``gt_mask``    bool ``(H, W)``, True where the person covers any part of the pixel (the exact support of
               the pasted cut-out after scaling and warping). Outside it, ``frame`` equals ``gt_frame``
               plus the sensor noise, exactly.
``ink``        bool ``(H, W)``, the handwriting visible on the board at this frame (binary image, scaled).

Convention for the camera: ``Clip.transform(i)`` is the 3x3 matrix taking "world" coordinates (the board
scaled to the clip, with a margin for the pan) to frame ``i``'s pixel coordinates; the scene (board and
person together) and every truth image are warped by the same matrix (bilinear; ``ink`` nearest).

Streaming: a clip stores only the scaled board, the blob labels, the person's cut-outs (80 small images)
and a few numbers per frame; ``clip[i]`` renders frame ``i`` on demand and ``clip.frames()`` iterates, so
a long clip costs no more memory than a short one. Random access and sequential access give identical
frames (the noise of frame ``i`` is drawn from a generator seeded with ``(seed, i)``).

Example:
    >>> clip = make_clip(0, size=(640, 360), n_frames=48)           # doctest: +SKIP
    >>> s = clip[10]; s.frame.shape, s.gt_mask.dtype                 # doctest: +SKIP
    ((360, 640, 3), dtype('bool'))
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = [
    "CAMERAS",
    "Clip",
    "DataMissing",
    "PERSON_IDS",
    "SCRIPTS",
    "Sample",
    "available_boards",
    "data_dir",
    "load_folder_clip",
    "make_clip",
]

CAMERAS = ("static", "shake", "pan")
# What the lecturer does: "wander" (walk to a spot, write, walk on, ...), "still" (stand and write for
# ``stand_seconds``, then walk out of the frame), "never_leaves" (stand and write at one spot all along),
# "enter_exit" (walk in from outside the frame, write at two spots, walk out), "edge" (stand cut by the
# frame's edge, step along it and back), "still_talks" (as "still", but talking, not writing: the board,
# written before the clip, does not change, so the board behind them is the board seen after they leave).
SCRIPTS = ("wander", "still", "never_leaves", "enter_exit", "edge", "still_talks")
PERSON_IDS = (1, 3, 5, 7)  # instance ids of the four girls in people/schoolgirls/masks (2, 4, 6: bags)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DataMissing(FileNotFoundError):
    """The shared evaluation data (``../shared/data`` next to the project) is not there."""


def data_dir() -> Path:
    """Where the evaluation data lives: ``$LECINPAINT_DATA`` if set, else ``../shared/data`` next to the
    project root. Raises :class:`DataMissing` (with the path that was looked at) when it is absent."""
    env = os.environ.get("LECINPAINT_DATA")
    path = Path(env) if env else _PROJECT_ROOT.parent / "shared" / "data"
    if not (path / "boards").is_dir() or not (path / "people").is_dir():
        raise DataMissing(
            f"evaluation data not found at {path} (expected boards/ and people/ there); "
            "set LECINPAINT_DATA to the folder that holds them"
        )
    return path


def available_boards(root: Path | None = None) -> list[str]:
    """Names of the boards with a binary handwriting image, e.g. ``"lecture_01/10423"``, sorted."""
    root = data_dir() if root is None else root
    names = []
    for key in sorted((root / "boards").glob("*/keyframes/*.png")):
        if (key.parent.parent / "binary" / key.name).is_file():
            names.append(f"{key.parent.parent.name}/{key.stem}")
    return names


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataMissing(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@functools.lru_cache(maxsize=4)
def _board_full(root: str, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution (clean board, empty board, ink) for one board; cached per process.

    The empty board is the clean board with every handwriting pixel (the binary image's ink, grown by
    3 px to take the anti-aliased fringe) replaced by the local board colour: a normalised Gaussian
    average of the non-ink pixels around it (sigma 6 px, widened where a large ink area leaves too few).
    """
    base = Path(root) / "boards" / name.split("/")[0]
    stem = name.split("/")[1]
    clean = _read_rgb(base / "keyframes" / f"{stem}.png")
    binary = cv2.imread(str(base / "binary" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
    if binary is None:
        raise DataMissing(f"cannot read {base / 'binary' / (stem + '.png')}")
    if binary.shape != clean.shape[:2]:
        raise ValueError(f"board {name}: binary {binary.shape} and keyframe {clean.shape[:2]} differ in size")
    ink = binary < 128
    grown = cv2.dilate(ink.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))).astype(bool)
    weight = (~grown).astype(np.float32)
    img = clean.astype(np.float32)
    fill = np.zeros_like(img)
    todo = grown.copy()
    for sigma in (6.0, 16.0, 48.0, 160.0):
        num = cv2.GaussianBlur(img * weight[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        ok = todo & (den > 0.05)
        fill[ok] = num[ok] / den[ok][:, None]
        todo &= ~ok
        if not todo.any():
            break
    if todo.any():  # a board almost entirely covered in ink: fall back to the mean board colour
        fill[todo] = img[~grown].mean(axis=0)
    empty = np.where(grown[..., None], fill, img)
    return clean.astype(np.float32), empty.astype(np.float32), grown  # grown = where clean != empty


@functools.lru_cache(maxsize=2)
def _binary_ink(root: str, name: str) -> np.ndarray:
    base = Path(root) / "boards" / name.split("/")[0]
    binary = cv2.imread(str(base / "binary" / f"{name.split('/')[1]}.png"), cv2.IMREAD_GRAYSCALE)
    return (binary < 128).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _person_source(root: str, person_id: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per source frame: (RGB crop, float alpha crop) of one girl, cropped to her mask's bounding box."""
    base = Path(root) / "people" / "schoolgirls"
    frames = sorted((base / "frames").glob("*.png"))
    if not frames:
        raise DataMissing(f"no frames in {base / 'frames'}")
    from PIL import Image  # (Pillow comes with matplotlib) reads P-mode PNGs as raw palette indices

    out = []
    for f in frames:
        rgb = _read_rgb(f)
        # P-mode PNG: the palette index is the instance id; read the raw indices, not the palette colours.
        ids = np.asarray(Image.open(base / "masks" / f.name))
        m = ids == person_id
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out.append((rgb[y0:y1, x0:x1].copy(), m[y0:y1, x0:x1].astype(np.float32)))
    if len(out) < 2:
        raise DataMissing(f"person id {person_id} appears in fewer than 2 frames of {base}")
    return tuple(out)


@dataclass(frozen=True)
class Sample:
    """One rendered frame of a clip and its truth (see the module docstring for the conventions)."""

    index: int
    frame: np.ndarray      # (H, W, 3) uint8 RGB input, noisy
    gt_frame: np.ndarray   # (H, W, 3) uint8 RGB truth: board without person, noise-free
    gt_mask: np.ndarray    # (H, W) bool, True = person
    ink: np.ndarray        # (H, W) bool, handwriting visible on the board at this frame


@dataclass(frozen=True)
class _Person:
    rgb: tuple[np.ndarray, ...]      # scaled crops
    alpha: tuple[np.ndarray, ...]    # scaled alpha crops, float32 in [0, 1]
    anchor: tuple[tuple[float, float], ...]  # (x, y) of the feet in crop coordinates


class Clip:
    """A synthetic lecture clip: random access by index (``clip[i]``) and streaming iterators.

    Build it with :func:`make_clip`. ``len(clip)`` frames of ``clip.size`` = ``(W, H)``, at ``clip.fps``.
    """

    def __init__(
        self,
        *,
        seed: int,
        size: tuple[int, int],
        n_frames: int,
        camera: str,
        fps: float,
        noise_sigma: float,
        lighting: float,
        board: str,
        person_id: int,
        person_height: float,
        root: Path,
        script: str = "wander",
        stand_seconds: float = 4.0,
    ) -> None:
        self.seed = seed
        self.size = size
        self.n_frames = n_frames
        self.camera = camera
        self.fps = fps
        self.noise_sigma = noise_sigma
        self.lighting = lighting
        self.board = board
        self.person_id = person_id
        self.person_height = person_height
        self.script = script
        self.stand_seconds = stand_seconds
        w, h = size
        rng = np.random.default_rng([seed, 0x1EC7])
        # World = the board scaled to the clip, larger by a margin on each side when the camera moves.
        self.margin = {"static": 0.0, "shake": 0.02, "pan": 0.08}[camera]
        ww = int(round(w * (1 + 2 * self.margin)))
        wh = int(round(h * (1 + 2 * self.margin)))
        self.world_size = (ww, wh)
        clean, empty, grown = _board_full(str(root), board)
        self._empty = cv2.resize(empty, (ww, wh), interpolation=cv2.INTER_AREA)
        self._delta = cv2.resize(clean, (ww, wh), interpolation=cv2.INTER_AREA) - self._empty
        support = cv2.resize(grown.astype(np.float32), (ww, wh), interpolation=cv2.INTER_AREA) > 0
        self._ink_cov = cv2.resize(_binary_ink(str(root), board), (ww, wh), interpolation=cv2.INTER_AREA)
        # Stroke blobs: connected ink pieces (8-connectivity at clip resolution) cut into cells of
        # 2.5 % x 4.5 % of the frame, so that a long line of cursive writing appears piece by piece.
        n_cc, cc = cv2.connectedComponents(support.view(np.uint8), connectivity=8)
        yy, xx = np.nonzero(support)
        cw, ch = 0.025 * w, 0.045 * h
        cell = (yy // ch).astype(np.int64) * 10_000 + (xx // cw).astype(np.int64)
        _, blob = np.unique(cc[yy, xx].astype(np.int64) * 100_000_000 + cell, return_inverse=True)
        blob = blob.reshape(-1) + 1
        self.n_blobs = int(blob.max()) if blob.size else 0
        self._labels = np.zeros((wh, ww), np.int32)
        self._labels[yy, xx] = blob
        counts = np.maximum(np.bincount(blob, minlength=self.n_blobs + 1), 1)
        centroids = np.stack(
            [
                np.bincount(blob, xx, self.n_blobs + 1) / counts,
                np.bincount(blob, yy, self.n_blobs + 1) / counts,
            ],
            axis=1,
        )
        self._person = self._load_person(root, person_id, person_height * h)
        self._schedule(rng, centroids[1:])
        self._transforms = self._camera_path(rng)
        self._gain_phase = rng.uniform(0, 2 * math.pi, size=2)

    # ---------------------------------------------------------------- construction helpers

    @staticmethod
    def _load_person(root: Path, person_id: int, target_h: float) -> _Person:
        src = _person_source(str(root), person_id)
        ref_h = float(np.median([a.shape[0] for _, a in src]))
        s = target_h / ref_h
        rgbs, alphas, anchors = [], [], []
        for rgb, a in src:
            nw, nh = max(1, int(round(a.shape[1] * s))), max(1, int(round(a.shape[0] * s)))
            rgbs.append(cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32))
            alpha = np.clip(cv2.resize(a, (nw, nh), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
            alpha[alpha < 1e-3] = 0.0
            alphas.append(alpha)
            cols = alpha.sum(axis=0)
            anchors.append((float((cols * np.arange(nw)).sum() / max(cols.sum(), 1e-6)), float(nh)))
        return _Person(tuple(rgbs), tuple(alphas), tuple(anchors))

    def _schedule(self, rng: np.random.Generator, centroids: np.ndarray) -> None:
        """Plan the walk (x of the feet per frame, source frame, mirror) and when each blob appears.

        The script (:data:`SCRIPTS`) yields a sequence of moves, ``("walk", x, speed)`` and
        ``("stand", frames)``; they are played until the clip is full. While the lecturer stands, the
        handwriting within arm's reach on the facing side appears stroke blob by stroke blob.
        """
        w, h = self.size
        ww, _ = self.world_size
        ox = (ww - w) / 2.0
        n = self.n_frames
        n_src = len(self._person.rgb)
        ph = self.person_height * h
        pw = 0.32 * ph  # body width of a standing person, roughly
        self.feet_y = (self.world_size[1] - h) / 2.0 + h * float(rng.uniform(0.95, 0.99))
        xs = np.zeros(n)
        src = np.zeros(n, np.int64)
        flip = np.zeros(n, bool)
        writing = np.zeros(n, bool)
        reveal = np.full(self.n_blobs + 1, np.inf)  # label -> first frame at which it is visible
        reveal[0] = np.inf
        pending = np.ones(self.n_blobs, bool)
        moves, x = self._moves(rng, ox, pw)
        t = 0
        s = int(rng.integers(0, n_src))
        facing_left = False
        while t < n:
            move = next(moves, None)  # drawn only while frames remain: the camera path draws next
            if move is None:
                break
            if move[0] == "walk":
                nx, speed = move[1], move[2]
                m = max(1, int(math.ceil(abs(nx - x) / speed)))
                facing_left = nx < x if nx != x else facing_left
                for k in range(m):
                    if t >= n:
                        break
                    xs[t] = x + (nx - x) * (k + 1) / m
                    s += 1
                    src[t] = s
                    flip[t] = facing_left
                    t += 1
                x = nx
                continue
            # Stand and write (a slight sway through the walk cycle's neighbouring poses).
            d = int(move[1])
            t1 = min(t + d, n)
            base = s
            for k in range(t, t1):
                xs[k] = x
                src[k] = base + int(round(2.0 * math.sin(2 * math.pi * (k - t) / self.fps)))
                flip[k] = facing_left
                writing[k] = True
            if self.script == "still_talks":  # talks: everything was written before the clip
                t = t1
                continue
            # The hand side: the writing appears from the body out to arm's reach on the facing side.
            lo, hi = (x - 1.5 * pw, x + 0.5 * pw) if facing_left else (x - 0.5 * pw, x + 1.5 * pw)
            cx, cy = centroids[:, 0], centroids[:, 1]
            in_reach = (cx >= lo) & (cx <= hi) & (cy >= self.feet_y - ph) & (cy <= self.feet_y - 0.3 * ph)
            sel = pending & in_reach
            idx = np.nonzero(sel)[0]
            if idx.size:
                row = np.floor(cy[idx] / (0.06 * h))
                order = idx[np.lexsort((cx[idx] if not facing_left else -cx[idx], row))]
                times = t + (np.arange(order.size) + 0.5) * (d / order.size)
                reveal[order + 1] = np.floor(times)
                pending[order] = False
            t = t1
        if t < n:  # the script ended early (the lecturer left): nobody in the frame from here on
            xs[t:] = xs[t - 1] if t else x
            src[t:] = src[t - 1] if t else s
            flip[t:] = flip[t - 1] if t else False
        # Blobs the lecturer never reaches in this clip were written before it started.
        reveal[1:][pending] = -1
        self._x = xs
        # Ping-pong through the source walk: 0, 1, .., n-1, n-2, .., 1, 0, 1, ..
        period = 2 * n_src - 2
        folded = np.mod(src, period)
        self._src = np.where(folded >= n_src, period - folded, folded)
        self._flip = flip
        self.writing = writing
        self._reveal = reveal
        # Person's source walk goes to the right: mirror when walking left.
        self._source_faces_right = True

    def _moves(self, rng: np.random.Generator, ox: float, pw: float) -> tuple[Iterator[tuple], float]:
        """The script's moves (lazily, so that random draws happen in play order) and the start x."""
        w = self.size[0]
        fps = self.fps
        script = self.script

        def speed() -> float:
            return w * float(rng.uniform(0.006, 0.010))

        def spot(lo: float = 0.15, hi: float = 0.85) -> float:
            return ox + w * float(rng.uniform(lo, hi))

        def stand() -> tuple:
            return ("stand", int(rng.integers(int(1.0 * fps), int(2.0 * fps) + 1)))

        # Off screen: the body (about pw wide around the feet's x) entirely outside the frame.
        left_out, right_out = ox - 1.2 * pw, ox + w + 1.2 * pw
        if script == "enter_exit":
            side = bool(rng.integers(0, 2))
            x0 = left_out if side else right_out
        elif script == "edge":
            side = bool(rng.integers(0, 2))
            x0 = ox + (0.1 * pw if side else w - 0.1 * pw)  # the body straddles the frame edge
        elif script in ("still", "never_leaves", "still_talks"):
            x0 = spot(0.3, 0.7)
        else:
            x0 = spot()

        def wander() -> Iterator[tuple]:
            x = x0
            while True:
                for _ in range(20):
                    nx = spot()
                    if abs(nx - x) >= 0.2 * w:
                        break
                yield ("walk", nx, speed())
                x = nx
                yield stand()

        def play() -> Iterator[tuple]:
            if script == "wander":
                yield from wander()
            elif script in ("still", "still_talks"):
                # Stands still for `stand_seconds`, then walks out of the frame by the nearer edge.
                yield ("stand", int(round(self.stand_seconds * fps)))
                out = left_out if x0 - ox < w / 2 else right_out
                yield ("walk", out, speed())
            elif script == "never_leaves":
                yield ("stand", self.n_frames)
            elif script == "enter_exit":
                a, b = spot(0.25, 0.45), spot(0.55, 0.75)
                first, second = (a, b) if side else (b, a)
                yield ("walk", first, speed())
                yield stand()
                yield ("walk", second, speed())
                yield stand()
                yield ("walk", right_out if side else left_out, speed())
            elif script == "edge":
                yield stand()
                yield ("walk", x0 + (0.1 * w if side else -0.1 * w), speed())
                yield stand()
                yield ("walk", x0, speed())
                yield ("stand", self.n_frames)
            else:  # pragma: no cover - checked in make_clip
                raise ValueError(script)

        return play(), x0

    def _camera_path(self, rng: np.random.Generator) -> np.ndarray:
        """World -> frame 3x3 matrices for every frame."""
        w, h = self.size
        ww, wh = self.world_size
        n = self.n_frames
        t = np.arange(n, dtype=np.float64)
        mats = np.tile(np.eye(3), (n, 1, 1))
        ox, oy = (ww - w) / 2.0, (wh - h) / 2.0
        tx = np.full(n, -ox)
        ty = np.full(n, -oy)
        theta = np.zeros(n)
        if self.camera in ("shake", "pan"):
            # Slight shake: a few incommensurate sinusoids, about 1 px at 360p and 0.1 degree.
            amp = 1.0 * h / 360
            for k, period in enumerate((0.7, 1.3, 2.9)):
                ph1, ph2, ph3 = rng.uniform(0, 2 * math.pi, 3)
                f = 2 * math.pi * t / (period * self.fps)
                tx += amp / (k + 1) * np.sin(f + ph1)
                ty += amp / (k + 1) * np.sin(1.1 * f + ph2)
                theta += math.radians(0.1) / (k + 1) * np.sin(0.9 * f + ph3)
        if self.camera == "pan":
            # Slow pan back and forth across the margin (period 10 s): at most ~1.3 px/frame at 360p, 24 fps.
            period = 10.0 * self.fps
            phase = float(rng.uniform(0, 2 * math.pi))
            tx += -ox * np.sin(2 * math.pi * t / period + phase) * 0.9
            ty += -oy * 0.3 * np.sin(2 * math.pi * t / (1.7 * period) + phase)
        cx, cy = w / 2.0, h / 2.0
        for i in range(n):
            c, s = math.cos(theta[i]), math.sin(theta[i])
            # rotate about the frame centre after translating the world into the frame
            rot = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1]])
            mats[i] = rot @ np.array([[1, 0, tx[i]], [0, 1, ty[i]], [0, 0, 1.0]])
        return mats

    # ---------------------------------------------------------------- public API

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return (
            f"Clip(seed={self.seed}, size={self.size}, n_frames={self.n_frames}, camera={self.camera!r}, "
            f"board={self.board!r}, person_id={self.person_id}, script={self.script!r})"
        )

    def transform(self, i: int) -> np.ndarray:
        """The 3x3 world -> frame ``i`` matrix (identity up to a translation for a static camera)."""
        return self._transforms[self._check_index(i)].copy()

    def revealed_blobs(self, i: int) -> np.ndarray:
        """Bool per blob (label 1..n_blobs): is it written on the board at frame ``i``."""
        return self._reveal[1:] <= self._check_index(i)

    def _check_index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self.n_frames
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame index {i} out of range for a clip of {self.n_frames} frames")
        return i

    def _gain(self, i: int) -> np.ndarray:
        """Lighting: a global gain of +-lighting and a left-right gradient of +-lighting, slowly varying."""
        w, h = self.size
        t = i / self.fps
        g0 = 1.0 + self.lighting * math.sin(2 * math.pi * t / 8.0 + self._gain_phase[0])
        g1 = self.lighting * math.sin(2 * math.pi * t / 13.0 + self._gain_phase[1])
        ramp = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5) * 2 * g1
        return (g0 + ramp).astype(np.float32)[None, :, None]

    def __getitem__(self, i: int) -> Sample:
        i = self._check_index(i)
        w, h = self.size
        ww, wh = self.world_size
        revealed = self._reveal[self._labels] <= i
        board = self._empty + self._delta * revealed[..., None]
        ink = (self._ink_cov >= 0.35) & revealed
        # Person, pasted in the world with her feet at (x, feet_y).
        k = int(self._src[i])
        rgb, alpha = self._person.rgb[k], self._person.alpha[k]
        ax, ay = self._person.anchor[k]
        if self._flip[i] != (not self._source_faces_right):
            rgb, alpha, ax = rgb[:, ::-1], alpha[:, ::-1], alpha.shape[1] - ax
        x0 = int(round(self._x[i] - ax))
        y0 = int(round(self.feet_y - ay))
        scene = board.copy()
        world_alpha = np.zeros((wh, ww), np.float32)
        ys0, ys1 = max(y0, 0), min(y0 + alpha.shape[0], wh)
        xs0, xs1 = max(x0, 0), min(x0 + alpha.shape[1], ww)
        if ys1 > ys0 and xs1 > xs0:
            a = alpha[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
            p = rgb[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
            roi = scene[ys0:ys1, xs0:xs1]
            scene[ys0:ys1, xs0:xs1] = roi + a[..., None] * (p - roi)
            world_alpha[ys0:ys1, xs0:xs1] = a
        m = self._transforms[i][:2]
        if self.camera == "static":
            # Pure integer translation by the (zero) margin: a crop, no resampling.
            ox, oy = int(round(-m[0, 2])), int(round(-m[1, 2]))
            view = scene[oy : oy + h, ox : ox + w]
            truth = board[oy : oy + h, ox : ox + w]
            cover = world_alpha[oy : oy + h, ox : ox + w]
            ink_v = ink[oy : oy + h, ox : ox + w]
        else:
            warp = dict(dsize=(w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            view = cv2.warpAffine(scene, m, **warp)
            truth = cv2.warpAffine(board, m, **warp)
            cover = cv2.warpAffine(world_alpha, m, **warp)
            ink_v = cv2.warpAffine(ink.view(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
        gain = self._gain(i)
        gt = np.clip(np.rint(truth * gain), 0, 255).astype(np.uint8)
        noisy = view * gain
        if self.noise_sigma > 0:
            noise_rng = np.random.default_rng([self.seed, i, 0x5E11])
            noisy = noisy + noise_rng.standard_normal(noisy.shape, dtype=np.float32) * self.noise_sigma
        frame = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        return Sample(index=i, frame=frame, gt_frame=gt, gt_mask=cover > 0, ink=ink_v.copy())

    def samples(self, start: int = 0, stop: int | None = None) -> Iterator[Sample]:
        """Render frames ``start .. stop-1`` one at a time, in order."""
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        for i in range(start, stop):
            yield self[i]

    def frames(self) -> Iterator[np.ndarray]:
        """The input frames, (H, W, 3) uint8 RGB, in order (streaming)."""
        for s in self.samples():
            yield s.frame

    def gt_frames(self) -> Iterator[np.ndarray]:
        """The truth frames (board without person, noise-free), in order."""
        for s in self.samples():
            yield s.gt_frame

    def gt_masks(self) -> Iterator[np.ndarray]:
        """The person masks, (H, W) bool, in order."""
        for s in self.samples():
            yield s.gt_mask

    def ink_masks(self) -> Iterator[np.ndarray]:
        """The handwriting visible at each frame, (H, W) bool, in order."""
        for s in self.samples():
            yield s.ink


def make_clip(
    seed: int,
    size: tuple[int, int] = (640, 360),
    n_frames: int = 120,
    camera: str = "static",
    *,
    fps: float = 24.0,
    noise_sigma: float = 2.0,
    lighting: float = 0.03,
    board: str | None = None,
    person_id: int = 1,
    person_height: float = 0.78,
    data: str | os.PathLike[str] | None = None,
    script: str = "wander",
    stand_seconds: float = 4.0,
) -> Clip:
    """Build a synthetic lecture clip with exact ground truth (see the module docstring).

    Args:
        seed: everything random (board choice, walk, writing order, camera path, lighting phase, noise)
            derives from it; the same arguments give the same clip, bit for bit.
        size: ``(width, height)`` of the frames, e.g. ``(640, 360)`` or ``(1280, 720)``.
        n_frames: clip length (frames are rendered on demand, so any length costs the same memory).
        camera: ``"static"``, ``"shake"`` (about 1 px and 0.1 degree of jitter at 360p) or ``"pan"``
            (a slow pan across 8 % of the width, back and forth every 10 s, plus the shake).
        fps: frame rate; sets the pace of walking, writing, shake and lighting.
        noise_sigma: standard deviation of the Gaussian sensor noise added to the inputs (uint8 levels);
            the truth is noise-free.
        lighting: amplitude of the slow lighting change (global gain and left-right gradient), applied to
            inputs and truth alike (it is part of the scene).
        board: ``"lecture_01/10423"`` style name (see :func:`available_boards`); default: picked by seed.
        person_id: which girl of ``people/schoolgirls`` (1, 3, 5 or 7); 1 walks the most naturally.
        person_height: the lecturer's height as a fraction of the frame height.
        data: the evaluation data folder; default :func:`data_dir`.
        script: what the lecturer does (:data:`SCRIPTS`); "wander", the default, is the clip the
            benchmark has always used (the same seed gives the same frames as before scripts existed).
        stand_seconds: how long the lecturer stands before leaving, for ``script="still"`` and
            ``"still_talks"``.

    Raises:
        ValueError: an argument is out of range. DataMissing: the evaluation data is not there.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if len(size) != 2 or int(size[0]) < 64 or int(size[1]) < 64:
        raise ValueError(f"size must be (width, height) with both >= 64, got {size!r}")
    if int(n_frames) < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames!r}")
    if camera not in CAMERAS:
        raise ValueError(f"camera must be one of {', '.join(CAMERAS)}; got {camera!r}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    if noise_sigma < 0 or not 0 <= lighting < 0.5:
        raise ValueError(f"need noise_sigma >= 0 and 0 <= lighting < 0.5, got {noise_sigma!r}, {lighting!r}")
    if person_id not in PERSON_IDS:
        raise ValueError(f"person_id must be one of {PERSON_IDS}, got {person_id!r}")
    if not 0.2 <= person_height <= 0.95:
        raise ValueError(
            f"person_height must be in [0.2, 0.95] (fraction of frame height), got {person_height!r}"
        )
    if script not in SCRIPTS:
        raise ValueError(f"script must be one of {', '.join(SCRIPTS)}; got {script!r}")
    if not stand_seconds > 0:
        raise ValueError(f"stand_seconds must be positive, got {stand_seconds!r}")
    root = Path(data) if data is not None else data_dir()
    boards = available_boards(root)
    if not boards:
        raise DataMissing(f"no boards with binary images under {root / 'boards'}")
    if board is None:
        board = boards[int(np.random.default_rng([int(seed), 0xB0A2D]).integers(len(boards)))]
    elif board not in boards:
        raise ValueError(f"unknown board {board!r}; available: {', '.join(boards)}")
    return Clip(
        seed=int(seed),
        size=(int(size[0]), int(size[1])),
        n_frames=int(n_frames),
        camera=camera,
        fps=float(fps),
        noise_sigma=float(noise_sigma),
        lighting=float(lighting),
        board=board,
        person_id=int(person_id),
        person_height=float(person_height),
        root=root,
        script=script,
        stand_seconds=float(stand_seconds),
    )


def load_folder_clip(
    frames_dir: Path, masks_dir: Path | None = None
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Read a folder of frames (and optionally masks, nonzero = hole) in name order, as RGB / bool."""
    frames = [_read_rgb(p) for p in sorted(frames_dir.glob("*")) if p.suffix.lower() in (".png", ".jpg")]
    if masks_dir is None:
        return frames, None
    masks = []
    for p in sorted(masks_dir.glob("*")):
        if p.suffix.lower() in (".png", ".jpg"):
            m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            masks.append(m > 127)
    if len(masks) != len(frames):
        raise ValueError(f"{len(frames)} frames in {frames_dir} but {len(masks)} masks in {masks_dir}")
    return frames, masks
