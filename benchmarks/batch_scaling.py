"""Throughput of ``lecinpaint batch`` against the number of Ray workers (frames/s).

Two workloads, each run with every worker count asked for, on a local Ray cluster started by the command:

- ``files``: several example lectures (the bundled synthetic clip, 640x360), one task per file;
- ``chunks``: one longer example lecture cut with ``--chunk`` (pre-roll included in the cost).

The throughput is the summary line's (all frames over the time from the first task to the last result;
the cluster's start-up is reported apart as the command's whole wall time). The engine runs its default
tier (the lecturer's masks are segmented, as a user would run it).

    python -m benchmarks.batch_scaling [--workers 1,2] [--files 4] [--seconds 5] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CMD = [sys.executable, "-c", "import sys; from lecinpaint.cli import main; sys.exit(main())"]


def _batch(args: list[str]) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    res = subprocess.run([*CMD, "batch", *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"lecinpaint batch failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    m = re.search(r"done \((\d+) frames in ([\d.]+) s, ([\d.]+) frames/s\)", res.stdout)
    if m is None:
        raise RuntimeError(f"no throughput in the summary:\n{res.stdout}")
    return float(m.group(3)), wall, int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2", help="worker counts to try")
    ap.add_argument("--files", type=int, default=4, help="clips in the files workload")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each clip")
    ap.add_argument("--long", type=float, default=20.0, help="length of the chunks workload's clip")
    ap.add_argument("--chunk", type=float, default=5.0)
    ap.add_argument("--preroll", type=float, default=2.0)
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    from lecinpaint.example import write_example

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "files").mkdir()
        for k in range(args.files):
            write_example(d / "files" / f"lecture{k}.mp4", seconds=args.seconds)
        (d / "long").mkdir()
        write_example(d / "long" / "long.mp4", seconds=args.long)
        for workers in (int(w) for w in args.workers.split(",")):
            for name, src, extra in (("files", d / "files", []),
                                     ("chunks", d / "long",
                                      ["--chunk", str(args.chunk), "--preroll", str(args.preroll)])):
                out = d / f"out-{name}-{workers}"
                fps, wall, frames = _batch([str(src), "-o", str(out), "-q", "--workers", str(workers),
                                            "--device", "cpu", *extra])
                rows.append(dict(workload=name, workers=workers, frames=frames, frames_per_s=fps,
                                 command_wall_s=wall))
                print(f"{name:6s} workers {workers}: {frames} frames, {fps:.2f} frames/s "
                      f"(command {wall:.1f} s with the cluster's start)", file=sys.stderr)
    if args.out:
        meta = dict(machine=platform.node(), cpus=os.cpu_count(), python=platform.python_version())
        Path(args.out).write_text(json.dumps(dict(meta=meta, results=rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
