"""Run the lecture benchmark: quality, speed and memory of lecinpaint against the baselines.

    python -m benchmarks.lecture.run [--quick] [--out DIR] [--publish] [--systems NAME,NAME]

Writes ``DIR/results.json`` (every number, with where it ran), ``DIR/report.md`` and its pictures (contact
sheets, PSNR per frame, speed per stage). ``--publish`` also rewrites ``docs/benchmark.md`` and
``docs/benchmark/``. ``--quick`` runs short 360p clips and short speed/memory runs (a few minutes on two
cores); the default is the full benchmark.

What runs:
- synthetic clips with truth (:mod:`benchmarks.lecture.generator`): static and panning cameras at 360p,
  a static 720p clip; every system, scored inside the truth mask and on the whole frame;
- DAVIS bmx-trees with its masks and the real whiteboard clip (no truth): warping error, person area;
- speed: frames/s end to end at 640x360 and 1280x720 per system, stage times of the engine;
- memory: peak RSS of a subprocess streaming 1x and 4x the clip length through each system.

Systems: the baselines (:mod:`benchmarks.lecture.baselines`) with the truth masks grown as lecinpaint
grows them; lecinpaint's default tier with the truth masks and with its own segmentation (when
``lecinpaint.engine`` imports); the seed tier only when its weights are found (reported as skipped
otherwise).
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
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from benchmarks.lecture.baselines import BASELINES, dilated_masks, make_baseline
from benchmarks.lecture.generator import DataMissing, Clip, data_dir, load_folder_clip, make_clip
from benchmarks.lecture.metrics import ClipScorer, NoTruthScorer

__all__ = ["System", "available_systems", "main"]

_ROOT = Path(__file__).resolve().parents[2]

@dataclass
class System:
    """One system under test.

    ``masks``: ``"truth"`` (takes the clip's masks; baselines get them dilated, lecinpaint dilates itself)
    or ``"own"`` (segments by itself: masks are not passed). ``status`` is ``"ok"`` or ``"skipped: why"``.
    """

    name: str
    kind: str                      # "baseline" | "lecinpaint"
    masks: str                     # "truth" | "own"
    make: Callable[[], Any] | None = None
    status: str = "ok"
    last: Any = field(default=None, repr=False)   # the last engine, for its stage times

    def run(self, frames: Iterable[np.ndarray], masks: Iterable[np.ndarray] | None) -> Iterator[np.ndarray]:
        """Stream frames through the system; ``masks`` (undilated, True = hole) is ignored for "own"."""
        if self.make is None:
            raise RuntimeError(f"system {self.name} is {self.status}")
        if self.kind == "baseline":
            if masks is None:
                raise ValueError(f"baseline {self.name} needs masks")
            return self.make()(frames, dilated_masks(masks))
        engine = self.make()
        self.last = engine
        return engine.run(frames, masks=None if self.masks == "own" else masks)


def _lecinpaint_import() -> tuple[Any, Any, str]:
    try:
        from lecinpaint.engine import Config, Engine
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available", reported as such
        return None, None, f"{type(exc).__name__}: {exc}"
    return Engine, Config, ""


def _seed_tier_kwargs() -> tuple[dict[str, Any] | None, str]:
    """Config keywords of the seed tier, or None and why it is skipped."""
    try:
        from lecinpaint.models._weights import CheckpointNotFoundError, find_checkpoint
    except Exception as exc:  # noqa: BLE001
        return None, f"skipped: weights lookup unavailable ({exc})"
    missing = []
    for fname in ("FlowNet2_checkpoint.pth.tar", "resnet50_stage1.pth"):
        try:
            find_checkpoint(fname, what=fname, source="see docs")
        except CheckpointNotFoundError:
            missing.append(fname)
    if missing:
        return None, f"skipped: no weights ({', '.join(missing)} not found)"
    return {"segmenter": "deeplabv3", "flow": "flownet2", "completion": "dfc"}, ""


def available_systems(only: list[str] | None = None) -> list[System]:
    """Every system of the comparison, in report order; unavailable ones carry a ``skipped`` status."""
    systems = [System(name, "baseline", "truth", (lambda n=name: make_baseline(n))) for name in BASELINES]
    if only and all(n in BASELINES for n in only):
        # Do not import the engine (and torch) for baselines alone: the memory probes measure them bare.
        return [s for s in systems if s.name in only]
    Engine, Config, why = _lecinpaint_import()
    tiers: list[tuple[str, dict[str, Any] | None, str]] = [("default", {}, "")]
    seed_kw, seed_why = _seed_tier_kwargs()
    tiers.append(("seed", seed_kw, seed_why))
    for tier, kw, tier_why in tiers:
        for masks in ("truth", "own"):
            name = f"lecinpaint-{tier}" + ("" if masks == "truth" else "-ownseg")
            if Engine is None:
                why_not = f"skipped: lecinpaint.engine not importable ({why})"
                systems.append(System(name, "lecinpaint", masks, None, why_not))
            elif kw is None:
                systems.append(System(name, "lecinpaint", masks, None, tier_why))
            else:
                try:
                    Config(**kw)
                except Exception as exc:  # noqa: BLE001 - a config this engine does not know is a skip
                    systems.append(System(name, "lecinpaint", masks, None, f"skipped: {exc}"))
                    continue
                systems.append(System(name, "lecinpaint", masks, lambda kw=kw: Engine(Config(**kw))))
    if only:
        unknown = set(only) - {s.name for s in systems}
        if unknown:
            known = ", ".join(s.name for s in systems)
            raise SystemExit(f"unknown system(s): {', '.join(sorted(unknown))}; known: {known}")
        systems = [s for s in systems if s.name in only]
    return systems


# ------------------------------------------------------------------------------------------- environment


def environment() -> dict[str, Any]:
    """Where the benchmark ran: commit, versions, CPU, threads."""
    import cv2
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    try:
        # Uncommitted changes to the package mean the commit alone does not say what was measured.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "lecinpaint"], cwd=_ROOT, capture_output=True, text=True,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        dirty = []
    return {
        "commit": commit or "unknown",
        "package_changes": [line[3:] for line in dirty],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


# ------------------------------------------------------------------------------------------- quality


class _Stopwatch:
    """Wraps an output iterator and adds up only the time spent inside the system's ``next()``."""

    def __init__(self, it: Iterator[np.ndarray]) -> None:
        self._it = it
        self.seconds = 0.0
        self.count = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            out = next(self._it)
        finally:
            self.seconds += time.perf_counter() - t0
        self.count += 1
        return out


def _pick_frame(samples: list[Any]) -> int:
    """The frame for the contact sheet: the most handwriting hidden by the person, in the second half."""
    start = len(samples) // 2
    best = max(range(start, len(samples)), key=lambda i: int((samples[i].ink & samples[i].gt_mask).sum()))
    return best


def run_truth_clip(
    clip: Clip, systems: list[System], log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score every system on one synthetic clip. Returns (results, pictures for the report)."""
    samples = list(clip.samples())
    pick = _pick_frame(samples)
    res: dict[str, Any] = {
        "clip": f"{clip.camera} {clip.size[0]}x{clip.size[1]} {len(clip)}f",
        "seed": clip.seed,
        "camera": clip.camera,
        "size": list(clip.size),
        "frames": len(clip),
        "board": clip.board,
        "mask_fraction": float(np.mean([s.gt_mask.mean() for s in samples])),
        "contact_frame": pick,
        "systems": {},
    }
    pics: dict[str, Any] = {"input": samples[pick].frame, "truth": samples[pick].gt_frame, "outputs": {}}
    for sys_ in systems:
        if sys_.status != "ok":
            continue
        log(f"  {res['clip']}: {sys_.name}")
        scorer = ClipScorer()
        try:
            outs = _Stopwatch(sys_.run((s.frame for s in samples), (s.gt_mask for s in samples)))
            n = 0
            for s, out in zip(samples, outs):
                scorer.update(out, s.gt_frame, s.gt_mask)
                if s.index == pick:
                    pics["outputs"][sys_.name] = out
                n += 1
        except Exception:  # a failing system fails loudly in the report, and the run goes on
            res["systems"][sys_.name] = {"error": traceback.format_exc(limit=3)}
            log(traceback.format_exc())
            continue
        if n != len(samples):
            res["systems"][sys_.name] = {"error": f"emitted {n} frames for {len(samples)} inputs"}
            continue
        r = scorer.result()
        r["seconds"] = outs.seconds
        r["fps"] = n / outs.seconds if outs.seconds > 0 else float("nan")
        r["psnr_mask_per_frame"] = scorer.per_frame_psnr_mask
        res["systems"][sys_.name] = r
    return res, pics


def _segmenter() -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        from lecinpaint.segmentation import make_segmenter

        return make_segmenter("mediapipe")
    except Exception:  # noqa: BLE001 - the person-area metric is optional
        return None


def run_real_clip(
    name: str,
    frames: list[np.ndarray],
    masks: list[np.ndarray] | None,
    systems: list[System],
    log: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clips without truth. ``masks`` None: baselines get the mediapipe person masks (when available)."""
    h, w = frames[0].shape[:2]
    res: dict[str, Any] = {"clip": name, "size": [w, h], "frames": len(frames), "systems": {}}
    pick = len(frames) // 2
    source = "given"
    if masks is None:
        seg = _segmenter()
        if seg is None:
            source = "none"
        else:
            masks = [np.asarray(seg(f)) > 0.5 for f in frames]
            seg.close()
            source = "mediapipe"
    res["mask_source"] = source
    pics: dict[str, Any] = {"input": frames[pick], "outputs": {}}
    if masks is not None:
        pics["mask"] = masks[pick]
    measure_area = name.startswith("whiteboard")
    area_in: float | None = None
    for sys_ in systems:
        if sys_.status != "ok" or (masks is None and sys_.masks == "truth"):
            continue
        log(f"  {name}: {sys_.name}")
        seg_out = _segmenter() if measure_area else None
        seg_in = _segmenter() if measure_area and area_in is None else None
        scorer = NoTruthScorer(segmenter=seg_out, input_segmenter=seg_in)
        try:
            outs = _Stopwatch(sys_.run(iter(frames), iter(masks) if masks is not None else None))
            n = 0
            fallback = np.zeros(frames[0].shape[:2], bool)
            for i, out in enumerate(outs):
                scorer.update(frames[i], out, masks[i] if masks is not None else fallback)
                if i == pick:
                    pics["outputs"][sys_.name] = out
                n += 1
        except Exception:
            res["systems"][sys_.name] = {"error": traceback.format_exc(limit=3)}
            log(traceback.format_exc())
            continue
        finally:
            for s in (seg_out, seg_in):
                if s is not None:
                    s.close()
        r = scorer.result()
        r["seconds"] = outs.seconds
        r["fps"] = n / outs.seconds if outs.seconds > 0 else float("nan")
        if "person_area_in" in r:
            area_in = r["person_area_in"]
        elif area_in is not None:
            r["person_area_in"] = area_in
        res["systems"][sys_.name] = r
    return res, pics


# ------------------------------------------------------------------------------------------- speed, memory


def measure_speed(
    systems: list[System], size: tuple[int, int], n: int, log: Callable[[str], None]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Frames/s end to end (masks dilated inside the timing for the baselines) and engine stage s/frame."""
    clip = make_clip(11, size, n, "static")
    samples = list(clip.samples())
    frames = [s.frame for s in samples]
    masks = [s.gt_mask for s in samples]
    fps: dict[str, float] = {}
    stages: dict[str, dict[str, float]] = {}
    for sys_ in systems:
        if sys_.status != "ok":
            continue
        log(f"  speed {size[0]}x{size[1]}: {sys_.name}")
        t0 = time.perf_counter()
        try:
            k = sum(1 for _ in sys_.run(iter(frames), iter(masks)))
        except Exception:  # reported as NaN with the error in the log; the run goes on
            log(traceback.format_exc())
            fps[sys_.name] = float("nan")
            continue
        dt = time.perf_counter() - t0
        fps[sys_.name] = k / dt
        times = getattr(sys_.last, "stage_times", None) if sys_.kind == "lecinpaint" else None
        if times:
            stages[sys_.name] = {str(key): float(v) / k for key, v in dict(times).items()}
    return fps, stages


class _SharedStream:
    """Frames and masks of a generated clip as two iterators, each frame rendered once.

    A sample stays cached until both iterators have passed it, so memory is bounded by how far the
    consumer reads one stream ahead of the other (its lookahead), not by the clip length.
    """

    def __init__(self, clip: Clip) -> None:
        self._clip = clip
        self._cache: dict[int, Any] = {}
        self._used: dict[int, int] = {}

    def _get(self, i: int) -> Any:
        s = self._cache.get(i)
        if s is None:
            s = self._cache[i] = self._clip[i]
        self._used[i] = self._used.get(i, 0) + 1
        if self._used[i] == 2:
            del self._cache[i], self._used[i]
        return s

    def frames(self) -> Iterator[np.ndarray]:
        for i in range(len(self._clip)):
            yield self._get(i).frame

    def masks(self) -> Iterator[np.ndarray]:
        for i in range(len(self._clip)):
            yield self._get(i).gt_mask


def _memory_probe(system: str, n: int, size: tuple[int, int]) -> None:
    """Child process: stream ``n`` generated frames through ``system``; print peak RSS (MiB) as JSON."""
    clip = make_clip(12, size, n, "static")
    if system == "none":
        count = sum(1 for _ in clip.samples())
    else:
        (sys_,) = available_systems([system])
        stream = _SharedStream(clip)
        count = sum(1 for _ in sys_.run(stream.frames(), stream.masks()))
    print(json.dumps({"system": system, "frames": count, "peak_rss_mib": _peak_rss_mib()}))


def _peak_rss_mib() -> float:
    """Peak RSS of this process in MiB.

    ``VmHWM`` from ``/proc/self/status`` where there is one: Linux carries ``ru_maxrss`` over ``execve``, so
    a child started from a large parent would report the parent's size; the high-water mark of the
    process's own memory map does not. Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def measure_memory(
    systems: list[System], size: tuple[int, int], n: int, log: Callable[[str], None]
) -> dict[str, dict[str, float]]:
    """Peak RSS (MiB) of a fresh process streaming n and 4n frames through each system."""
    out: dict[str, dict[str, float]] = {}
    names = ["none"] + [s.name for s in systems if s.status == "ok"]
    for name in names:
        row: dict[str, float] = {}
        for mult in (1, 4):
            log(f"  memory {name} x{mult} ({mult * n} frames)")
            cmd = [sys.executable, "-m", "benchmarks.lecture.run", "--memory-probe", name,
                   "--probe-frames", str(mult * n), "--probe-size", f"{size[0]}x{size[1]}"]
            p = subprocess.run(cmd, cwd=_ROOT, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"memory probe for {name} failed:\n{p.stderr[-2000:]}")
            row[f"{mult}x"] = json.loads(p.stdout.strip().splitlines()[-1])["peak_rss_mib"]
        row["frames_1x"] = n
        out[name] = row
    return out


# ------------------------------------------------------------------------------------------- main


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x360, got {text!r}") from None
    return w, h


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.lecture.run", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--quick", action="store_true", help="short clips and short speed/memory runs")
    ap.add_argument(
        "--out", type=Path, default=Path("benchmarks/out/lecture"),
        help="output folder (default benchmarks/out/lecture, git-ignored)",
    )
    ap.add_argument(
        "--publish", action="store_true", help="also rewrite docs/benchmark.md and docs/benchmark/"
    )
    ap.add_argument("--systems", default="", help="comma-separated subset of systems (default: all)")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed runs")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    ap.add_argument("--no-phases", action="store_true",
                    help="skip the still-lecturer clips (benchmarks.lecture.phases: per-phase table)")
    ap.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--probe-frames", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--probe-size", type=_parse_size, default=(640, 360), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_probe:
        _memory_probe(args.memory_probe, args.probe_frames, args.probe_size)
        return 0

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        root = data_dir()
    except DataMissing as exc:
        log(f"error: {exc}")
        return 1
    systems = available_systems([s for s in args.systems.split(",") if s] or None)
    for s in systems:
        log(f"system {s.name}: {s.status}")
    q = args.quick
    results: dict[str, Any] = {
        "env": environment(),
        "mode": "quick" if q else "full",
        "systems": [{"name": s.name, "kind": s.kind, "masks": s.masks, "status": s.status} for s in systems],
        "quality": [],
        "no_truth": [],
    }
    pictures: dict[str, Any] = {}
    clips = (
        [(0, (640, 360), 48, "static"), (1, (640, 360), 48, "pan")]
        if q
        else [(0, (640, 360), 96, "static"), (1, (640, 360), 96, "pan"), (2, (1280, 720), 24, "static")]
    )
    t_start = time.perf_counter()
    for seed, size, n, cam in clips:
        clip = make_clip(seed, size, n, cam)
        log(f"clip {clip!r}")
        res, pics = run_truth_clip(clip, systems, log)
        results["quality"].append(res)
        pictures[res["clip"]] = pics

    davis = root / "davis" / "bmx_trees"
    if (davis / "frames").is_dir():
        frames, masks = load_folder_clip(davis / "frames", davis / "masks")
        k = 30 if q else len(frames)
        res, pics = run_real_clip("davis bmx-trees", frames[:k], masks[:k] if masks else None, systems, log)
        results["no_truth"].append(res)
        pictures[res["clip"]] = pics
    wb = root / "whiteboard_lecture" / "frames"
    if wb.is_dir():
        frames, _ = load_folder_clip(wb)
        k = 40 if q else 80
        res, pics = run_real_clip("whiteboard (real)", frames[:k], None, systems, log)
        results["no_truth"].append(res)
        pictures[res["clip"]] = pics

    if not args.no_speed:
        results["speed"], results["stages"] = {}, {}
        for size in ((640, 360), (1280, 720)):
            key = f"{size[0]}x{size[1]}"
            fps, stages = measure_speed(systems, size, 12 if q else 24, log)
            results["speed"][key] = fps
            results["stages"][key] = stages
    if not args.no_memory:
        # The own-segmentation variant adds only the segmenter to the engine: not probed, to save time.
        probed = [s for s in systems if not s.name.endswith("-ownseg")]
        results["memory"] = measure_memory(probed, (640, 360), 24 if q else 30, log)
    if not args.no_phases:
        from benchmarks.lecture.phases import phase_clips, run_phase_clip

        results["phases"] = [run_phase_clip(s, size, n, log) for s, size, n in phase_clips(q)]
    results["seconds_total"] = time.perf_counter() - t_start

    from benchmarks.lecture.report import write_report

    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    write_report(results, pictures, out / "report.md", out)
    if results.get("phases"):
        from benchmarks.lecture.phases import phases_markdown

        with open(out / "report.md", "a") as f:
            f.write("\n## A lecturer who stands still (per phase)\n\n" + phases_markdown(results["phases"]))
    log(f"wrote {out / 'results.json'} and {out / 'report.md'}")
    if args.publish:
        docs = _ROOT / "docs"
        write_report(results, pictures, docs / "benchmark.md", docs / "benchmark")
        (docs / "benchmark" / "results.json").write_text(json.dumps(results, indent=1, default=float))
        log(f"wrote {docs / 'benchmark.md'}")
        if results.get("phases"):
            from benchmarks.lecture.phases import publish_phases

            publish_phases(results["phases"], docs / "benchmark_phases.md")
            log(f"wrote {docs / 'benchmark_phases.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
