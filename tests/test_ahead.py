"""lecinpaint.ahead: a stage run ahead on a worker thread gives what a plain loop gives."""

from __future__ import annotations

import threading
import time

import pytest

from lecinpaint.ahead import ahead


class _Counter:
    """A stateful stage: its result depends on every item it saw before, in order."""

    def __init__(self) -> None:
        self.total = 0
        self.threads: set[str] = set()

    def __call__(self, x: int) -> int:
        self.total = self.total * 31 + x
        self.threads.add(threading.current_thread().name)
        time.sleep(0.001 * (x % 3))  # uneven work, so that the schedules differ
        return self.total


@pytest.mark.parametrize("depth", [1, 2, 7])
def test_same_results_as_a_plain_loop_in_order(depth: int) -> None:
    ref = list(ahead(range(50), _Counter(), depth=0))
    stage = _Counter()
    got = list(ahead(iter(range(50)), stage, depth=depth))
    assert got == ref
    assert stage.threads == {"lecinpaint-ahead"}  # the work ran on the worker


def test_errors_reach_the_consumer_at_their_item() -> None:
    def fn(x: int) -> int:
        if x == 5:
            raise ValueError("bad item 5")
        return x

    seen = []
    with pytest.raises(ValueError, match="bad item 5"):
        for x, _ in ahead(range(10), fn, depth=3):
            seen.append(x)
    assert seen == [0, 1, 2, 3, 4]

    def items():
        yield 1
        raise OSError("the source broke")

    with pytest.raises(OSError, match="source broke"):
        list(ahead(items(), lambda x: x, depth=2))


def test_stopping_early_stops_the_worker() -> None:
    calls = []

    def fn(x: int) -> int:
        calls.append(x)
        return x

    gen = ahead(iter(range(10_000)), fn, depth=3)
    for x, _ in gen:
        if x == 4:
            break
    gen.close()
    time.sleep(0.2)
    n = len(calls)
    assert n <= 4 + 3 + 2, n  # at most depth (and one in flight) beyond what was consumed
    time.sleep(0.2)
    assert len(calls) == n
    assert not [t for t in threading.enumerate() if t.name == "lecinpaint-ahead"]


def test_depth_is_checked() -> None:
    with pytest.raises(ValueError, match="depth"):
        list(ahead([1], lambda x: x, depth=-1))


def test_engine_gives_the_same_frames_with_segmentation_ahead_or_inline() -> None:
    """Own segmentation (the whole-lecturer stage) on a worker thread or on the caller's: identical."""
    import numpy as np

    from lecinpaint import Config, Engine

    rng = np.random.default_rng(0)
    h, w = 120, 160
    board = np.clip(215 + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)
    frames = []
    for t in range(14):
        f = board.copy()
        x = 20 + 8 * t
        f[30:110, x : x + 18] = (50, 60, 140)  # a dark figure walking across
        f[18:32, x + 3 : x + 15] = (200, 160, 130)
        frames.append(f)
    outs = {}
    for depth in (0, 3):
        engine = Engine(Config(segment_ahead=depth, lookahead=4, plate="off", device="cpu"))
        outs[depth] = [(o.copy(), m.copy()) for o, m in engine.run(iter(frames), with_masks=True)]
    assert len(outs[0]) == len(outs[3]) == len(frames)
    assert sum(int(m.any()) for _, m in outs[3]) >= 10  # the figure is found: there is a hole to compare
    for (a, ma), (b, mb) in zip(outs[0], outs[3]):
        assert np.array_equal(ma, mb) and np.array_equal(a, b)


def test_flows_computed_ahead_give_the_frames_of_flows_computed_in_place(monkeypatch) -> None:
    """The pair flows on their worker thread (lecinpaint.flowahead) against the stages computing them
    themselves (the stage removed): identical frames, and each pair's flow computed once, only for the
    pairs that touch a hole (the figure leaves the frame for a while, and the camera shakes)."""
    import numpy as np

    import lecinpaint.engine as engine_mod
    from lecinpaint import Config, Engine

    rng = np.random.default_rng(1)
    h, w = 96, 144
    big = np.clip(200 + rng.normal(0, 12, (h + 8, w + 8, 3)), 0, 255).astype(np.uint8)
    big[40:44] = 60  # a ledge: structure for the flow
    frames, masks = [], []
    for t in range(20):
        dy, dx = (t % 3), (t * 2) % 5
        f = big[dy : dy + h, dx : dx + w].copy()
        m = np.zeros((h, w), bool)
        if not 8 <= t < 13:  # no figure in frames 8..12: those pairs need no flow
            x = 10 + 6 * t
            m[20:80, x : x + 14] = True
            f[m] = (60, 40, 150)
        frames.append(f)
        masks.append(m)

    def run(inline: bool) -> tuple[list[np.ndarray], list[str]]:
        if inline:
            class _Off:
                def __init__(self, *a) -> None: ...

                def stream(self, items, depth):
                    return items

            monkeypatch.setattr(engine_mod, "FlowAhead", _Off)
        else:
            monkeypatch.undo()
        engine = Engine(Config(lookahead=4, plate="off", device="cpu", segment_ahead=3))
        calls: list[str] = []
        pair = engine._flow.pair

        def counted(a, b):
            calls.append(threading.current_thread().name)
            return pair(a, b)

        engine._flow.pair = counted
        return [o.copy() for o in engine.run(iter(frames), masks=iter(masks))], calls

    ref, ref_calls = run(inline=True)
    out, calls = run(inline=False)
    assert len(out) == len(ref) == len(frames)
    for a, b in zip(ref, out):
        assert np.array_equal(a, b)
    # Pairs (t-1, t) touching a hole: t = 1..8 and 13..19 -> 15, computed once each, on the worker.
    assert len(ref_calls) == len(calls) == 15
    assert set(calls) == {"lecinpaint-ahead"} and set(ref_calls) == {"MainThread"}
