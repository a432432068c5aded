"""Speed through the pipe filter, per size, against two floors measured in the same run.

Usage (from the project root, with the virtual environment active):

    python -m benchmarks.filter_speed                               # 640x360, 1280x720, 1920x1080
    python -m benchmarks.filter_speed --sizes 640x360 --frames 200
    python -m benchmarks.filter_speed --clip real                   # the real whiteboard clip instead
    python -m benchmarks.filter_speed --json benchmarks/out/filter_speed.json
    python -m benchmarks.filter_speed --report BEFORE.json AFTER.json   # -> docs/benchmark/filter_speed.md

What runs, per size, on the same y4m file (4:2:0, 8 bit, written once into ``--work``):

``filter``     ``python -m lecinpaint.filter -q`` with the default tier (own segmentation), input on
               stdin, output read frame by frame by this process; its peak RSS (VmHWM) is read from
               /proc while it runs.
``io``         the floor of the I/O alone: a child that reads the y4m stream and writes it back with the
               filter's reader and writer (no colour conversion, no work).
``last_seen``  the floor of the simplest streaming method: a child that reads the stream, converts to RGB
               as the filter does, fills the hole (the clip's exact masks, dilated as the engine dilates)
               with the last value seen there, and writes the composited YUV back.

Each child's output frames are timestamped as they arrive; frames/s is **steady state**: over the
outputs from the 10th to the one ``lookahead + 8`` before the end (start-up, model loading and the final
flush of the lookahead excluded). Then, in this process, the filter's own path (``inpaint_stream`` over a
``Y4MReader``, composited back to YUV) runs once more on one thread to read ``Engine.stage_times``: the
work of each stage in milliseconds per frame (:func:`stage_table`).

Clips: ``generated`` (default): a synthetic lecture from ``benchmarks.lecture.generator`` (a real
board, a real person walking, standing and writing in a wide shot, static camera), with exact masks;
``real``: the real whiteboard lecture clip played forwards and backwards (a close-up: the hole is a
quarter of the frame), whose masks for ``last_seen`` come from the engine's own segmentation.

Everything is printed and written as JSON with where it ran (commit, CPU count, load average).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np

from benchmarks.engine_speed import _parse_size, environment, vmhwm_kib

ROOT = Path(__file__).resolve().parents[1]
STEADY_START = 10


# ---------------------------------------------------------------------------------------------------------
# Inputs
def _clip_frames(kind: str, size: tuple[int, int], n: int, seed: int):
    """``(frames, masks)`` iterators of the clip at ``size``; masks None where the clip has none."""
    if kind == "generated":
        from benchmarks.lecture.generator import make_clip

        clip = make_clip(seed, size=size, n_frames=n, camera="static")
        samples = list(clip.samples())
        return [s.frame for s in samples], [s.gt_mask for s in samples]
    from benchmarks.engine_speed import _load, clip_files, stream

    files = clip_files()
    cache = [_load(f, size) for f in files]
    return list(stream(size, n, files, cache)), None


def prepare(kind: str, size: tuple[int, int], n: int, seed: int, work: Path) -> tuple[Path, Path]:
    """The y4m file and the masks (``.npy``, bool ``(n, H, W)``) of one size, made once and reused."""
    from lecinpaint.io.stream import Colour
    from lecinpaint.io.y4m import Y4MHeader, Y4MWriter, YUVFrame

    tag = f"{kind}_{seed}_{size[0]}x{size[1]}_{n}"
    y4m, npy = work / f"{tag}.y4m", work / f"{tag}_masks.npy"
    if y4m.exists() and npy.exists():
        return y4m, npy
    work.mkdir(parents=True, exist_ok=True)
    frames, masks = _clip_frames(kind, size, n, seed)
    if masks is None:  # the real clip: the engine's own segmentation, undilated
        masks = _own_masks(frames)
    w, h = size
    header = Y4MHeader.make(w, h, Fraction(25), "420jpeg")
    colour = Colour.for_layout(header.layout, h)
    from lecinpaint.io import color

    tmp = y4m.with_suffix(".part")
    with open(tmp, "wb") as fh:
        writer = Y4MWriter(fh, header, flush=False)
        for f in frames:
            planes = color.rgb_to_yuv(f, depth=8, matrix=colour.matrix, full_range=colour.full_range,
                                      sub_x=2, sub_y=2)
            writer.write(YUVFrame(planes))
    np.save(npy, np.stack(masks).astype(bool))
    os.replace(tmp, y4m)
    return y4m, npy


def _own_masks(frames: list[np.ndarray]) -> list[np.ndarray]:
    from lecinpaint import Config
    from lecinpaint.segmentation import make_segmenter

    seg = make_segmenter(Config().segmenter)
    try:
        return [np.asarray(seg(f)) > 0.5 for f in frames]
    finally:
        close = getattr(seg, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------------------------------------
# Children (run as ``python -m benchmarks.filter_speed --_child KIND [masks.npy]``, y4m on stdin/stdout)
def _child_io() -> None:
    from lecinpaint.io.y4m import Y4MReader, Y4MWriter

    reader = Y4MReader(sys.stdin.buffer)
    writer = Y4MWriter(sys.stdout.buffer, reader.header, flush=False)
    for frame in reader:
        writer.write(frame)
    sys.stdout.buffer.flush()


def _child_last_seen(masks_path: str) -> None:
    from lecinpaint.io.stream import Colour
    from lecinpaint.io.y4m import Y4MReader, Y4MWriter
    from lecinpaint.masks import default_dilation, dilate

    masks = np.load(masks_path, mmap_mode="r")
    reader = Y4MReader(sys.stdin.buffer)
    hdr = reader.header
    colour = Colour.for_layout(hdr.layout, hdr.height, full_range=hdr.full_range)
    writer = Y4MWriter(sys.stdout.buffer, hdr, flush=False)
    radius = default_dilation(hdr.height, hdr.width)
    memory = np.zeros((hdr.height, hdr.width, 3), np.uint8)
    for i, frame in enumerate(reader):
        rgb = colour.to_rgb_frame(frame)
        hole = dilate(np.asarray(masks[i]), radius)
        hole8 = hole.view(np.uint8)
        cv2.copyTo(rgb, 1 - hole8, memory)  # remember what is visible
        cv2.copyTo(memory, hole8, rgb)  # the hole takes the last value seen
        writer.write(colour.composite_frame(frame, rgb, hole))
    sys.stdout.buffer.flush()


# ---------------------------------------------------------------------------------------------------------
# Timing
def _timed_outputs(cmd: list[str], y4m: Path, n: int) -> tuple[list[float], float | None]:
    """Run ``cmd`` with ``y4m`` on stdin: the arrival time of each output frame (seconds from start),
    and the child's peak RSS in MiB, read from /proc while it runs (after its last frame)."""
    from lecinpaint.io.y4m import Y4MReader

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(y4m, "rb") as fin:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                                env=env)
        stamps: list[float] = []
        peak: float | None = None
        out: BinaryIO = proc.stdout  # type: ignore[assignment]
        for _ in Y4MReader(out):
            stamps.append(time.perf_counter() - t0)
            if len(stamps) % 8 == 0 or len(stamps) == n:
                kib = vmhwm_kib(proc.pid)
                peak = peak if kib is None else kib / 1024.0
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        rc = proc.wait()
    if rc != 0 or len(stamps) != n:
        raise RuntimeError(f"filter_speed: {' '.join(cmd[2:4])} gave {len(stamps)} of {n} frames "
                           f"(exit {rc}):\n{err[-2000:]}")
    return stamps, peak


