"""A lecturer who stands still: quality per phase, through the ``lecinpaint`` command, with exact masks.

    python -m benchmarks.lecture.phases [--quick] [--out DIR] [--publish]

Clips (:func:`benchmarks.lecture.generator.make_clip` with a script): "still_talks" (stands and talks
for 4.4 s in front of a board written before, then walks out of the frame: the board behind them is the
one shown after they leave), "still" (the same, but writing while standing, also behind their own body:
what is behind them while they stand differs from what is shown after) and "never_leaves" (stands and
writes at one spot all along), at 640x360 and 1280x720, static camera. Each clip is written losslessly
(FFV1, RGB) with its exact masks (a folder of PNGs) and run through the command twice: as is (first pass
and plate) and with ``--plate off`` (the engine without the plate). Scored inside the truth mask, per
phase:

- ``standing``: the frames while the lecturer stands (all of them for "never_leaves");
- ``after``: the frames after they started to leave;
- ``never uncovered``: the pixels hidden in every frame of the clip (what no frame ever showed);
- ``outside``: PSNR outside the mask (no loss there is expected).

The upper bound of a clean-board fill is the same score for the truth board *without* its handwriting
pasted into the mask (the best any fill that invents no writing can do), with the clip's lighting.
Speed numbers on a shared machine are noisy; the first pass's share of the second is the command's own.
The scored runs read a lossless FFV1 file in RGB, whose decoding alone costs about as much as the whole
first pass otherwise; the share is also measured on the same clip as H.264 (yuv420p, CRF 18), the way
lectures are delivered (that run is timed, not scored).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from benchmarks.lecture.generator import Clip, make_clip
from benchmarks.lecture.metrics import F1Counts, binarise_strokes, psnr_from_sse, squared_error, stroke_counts

__all__ = ["clean_board", "main", "phase_clips", "phases_markdown", "publish_phases", "run_phase_clip"]

_ROOT = Path(__file__).resolve().parents[2]
STAND_SECONDS = 4.4


def phase_clips(quick: bool) -> list[tuple[str, tuple[int, int], int]]:
    """(script, size, frames) of the clips: 360p only with ``quick``."""
    sizes = [(640, 360)] if quick else [(640, 360), (1280, 720)]
    n = 150 if not quick else 130  # 4.4 s at 24 fps is 106 frames; then the walk out
    return [(script, size, n) for size in sizes for script in ("still_talks", "still", "never_leaves")]


def clean_board(clip: Clip, i: int) -> np.ndarray:
    """Frame ``i``'s board without any handwriting, lit as the clip lights it (noise-free)."""
    w, h = clip.size
    m = clip.transform(i)[:2]
    board = cv2.warpAffine(clip._empty, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(board * clip._gain(i)), 0, 255).astype(np.uint8)


class _Phase:
    def __init__(self) -> None:
        self.sse = 0.0
        self.n = 0
        self.f1 = F1Counts()

    def add(self, out: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> None:
        if not mask.any():
            return
        sse, n = squared_error(out, gt, mask)
        self.sse += sse
        self.n += n
        self.f1 += stroke_counts(binarise_strokes(out), binarise_strokes(gt), mask)

    def result(self) -> dict[str, float]:
        return {"psnr": psnr_from_sse(self.sse, self.n), "f1": self.f1.f1, "pixels": self.n}


def _command(video: Path, masks: Path, out: Path, extra: list[str]) -> tuple[float, float | None]:
    cmd = [sys.executable, "-c", "import sys; from lecinpaint.cli import main; sys.exit(main())",
           str(video), "-o", str(out), "--masks", str(masks), "--codec", "ffv1", "--pix-fmt", "bgr0", "-y",
           *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=_ROOT)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"lecinpaint failed: {res.stderr.strip()}")
    share = re.search(r"first pass \(plate\): [0-9.]+ s, ([0-9]+) % of the second", res.stderr)
    return seconds, (float(share.group(1)) if share else None)


def _decode(path: Path, clip: Clip) -> np.ndarray:
    w, h = clip.size
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(res.stdout, np.uint8).reshape(-1, h, w, 3)


