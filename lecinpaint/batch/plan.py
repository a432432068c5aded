"""Planning a batch: which files, which outputs, and how each video is cut into chunks.

Nothing here runs the engine or Ray; it is plain data, so that the planning can be tested on its own.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path

from lecinpaint.io.ffmpeg import VIDEO_SUFFIXES

__all__ = ["Chunk", "Source", "expand_inputs", "output_path", "plan_chunks", "rolls"]


@dataclass
class Source:
    """One input video and where its result goes."""

    input: Path
    output: Path
    masks: Path | None = None
    problem: str | None = None  # known to be unusable before any work (reported as its failure)


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start, stop)`` of a video (input frame indices) and the extra frames decoded around them.

    The worker decodes ``[decode_start, decode_stop)``, runs the engine over all of it and keeps only the
    output of ``[start, stop)``: the pre-roll ``[decode_start, start)`` brings the engine's recurrent
    state (the previous finished frame, the background memory, the mask stabiliser) to where a single pass
    would have it, and the post-roll ``[stop, decode_stop)`` gives the last frames the same lookahead
    (future frames) as in a single pass.
    """

    index: int
    start: int
    stop: int
    decode_start: int
    decode_stop: int


@dataclass
class VideoPlan:
    """The product of the per-video prepare step, passed to each of the video's chunk tasks.

    Attributes:
        frames: the exact number of input frames.
        chunks: the chunks, in order (one chunk covering everything without ``--chunk``).
        shared: what is computed once per video and shared by its chunks (for example the frame
            timestamps used to seek); a per-video product of a first pass goes here too.
    """

    frames: int
    chunks: list[Chunk]
    shared: dict = field(default_factory=dict)


def expand_inputs(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (the videos directly inside, by suffix) and globs -> (video paths, problems).

    The order is the order given, each folder's and glob's matches sorted; a file named twice is kept
    once. A pattern that matches nothing is a problem (one line each), not an exception.
    """
    found: list[Path] = []
    problems: list[str] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            found.append(p)

    for pat in patterns:
        p = Path(pat)
        if p.is_dir():
            vids = sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in VIDEO_SUFFIXES)
            if not vids:
                problems.append(f"{pat}: the folder holds no video ({', '.join(VIDEO_SUFFIXES)})")
            for v in vids:
                add(v)
        elif p.exists():
            add(p)  # a file named explicitly is tried whatever its suffix
        elif glob.has_magic(pat):
            matches = sorted(Path(m) for m in glob.glob(pat, recursive=True))
            vids = [m for m in matches if m.is_file() and m.suffix.lower() in VIDEO_SUFFIXES]
            if not vids:
                problems.append(f"{pat}: no video matches this pattern")
            for v in vids:
                add(v)
        else:
            problems.append(f"{pat}: no such file or folder")
    return found, problems


def output_path(source: Path, outdir: Path, ext: str | None) -> Path:
    """``OUTDIR/<name>.<ext>``: the input's stem, and its own suffix unless ``ext`` is given
    (a raw ``.y4m`` input becomes ``.mkv``: y4m cannot carry audio or an encoded stream)."""
    if ext:
        suffix = "." + ext.lstrip(".")
    else:
        suffix = source.suffix or ".mkv"
        if suffix.lower() == ".y4m":
            suffix = ".mkv"
    return outdir / (source.stem + suffix)


def rolls(preroll_frames: int, postroll_frames: int, ratio: float) -> tuple[int, int]:
    """Pre- and post-roll in input frames for rolls counted in processed frames.

    ``ratio`` is input frames per processed frame (1 without an fps reduction); one input frame more
    on each side absorbs the rounding of the frame-rate reducer's choice.
    """
    if ratio <= 1:
        return preroll_frames, postroll_frames
    return math.ceil(preroll_frames * ratio) + 1, math.ceil(postroll_frames * ratio) + 1


def plan_chunks(frames: int, chunk_frames: int | None, preroll: int, postroll: int) -> list[Chunk]:
    """Cut ``frames`` input frames into chunks of ``chunk_frames`` (None or >= frames: one chunk).

    A last piece shorter than half a chunk is merged into the one before (a chunk pays its pre-roll and
    post-roll whatever its length).
    """
    if frames <= 0:
        raise ValueError(f"a video with {frames} frames cannot be planned")
    if chunk_frames is None or chunk_frames >= frames:
        return [Chunk(0, 0, frames, 0, frames)]
    if chunk_frames < 1:
        raise ValueError(f"chunk length must be at least one frame, got {chunk_frames}")
    bounds = list(range(0, frames, chunk_frames)) + [frames]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < chunk_frames / 2:
        del bounds[-2]
    chunks = []
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        chunks.append(Chunk(k, a, b, max(0, a - preroll), min(frames, b + postroll)))
    return chunks
