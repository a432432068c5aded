"""Markdown report and pictures for the lecture benchmark (called by :mod:`benchmarks.lecture.run`).

``write_report(results, pictures, md_path, pic_dir)`` writes ``md_path`` and, in ``pic_dir``, one contact
sheet per clip (JPEG, tiles 320 px wide), the PSNR-per-frame plot and the stage-time plot (PNG, matplotlib
with the Agg backend). Pictures are linked relative to the markdown file.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["contact_sheet", "write_report"]

_TILE_W = 320

_INTRO = """\
Lecturer removal measured on synthetic lecture clips with exact ground truth (a real clean board whose
handwriting appears while a real, exactly masked person walks and stands in front of it), on the DAVIS
bmx-trees clip and on a real whiteboard lecture. Made by `python -m benchmarks.lecture.run{quick}`;
definitions of every number are in `benchmarks/lecture/metrics.py`, the clips in
`benchmarks/lecture/generator.py`."""

_CLIPS = """\
- Background: a real photograph of a whiteboard with no person (AccessMath, 1920x1080) scaled to the
  clip; its handwriting (the data set's pixel-exact binary image) is erased once by filling the ink
  with the local board colour, then revealed blob by blob (connected strokes cut into small cells)
  where the lecturer stands, in reading order, so part of it appears while the body hides it.
- Lecturer: a real girl from DAVIS `schoolgirls` with her exact mask, scaled to 78 % of the frame
  height, animated with her own frames (ping-pong), walking in, standing to write for 1-2 s, walking on.
- Camera: `static`; `pan` = a slow pan across 8 % of the width (about 1 px/frame at 360p, 24 fps) plus
  a slight shake (about 1 px, 0.1 degree); the whole scene and every truth image move by the same known
  transform.
- Truth = the board with the writing revealed so far, without the person, with the same slow lighting
  change as the input (+-3 % gain and left-right gradient), **without** the sensor noise the inputs
  carry (Gaussian, sigma 2 levels). The truth mask is the exact support of the pasted person.
"""

_SYSTEMS = """\
Baselines get the truth masks grown exactly as lecinpaint grows its holes (`lecinpaint.masks.dilate`,
`default_dilation`); `lecinpaint-*` are given the undilated truth masks, `*-ownseg` segment the person
themselves (segmentation errors included)."""



_NO_TRUTH = """\
`warp error`: mean absolute difference inside the filled region between an output frame and the
previous output moved by the camera's motion (a homography fitted to the flow of the inputs'
background; levels, lower is steadier: a fill that stays put while the camera pans scores high;
parallax, as behind the trees of bmx-trees, adds a floor for every system). `person area`: fraction of
the frame that the mediapipe segmenter still calls person in the output (input in brackets). DAVIS
uses its own (already dilated) masks, grown again by the default dilation like every mask; on the
whiteboard clip the systems that take masks get mediapipe's."""

_SPEED = """\
Frames per second end to end (frames already decoded in memory; mask dilation and, for `-ownseg`,
segmentation included), on the machine above, on a short static-camera clip (seed 11) in which the
lecturer walks in: the easy case for a background memory, so the temporal systems' numbers there are
upper bounds; the `s` columns above give the time each system took on each quality clip."""