def steady_fps(stamps: list[float], tail: int) -> float:
    """Frames/s between output ``STEADY_START`` and output ``len - tail``."""
    a, b = STEADY_START, len(stamps) - 1 - tail
    if b <= a:
        raise ValueError(f"filter_speed: too few frames for a steady state ({len(stamps)}, tail {tail})")
    return (b - a) / (stamps[b] - stamps[a])


def stage_table(y4m: Path) -> dict[str, Any]:
    """The filter's path in this process, on one thread (``segment_ahead=0``): the work per stage in
    milliseconds per frame, with no other thread competing for the cores. The segmenter's loading is
    measured on its own and taken out of ``segment``; ``output`` is the compositing back into the
    source's YUV and the writing, which the filter does after the engine."""
    from lecinpaint import Config, Engine
    from lecinpaint.intake import Segmentation
    from lecinpaint.io.stream import Colour, inpaint_stream
    from lecinpaint.io.y4m import Y4MReader, Y4MWriter

    config = Config(segment_ahead=0)
    probe = Engine(config)
    Segmentation(probe).close()  # the first load reads the model files: not what is measured below
    t0 = time.perf_counter()
    Segmentation(probe).close()
    load = time.perf_counter() - t0
    engine = Engine(config)
    output = 0.0
    with open(y4m, "rb") as fin, open(os.devnull, "wb") as sink:
        reader = Y4MReader(fin)
        hdr = reader.header
        colour = Colour.for_layout(hdr.layout, hdr.height, full_range=hdr.full_range)
        writer = Y4MWriter(sink, hdr, flush=False)
        t0 = time.perf_counter()
        count = 0

        def composite(original: Any, rgb: np.ndarray, hole: np.ndarray) -> Any:
            nonlocal output
            t = time.perf_counter()
            out = colour.composite_frame(original, rgb, hole)
            output += time.perf_counter() - t
            return out

        for _, out in inpaint_stream(engine, iter(reader), colour.to_rgb_frame, composite):
            t = time.perf_counter()
            writer.write(out)
            output += time.perf_counter() - t
            count += 1
        wall = time.perf_counter() - t0
    times = dict(engine.stage_times)
    times["segment"] = max(0.0, times["segment"] - load)
    times["output"] = output
    return {
        "frames": count,
        "threads": 1,
        "fps_one_thread": round(count / wall, 2),
        "segmenter_load_s": round(load, 3),
        "ms_per_frame_by_stage": {k: round(1000.0 * v / count, 2) for k, v in times.items()},
        "lookahead": engine.lookahead,
    }