def run_phase_clip(script: str, size: tuple[int, int], n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Write the clip, run the command with and without the plate, score per phase."""
    clip = make_clip(0, size, n, "static", script=script, stand_seconds=STAND_SECONDS)
    samples = list(clip.samples())
    stand = int(round(STAND_SECONDS * clip.fps)) if script in ("still", "still_talks") else n
    never = np.logical_and.reduce([s.gt_mask for s in samples])
    res: dict[str, Any] = {"clip": f"{script} {size[0]}x{size[1]} {n}f", "script": script, "size": list(size),
                           "frames": n, "standing_frames": stand, "never_pixels": int(never.sum()), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="lecinpaint-phases-") as tmp:
        d = Path(tmp)
        w, h = size
        frames = np.stack([s.frame for s in samples])
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                        f"{w}x{h}", "-r", "24", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgr0", "-y",
                        str(d / "in.mkv")], input=frames.tobytes(), check=True)
        (d / "masks").mkdir()
        for i, s in enumerate(samples):
            cv2.imwrite(str(d / "masks" / f"{i:05d}.png"), s.gt_mask.astype(np.uint8) * 255)
        outputs: dict[str, Any] = {"lecinpaint": ([], None), "lecinpaint --plate off": (["--plate", "off"], None)}
        for name, (extra, _) in outputs.items():
            log(f"  {res['clip']}: {name}")
            seconds, share = _command(d / "in.mkv", d / "masks", d / "out.mkv", extra)
            outs = _decode(d / "out.mkv", clip)
            res["runs"][name] = _score(outs, samples, stand, never) | {"seconds": seconds, "first_pass_pct": share}
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(d / "in.mkv"), "-c:v", "libx264", "-crf", "18",
                        "-pix_fmt", "yuv420p", "-y", str(d / "in.mp4")], check=True)
        log(f"  {res['clip']}: lecinpaint, H.264 input (timed)")
        seconds, share = _command(d / "in.mp4", d / "masks", d / "out.mkv", [])
        res["h264"] = {"seconds": seconds, "first_pass_pct": share}
        bound = np.stack([np.where(s.gt_mask[..., None], clean_board(clip, s.index), s.gt_frame) for s in samples])
        res["runs"]["clean-board bound"] = _score(bound, samples, stand, never)
    return res


def _score(outs: np.ndarray, samples: list[Any], stand: int, never: np.ndarray) -> dict[str, Any]:
    phases = {"standing": _Phase(), "after": _Phase(), "never uncovered": _Phase()}
    sse_out, n_out = 0.0, 0
    for s, o in zip(samples, outs):
        phases["standing" if s.index < stand else "after"].add(o, s.gt_frame, s.gt_mask)
        phases["never uncovered"].add(o, s.gt_frame, never)
        a, b = squared_error(o, s.gt_frame, ~s.gt_mask)
        sse_out, n_out = sse_out + a, n_out + b
    r: dict[str, Any] = {k: v.result() for k, v in phases.items() if v.n}
    r["outside"] = {"psnr": psnr_from_sse(sse_out, n_out)}
    return r


def phases_markdown(results: list[dict[str, Any]]) -> str:
    """The per-phase table (PSNR in dB inside the mask, handwriting F1)."""
    lines = ["| clip | system | standing PSNR / F1 | after PSNR / F1 | never uncovered PSNR | outside PSNR | "
             "first pass (FFV1 / H.264 input) |", "|---|---|---|---|---|---|---|"]
    for res in results:
        for name, r in res["runs"].items():
            def cell(key: str, f1: bool = True) -> str:
                if key not in r:
                    return "-"
                v = r[key]
                return f"{v['psnr']:.2f}" + (f" / {v['f1']:.3f}" if f1 else "")
            share = r.get("first_pass_pct")
            h264 = res.get("h264", {}).get("first_pass_pct") if name == "lecinpaint" else None
            first = "-" if share is None else f"{share:.0f} %" + ("" if h264 is None else f" / {h264:.0f} %")
            lines.append(f"| {res['clip']} | {name} | {cell('standing')} | {cell('after')} | "
                         f"{cell('never uncovered', False)} | {r['outside']['psnr']:.2f} | {first} |")
    return "\n".join(lines) + "\n"


def publish_phases(results: list[dict[str, Any]], path: Path) -> None:
    """Write ``docs/benchmark_phases.md`` (how it was measured, the table, how to read it) and the numbers
    to ``docs/benchmark/phases.json``."""
    sizes = [f"{w}x{h}" for w, h in sorted({tuple(r["size"]) for r in results})]
    head = (
        "# A lecturer who stands still: quality per phase\n\n"
        f"`python -m benchmarks.lecture.phases` ({', '.join(sizes)}), through the command with exact masks, "
        "static camera, seed 0. PSNR in dB inside the truth mask, handwriting F1. The first pass's share is "
        "the command's own report (first pass seconds / second pass seconds), on the scored lossless FFV1 "
        "file and on an H.264 copy (yuv420p, CRF 18); measured on a shared 2-core machine, so times are "
        "noisy.\n\n"
    )
    tail = (
        "\nHow to read it:\n\n"
        "- *still_talks*: the lecturer stands and talks, then leaves; the board behind them is the one "
        "shown after they leave. The plate recovers it while they stand.\n"
        "- *still*: the same, but writing while standing, also behind their own body. The plate shows the "
        "board as first seen after they leave, with strokes written later, which caps the standing phase "
        "near the clean-board bound.\n"
        "- *never_leaves*: nothing behind the lecturer is ever seen; the never-uncovered pixels are the "
        "board-like fill's. The clean-board bound pastes the truth board *without* its handwriting into "
        "the mask (the best any fill that invents no writing can do): writing hidden behind the lecturer "
        "keeps it near 30 dB on this board.\n"
    )
    path.write_text(head + phases_markdown(results) + tail)
    (path.parent / "benchmark" / "phases.json").write_text(json.dumps(results, indent=1, default=float))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.lecture.phases", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="360p clips only")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/phases"), help="output folder")
    ap.add_argument("--publish", action="store_true", help="also rewrite docs/benchmark_phases.md")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for s, size, n in phase_clips(args.quick):
        results.append(run_phase_clip(s, size, n, log))
        # Written after each clip: a long run that is stopped keeps what it measured.
        (args.out / "phases.json").write_text(json.dumps(results, indent=1, default=float))
        (args.out / "phases.md").write_text(phases_markdown(results))
    if args.publish:
        publish_phases(results, _ROOT / "docs" / "benchmark_phases.md")
    print(phases_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