_MEMORY = """\
Peak resident set size (MiB: `VmHWM`, the `ru_maxrss` of the process's own memory map) of a fresh
process that generates a 640x360 clip and streams it through the system; `none` only generates the
clip (the floor). Flat from 1x to 4x means memory does not grow with the video length. The `-ownseg`
variants add only the segmenter to the engine and are not probed."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _tile(img: np.ndarray, label: str) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = np.repeat((img * 255).astype(np.uint8)[..., None], 3, axis=2)
    h, w = img.shape[:2]
    th = int(round(h * _TILE_W / w))
    t = cv2.resize(img, (_TILE_W, th), interpolation=cv2.INTER_AREA)
    bar = np.full((18, _TILE_W, 3), 255, np.uint8)
    cv2.putText(bar, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, t], axis=0)


def contact_sheet(tiles: list[tuple[str, np.ndarray]], columns: int = 3) -> np.ndarray:
    """A grid of labelled tiles (RGB uint8), ``columns`` wide, padded with white."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    made = [_tile(img, label) for label, img in tiles]
    th = max(t.shape[0] for t in made)
    made = [np.pad(t, ((0, th - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in made]
    while len(made) % columns:
        made.append(np.full_like(made[0], 255))
    rows = [np.concatenate(made[i : i + columns], axis=1) for i in range(0, len(made), columns)]
    return np.concatenate(rows, axis=0)


def _save_jpeg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    quality = 85
    while True:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"cannot encode {path}")
        if buf.size < 450_000 or quality <= 40:
            break
        quality -= 10
    path.write_bytes(buf.tobytes())


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def _plots(results: dict[str, Any], pic_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: dict[str, str] = {}
    quality = [c for c in results.get("quality", []) if c["systems"]]
    if quality:
        fig, axes = plt.subplots(len(quality), 1, figsize=(7, 2.4 * len(quality)), squeeze=False)
        for ax, clip in zip(axes[:, 0], quality):
            for name, r in clip["systems"].items():
                if "psnr_mask_per_frame" in r:
                    y = np.array(r["psnr_mask_per_frame"], float)
                    ax.plot(np.where(np.isfinite(y), y, np.nan), label=name, lw=1)
            ax.set_title(f"PSNR inside the person mask: {clip['clip']}", fontsize=9)
            ax.set_ylabel("dB", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), fontsize=7, frameon=False)
        axes[-1, 0].set_xlabel("frame", fontsize=8)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.4 * len(quality))))
        pic_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(pic_dir / "psnr_per_frame.png", dpi=90)
        plt.close(fig)
        made["psnr"] = "psnr_per_frame.png"
    stages = results.get("stages", {})
    bars = [(size, name, st) for size, per in stages.items() for name, st in per.items() if st]
    if bars:
        keys = sorted({k for _, _, st in bars for k in st})
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(bars)))
        left = np.zeros(len(bars))
        labels = [f"{name} {size}" for size, name, _ in bars]
        for k in keys:
            v = np.array([1000 * st.get(k, 0.0) for _, _, st in bars])
            ax.barh(labels, v, left=left, label=k)
            left += v
        ax.set_xlabel("ms per frame", fontsize=8)
        ax.set_title("lecinpaint: time per stage", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        fig.savefig(pic_dir / "stage_times.png", dpi=90)
        plt.close(fig)
        made["stages"] = "stage_times.png"
    return made


def _summary(results: dict[str, Any]) -> list[str]:
    """Headline lines: per truth clip, lecinpaint's PSNR in the mask against the best baseline."""
    kinds = {s["name"]: s["kind"] for s in results.get("systems", [])}
    out: list[str] = []
    for clip in results.get("quality", []):
        ok = {n: r for n, r in clip["systems"].items() if "error" not in r}
        base = {n: r["psnr_mask"] for n, r in ok.items() if kinds.get(n) == "baseline"}
        ours = {n: r["psnr_mask"] for n, r in ok.items() if kinds.get(n) == "lecinpaint"}
        if not base or not ours:
            continue
        best_b = max(base, key=lambda n: base[n])
        parts = [f"{n} {ours[n]:.2f} dB ({ours[n] - base[best_b]:+.2f})" for n in ours]
        out.append(
            f"- {clip['clip']}: PSNR in the mask, best baseline {best_b} {base[best_b]:.2f} dB; "
            + ", ".join(parts)
        )
    if not out:
        return []
    return ["## Summary", "", *out, ""]


def _header(results: dict[str, Any]) -> list[str]:
    env = results.get("env", {})
    changes = env.get("package_changes")
    return [
        "# Lecture benchmark",
        "",
        _INTRO.format(quick=" --quick" if results.get("mode") == "quick" else ""),
        "",
        f"Ran at commit `{env.get('commit', '?')}` on {env.get('cpu_count', '?')} CPU cores "
        f"(torch {env.get('torch', '?')}, {env.get('torch_threads', '?')} threads, "
        f"CUDA: {env.get('cuda', '?')}), OpenCV {env.get('opencv', '?')}, {env.get('date_utc', '?')} UTC;",
        f"mode: {results.get('mode', '?')}, {_fmt(results.get('seconds_total', float('nan')), 0)} s in all."
        + (f" Uncommitted changes in the package at the time: {', '.join(changes)}." if changes else ""),
        "",
        *_summary(results),
        "## The clips",
        "",
        _CLIPS,
        "## Systems",
        "",
        _SYSTEMS,
        "",
        "| system | kind | masks | status |",
        "|---|---|---|---|",
        *(f"| {s['name']} | {s['kind']} | {s['masks']} | {s['status']} |"
          for s in results.get("systems", [])),
    ]


def _quality_row(name: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {name} | error: {r['error'].strip().splitlines()[-1]} | | | | | | |"
    return (
        f"| {name} | {_fmt(r['psnr_mask'])} | {_fmt(r['ssim_mask'], 3)} | {_fmt(r['f1'], 3)} | "
        f"{_fmt(r['flicker'])} | {_fmt(r['psnr'])} | {_fmt(r['ssim'], 3)} | {_fmt(r['seconds'], 1)} |"
    )


def _quality(results: dict[str, Any], pictures: dict[str, Any], pic_dir: Path, rel: str) -> list[str]:
    lines = [
        "",
        "## Quality with ground truth",
        "",
        "PSNR / SSIM inside the truth person mask (`mask`) and on the whole frame (`frame`; the inputs carry",
        "sensor noise of sigma 2, the truth does not, so the whole-frame PSNR is capped near 42 dB); `F1`:",
        "handwriting strokes recovered inside the mask (1 px tolerance); `flicker`: mean absolute change of",
        "the filled pixels between frames where the truth does not change (levels, lower is steadier).",
        "",
    ]
    for clip in results.get("quality", []):
        lines += [
            f"### {clip['clip']} (seed {clip['seed']}, board {clip['board']}, person covers "
            f"{100 * clip['mask_fraction']:.1f} % of the frame)",
            "",
            "| system | PSNR mask | SSIM mask | F1 | flicker | PSNR frame | SSIM frame | s |",
            "|---|---|---|---|---|---|---|---|",
            *(_quality_row(name, r) for name, r in clip["systems"].items()),
        ]
        pics = pictures.get(clip["clip"])
        fname = f"sheet_{_slug(clip['clip'])}.jpg"
        if pics:
            tiles = [("input", pics["input"]), ("truth", pics["truth"])] + list(pics["outputs"].items())
            _save_jpeg(pic_dir / fname, contact_sheet(tiles))
        if pics or (pic_dir / fname).is_file():
            lines += ["", f"![contact sheet, frame {clip['contact_frame']}]({rel}/{fname})"]
        lines.append("")
    return lines


def _no_truth_row(clip: str, name: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {clip} | {name} | error: {r['error'].strip().splitlines()[-1]} | | |"
    area = "-"
    if "person_area_out" in r:
        a_in = 100 * r.get("person_area_in", float("nan"))
        area = f"{100 * r['person_area_out']:.2f} ({a_in:.2f})"
    return f"| {clip} | {name} | {_fmt(r['warp_error'])} | {area} | {_fmt(r['fps'], 1)} |"


def _no_truth(results: dict[str, Any], pictures: dict[str, Any], pic_dir: Path, rel: str) -> list[str]:
    lines = ["## Real clips without ground truth", "", _NO_TRUTH, "",
             "| clip | system | warp error | person area % (input) | frames/s |", "|---|---|---|---|---|"]
    for clip in results["no_truth"]:
        lines += [_no_truth_row(clip["clip"], name, r) for name, r in clip["systems"].items()]
    lines.append("")
    for clip in results["no_truth"]:
        pics = pictures.get(clip["clip"])
        fname = f"sheet_{_slug(clip['clip'])}.jpg"
        if pics and pics["outputs"]:
            tiles = [("input", pics["input"])]
            if "mask" in pics:
                tiles.append((f"mask ({clip.get('mask_source', '')})", pics["mask"]))
            tiles += list(pics["outputs"].items())
            _save_jpeg(pic_dir / fname, contact_sheet(tiles))
        if (pics and pics["outputs"]) or (pic_dir / fname).is_file():
            lines += [f"![{clip['clip']}]({rel}/{fname})", ""]
    return lines


def _speed(results: dict[str, Any], plots: dict[str, str], rel: str) -> list[str]:
    sizes = list(results["speed"])
    order = [s["name"] for s in results["systems"]]
    names = sorted({n for v in results["speed"].values() for n in v}, key=order.index)
    lines = ["## Speed", "", _SPEED, "",
             "| system | " + " | ".join(f"frames/s {s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(_fmt(results["speed"][s].get(n), 2) for s in sizes) + " |")
    lines.append("")
    stages = results.get("stages", {})
    rows = [(size, name, st) for size, per in stages.items() for name, st in per.items() if st]
    if rows:
        keys = sorted({k for _, _, st in rows for k in st})
        lines += ["Per-stage time of lecinpaint (`Engine.stage_times`, ms per frame):", "",
                  "| system | size | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
        for size, name, st in rows:
            cells = " | ".join(_fmt(1000 * st.get(k, 0.0), 1) for k in keys)
            lines.append(f"| {name} | {size} | {cells} |")
        lines.append("")
    if "stages" in plots:
        lines += [f"![time per stage]({rel}/{plots['stages']})", ""]
    return lines


def _memory(results: dict[str, Any]) -> list[str]:
    lines = ["## Memory", "", _MEMORY, "", "| system | 1x | 4x | growth |", "|---|---|---|---|"]
    for name, r in results["memory"].items():
        n1 = int(r["frames_1x"])
        lines.append(f"| {name} | {_fmt(r['1x'], 0)} ({n1} f) | {_fmt(r['4x'], 0)} ({4 * n1} f) | "
                     f"{r['4x'] - r['1x']:+.0f} |")
    lines.append("")
    return lines


def write_report(results: dict[str, Any], pictures: dict[str, Any], md_path: Path, pic_dir: Path) -> None:
    """Write the markdown report and its pictures (see the module docstring): one section per part of
    ``results`` that is present, in a fixed order."""
    md_path = Path(md_path)
    pic_dir = Path(pic_dir)
    pic_dir.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(pic_dir, md_path.parent)
    lines = _header(results)
    plots = _plots(results, pic_dir)
    lines += _quality(results, pictures, pic_dir, rel)
    if "psnr" in plots:
        lines += [f"![PSNR per frame]({rel}/{plots['psnr']})", ""]
    if results.get("no_truth"):
        lines += _no_truth(results, pictures, pic_dir, rel)
    if results.get("speed"):
        lines += _speed(results, plots, rel)
    if results.get("memory"):
        lines += _memory(results)
    # The whole-lecturer section comes from its own run (benchmarks.lecture.segmentation --publish),
    # saved next to the pictures; its picture paths are relative to the report's folder.
    segmentation = pic_dir / "segmentation.md"
    if segmentation.is_file():
        lines += segmentation.read_text().splitlines() + [""]
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Re-render a report from a saved ``results.json`` (contact sheets already in ``pic_dir`` are kept)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m benchmarks.lecture.report", description=main.__doc__)
    ap.add_argument("results", type=Path, help="results.json written by benchmarks.lecture.run")
    ap.add_argument("markdown", type=Path, help="the markdown file to write")
    ap.add_argument("pictures", type=Path, help="the folder of the pictures")
    args = ap.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.results}: {exc}", file=sys.stderr)
        return 1
    write_report(results, {}, args.markdown, args.pictures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