def measure(kind: str, size: tuple[int, int], n: int, seed: int, work: Path) -> dict[str, Any]:
    from lecinpaint import Config, Engine

    y4m, npy = prepare(kind, size, n, seed, work)
    lookahead = Engine(Config()).lookahead
    tail = lookahead + 8
    py = sys.executable
    load0 = os.getloadavg()[0]
    res: dict[str, Any] = {"size": f"{size[0]}x{size[1]}", "frames": n, "clip": kind,
                           "hole_fraction": round(float(np.load(npy, mmap_mode="r").mean()), 4)}
    child = [py, "-m", "benchmarks.filter_speed", "--_child"]
    stamps, _ = _timed_outputs([*child, "io"], y4m, n)
    res["io_fps"] = round(steady_fps(stamps, 0), 2)
    stamps, _ = _timed_outputs([*child, "last_seen", str(npy)], y4m, n)
    res["last_seen_fps"] = round(steady_fps(stamps, 0), 2)
    stamps, peak = _timed_outputs([py, "-m", "lecinpaint.filter", "-q"], y4m, n)
    res["filter_fps"] = round(steady_fps(stamps, tail), 2)
    res["filter_peak_rss_mib"] = None if peak is None else round(peak, 1)
    res["filter_over_io"] = round(res["filter_fps"] / res["io_fps"], 4)
    res["filter_over_last_seen"] = round(res["filter_fps"] / res["last_seen_fps"], 4)
    res["stages"] = stage_table(y4m)
    res["loadavg_before"], res["loadavg_after"] = round(load0, 2), round(os.getloadavg()[0], 2)
    return res


TARGETS = {"640x360": 60.0, "1280x720": 30.0, "1920x1080": 15.0}
"""Frames/s the filter should reach on a 2-core CPU (steady state, own segmentation)."""


