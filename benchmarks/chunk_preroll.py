"""How much pre-roll makes a chunked run equal to a single pass: PSNR of every frame against one pass.

A video cut into chunks (``lecinpaint batch --chunk``) is processed chunk by chunk, each chunk starting
with a pre-roll of frames that are decoded, run through the engine and discarded. The engine's forward
state is recurrent (the previous finished frame, the background memory), so a chunk that starts cold
fills the lecturer's place differently from a single pass until its state has caught up. This benchmark
runs a clip once in one pass and then in chunks with several pre-roll lengths, exactly as the batch
workers do (the same ``Worker`` code, without Ray), and reports per pre-roll the mean and the worst
per-frame PSNR against the single pass (identical frames count as 100 dB), and the frame count.

Clips: the lecture benchmark's synthetic lectures (real board, real person, exact masks) by default;
``--whiteboard`` adds the real whiteboard lecture (no masks: the default segmenter runs).

    python -m benchmarks.chunk_preroll [--size 320x180] [--seconds 12] [--chunk 3] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from lecinpaint.batch.worker import Worker
from lecinpaint.io.ffmpeg import decode_rgb, probe


CAP_DB = 100.0  # identical frames (infinite PSNR) count as this in the mean


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return CAP_DB if mse == 0 else min(CAP_DB, 10 * math.log10(255.0**2 / mse))


def _write_clip(frames: list[np.ndarray], masks: list[np.ndarray] | None, folder: Path, fps: float) -> Path:
    """A lossless-ish input file (x264 at CRF 0) and, when given, a folder of mask PNGs."""
    import subprocess

    h, w = frames[0].shape[:2]
    path = folder / "clip.mkv"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", f"{fps:g}", "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    if masks is not None:
        (folder / "masks").mkdir()
        for i, m in enumerate(masks):
            cv2.imwrite(str(folder / "masks" / f"{i:05d}.png"), np.where(m, 255, 0).astype(np.uint8))
    return path


def _run(worker: Worker, clip: Path, masks: Path | None, chunk: float | None, preroll: float,
         work: Path) -> tuple[list[np.ndarray], float]:
    prep = worker.prepare(str(clip), None if masks is None else str(masks), chunk, preroll)
    if not prep["ok"]:
        raise RuntimeError(prep["reason"])
    out: list[np.ndarray] = []
    t0 = time.perf_counter()
    for c in prep["plan"].chunks:
        target = work / f"part{c.index:04d}.mkv"
        res = worker.run_chunk(dict(
            input=str(clip), masks=None if masks is None else str(masks), info=prep["info"],
            plan=prep["plan"],
            chunk=c, target=str(target), final=False, out_rate=prep["out_rate"], expected=c.stop - c.start,
            key=str(c.index), progress=None))
        if not res["ok"]:
            raise RuntimeError(res["reason"])
        out.extend(decode_rgb(target, probe(target)))
        target.unlink()
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--chunk", type=float, default=3.0, help="chunk length, seconds")
    ap.add_argument("--prerolls", default="0,0.5,1,2,4,8", help="pre-roll lengths to try, seconds")
    ap.add_argument("--scripts", default="wander,still", help="lecture benchmark scripts to try")
    ap.add_argument("--cameras", default="static,pan")
    ap.add_argument("--whiteboard", action="store_true", help="also the real whiteboard lecture")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    from benchmarks.lecture.generator import make_clip

    w, h = (int(v) for v in args.size.split("x"))
    fps = 24.0
    prerolls = [float(v) for v in args.prerolls.split(",")]
    cases: list[tuple[str, list[np.ndarray], list[np.ndarray] | None, float]] = []
    for script in filter(None, args.scripts.split(",")):  # --scripts "": the real clip only
        for cam in filter(None, args.cameras.split(",")):
            clip = make_clip(0, size=(w, h), n_frames=int(args.seconds * fps), camera=cam, script=script,
                             fps=fps)
            samples = list(clip.samples())
            cases.append((f"lecture {script} {cam}", [s.frame for s in samples],
                          [s.gt_mask for s in samples], fps))
    if args.whiteboard:
        d = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "whiteboard_lecture" / "frames"
        files = sorted(d.glob("*.jpg")) or sorted(d.glob("*.png"))
        frames = [cv2.imread(str(f))[:, :, ::-1].copy() for f in files]
        cases.append(("whiteboard (real, segmented)", frames, None, 1000 / 60))

    results = []
    worker = Worker({"device": "cpu"}, dict(codec="ffv1", crf=None, preset="", pix_fmt="gbrp",
                                            audio_codec="copy", encoder_args=""))
    masked_worker = Worker({"device": "cpu", "segmenter": "masks"}, worker.encoding)
    for name, frames, masks, rate in cases:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            clip = _write_clip(frames, masks, folder, rate)
            mpath = folder / "masks" if masks is not None else None
            wk = masked_worker if masks is not None else worker
            ref, t_single = _run(wk, clip, mpath, None, 0.0, folder)
            print(f"{name}: {len(ref)} frames, single pass {len(ref) / t_single:.1f} frames/s",
                  file=sys.stderr)
            for pre in prerolls:
                got, t = _run(wk, clip, mpath, args.chunk, pre, folder)
                scores = [psnr(a, b) for a, b in zip(ref, got)]
                row = dict(clip=name, chunk_s=args.chunk, preroll_s=pre, frames=len(got), ref_frames=len(ref),
                           mean_db=sum(scores) / len(scores), worst_db=min(scores),
                           identical=sum(s == CAP_DB for s in scores), seconds=t)
                results.append(row)
                print(f"  preroll {pre:4.1f} s: frames {len(got)}/{len(ref)}  mean {row['mean_db']:.2f} dB  "
                      f"worst {row['worst_db']:.2f} dB  identical {row['identical']}", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
