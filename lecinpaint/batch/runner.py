"""Running a batch on Ray: the cluster, the pool of engine actors, the scheduling, progress, the summary.

Each worker is a Ray actor holding one engine (:class:`lecinpaint.batch.worker.Worker`). The runner
feeds them three kinds of tasks: ``prepare`` (once per video: probe, timestamps, chunk plan), ``chunk``
(inpaint a time range) and ``join`` (one encoder over a video's chunks). A video's result is written in a
private work folder inside OUTDIR and renamed into place when complete, after its completion record,
so that OUTDIR never holds a partial file; the work folder is removed at the end of the run, whatever
happened. A worker process that dies is restarted by Ray and its task run again.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lecinpaint.batch import record
from lecinpaint.batch.plan import Source, VideoPlan

__all__ = ["BatchOptions", "VideoResult", "import_ray", "run_batch", "summary_table"]

RAY_MISSING = ("lecinpaint batch needs Ray, which is not installed: pip install 'lecinpaint[ray]' "
               "(or pip install ray)")


def import_ray() -> Any:
    """Ray, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


@dataclass
class BatchOptions:
    """How to run a batch (the command's options, parsed)."""

    outdir: Path
    settings: dict[str, Any]
    encoding: dict[str, Any]
    address: str | None = None
    workers: int | None = None
    chunk: float | None = None
    preroll: float = 10.0
    overwrite: bool = False
    quiet: bool = False
    gpu: bool = False  # each worker asks Ray for a GPU (--device cuda)
    auto_device: bool = False  # --device auto: a GPU per worker where the cluster has GPUs
    settings_hash: str = ""


@dataclass
class VideoResult:
    """The outcome for one input: ``status`` is ``ok``, ``skipped`` or ``failed`` (with ``reason``)."""

    source: Source
    status: str = "pending"
    reason: str = ""
    frames: int = 0
    seconds: float = 0.0
    # Scheduling state.
    info: Any = None
    plan: VideoPlan | None = None
    out_rate: Any = None
    started: float | None = None
    parts: dict[int, Path] = field(default_factory=dict)
    remaining: int = 0


