"""The whole lecturer: how much of the person the engine's own segmentation leaves in the video.

Full-body lecturers (the people of ``../shared/data`` pasted in front of real boards, feet at the tray),
at 360p and 720p, with static and shaking cameras, and the cases that lose limbs or bodies: a lecturer
standing still, walking in and out, cut by the frame's edge. For each clip the engine runs twice, with
its own segmentation and with the exact masks, and per frame it is measured:

- **left**: the share of the true person outside the final hole (mean, worst frame, frames with any
  pixel left, frames with more than 1 %);
- **excess**: the hole's area over the true person dilated by the default radius (every extra pixel of
  hole costs board fidelity; 1.0 = the ideal hole);
- **PSNR in the mask** (the true person's pixels) with own segmentation and with exact masks.

Usage::

    python -m benchmarks.lecture.segmentation [--quick] [--segmenters mediapipe,mediapipe:selfie]
                                              [--publish]

Results go to ``benchmarks/out/segmentation/`` (JSON, markdown, contact sheet of the worst frames);
``--publish`` also writes ``docs/benchmark/segmentation.{json,md}`` and the contact sheet there, and the
section is part of ``docs/benchmark.md`` (see :func:`section`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.lecture.generator import DataMissing, data_dir, make_clip
from benchmarks.lecture.metrics import ClipScorer
from benchmarks.lecture.report import _save_jpeg, contact_sheet

__all__ = ["CLIPS", "SegClip", "hole_metrics", "run_clip", "section", "main"]

_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SegClip:
    """A benchmark clip: ``make_clip`` arguments and a short name."""

    name: str
    seed: int
    size: tuple[int, int]
    frames: int
    camera: str
    script: str
    stand_seconds: float = 4.0

    def make(self, quick: bool = False) -> Any:
        n = min(self.frames, 48) if quick else self.frames
        return make_clip(self.seed, self.size, n, self.camera, script=self.script,
                         stand_seconds=self.stand_seconds)


CLIPS = (
    SegClip("static 360p", 10, (640, 360), 96, "static", "wander"),
    SegClip("shake 360p", 11, (640, 360), 96, "shake", "wander"),
    SegClip("pan 360p", 16, (640, 360), 96, "pan", "wander"),
    SegClip("still 360p", 12, (640, 360), 120, "static", "still", 3.0),
    SegClip("enter/exit shake 360p", 13, (640, 360), 120, "shake", "enter_exit"),
    SegClip("frame edge 360p", 14, (640, 360), 96, "static", "edge"),
    SegClip("static 720p", 15, (1280, 720), 48, "static", "wander"),
    SegClip("enter/exit shake 720p", 17, (1280, 720), 72, "shake", "enter_exit"),
)


def hole_metrics(holes: list[np.ndarray], truths: list[np.ndarray], radius: int) -> dict[str, Any]:
    """Person left outside the hole and the hole's excess area, per frame and summarised.

    ``holes``: the final (dilated) holes; ``truths``: the exact person masks; ``radius``: the default
    dilation, the yardstick of the excess (the truth dilated by it is the ideal hole).
    """
    from lecinpaint.masks import dilate

    left: list[float] = []
    excess: list[float] = []
    any_left = 0
    for hole, truth in zip(holes, truths):
        n = int(truth.sum())
        if n:
            miss = int((truth & ~hole).sum())
            left.append(miss / n)
            any_left += miss > 0
            excess.append(float(hole.sum()) / float(dilate(truth, radius).sum()))
    arr = np.asarray(left) if left else np.zeros(1)
    return {
        "frames_with_person": len(left),
        "left_mean_pct": 100.0 * float(arr.mean()),
        "left_worst_pct": 100.0 * float(arr.max()),
        "frames_any_left": any_left,
        "frames_over_1pct": int((arr > 0.01).sum()),
        "clean_frames_pct": 100.0 * (1.0 - any_left / max(len(left), 1)),
        "excess_mean": float(np.mean(excess)) if excess else 1.0,
        "left_per_frame_pct": [100.0 * v for v in left],
    }


def run_clip(spec: SegClip, segmenters: list[str], quick: bool, log: Any) -> tuple[dict[str, Any], list]:
    """Run the engine on one clip with exact masks and with each segmenter; return results and the
    worst frames (for the contact sheet)."""
    from lecinpaint.engine import Config, Engine
    from lecinpaint.masks import default_dilation

    clip = spec.make(quick)
    samples = list(clip.samples())
    radius = default_dilation(spec.size[1], spec.size[0])
    res: dict[str, Any] = {"clip": spec.name, "seed": spec.seed, "frames": len(samples), "runs": {}}
    worst: list = []
    truth_scorer = ClipScorer()
    exact = Engine(Config()).run((s.frame for s in samples), masks=(s.gt_mask for s in samples))
    for s, out in zip(samples, exact):
        truth_scorer.update(out, s.gt_frame, s.gt_mask)
    res["psnr_mask_exact"] = truth_scorer.result()["psnr_mask"]
    for name in segmenters:
        log(f"  {spec.name}: {name}")
        engine = Engine(Config(segmenter=name))
        scorer = ClipScorer()
        holes, outs = [], []
        t0 = time.perf_counter()
        for s, (out, hole) in zip(samples, engine.run((s.frame for s in samples), with_masks=True)):
            scorer.update(out, s.gt_frame, s.gt_mask)
            holes.append(hole)
            outs.append(out)
        seconds = time.perf_counter() - t0
        m = hole_metrics(holes, [s.gt_mask for s in samples], radius)
        m["psnr_mask"] = scorer.result()["psnr_mask"]
        m["gap_db"] = res["psnr_mask_exact"] - m["psnr_mask"]
        m["fps"] = len(samples) / seconds
        m["segment_ms"] = 1000.0 * engine.stage_times["segment"] / len(samples)
        res["runs"][name] = m
        if name == segmenters[0]:
            per = m["left_per_frame_pct"]
            with_person = [i for i, s in enumerate(samples) if s.gt_mask.any()]
            k = with_person[int(np.argmax(per))] if per else 0
            worst.append((spec.name, k, per[int(np.argmax(per))] if per else 0.0,
                          samples[k].frame, holes[k], samples[k].gt_mask, outs[k]))
    return res, worst


def _overlay(frame: np.ndarray, hole: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The input with the hole tinted blue and the person left outside it in yellow."""
    img = frame.astype(np.float32)
    img[hole] = 0.55 * img[hole] + 0.45 * np.array([40, 80, 255], np.float32)
    img[truth & ~hole] = (255, 230, 0)
    return img.astype(np.uint8)


