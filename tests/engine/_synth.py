"""Small synthetic videos with known answers, shared by the engine tests."""

from __future__ import annotations

import cv2
import numpy as np


def texture(h: int, w: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """A smooth random RGB texture (DIS needs some structure; pure noise aliases)."""
    rng = np.random.default_rng(seed)
    tex = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(tex, (0, 0), blur) if blur else tex


def translating(n: int, h: int = 96, w: int = 128, speed: int = 2, seed: int = 0):
    """Frames of a texture moving left by ``speed`` px per frame; a black box (the hole) moving right.

    Returns ``(frames, masks, truth)``: inputs with the hole blacked out, the masks, the clean frames.
    """
    tex = texture(h, w + speed * n + 8, seed)
    frames, masks, truth = [], [], []
    for t in range(n):
        clean = np.ascontiguousarray(tex[:, speed * t : speed * t + w])
        m = np.zeros((h, w), bool)
        m[h // 4 : 3 * h // 4, w // 4 + t : w // 2 + t] = True
        f = clean.copy()
        f[m] = 0
        frames.append(f)
        masks.append(m)
        truth.append(clean)
    return frames, masks, truth


def static(n: int, h: int = 64, w: int = 96, seed: int = 1):
    """A still textured scene with a hole that wanders over it (every pixel is seen at some point)."""
    clean = texture(h, w, seed)
    frames, masks, truth = [], [], []
    for t in range(n):
        m = np.zeros((h, w), bool)
        x0 = (7 * t) % (w - 20)
        m[10:50, x0 : x0 + 20] = True
        f = clean.copy()
        f[m] = 255
        frames.append(f)
        masks.append(m)
        truth.append(clean)
    return frames, masks, truth
