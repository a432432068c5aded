"""Soak test of the ffmpeg frame server: a long small stream through ``python -m lecinpaint.filter``,
with the filter's resident memory (RSS) sampled along the way. It must stay flat.

Usage::

    python -m benchmarks.soak_filter                       # 100,000 frames of 96x64 (~40 min, 2 cores)
    python -m benchmarks.soak_filter --frames 5000 --json benchmarks/out/soak.json

ffmpeg makes the input (``testsrc2``, 25 fps, yuv420p y4m) and a mask video (a block sweeping across the
frame, looped with ``-stream_loop``), so nothing is read from disk but the masks, and the engine does its
whole job on every frame (masks, flow, propagation, fill, compositing). The output is read and counted
(every byte of every frame), not stored. RSS comes from ``/proc/PID/status`` of the filter process.

Verdict: the growth of RSS between the end of the warm-up (the first 10 % of the frames) and the end,
in MiB per 10,000 frames; "flat" when it is under ``--tolerance`` (default 2 MiB per 10k frames, i.e.
a leak of more than ~200 bytes per frame fails).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _mask_video(folder: Path, w: int, h: int, frames: int) -> Path:
    """A mask video of at least ``frames`` frames: an 80-frame sweep of a block, looped."""
    period = 80
    masks = np.zeros((period, h, w), np.uint8)
    bw, bh = max(4, w // 6), max(4, h // 2)
    for i in range(period):
        x = (w - bw) * (i if i < period // 2 else period - i) // (period // 2)
        masks[i, h // 4 : h // 4 + bh, x : x + bw] = 255
    one = folder / "sweep.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s",
                    f"{w}x{h}", "-r", "25", "-i", "-", "-c:v", "ffv1", str(one)], input=masks.tobytes(),
                   check=True)
    loops = -(-frames // period)
    out = folder / "masks.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(one),
                    "-c", "copy", str(out)], check=True)
    return out


def soak(frames: int, w: int, h: int, every: int, lookahead: int) -> dict:
    """Run the soak; returns the samples and the verdict's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        masks = _mask_video(Path(tmp), w, h, frames)
        producer = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=25",
             "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"],
            stdout=subprocess.PIPE)
        filt = subprocess.Popen(
            [sys.executable, "-m", "lecinpaint.filter", "-q", "--masks", str(masks), "--dilation", "2",
             "--lookahead", str(lookahead), "--device", "cpu"],
            stdin=producer.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        assert producer.stdout is not None and filt.stdout is not None
        producer.stdout.close()
        err: list[bytes] = []
        threading.Thread(target=lambda: err.append(filt.stderr.read()), daemon=True).start()  # type: ignore[union-attr]
        header = filt.stdout.readline()
        frame_bytes = 6 + w * h * 3 // 2  # "FRAME\n" + 4:2:0 planes
        samples: list[tuple[int, float, float]] = []
        start = time.monotonic()
        n = 0
        while True:
            chunk = filt.stdout.read(frame_bytes)
            if len(chunk) < frame_bytes:
                if chunk:
                    raise SystemExit(f"soak: truncated output frame after {n} frames")
                break
            if not chunk.startswith(b"FRAME"):
                raise SystemExit(f"soak: output frame {n} does not start with FRAME")
            n += 1
            if n % every == 0 or n == 1:
                rss = _rss_mib(filt.pid)
                if rss is not None:
                    samples.append((n, time.monotonic() - start, rss))
                    print(f"{n:>8} frames  {n / (time.monotonic() - start):6.1f} fps  RSS {rss:7.1f} MiB",
                          flush=True)
        rc = filt.wait()
        producer.wait()
        if rc != 0 or n != frames or not header.startswith(b"YUV4MPEG2"):
            tail = b"".join(err).decode(errors="replace")[-2000:]
            raise SystemExit(f"soak: the filter ended with status {rc} after {n} of {frames} frames\n{tail}")
    warm = [s for s in samples if s[0] >= frames // 10]
    (n0, _, r0), (n1, _, r1) = warm[0], warm[-1]
    growth = (r1 - r0) / max(1, n1 - n0) * 10_000
    return {"frames": n, "size": f"{w}x{h}", "samples": samples, "rss_after_warmup_mib": r0,
            "rss_end_mib": r1, "rss_max_mib": max(s[2] for s in samples),
            "growth_mib_per_10k_frames": growth, "seconds": samples[-1][1]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak_filter",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--size", default="96x64", help="WxH (default 96x64)")
    p.add_argument("--every", type=int, default=1000, help="sample RSS every N frames (default 1000)")
    p.add_argument("--lookahead", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=2.0, help="MiB per 10k frames counted as flat")
    p.add_argument("--json", type=Path, help="write the result here")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.frames < 20 * args.every // 10:
        p.error("--frames must cover a few samples: at least 2 * --every")
    res = soak(args.frames, w, h, args.every, args.lookahead)
    res["flat"] = res["growth_mib_per_10k_frames"] < args.tolerance
    res["where"] = {"python": platform.python_version(), "machine": platform.machine(),
                    "cpus": os.cpu_count()}
    print(f"RSS {res['rss_after_warmup_mib']:.1f} MiB after warm-up, {res['rss_end_mib']:.1f} MiB at the "
          f"end (max {res['rss_max_mib']:.1f}); growth {res['growth_mib_per_10k_frames']:+.2f} MiB per 10k "
          f"frames: {'flat' if res['flat'] else 'GROWING'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
    return 0 if res["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