def section(results: dict[str, Any], picture: str | None = None) -> list[str]:
    """The markdown section of ``docs/benchmark.md`` for these results."""
    segs = results["segmenters"]
    lines = [
        "## The whole lecturer: own segmentation",
        "",
        "Full-body lecturers on real boards (`python -m benchmarks.lecture.segmentation`). *left*: share of",
        "the true person outside the final hole (mean over frames with a person / worst frame); *clean*:",
        "frames with no person pixel outside the hole; *>1 %*: frames with more than 1 % of the person",
        "left; *excess*: hole area over the truth dilated by the default radius; PSNR in the person's mask",
        "with own segmentation against exact masks (gap in dB).",
        "",
        "| clip | segmenter | left mean / worst | clean | >1 % | excess | PSNR own / exact (gap) | seg ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["clips"]:
        for name in segs:
            m = r["runs"].get(name)
            if m is None:
                continue
            lines.append(
                f"| {r['clip']} | {name} | {m['left_mean_pct']:.3f} % / {m['left_worst_pct']:.2f} % "
                f"| {m['clean_frames_pct']:.0f} % | {m['frames_over_1pct']}/{m['frames_with_person']} "
                f"| {m['excess_mean']:.2f} | {m['psnr_mask']:.1f} / {r['psnr_mask_exact']:.1f} "
                f"({m['gap_db']:+.1f}) | {m['segment_ms']:.1f} |"
            )
    env = results.get("env", {})
    lines += ["", f"Run: {results.get('mode', '?')} mode, {env.get('date_utc', '?')} UTC, "
              f"commit {env.get('commit', '?')};",
              "the machine's load during the run makes the ms columns indicative only.", ""]
    if picture:
        lines += ["Worst frame of each clip (blue: the hole; yellow: person left outside it; right: output):",
                  "", f"![worst frames]({picture})", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.lecture.segmentation",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="at most 48 frames a clip")
    ap.add_argument("--segmenters", default="mediapipe,mediapipe:selfie",
                    help="comma-separated --segmenter names (default: the default and the bare selfie model)")
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/segmentation"))
    ap.add_argument("--publish", action="store_true", help="also write docs/benchmark/segmentation.*")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        data_dir()
    except DataMissing as exc:
        log(f"error: {exc}")
        return 1
    from benchmarks.lecture.run import environment

    segmenters = [s for s in args.segmenters.split(",") if s]
    wanted = {c for c in args.clips.split(",") if c}
    clips = [c for c in CLIPS if not wanted or c.name in wanted]
    results: dict[str, Any] = {"env": environment(), "mode": "quick" if args.quick else "full",
                               "segmenters": segmenters, "clips": []}
    worst: list = []
    for spec in clips:
        log(f"clip {spec}")
        res, w = run_clip(spec, segmenters, args.quick, log)
        results["clips"].append(res)
        worst += w
    tiles = []
    for name, k, pct, frame, hole, truth, out in worst:
        tiles.append((f"{name}, frame {k}: {pct:.2f} % left", _overlay(frame, hole, truth)))
        tiles.append((f"{name}: output", out))
    outdirs = [args.out if args.out.is_absolute() else Path.cwd() / args.out]
    if args.publish:
        outdirs.append(_ROOT / "docs" / "benchmark")
    for d in outdirs:
        d.mkdir(parents=True, exist_ok=True)
        if tiles:
            _save_jpeg(d / "segmentation_worst.jpg", contact_sheet(tiles, columns=4))
        (d / "segmentation.json").write_text(json.dumps(results, indent=1, default=float))
        pic = "benchmark/segmentation_worst.jpg" if d.name == "benchmark" else "segmentation_worst.jpg"
        (d / "segmentation.md").write_text("\n".join(section(results, pic if tiles else None)))
        log(f"wrote {d / 'segmentation.md'}")
    saved = _ROOT / "docs" / "benchmark" / "results.json"
    if args.publish and saved.is_file():
        from benchmarks.lecture.report import write_report

        # docs/benchmark.md holds this section too: render it again from the saved results.
        write_report(json.loads(saved.read_text()), {}, _ROOT / "docs" / "benchmark.md", saved.parent)
        log(f"wrote {_ROOT / 'docs' / 'benchmark.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
