"""End-to-end speed and memory of the engine's default tier (segmentation included).

Usage (from the project root, with the virtual environment active):

    python -m benchmarks.engine_speed                      # 640x360 and 1280x720, speed and memory
    python -m benchmarks.engine_speed --sizes 640x360 --frames 120 --memory-frames 100
    python -m benchmarks.engine_speed --no-memory --json /tmp/speed.json

Input: the real whiteboard clip (``../shared/data/whiteboard_lecture``, a real lecturer, static camera)
resized to each size and played forwards then backwards (no cut at the loop point), so that the
segmenter, the flow and the propagation all see real-looking content at any length.

Speed: frames/s end to end through ``Engine.run`` (default ``Config()``: mediapipe segmentation, mask
stabilisation and dilation, DIS flow, completion, propagation, fill, composite), as wall-clock frames/s
and as CPU frames/s (frames per second of CPU time used by the whole process, all threads: what the
run would reach on the same cores with nothing else running). Both are printed because this benchmark
usually runs on shared machines; the load average during the run is recorded. Per stage: milliseconds
per frame from ``Engine.stage_times``.

Memory: peak RSS (VmHWM; ``ru_maxrss`` where there is no /proc) of a fresh subprocess that streams N
frames, and of one that streams 4N frames, per size; constant memory means the ratio stays near 1
(target < 1.1).

Everything is printed and written as JSON (default ``benchmarks/out/engine_speed.json``) with where it
ran (commit, versions, CPU count, threads, load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "whiteboard_lecture" / "frames"


def clip_files(folder: Path = CLIP) -> list[Path]:
    files = sorted(p for p in folder.glob("*.jpg"))
    if not files:
        raise SystemExit(
            f"engine_speed: the whiteboard clip is not at {folder} (../shared/data next to the project)"
        )
    return files


def _load(path: Path, size: tuple[int, int]) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"engine_speed: cannot read {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    interp = cv2.INTER_AREA if size[0] < rgb.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(rgb, size, interpolation=interp)


def _pingpong(n_src: int, n: int) -> Iterator[int]:
    period = max(1, 2 * n_src - 2)
    for i in range(n):
        j = i % period
        yield j if j < n_src else period - j


def stream(
    size: tuple[int, int], n: int, files: list[Path], cache: list[np.ndarray] | None = None
) -> Iterator[np.ndarray]:
    """``n`` frames of the clip at ``size`` (width, height); decoded on the fly unless ``cache`` is given."""
    for j in _pingpong(len(files), n):
        yield cache[j] if cache is not None else _load(files[j], size)


def environment() -> dict[str, Any]:
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "lecinpaint"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return {
        "commit": commit + ("+dirty" if dirty else ""),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "cuda": torch.cuda.is_available(),
    }


def measure_speed(size: tuple[int, int], n: int, files: list[Path], config: dict[str, Any]) -> dict[str, Any]:
    from lecinpaint import Config, Engine

    cache = [_load(f, size) for f in files]
    engine = Engine(Config(**config))
    # Warm-up on a few frames (model loading, first-call costs), then a fresh engine for the timing.
    for _ in engine.run(stream(size, 4, files, cache)):
        pass
    engine = Engine(Config(**config))
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    count = 0
    for _ in engine.run(stream(size, n, files, cache)):
        count += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if count != n:
        raise RuntimeError(f"engine_speed: {n} frames in, {count} out")
    stages = {k: round(1000.0 * v / n, 2) for k, v in engine.stage_times.items()}
    return {
        "size": f"{size[0]}x{size[1]}",
        "frames": n,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "fps_wall": round(n / wall, 2),
        "fps_cpu": round(n / cpu, 2),
        "ms_per_frame_by_stage": stages,
        "loadavg_before": round(load0, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
        "torch_threads": engine.config.threads,
        "lookahead": engine.lookahead,
    }


def _memory_child(size: str, n: int, config: str) -> None:
    """Runs in a subprocess: stream n frames through a fresh engine, print peak RSS in KiB."""
    from lecinpaint import Config, Engine

    w, h = (int(v) for v in size.split("x"))
    files = clip_files()
    engine = Engine(Config(**json.loads(config)))
    count = sum(1 for _ in engine.run(stream((w, h), n, files)))
    if count != n:
        raise SystemExit(f"engine_speed: {n} frames in, {count} out")
    print(json.dumps({"maxrss_kib": _peak_rss_kib(), "frames": count}))


def vmhwm_kib(pid: int | str = "self") -> int | None:
    """The high-water mark of a process's resident memory (VmHWM, KiB), or None where /proc has none.

    VmHWM starts afresh at exec, so it is the process's own peak (see :func:`_peak_rss_kib`); another
    process's can be read while it runs."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_rss_kib() -> int:
    """Peak RSS of this process in KiB: VmHWM, whose high-water mark starts afresh at exec.

    ``ru_maxrss`` would do on its own, but after fork + exec Linux folds the forked copy of the parent's
    RSS into it, so a child started by a big parent would report the parent's size.
    """
    peak = vmhwm_kib()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_memory(size: tuple[int, int], n: int, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"size": f"{size[0]}x{size[1]}"}
    for label, frames in (("n", n), ("4n", 4 * n)):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.engine_speed", "--_memory-child", f"{size[0]}x{size[1]}",
             str(frames), json.dumps(config)],
            cwd=ROOT, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"engine_speed: memory run failed ({size}, {frames} frames):\n{proc.stderr[-2000:]}"
            )
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        out[label] = {"frames": frames, "peak_rss_mib": round(res["maxrss_kib"] / 1024.0, 1)}
    out["ratio_4n_over_n"] = round(out["4n"]["peak_rss_mib"] / out["n"]["peak_rss_mib"], 3)
    return out


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_memory-child"]:
        _memory_child(argv[1], int(argv[2]), argv[3])
        return 0
    ap = argparse.ArgumentParser(description="End-to-end speed and memory of the lecinpaint engine.")
    ap.add_argument("--sizes", type=_parse_size, nargs="+", default=[(640, 360), (1280, 720)])
    ap.add_argument("--frames", type=int, default=200, help="frames per speed run")
    ap.add_argument("--memory-frames", type=int, default=150, help="N of the N vs 4N memory runs")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    ap.add_argument("--config", default="{}", help="Config fields as JSON (default: the default tier)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "out" / "engine_speed.json")
    args = ap.parse_args(argv)
    config = json.loads(args.config)
    files = clip_files()
    results: dict[str, Any] = {"environment": environment(), "config": config, "speed": [], "memory": []}
    for size in args.sizes:
        r = measure_speed(size, args.frames, files, config)
        results["speed"].append(r)
        stages = "  ".join(f"{k} {v:.1f}" for k, v in r["ms_per_frame_by_stage"].items() if v)
        print(f"{r['size']}: {r['fps_wall']:.1f} frames/s wall, {r['fps_cpu']:.1f} frames/s of CPU time "
              f"(load {r['loadavg_before']:.1f} -> {r['loadavg_after']:.1f}); ms/frame: {stages}", flush=True)
    if not args.no_memory:
        for size in args.sizes:
            m = measure_memory(size, args.memory_frames, config)
            results["memory"].append(m)
            print(f"{m['size']}: peak RSS {m['n']['peak_rss_mib']:.0f} MiB for {m['n']['frames']} frames, "
                  f"{m['4n']['peak_rss_mib']:.0f} MiB for {m['4n']['frames']} "
                  f"(ratio {m['ratio_4n_over_n']:.3f})",
                  flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
