"""A small synthetic lecture clip, made from nothing: a whiteboard with handwriting and a lecturer.

The clip needs no data set and no network: the board, its writing and the lecturer are drawn with
OpenCV, the audio is a sine tone from ffmpeg's ``lavfi`` source. The lecturer walks across the board
and back, hiding the writing; while he stands in front of it, a new line of writing appears (so the
board behind him changes while hidden, the hard case for a last-seen-background method).

Example::

    from lecinpaint.example import write_example
    write_example("example.mp4", masks="example_masks.mkv")   # the clip, and the lecturer's exact masks

``lecinpaint example example.mp4`` does the same from the command line. Everything is deterministic:
the same call writes the same frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

__all__ = ["example_frames", "write_example", "DEFAULT_SIZE", "DEFAULT_RATE", "DEFAULT_SECONDS"]

DEFAULT_SIZE = (640, 360)
DEFAULT_RATE = Fraction(25)
DEFAULT_SECONDS = 5.0

_LINES = (
    "f(x) = x^2 + 2x + 1",
    "f'(x) = 2x + 2 = 0  =>  x = -1",
    "Integral of f from 0 to 1 = 7/3",
    "Taylor: e^x = 1 + x + x^2/2 + ...",
)
_LATE_LINE = "so the minimum is f(-1) = 0"


def _board(width: int, height: int) -> np.ndarray:
    """The empty board: a slightly uneven off-white surface in a grey frame, on a wall."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    wall = np.empty((height, width, 3), np.float32)
    wall[:] = (182, 170, 150)
    m = max(4, width // 40)
    shade = 238 - 10 * ((xx / width - 0.55) ** 2 + (yy / height - 0.35) ** 2)
    board = np.stack([shade, shade + 1, shade + 3], axis=-1)
    wall[m : height - 2 * m, m : width - m] = board[m : height - 2 * m, m : width - m]
    img = wall.clip(0, 255).astype(np.uint8)
    cv2.rectangle(img, (m, m), (width - m, height - 2 * m), (120, 120, 125), max(2, m // 3))
    return img


def _scale(width: int) -> float:
    return width / 640.0


def _write(img: np.ndarray, text: str, row: int, progress: float = 1.0) -> None:
    """Handwriting-like text (Hershey script) on row ``row``; ``progress`` < 1 draws a prefix."""
    s = _scale(img.shape[1])
    n = int(round(len(text) * progress))
    if n <= 0:
        return
    org = (int(40 * s), int((58 + 52 * row) * s))
    cv2.putText(img, text[:n], org, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.05 * s, (25, 45, 140),
                max(1, int(round(2 * s))), cv2.LINE_AA)


def _lecturer(width: int, height: int, x: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The lecturer drawn on a transparent layer: (RGB layer, bool mask), centred at column ``x``."""
    s = _scale(width)
    layer = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cx = int(round(x))
    head_y = int(95 * s)
    sway = np.sin(t * 7.0)

    def both(draw) -> None:  # draw the same shape into the layer (its colour) and the mask (255)
        draw(layer, None)
        draw(mask, 255)

    # Legs (dark trousers) and shoes.
    for side in (-1, 1):
        hip = (cx + side * int(14 * s), int(235 * s))
        foot = (cx + side * int((20 + 6 * sway * side) * s), height + int(10 * s))
        both(lambda im, c, h=hip, f=foot: cv2.line(im, h, f, c or (45, 48, 60), int(24 * s)))
    # Torso: a shirt, slightly wider at the shoulders.
    torso = np.array([
        [cx - int(38 * s), int(138 * s)], [cx + int(38 * s), int(138 * s)],
        [cx + int(30 * s), int(245 * s)], [cx - int(30 * s), int(245 * s)],
    ], np.int32)
    both(lambda im, c: cv2.fillPoly(im, [torso], c or (70, 110, 170), cv2.LINE_AA))
    # Arms: one hangs, one points at the board and moves.
    sh_l, sh_r = (cx - int(36 * s), int(146 * s)), (cx + int(36 * s), int(146 * s))
    hand_l = (cx - int(48 * s), int(228 * s))
    hand_r = (cx + int((70 + 12 * sway) * s), int((120 - 25 * np.cos(t * 3.0)) * s))
    for a, b in ((sh_l, hand_l), (sh_r, hand_r)):
        both(lambda im, c, a=a, b=b: cv2.line(im, a, b, c or (70, 110, 170), int(18 * s)))
    for hand in (hand_l, hand_r):
        both(lambda im, c, h=hand: cv2.circle(im, h, int(10 * s), c or (205, 160, 130), -1, cv2.LINE_AA))
    # Neck, head, hair.
    both(lambda im, c: cv2.rectangle(im, (cx - int(9 * s), head_y + int(22 * s)),
                                     (cx + int(9 * s), int(142 * s)), c or (200, 155, 125), -1))
    both(lambda im, c: cv2.ellipse(im, (cx, head_y), (int(24 * s), int(31 * s)), 0, 0, 360,
                                   c or (215, 170, 140), -1, cv2.LINE_AA))
    cv2.ellipse(layer, (cx, head_y - int(12 * s)), (int(25 * s), int(21 * s)), 0, 180, 360, (60, 40, 30), -1,
                cv2.LINE_AA)
    for ex in (-9, 9):
        cv2.circle(layer, (cx + int(ex * s), head_y + int(2 * s)), max(1, int(3 * s)), (40, 30, 30), -1)
    cv2.ellipse(layer, (cx, head_y + int(15 * s)), (int(8 * s), int(4 * s)), 0, 0, 180, (150, 70, 70),
                max(1, int(2 * s)))
    return layer, mask > 0


def example_frames(
    size: tuple[int, int] = DEFAULT_SIZE, rate: Fraction = DEFAULT_RATE, seconds: float = DEFAULT_SECONDS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(frame, mask)`` per frame: ``(H, W, 3)`` uint8 RGB and the lecturer's exact ``(H, W)``
    bool mask (True = lecturer). ``size`` is (width, height)."""
    width, height = size
    n = max(1, int(round(seconds * float(rate))))
    board = _board(width, height)
    for row, text in enumerate(_LINES):
        _write(board, text, row)
    for i in range(n):
        t = i / float(rate)
        u = i / max(1, n - 1)
        frame = board.copy()
        # A new line is written between 60% and 85% of the clip, while the lecturer walks back over it.
        _write(frame, _LATE_LINE, len(_LINES), progress=float(np.clip((u - 0.6) / 0.25, 0.0, 1.0)))
        x = width * (0.18 + 0.62 * (0.5 - 0.5 * np.cos(2 * np.pi * u)))
        layer, mask = _lecturer(width, height, x, t)
        frame[mask] = layer[mask]
        yield frame, mask


def write_example(
    path: str | os.PathLike[str],
    *,
    masks: str | os.PathLike[str] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    rate: Fraction = DEFAULT_RATE,
    seconds: float = DEFAULT_SECONDS,
    audio: bool = True,
) -> Path:
    """Write the example clip to ``path`` (H.264 + AAC sine tone), and optionally its masks.

    Args:
        path: output video file (any container ffmpeg can write H.264 + AAC into: .mp4, .mkv, .mov).
        masks: if given, also write the lecturer's exact masks there (a mask video, e.g. ``.mkv``
            lossless, or a folder of PNGs); usable with ``--masks``.
        size: (width, height); rate: frames per second; seconds: duration.
        audio: add a 440 Hz sine tone as the audio track.

    Returns:
        ``path`` as a Path.

    Raises:
        FFmpegError: ffmpeg is missing or failed.
    """
    from lecinpaint.io.ffmpeg import FrameEncoder, MaskWriter, find_program

    out = Path(path)
    width, height = size
    rate = Fraction(rate)
    r = f"{rate.numerator}/{rate.denominator}"
    cmd = [find_program("ffmpeg"), "-nostdin", "-v", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", r, "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "96k", "-shortest"]
    cmd += ["-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p",
            "-metadata", "title=lecinpaint example lecture", str(out)]
    enc = FrameEncoder(cmd, (height, width, 3))
    mw = MaskWriter(masks, width, height, rate) if masks is not None else None
    try:
        for frame, mask in example_frames(size, rate, seconds):
            enc.write(frame)
            if mw is not None:
                mw.write(mask)
    except BaseException:
        enc.abort()
        if mw is not None:
            mw.abort()
        raise
    enc.close()
    if mw is not None:
        mw.close()
    return out