def render_markdown(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A report of two runs (e.g. two commits) of this benchmark: frames/s against the floors measured in
    the same run, peak memory, and milliseconds per frame per stage."""
    envb, enva = before["environment"], after["environment"]
    runs_b = {r["size"]: r for r in before["runs"]}
    runs_a = {r["size"]: r for r in after["runs"]}
    sizes = [r["size"] for r in after["runs"] if r["size"] in runs_b]
    lines = [
        "# Speed through the pipe filter",
        "",
        ("Made by `python -m benchmarks.filter_speed` (twice: once per commit) and "
         "`--report BEFORE AFTER --markdown`. "
         f"Commits: before `{envb['commit']}`, after `{enva['commit']}`; {enva['cpu_count']} CPU cores, "
         f"torch {enva['torch']}, OpenCV {enva['opencv']}. Clip: {after['runs'][0]['clip']} "
         f"({after['runs'][0]['frames']} frames per size, the person's mask "
         f"{100 * after['runs'][0]['hole_fraction']:.1f} % of the frame). Frames/s are steady state "
         "(start-up and the final flush excluded); `io` and `last-seen` are the floors measured in the same "
         "run as the filter (reading and writing the y4m stream alone; a last-seen fill through the same "
         "I/O and colour conversion), so their ratios compare runs made under different loads."),
        "",
        ("| size | filter before | filter after | target | io floor (after) | last-seen floor (after) "
         "| after / last-seen | peak RSS before | peak RSS after |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        b, a = runs_b[size], runs_a[size]
        rss_b = "-" if b.get("filter_peak_rss_mib") is None else f"{b['filter_peak_rss_mib']:.0f} MiB"
        rss_a = "-" if a.get("filter_peak_rss_mib") is None else f"{a['filter_peak_rss_mib']:.0f} MiB"
        target = TARGETS.get(size, float("nan"))
        lines.append(
            f"| {size} | {b['filter_fps']:.1f} | {a['filter_fps']:.1f} | {target:.0f} "
            f"| {a['io_fps']:.0f} | {a['last_seen_fps']:.1f} | {a['filter_over_last_seen']:.2f} | {rss_b} "
            f"| {rss_a} |"
        )
    stages = [k for k in runs_a[sizes[0]]["stages"]["ms_per_frame_by_stage"]
              if any(runs_a[z]["stages"]["ms_per_frame_by_stage"].get(k) or
                     runs_b[z]["stages"]["ms_per_frame_by_stage"].get(k) for z in sizes)]
    lines += [
        "",
        ("Milliseconds per frame per stage, before -> after: the work of each stage, measured on the "
         "filter's path in one process on one thread (`segment_ahead=0`, `Engine.stage_times`, the "
         "segmenter's loading taken out; `read` includes the conversion to RGB, `output` the compositing "
         "back into YUV and the writing). The filter runs reading and segmentation on one worker thread "
         "(and, after, the flow on another), so its wall time per frame is less than the sum:"),
        "",
        "| stage | " + " | ".join(sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for k in stages:
        cells = []
        for z in sizes:
            vb = runs_b[z]["stages"]["ms_per_frame_by_stage"].get(k, 0.0)
            va = runs_a[z]["stages"]["ms_per_frame_by_stage"].get(k, 0.0)
            cells.append(f"{vb:.1f} -> {va:.1f}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    loads = ", ".join(f"{r['size']} {r['loadavg_before']:.1f}-{r['loadavg_after']:.1f}"
                      for r in after["runs"])
    noise = ("On a shared machine repeated runs of one commit differ by up to a quarter: read small "
             "differences (a stage within 20 %) as noise.")
    lines += ["", f"Load average during the after run: {loads}. {noise}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        if argv[1] == "io":
            _child_io()
        else:
            _child_last_seen(argv[2])
        return 0
    ap = argparse.ArgumentParser(description="Speed of the lecinpaint pipe filter against two floors.")
    ap.add_argument("--sizes", type=_parse_size, nargs="+", default=[(640, 360), (1280, 720), (1920, 1080)])
    ap.add_argument("--frames", type=int, default=160, help="frames per size (at least lookahead + 60)")
    ap.add_argument("--clip", choices=("generated", "real"), default="generated")
    ap.add_argument("--seed", type=int, default=3, help="the generated clip's seed")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "filter_speed",
                    help="where the y4m inputs are written (reused between runs)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "out" / "filter_speed.json")
    ap.add_argument("--report", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                    help="write a markdown report of two earlier runs (their JSON files) instead of running")
    ap.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmark" / "filter_speed.md",
                    help="where --report writes")
    args = ap.parse_args(argv)
    if args.report:
        before, after = (json.loads(p.read_text()) for p in args.report)
        args.markdown.write_text(render_markdown(before, after))
        print(f"wrote {args.markdown}")
        return 0
    results: dict[str, Any] = {"environment": environment(), "runs": []}
    for size in args.sizes:
        r = measure(args.clip, size, args.frames, args.seed, args.work)
        results["runs"].append(r)
        st = r["stages"]["ms_per_frame_by_stage"]
        hole = 100 * r["hole_fraction"]
        print(f"{r['size']} ({r['clip']}, hole {hole:.1f} %): filter {r['filter_fps']:.1f} "
              f"frames/s; io {r['io_fps']:.0f}, last-seen {r['last_seen_fps']:.1f} (filter/last-seen "
              f"{r['filter_over_last_seen']:.2f}); peak RSS {r['filter_peak_rss_mib']} MiB; "
              f"load {r['loadavg_before']:.1f}->{r['loadavg_after']:.1f}; "
              "ms/frame: " + "  ".join(f"{k} {v:.1f}" for k, v in st.items() if v), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
