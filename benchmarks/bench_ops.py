"""Kernel microbenchmarks: every custom op against the plain-PyTorch way of computing the same thing.

Usage (from the project root, with the virtual environment active):

    python -m benchmarks.bench_ops                 # CPU, plus CUDA when a GPU is present
    python -m benchmarks.bench_ops --device cpu --quick
    python -m benchmarks.bench_ops --only correlation --json out.json

For each case it prints the median time (and IQR) of ours and of the baseline, the speed-up, and the peak
memory each needs beyond its inputs, and writes everything as JSON with where it ran (commit, torch,
CUDA, device, threads). A case whose two results disagree, or that raises, fails the run loudly.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

# torch.utils.benchmark imports torch.utils.cpp_extension, which warns "No CUDA runtime is found" on a CPU
# machine (about building CUDA extensions, which this benchmark never does), and torch's logging set-up
# repeats it later: one level on that logger keeps both out of the benchmark's output.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
import torch.utils.benchmark as tbench  # noqa: E402

from benchmarks._harness import BenchCase

ROOT = Path(__file__).resolve().parents[1]
CASE_MODULES = ("benchmarks.ops_correlation", "benchmarks.ops_warp")
_MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"


# --- memory --------------------------------------------------------------------------------------------
def _read_status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _peak_extra_bytes(fn: Callable[[], Any], device: str) -> int:
    """Peak memory that one call of ``fn`` needs beyond what is allocated before it.

    CPU: resets the kernel's high-water mark of this process (``/proc/self/clear_refs``), runs ``fn``,
    and reads VmHWM - VmRSS(before). Large tensors are mmap'ed and returned to the OS when freed, so the
    high-water mark reflects the call's own transient allocations. CUDA: torch's peak allocator stats.
    """
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        del out
        return int(peak)
    if not os.path.exists("/proc/self/clear_refs"):
        return -1
    before = _read_status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak-RSS counter to the current RSS
    out = fn()
    peak = _read_status_kib("VmHWM")
    del out
    return max(0, (peak - before) * 1024)


# --- timing --------------------------------------------------------------------------------------------
def _time(fn: Callable[[], Any], device: str, min_run_time: float) -> tuple[float, float]:
    """Median and IQR in seconds, from torch.utils.benchmark (which synchronises CUDA)."""
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return float(m.median), float(m.iqr)


def _environment(device: str) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    env = {
        "commit": commit or "unknown",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": device,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    import lecinpaint.ops as ops

    env["extension"] = ops.extension_available()
    env["cuda_kernels"] = ops.has_cuda_kernels()
    return env


def _collect(device: str, only: set[str] | None, quick: bool) -> list[BenchCase]:
    import importlib

    cases: list[BenchCase] = []
    for name in CASE_MODULES:
        mod = importlib.import_module(name)
        for case in mod.cases(device):
            if only and case.op not in only:
                continue
            cases.append(case)
    if quick:
        # One size per op: the first case of each.
        seen: set[str] = set()
        cases = [c for c in cases if not (c.op in seen or seen.add(c.op))]
    return cases


def run(device: str, only: set[str] | None, quick: bool, min_run_time: float) -> dict:
    import lecinpaint.ops as ops

    if device == "cpu" and not ops.extension_available():
        raise SystemExit("bench_ops: lecinpaint._C is not built; run scripts/setup.sh (or setup.py build_ext)")
    if device.startswith("cuda") and ops.backend_for(torch.empty(0, device=device)) == "fallback":
        raise SystemExit("bench_ops: no CUDA kernels (neither compiled nor cupy) for " + device)
    results = []
    _print_row.header_done = False  # type: ignore[attr-defined]
    for case in _collect(device, only, quick):
        inputs = case.setup(device)
        ours_out = case.ours(*inputs)
        base_out = case.baseline(*inputs)
        if case.check is not None:
            case.check(ours_out, base_out)
        del ours_out, base_out
        row: dict[str, Any] = {"op": case.op, "size": case.label, "baseline": case.baseline_name, **case.meta}
        for which, fn in (("ours", case.ours), ("base", case.baseline)):
            call = (lambda f=fn: f(*inputs))
            row[f"{which}_peak_mib"] = _peak_extra_bytes(call, device) / 2**20
            med, iqr = _time(call, device, min_run_time)
            row[f"{which}_ms"] = med * 1e3
            row[f"{which}_iqr_ms"] = iqr * 1e3
        row["speedup"] = row["base_ms"] / row["ours_ms"]
        results.append(row)
        _print_row(row)
        del inputs
        gc.collect()
    return {"environment": _environment(device), "results": results}


_HEADER = f"{'op':<17} {'size':<30} {'baseline':<24} {'ours ms':>9} {'base ms':>9} {'speedup':>8} {'ours MiB':>9} {'base MiB':>9}"


def _print_row(r: dict) -> None:
    if not getattr(_print_row, "header_done", False):
        print(_HEADER)
        print("-" * len(_HEADER))
        _print_row.header_done = True  # type: ignore[attr-defined]
    print(
        f"{r['op']:<17} {r['size']:<30} {r['baseline']:<24} {r['ours_ms']:>9.2f} {r['base_ms']:>9.2f} "
        f"{r['speedup']:>7.2f}x {r['ours_peak_mib']:>9.1f} {r['base_peak_mib']:>9.1f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ops", description=__doc__.split("\n")[0])
    p.add_argument("--device", action="append", help="cpu, cuda, cuda:N (repeatable; default: cpu [+ cuda])")
    p.add_argument("--only", action="append", help="only this op (repeatable)")
    p.add_argument("--quick", action="store_true", help="one size per op, short timing")
    p.add_argument("--json", type=Path, default=None, help="output JSON (default benchmarks/out/ops-<device>.json)")
    args = p.parse_args(argv)
    if _MMAP_ENV not in os.environ:
        # glibc raises its mmap threshold after large frees, after which freed tensors stay resident and
        # the peak-RSS measurement sees nothing: pin the threshold (it must be set before start-up).
        env = dict(os.environ, **{_MMAP_ENV: "131072", "MALLOC_TRIM_THRESHOLD_": "131072"})
        argv = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.bench_ops", *argv], env)

    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    min_run_time = 0.2 if args.quick else 1.0
    for device in devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"bench_ops: {device} requested but no GPU is available", file=sys.stderr)
            return 1
        print(f"\n== lecinpaint ops on {device} (torch {torch.__version__}, {torch.get_num_threads()} threads) ==")
        report = run(device, set(args.only) if args.only else None, args.quick, min_run_time)
        out = args.json or ROOT / "benchmarks" / "out" / f"ops-{device.replace(':', '')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
