"""What the batch runner asks Ray for: one CPU per worker, and one GPU per worker with ``--device cuda``
(or ``--device auto`` on a cluster that has GPUs), and how many workers it starts by default.

A stand-in for the ``ray`` module records the actor options: no cluster, no GPU needed. The real runner on
a real local cluster is tested in tests/frontends/test_fe_batch.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lecinpaint.batch.runner import BatchOptions, _Scheduler


class _Remote:
    def __init__(self, ray: _FakeRay, cls: type, options: dict[str, Any]) -> None:
        self.ray, self.cls, self.opts = ray, cls, options

    def options(self, **kw: Any) -> _Remote:
        self.ray.actor_options.append((self.cls.__name__, kw))
        return self

    def remote(self, *args: Any) -> object:
        return object()


class _FakeRay:
    def __init__(self, resources: dict[str, float]) -> None:
        self.resources = resources
        self.actor_options: list[tuple[str, dict[str, Any]]] = []

    def cluster_resources(self) -> dict[str, float]:
        return dict(self.resources)

    def remote(self, cls: type | None = None, **kw: Any) -> Any:
        if cls is None:
            return lambda c: _Remote(self, c, kw)
        return _Remote(self, cls, {})


def _scheduler(tmp_path: Path, resources: dict[str, float], **opts: Any) -> tuple[_Scheduler, _FakeRay]:
    ray = _FakeRay(resources)
    o = BatchOptions(outdir=tmp_path, settings={}, encoding={}, **opts)
    return _Scheduler(ray, o, [], tmp_path), ray


@pytest.mark.parametrize(
    "resources, opts, gpus, workers",
    [
        ({"CPU": 8.0, "GPU": 2.0}, {"gpu": True}, 1, 2),  # --device cuda: a GPU each, one worker per GPU
        ({"CPU": 8.0}, {"gpu": True}, 1, 1),  # asked for, none there: one worker, which waits for a GPU
        ({"CPU": 8.0, "GPU": 2.0}, {}, 0, 8),  # --device cpu on a GPU cluster: CPU workers only
        ({"CPU": 8.0, "GPU": 2.0}, {"auto_device": True}, 1, 2),  # auto: the cluster has GPUs
        ({"CPU": 2.0}, {"auto_device": True}, 0, 2),  # auto, no GPU: CPU workers
        ({"CPU": 8.0, "GPU": 2.0}, {"gpu": True, "workers": 3}, 1, 3),  # --workers wins
    ],
)
def test_workers_ask_for_what_the_device_needs(
    tmp_path: Path, resources: dict[str, float], opts: dict[str, Any], gpus: int, workers: int
) -> None:
    sched, ray = _scheduler(tmp_path, resources, **opts)
    worker = [kw for name, kw in ray.actor_options if name == "Worker"]
    assert len(worker) == 1
    assert worker[0]["num_gpus"] == gpus and worker[0]["num_cpus"] == 1
    assert worker[0]["max_restarts"] > 0 and worker[0]["max_task_retries"] > 0  # a dead worker is retried
    assert sched.max_workers == workers
    assert sched.opts.gpu == bool(gpus)
