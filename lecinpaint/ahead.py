"""Run a stage ahead of the rest, on a thread of its own: the second core's share of the work.

``ahead(items, fn, depth)`` yields ``(item, fn(item))`` in the order of ``items``, computing ``fn`` on a
worker thread up to ``depth`` items ahead of the consumer. ``fn`` is called on one thread, on the items in
order, exactly as a plain loop would call it, so a stateful stage (a segmenter that tracks the lecturer)
gives the same results whatever the scheduling; only the wall-clock time changes. The libraries the
stages spend their time in (mediapipe's graph, OpenCV, NumPy on large arrays, PyTorch) release the GIL,
so the worker and the consumer run on two cores at once.

Errors raised by ``items`` or ``fn`` reach the consumer at the item where they happened. Closing the
generator early (``break``, an exception downstream) stops the worker and waits for it, so nothing
keeps running behind the caller's back (a worker blocked in a read that never returns is a daemon
thread, waited for ``join_timeout`` seconds).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["ahead"]

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


def ahead(
    items: Iterable[T], fn: Callable[[T], R], depth: int = 4, join_timeout: float = 10.0
) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for each item, in order, with ``fn`` run up to ``depth`` items ahead.

    ``depth=0`` runs everything on the caller's thread (no worker), which is also the reference the
    threaded schedule must match.

    Example:
        >>> [r for _, r in ahead(range(5), lambda x: x * x, depth=2)]
        [0, 1, 4, 9, 16]
    """
    if int(depth) != depth or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    if depth == 0:
        for item in items:
            yield item, fn(item)
        return
    q: queue.Queue = queue.Queue(maxsize=int(depth))
    stop = threading.Event()

    def put(entry: object) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if stop.is_set() or not put((item, fn(item), None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, None, exc))
            return
        put(_DONE)

    worker = threading.Thread(target=work, name="lecinpaint-ahead", daemon=True)
    worker.start()
    try:
        while True:
            entry = q.get()
            if entry is _DONE:
                return
            item, result, exc = entry  # type: ignore[misc]
            if exc is not None:
                raise exc
            yield item, result
    finally:
        stop.set()
        # The worker ends at its next item; one blocked in a read that never returns (a pipe nobody
        # writes to any more) is a daemon and must not hold the caller.
        worker.join(timeout=join_timeout)
