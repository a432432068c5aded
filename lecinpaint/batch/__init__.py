"""Many lectures, and long lectures, on Ray: the ``lecinpaint batch`` command.

Modules (Ray itself is imported only when a batch runs, so ``import lecinpaint`` never needs it):
    lecinpaint.batch.plan      inputs (files, folders, globs), output names, chunks with pre- and post-roll
    lecinpaint.batch.decode    frame timestamps and frame-exact decoding of a range of a video
    lecinpaint.batch.record    completion records (what a rerun skips)
    lecinpaint.batch.worker    the per-worker engine: prepare a video, inpaint a chunk, join the chunks
    lecinpaint.batch.runner    the Ray side: cluster, actors, scheduling, progress, the summary table
    lecinpaint.batch.command   the command line
"""

from __future__ import annotations

__all__: list[str] = []