class _Progress:
    """Frames finished per task key; the maximum per key, so that a retried task does not count twice."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}

    def report(self, key: str, frames: int) -> None:
        self.done[key] = max(self.done.get(key, 0), int(frames))

    def total(self) -> int:
        return sum(self.done.values())


def _connect(ray: Any, opts: BatchOptions) -> None:
    # Ray's own banners and worker logs would drown the progress bar; problems come back as results.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if opts.address:
        # `auto`, HOST:PORT (a cluster this machine is part of) or ray://HOST:PORT (Ray Client).
        ray.init(address=opts.address, logging_level=logging.WARNING, log_to_driver=False)
        return
    cpus = os.cpu_count() or 1
    # address="local": always a new cluster of our own, never one that happens to run on this machine.
    ray.init(address="local", num_cpus=max(cpus, opts.workers or 1), include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=False)


def _default_workers(ray: Any, opts: BatchOptions) -> int:
    res = ray.cluster_resources()
    if opts.gpu:
        return max(1, int(res.get("GPU", 0)))
    # The progress actor asks for no CPU; everything else is engine work.
    return max(1, int(res.get("CPU", 1)))


def run_batch(sources: list[Source], opts: BatchOptions) -> tuple[list[VideoResult], float]:
    """Process ``sources``; return one :class:`VideoResult` per source, in order, and the seconds the
    work took (from the first task handed out to the last result; the cluster's start is not counted).

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
        ConnectionError: ``opts.address`` names no reachable cluster.
    """
    results = [VideoResult(s) for s in sources]
    todo: list[VideoResult] = []
    for r in results:
        out = r.source.output
        if r.source.problem:
            r.status = "failed"
            r.reason = r.source.problem
        elif not opts.overwrite and record.is_finished(r.source.input, out, opts.settings_hash):
            r.status = "skipped"
            r.reason = "finished before"
        elif out.exists() and not opts.overwrite:
            r.status = "failed"
            r.reason = (f"{out.name} exists without a matching completion record (other input or options, "
                        "or not made by lecinpaint batch); use -y to replace it")
        else:
            todo.append(r)
    if not todo:
        return results, 0.0

    ray = import_ray()
    _connect(ray, opts)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=_state_dir(opts.outdir)))
    try:
        t0 = time.perf_counter()
        _Scheduler(ray, opts, todo, work).run()
        elapsed = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ray.shutdown()
    return results, elapsed


def _state_dir(outdir: Path) -> Path:
    d = outdir / record.STATE_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


class _Scheduler:
    """Hands tasks to idle workers and reacts to their results (see the module docstring)."""

    def __init__(self, ray: Any, opts: BatchOptions, videos: list[VideoResult], work: Path) -> None:
        from lecinpaint.batch.worker import Worker

        self.ray = ray
        self.opts = opts
        self.videos = videos
        self.work = work
        self.progress = ray.remote(num_cpus=0)(_Progress).remote()
        if opts.auto_device and not opts.gpu and ray.cluster_resources().get("GPU", 0) >= 1:
            # "auto" picks CUDA where a worker sees a GPU: without asking Ray for one, every worker of
            # a node would land on the same GPU.
            opts.gpu = True
        self.actor_cls = ray.remote(Worker).options(
            num_cpus=1, num_gpus=1 if opts.gpu else 0, max_restarts=3, max_task_retries=3)
        self.max_workers = opts.workers or _default_workers(ray, opts)
        self.actors: list[Any] = []
        self.idle: deque[Any] = deque()
        self.urgent: deque[tuple[str, VideoResult, Any]] = deque()  # prepare and join tasks
        self.normal: deque[tuple[str, VideoResult, Any]] = deque()  # chunk tasks
        self.inflight: dict[Any, tuple[Any, str, VideoResult, Any]] = {}
        self.bar: Any = None

    def _grow(self, wanted: int) -> None:
        while len(self.actors) < min(self.max_workers, wanted):
            a = self.actor_cls.remote(self.opts.settings, self.opts.encoding)
            self.actors.append(a)
            self.idle.append(a)

    def run(self) -> None:
        from tqdm import tqdm

        o = self.opts
        for v in self.videos:
            masks = None if v.source.masks is None else str(v.source.masks)
            self.urgent.append(("prepare", v, (str(v.source.input), masks, o.chunk, o.preroll)))
        self._grow(len(self.videos))
        self.bar = tqdm(total=0, unit="frame", file=sys.stderr, dynamic_ncols=True, desc="lecinpaint batch",
                        disable=o.quiet or not sys.stderr.isatty())
        try:
            while self.urgent or self.normal or self.inflight:
                self._submit()
                if not self.inflight:
                    break
                ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=0.5)
                for ref in ready:
                    self._done(ref)
                self._update_bar()
            self._update_bar()
        finally:
            self.bar.close()

    def _update_bar(self) -> None:
        try:
            total = self.ray.get(self.progress.total.remote(), timeout=5)
        except Exception:  # the progress is cosmetic: never fail a batch on it
            return
        if total > self.bar.n:
            self.bar.update(total - self.bar.n)

    def _submit(self) -> None:
        while self.idle and (self.urgent or self.normal):
            kind, v, payload = (self.urgent or self.normal).popleft()
            if v.status == "failed":
                continue
            actor = self.idle.popleft()
            if v.started is None and kind == "chunk":  # the file's clock: from its first frame's task
                v.started = time.perf_counter()
            if kind == "prepare":
                ref = actor.prepare.remote(*payload)
            elif kind == "chunk":
                ref = actor.run_chunk.remote(payload)
            else:
                ref = actor.join.remote(payload)
            self.inflight[ref] = (actor, kind, v, payload)

    def _done(self, ref: Any) -> None:
        actor, kind, v, payload = self.inflight.pop(ref)
        try:
            res = self.ray.get(ref)
        except Exception as exc:  # the worker died more often than Ray retries, or cannot start
            self._fail(v, f"worker lost: {_first_line(exc)}")
            if actor in self.actors:
                self.actors.remove(actor)
            # A fresh worker in its place, so that the rest of the batch keeps its parallelism.
            self._grow(len(self.actors) + 1)
            return
        self.idle.append(actor)
        if v.status == "failed":  # another task of this video failed: nothing more to do for it
            return
        if not res.get("ok"):
            self._fail(v, res.get("reason", "unknown error"))
            return
        if kind == "prepare":
            self._planned(v, res)
        elif kind == "chunk":
            v.remaining -= 1
            if v.remaining == 0:
                if len(v.plan.chunks) == 1:  # type: ignore[union-attr]
                    self._finish(v, self.work / v.source.output.name)
                else:
                    self._join(v)
        else:
            self._finish(v, self.work / v.source.output.name)

    def _planned(self, v: VideoResult, res: dict[str, Any]) -> None:
        from lecinpaint.batch.worker import ChunkTask, _kept

        v.info, v.plan, v.out_rate = res["info"], res["plan"], res["out_rate"]
        v.frames = res["out_frames"]
        if not self.opts.quiet:
            for note in res.get("notes", ()):
                self.bar.write(f"lecinpaint batch: {v.source.input.name}: note: {note}", file=sys.stderr)
        self.bar.total = (self.bar.total or 0) + v.frames
        self.bar.refresh()
        plan = v.plan
        single = len(plan.chunks) == 1
        reducer = None
        if self.opts.settings.get("fps") is not None and self.opts.settings["fps"] < v.info.rate:
            from lecinpaint.masks import FrameRateReducer

            reducer = FrameRateReducer(v.info.rate, self.opts.settings["fps"])
        v.remaining = len(plan.chunks)
        stem = v.source.output.stem
        for c in plan.chunks:
            target = (self.work / v.source.output.name if single
                      else self.work / f"{stem}.part{c.index:05d}.mkv")
            v.parts[c.index] = target
            task = ChunkTask(
                input=str(v.source.input), masks=None if v.source.masks is None else str(v.source.masks),
                info=v.info, plan=plan, chunk=c, target=str(target), final=single, out_rate=v.out_rate,
                expected=_kept(reducer, c.start, c.stop), key=f"{v.source.output.name}#{c.index}",
                progress=self.progress)
            self.normal.append(("chunk", v, task))
        self._grow(len(self.normal) + len(self.urgent) + len(self.inflight))

    def _join(self, v: VideoResult) -> None:
        parts = [str(v.parts[k]) for k in sorted(v.parts)]
        task = dict(input=str(v.source.input), format=v.plan.shared["format"],  # type: ignore[union-attr]
                    out_rate=v.out_rate, parts=parts, target=str(self.work / v.source.output.name),
                    expected=v.frames)
        self.urgent.append(("join", v, task))

    def _finish(self, v: VideoResult, finished: Path) -> None:
        out = v.source.output
        try:
            # The record first: a crash between the two leaves a record without its output, which a
            # rerun redoes; never an output that looks finished but is not.
            record.write_record(v.source.input, out, finished, self.opts.settings_hash, v.frames)
            os.replace(finished, out)
        except OSError as exc:
            self._fail(v, f"cannot write {str(out)!r}: {exc}")
            return
        for p in v.parts.values():
            if p != finished:
                p.unlink(missing_ok=True)
        v.status = "ok"
        v.seconds = time.perf_counter() - (v.started or time.perf_counter())

    def _fail(self, v: VideoResult, reason: str) -> None:
        if v.status != "failed":
            v.status = "failed"
            v.reason = reason
        for p in v.parts.values():
            p.unlink(missing_ok=True)


def _first_line(exc: BaseException) -> str:
    lines = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
    return lines[-1] if lines else type(exc).__name__


def summary_table(results: list[VideoResult], elapsed: float = 0.0) -> str:
    """The end-of-run table: file, frames, frames/s, status (one row per input, then the total).

    A file's frames/s is its frames over the time from its first task to its output; the total's is
    all frames over ``elapsed``, the batch's throughput.
    """
    rows = [("file", "frames", "frames/s", "status")]
    total_frames = 0
    for r in results:
        if r.status == "ok":
            fps = f"{r.frames / r.seconds:.2f}" if r.seconds > 0 else "-"
            rows.append((r.source.input.name, str(r.frames), fps, "ok"))
            total_frames += r.frames
        elif r.status == "skipped":
            rows.append((r.source.input.name, "-", "-", f"skipped ({r.reason})"))
        else:
            rows.append((r.source.input.name, str(r.frames) if r.frames else "-", "-", f"failed: {r.reason}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
    ok = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = sum(r.status == "failed" for r in results)
    rate = ""
    if elapsed > 0 and total_frames:
        rate = f" in {elapsed:.1f} s, {total_frames / elapsed:.2f} frames/s"
    lines.append(f"{ok} done ({total_frames} frames{rate}), {skipped} skipped, {failed} failed")
    return "\n".join(lines)
