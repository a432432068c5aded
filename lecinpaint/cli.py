"""Shared plumbing of the command-line front ends (``lecinpaint`` and ``python -m lecinpaint.filter``).

The engine options as argparse flags, their translation into an engine ``Config``, stdout protection
for programs that write frames to stdout, and the one-line error convention. Imports only the standard
library at module level, so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from typing import Any, BinaryIO

__all__ = [
    "UserError",
    "add_engine_options",
    "engine_settings",
    "make_engine",
    "protect_stdout",
    "error",
    "log",
]

PROG = "lecinpaint"


class UserError(Exception):
    """A problem with the user's input or options: reported as one line on stderr, exit status 1."""


def log(msg: str) -> None:
    """One line on stderr, prefixed with the program name."""
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def error(msg: str) -> None:
    """The one-line error report on stderr."""
    first = str(msg).strip().splitlines()
    print(f"{PROG}: error: {' '.join(s.strip() for s in first) if first else 'unknown error'}",
          file=sys.stderr, flush=True)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Add the engine's options (segmenter, flow, completion, ...) to ``parser``.

    Every option defaults to None, meaning "the engine's default", so that only what the user sets is
    passed on (see :func:`engine_settings`).
    """
    g = parser.add_argument_group("engine options (defaults: the built-in tier, no downloads)")
    g.add_argument("--segmenter", choices=("mediapipe", "deeplabv3", "fcn"),
                   help="person segmenter (default mediapipe; deeplabv3/fcn need torchvision checkpoints)")
    g.add_argument("--segmenter-weights", metavar="PATH",
                   help="checkpoint file or folder for --segmenter deeplabv3/fcn")
    g.add_argument("--masks", metavar="PATH",
                   help="hole masks instead of segmentation: a folder of images or a mask video, one per "
                        "frame, white (nonzero) = remove")
    g.add_argument("--dilation", type=int, metavar="PX",
                   help="grow the hole by this many pixels (default: 3%% of the shorter side)")
    g.add_argument("--flow", choices=("dis", "flownet2"), help="optical flow (default dis)")
    g.add_argument("--flownet2-weights", metavar="PATH", help="FlowNet2_checkpoint.pth.tar for --flow flownet2")
    g.add_argument("--completion", choices=("laplace", "dfc"), help="flow completion in the hole (default laplace)")
    g.add_argument("--dfc-weights", metavar="PATH",
                   help="folder (or file) with the DFC-Net checkpoints for --completion dfc")
    g.add_argument("--threshold", type=float, metavar="PX",
                   help="forward/backward flow consistency threshold in pixels")
    g.add_argument("--lookahead", type=int, metavar="N", help="frames the engine reads ahead (latency)")
    g.add_argument("--fps", metavar="RATE",
                   help="process and output at this lower frame rate, e.g. 5 or 30000/1001")
    g.add_argument("--device", metavar="DEV", help="auto (default), cpu, cuda or cuda:N")


_FIELDS = (
    "segmenter", "segmenter_weights", "dilation", "flow", "flownet2_weights", "completion", "dfc_weights",
    "threshold", "lookahead", "device",
)


def engine_settings(args: argparse.Namespace, input_fps: Fraction) -> dict[str, Any]:
    """The ``Config`` keyword arguments the user set on the command line (plus the input frame rate)."""
    kw: dict[str, Any] = {f: getattr(args, f) for f in _FIELDS if getattr(args, f, None) is not None}
    if getattr(args, "masks", None):
        kw["segmenter"] = "masks"
        kw["mask_source"] = args.masks
    if getattr(args, "fps", None):
        try:
            fps = Fraction(str(args.fps).replace(":", "/"))
        except (ValueError, ZeroDivisionError):
            raise UserError(f"bad --fps {args.fps!r}: expected a number such as 5 or 30000/1001") from None
        if fps <= 0:
            raise UserError(f"bad --fps {args.fps!r}: it must be positive")
        kw["fps"] = fps
    kw["input_fps"] = input_fps
    return kw


def make_engine(settings: dict[str, Any]) -> Any:
    """Build the engine from :func:`engine_settings`' result.

    Raises:
        UserError: the configuration is invalid or a model/checkpoint cannot be loaded (message from
            the engine, which names the field or file).
    """
    from lecinpaint.engine import Config, Engine

    try:
        return Engine(Config(**settings))
    except (ValueError, FileNotFoundError, ImportError, OSError) as exc:
        raise UserError(str(exc)) from exc
    except TypeError as exc:  # an option this engine version does not know
        raise UserError(f"engine configuration rejected: {exc}") from exc


def protect_stdout() -> BinaryIO:
    """Keep fd 1 for frames only: return a binary file on a duplicate of fd 1 and point fd 1 at stderr.

    After this, anything that writes to stdout by file descriptor (C/C++ libraries) or through
    ``sys.stdout`` (stray prints) lands on stderr, and only what is written to the returned file
    reaches the real stdout.
    """
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "wb", buffering=1 << 20)
