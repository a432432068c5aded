"""``python -m lecinpaint.filter``: the lecinpaint frame server for ffmpeg pipes.

Reads a y4m stream (every 8-bit layout ffmpeg writes, and 9..16-bit ones) or raw video on stdin,
removes the lecturer, and writes the same format on stdout: same header (fields it does not use are
passed through), same size, rate and number of frames, in order. Outside the hole every output sample
equals the input sample, in every plane. Run ``python -m lecinpaint.filter --help`` for the options.

In an installed lecinpaint this folder is the package ``lecinpaint.filter`` (setup.py's package_dir).
"""

from __future__ import annotations

from ._server import build_parser, main

__all__ = ["build_parser", "main"]
