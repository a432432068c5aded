"""The optical flow of each pair of frames, computed ahead on a worker thread of its own.

The flow between consecutive frames depends on the two frames only, so it can be computed before the
frames reach the stages that need it. This stage sits between the intake (read, segment) and the
stages after segmentation (``lecinpaint.restore``): a worker thread takes each :class:`Ready` frame,
prepares it for the flow estimator and, when the pair (previous frame, this frame) will be used,
computes its forward and backward flows; the frame then goes on with them attached
(``Ready.flows``). ``restore`` uses the attached flows and computes them itself only for the pairs that
arrive without (none, unless this stage is off).

A pair is used when either frame has a hole: a mask with a pixel set (the dilation never empties a
mask, nor fills an empty one), exactly the test ``restore`` makes, so no flow is computed for nothing.
The stage calls the estimator on one thread, in frame order, with the same inputs as ``restore`` would:
the output is identical whatever the scheduling (``depth=0`` runs it on the caller's thread). The worker
also pulls the frames from the stages before (with given or cached masks, the reading): a frame goes on
as soon as it is ready, so the latency is the engine's lookahead, as on one thread. A source that must
be read on its own threads (a VapourSynth clip) runs the engine with ``segment_ahead=0``. OpenCV's
DIS releases the GIL while it computes, so the pair's flow runs on the second core while the first
propagates earlier frames; with segmentation on a thread of its own too, the operating system shares
the two cores among the three stages.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from lecinpaint.ahead import ahead
from lecinpaint.restore import Ready

__all__ = ["FlowAhead"]


class FlowAhead:
    """Attach to each :class:`Ready` frame the flows of the pair it closes (see the module docstring).

    Args:
        flow: the engine's flow estimator (``prepare(frame)``, ``pair(prep_a, prep_b)``).
        times: the engine's stage times; the work here is counted as ``"flow"``.
    """

    def __init__(self, flow: Any, times: dict[str, float]) -> None:
        self.flow = flow
        self.times = times
        self._prev: tuple[int, Any, bool] | None = None  # (index, prep, has a hole)

    def _work(self, r: Ready) -> Any:
        t0 = time.perf_counter()
        prep = self.flow.prepare(r.frame)
        hole = bool(r.mask.any())
        flows = None
        prev = self._prev
        if prev is not None and prev[0] == r.index - 1 and (prev[2] or hole):
            flows = self.flow.pair(prev[1], prep)
        self._prev = (r.index, prep, hole)
        self.times["flow"] += time.perf_counter() - t0
        return flows

    def stream(self, items: Iterable[Ready], depth: int) -> Iterator[Ready]:
        """``items`` with ``Ready.flows`` set, the work done up to ``depth`` frames ahead on a thread."""
        for r, flows in ahead(items, self._work, depth):
            r.flows = flows
            yield r
