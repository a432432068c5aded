"""lecinpaint: remove the lecturer from lecture videos (flow-guided video inpainting, streaming).

The public entry points:
    lecinpaint.Engine, lecinpaint.Config   the streaming engine (see lecinpaint.engine)
    lecinpaint.ops                         the custom ops (compiled, with pure-PyTorch fallbacks)
    python -m lecinpaint.filter            the y4m frame server for ffmpeg pipes
    lecinpaint                             the command-line tool
    lecinpaint.vs                          the VapourSynth front end
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Config", "Engine", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import lecinpaint` (e.g. for lecinpaint.ops or the VapourSynth plugin) stays cheap.
    if name in ("Engine", "Config"):
        from lecinpaint import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'lecinpaint' has no attribute {name!r}")
