"""The pointers of a pair at the hole pixels only (CPU) against the ops over the whole box: identical."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.propagation import pair_pointers_at, pair_pointers_box


def _flows(rng: np.random.Generator, bh: int, bw: int, kind: str) -> torch.Tensor:
    if kind == "smooth":  # a camera move plus noise: most checks pass, some fail near the threshold
        base = rng.normal(0, 3, (2, 1, 1))
        f = np.concatenate([base + rng.normal(0, 1.5, (2, bh, bw)), -base + rng.normal(0, 1.5, (2, bh, bw))])
    elif kind == "halves":  # whole and half pixels: the rounding ties of rint and exact bilinear taps
        f = rng.integers(-6, 7, (4, bh, bw)) / 2.0
    else:  # wild: smooth, with flows far out of the box, NaN and inf sprinkled in
        f = np.concatenate([np.full((2, bh, bw), 1.0), np.full((2, bh, bw), -1.0)])
        f += rng.normal(0, 0.5, (4, bh, bw))
        f[:, : bh // 3] = rng.normal(0, 40, (4, bh // 3, bw))
        f.reshape(-1)[rng.choice(f.size, 20, replace=False)] = np.nan
        f.reshape(-1)[rng.choice(f.size, 20, replace=False)] = np.inf
        f.reshape(-1)[rng.choice(f.size, 20, replace=False)] = -1e30
    return torch.from_numpy(f.reshape(2, 2, bh, bw).astype(np.float32))


@pytest.mark.parametrize("kind", ["smooth", "halves", "wild"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pointers_at_the_hole_equal_the_ops_over_the_box(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 70, 97
    y0, y1, x0, x1 = 5, 5 + int(rng.integers(2, 60)), 3, 3 + int(rng.integers(2, 90))
    flows = _flows(rng, y1 - y0, x1 - x0, kind)
    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    idx_a = torch.from_numpy(np.flatnonzero(inside & (rng.random((h, w)) < 0.5)))
    idx_b = torch.from_numpy(np.flatnonzero(inside & (rng.random((h, w)) < 0.5)))
    threshold = float(rng.choice([0.5, 2.0, 5.0]))
    ref_a, ref_b = pair_pointers_box(flows, (y0, y1, x0, x1), w, idx_a, idx_b, threshold)
    idx = torch.cat((idx_a, idx_b))
    rows = torch.cat((torch.zeros_like(idx_a), torch.ones_like(idx_b)))
    got = pair_pointers_at(flows, (y0, y1, x0, x1), w, idx, rows, threshold)
    assert torch.equal(got, torch.cat((ref_a, ref_b)))
    # Not vacuous: both outcomes occur.
    assert bool((got >= 0).any()) and bool((got < 0).any())


def test_pointers_follow_a_known_shift() -> None:
    """Independent of both: a pure shift by (+2, -1) that the reverse flow undoes exactly."""
    h, w = 20, 30
    box = (0, h, 0, w)
    flows = torch.zeros(2, 2, h, w)
    flows[0, 0], flows[0, 1] = 2.0, -1.0
    flows[1, 0], flows[1, 1] = -2.0, 1.0
    idx = torch.tensor([5 * w + 5, 10 * w + 27, 0 * w + 4])  # the second lands outside, the third above
    got = pair_pointers_at(flows, box, w, idx, torch.zeros_like(idx), 1.0)
    assert got.tolist() == [4 * w + 7, -1, -1]
