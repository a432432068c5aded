"""Streaming propagation on synthetic inputs with exact flows: known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.propagation import (
    INPAINTED,
    UNKNOWN,
    PairFlows,
    StreamingPropagator,
    pack_rgb,
    source_distance,
    unpack_rgb,
)

from ._synth import static, translating


def _flows(h: int, w: int, dx: float, dy: float = 0.0, err: float = 0.0) -> torch.Tensor:
    """Exact flows of a pair whose content moves by (dx, dy): [0] = a->b, [1] = b->a (+ an inconsistency)."""
    f = torch.zeros(2, 2, h, w)
    f[0, 0], f[0, 1] = dx, dy
    f[1, 0], f[1, 1] = -dx + err, -dy
    return f


def _run(frames, masks, flows, lookahead, threshold=3.0, box=None, stop=None):
    """Drive a propagator; the finished frame is the merged result with unknown pixels left as input."""
    h, w = masks[0].shape
    prop = StreamingPropagator(lookahead=lookahead, threshold=threshold)
    done = []

    def drain():
        while prop.ready():
            p = prop.pop()
            out = p.frame.clone().reshape(h * w, 3)
            out[p.hole_idx] = unpack_rgb(p.values)
            prop.commit(p, out.reshape(h, w, 3), p.src)
            done.append(p)
            assert prop.pending() <= lookahead + 1

    for t, (f, m) in enumerate(zip(frames, masks)):
        if stop is not None and t >= stop:
            break
        pair = None if t == 0 else PairFlows(flows(t), box or (0, h, 0, w))
        prop.push(torch.from_numpy(f), torch.from_numpy(m), pair)
        drain()
    prop.finish()
    drain()
    return done


def _check_exact(done, truth):
    """Every pixel with a known source holds exactly the hidden truth; returns the known fraction."""
    fractions = []
    for p in done:
        g = torch.from_numpy(truth[p.index]).reshape(-1, 3)[p.hole_idx]
        known = p.src != UNKNOWN
        assert torch.equal(unpack_rgb(p.values)[known], g[known]), f"frame {p.index}: wrong value propagated"
        fractions.append(float(known.float().mean()) if known.numel() else 1.0)
    return fractions


def test_translating_pattern_recovered_exactly():
    frames, masks, truth = translating(24, speed=2)
    h, w = masks[0].shape
    done = _run(frames, masks, lambda t: _flows(h, w, -2.0), lookahead=4)
    assert [p.index for p in done] == list(range(24))
    fractions = _check_exact(done, truth)
    # The hole moves right by 1 px/frame while the content moves left by 2: after the first few frames
    # every hidden pixel was seen in an earlier frame (forward state) and is recovered exactly.
    assert min(fractions[12:]) == 1.0
    # The first frame has no past: what it recovers comes from the lookahead window only.
    assert 0.0 < fractions[0] < 1.0


def test_static_scene_forward_state_recovers_everything():
    frames, masks, truth = static(20)
    h, w = masks[0].shape
    done = _run(frames, masks, lambda t: _flows(h, w, 0.0), lookahead=3)
    fractions = _check_exact(done, truth)
    assert min(fractions[8:]) == 1.0


def test_lookahead_zero_is_forward_only():
    frames, masks, truth = translating(6, speed=2)
    h, w = masks[0].shape
    done = _run(frames, masks, lambda t: _flows(h, w, -2.0), lookahead=0)
    assert len(done) == 6
    assert bool((done[0].src == UNKNOWN).all())  # nothing before frame 0, nothing after is looked at
    _check_exact(done, truth)


def test_backward_sources_come_from_the_window_only():
    # Frame 0 recovers exactly the pixels revealed within frames 1..L (content moves 3 px/frame
    # relative to the hole: L frames reveal 3L columns of the hole's right side).
    frames, masks, truth = translating(12, speed=2)
    h, w = masks[0].shape
    for lookahead in (1, 2, 4):
        done = _run(frames, masks, lambda t: _flows(h, w, -2.0), lookahead=lookahead)
        src = done[0].src
        assert int(src.max()) <= lookahead
        known_cols = torch.unique(done[0].hole_idx[src != UNKNOWN] % w).numel()
        assert known_cols == 3 * lookahead


def test_no_seams_each_frame_depends_only_on_its_window():
    # The result for frame k must not depend on frames after k + L: cutting the stream there gives the
    # same frame k, bit for bit (the same rule everywhere, hence no seams where windows meet).
    frames, masks, truth = translating(20, speed=2)
    h, w = masks[0].shape
    L = 3
    full = _run(frames, masks, lambda t: _flows(h, w, -2.0), lookahead=L)
    for k in (0, 5, 11):
        cut = _run(frames, masks, lambda t: _flows(h, w, -2.0), lookahead=L, stop=k + L + 1)
        assert torch.equal(cut[k].values, full[k].values)
        assert torch.equal(cut[k].src, full[k].src)


def test_merge_temporally_nearest_source_wins():
    # A still camera; a patch shows colour A in frames 0-2, is hidden in frames 3-4, shows B from 5 on.
    h, w = 16, 16
    frames, masks = [], []
    for t in range(8):
        f = np.full((h, w, 3), 50, np.uint8)
        f[4:12, 4:12] = 100 if t < 4 else 200
        m = np.zeros((h, w), bool)
        if t in (3, 4):
            m[4:12, 4:12] = True
            f[m] = 0
        frames.append(f)
        masks.append(m)
    done = _run(frames, masks, lambda t: _flows(h, w, 0.0), lookahead=3)
    # Frame 3: past source at distance 1 (frame 2), future at distance 2 (frame 5): the past wins.
    assert bool((unpack_rgb(done[3].values) == 100).all()) and bool((done[3].src == 2).all())
    # Frame 4: the carried past value is 2 frames old, the future one 1 frame: the future wins.
    assert bool((unpack_rgb(done[4].values) == 200).all()) and bool((done[4].src == 5).all())


@pytest.mark.parametrize("threshold, propagated", [(3.0, False), (40.0, True)])
def test_consistency_threshold_regimes(threshold, propagated):
    # Forward and backward flows disagree by 4 px: a strict (static-camera) threshold rejects the pair,
    # DFGVI's permissive default accepts it.
    frames, masks, truth = static(6)
    h, w = masks[0].shape
    done = _run(frames, masks, lambda t: _flows(h, w, 0.0, err=4.0), lookahead=2, threshold=threshold)
    later = done[3]
    known = later.src != UNKNOWN
    assert bool(known.any()) == propagated


def test_pack_unpack_roundtrip():
    rgb = torch.randint(0, 256, (100, 3), dtype=torch.uint8)
    assert torch.equal(unpack_rgb(pack_rgb(rgb)), rgb)


def test_inpainted_values_lose_to_any_real_source():
    t = 10
    src = torch.tensor([INPAINTED, UNKNOWN, t - 1000, t + 3], dtype=torch.int32)
    d = source_distance(src, t)
    assert d[2] < d[0] < d[1] and d[3] < d[0]


def test_targets_outside_the_box_are_invalid():
    # Flows pointing out of the crop box are treated as invalid, never wrapped around.
    frames, masks, truth = translating(6, speed=2)
    h, w = masks[0].shape
    box = (h // 4, 3 * h // 4, w // 4, w // 2 + 6)  # holds every hole pixel, but little else
    done = _run(frames, masks, lambda t: _flows(h, w, -2.0)[..., box[0]:box[1], box[2]:box[3]].contiguous(),
                lookahead=2, box=box)
    _check_exact(done, truth)


def test_pop_commit_protocol():
    prop = StreamingPropagator(lookahead=0)
    f = torch.zeros(4, 4, 3, dtype=torch.uint8)
    m = torch.zeros(4, 4, dtype=torch.bool)
    prop.push(f, m, None)
    p = prop.pop()
    with pytest.raises(RuntimeError):
        prop.pop()  # the previous frame was not committed
    prop.commit(p, f, p.src)
    prop.finish()
    with pytest.raises(RuntimeError):
        prop.push(f, m, None)
    with pytest.raises(ValueError, match="lookahead"):
        StreamingPropagator(lookahead=-1)


def _reference(frames, masks, shifts, lookahead):
    """DFGVI's rules written out naively (whole-frame loops), for integer camera shifts.

    ``shifts[t]`` = (dy, dx): frame t's content is frame t-1's moved by it, so the flow t-1 -> t is
    (dx, dy) everywhere and t -> t-1 its opposite (consistent); a target is valid when it lies in
    ``[0, H-2] x [0, W-2]`` (nearest sampling's rule). Returns per frame (src, values) over its hole
    pixels in flat order.
    """
    n = len(frames)
    h, w = masks[0].shape

    def valid(y, x):
        return 0 <= y <= h - 2 and 0 <= x <= w - 2

    out = []
    prev_f = prev_s = None
    for k in range(n):
        ys, xs = np.nonzero(masks[k])
        src = np.full(ys.size, UNKNOWN, np.int64)
        val = np.zeros((ys.size, 3), np.uint8)
        last = min(n - 1, k + lookahead)
        for i, (y, x) in enumerate(zip(ys, xs)):
            # Backward: follow the chain through frames k+1 .. k+L.
            b_src, b_val = UNKNOWN, None
            cy, cx = y, x
            for j in range(k + 1, last + 1):
                if not masks[j - 1].any() and not masks[j].any():
                    break  # no flows for this pair
                cy, cx = cy + shifts[j][0], cx + shifts[j][1]
                if not valid(cy, cx):
                    break
                if not masks[j][cy, cx]:
                    b_src, b_val = j, frames[j][cy, cx]
                    break
            # Forward: pull from the previous finished frame.
            f_src, f_val = UNKNOWN, None
            if k > 0:
                py, px = y - shifts[k][0], x - shifts[k][1]
                if valid(py, px):
                    f_src, f_val = int(prev_s[py, px]), prev_f[py, px]
            if abs(f_src - k) <= abs(b_src - k):
                src[i], val[i] = f_src, (f_val if f_val is not None else 0)
            else:
                src[i], val[i] = b_src, b_val
        fin = frames[k].copy()
        s = np.full((h, w), k, np.int64)
        fin[ys, xs] = val
        s[ys, xs] = src
        prev_f, prev_s = fin, s
        out.append((src, val))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_two_stack_window_matches_the_naive_rules(seed):
    rng = np.random.default_rng(seed)
    h, w, n = 12, 16, 24
    lookahead = int(rng.choice([0, 1, 2, 3, 5, 8]))
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    masks = []
    for _ in range(n):
        m = np.zeros((h, w), bool)
        if rng.random() > 0.3:  # some frames have no hole at all
            y0, x0 = rng.integers(0, h - 3), rng.integers(0, w - 3)
            m[y0 : y0 + rng.integers(2, 7), x0 : x0 + rng.integers(2, 9)] = True
        masks.append(m)
    shifts = [(0, 0)] + [tuple(int(v) for v in rng.integers(-1, 2, 2)) for _ in range(n - 1)]

    prop = StreamingPropagator(lookahead=lookahead, threshold=1.0)
    got = []

    def drain():
        while prop.ready():
            p = prop.pop()
            out = p.frame.clone().reshape(h * w, 3)
            out[p.hole_idx] = unpack_rgb(p.values)
            prop.commit(p, out.reshape(h, w, 3), p.src)
            got.append(p)

    for t in range(n):
        pair = None
        if t and (masks[t - 1].any() or masks[t].any()):
            f = torch.zeros(2, 2, h, w)
            f[0, 0], f[0, 1] = shifts[t][1], shifts[t][0]
            f[1] = -f[0]
            pair = PairFlows(f, (0, h, 0, w))
        prop.push(torch.from_numpy(frames[t]), torch.from_numpy(masks[t]), pair)
        drain()
    prop.finish()
    drain()
    ref = _reference(frames, masks, shifts, lookahead)
    assert [p.index for p in got] == list(range(n))
    for p, (src, val) in zip(got, ref):
        assert p.src.tolist() == src.tolist(), f"frame {p.index}: sources differ"
        known = src != UNKNOWN
        assert np.array_equal(unpack_rgb(p.values).numpy()[known], val[known]), f"frame {p.index}"
