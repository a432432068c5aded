"""Backward chains of the streaming propagator, pixel by pixel, on a still scene with exact (zero) flows.

Every hole pixel of frame k follows its chain k -> k+1 -> ... until it lands on a known pixel; which
pixel of the next frame's hole a chain stands on is an index among that frame's hole pixels, so the
first hole pixel (index 0) and the last are the edge cases checked here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.propagation import UNKNOWN, PairFlows, StreamingPropagator, unpack_rgb


def _still(n: int, holes: list[np.ndarray], lookahead: int) -> list:
    h, w = holes[0].shape
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    prop = StreamingPropagator(lookahead=lookahead, threshold=1.0)
    done = []
    for t in range(n):
        frame = scene.copy()
        frame[holes[t]] = 0
        pair = None if t == 0 else PairFlows(torch.zeros(2, 2, h, w), (0, h, 0, w))
        prop.push(torch.from_numpy(frame), torch.from_numpy(holes[t]), pair)
        while prop.ready():
            p = prop.pop()
            done.append((p, scene))
            # Commit the frame without the forward result, so only the backward chains can fill it.
            prop.commit(p, p.frame, torch.full_like(p.src, UNKNOWN))
    prop.finish()
    while prop.ready():
        p = prop.pop()
        done.append((p, scene))
        prop.commit(p, p.frame, torch.full_like(p.src, UNKNOWN))
    return done


@pytest.mark.parametrize("chain_length", [1, 2, 3])
def test_every_hole_pixel_follows_its_chain_to_the_first_frame_that_shows_it(chain_length: int) -> None:
    h, w = 6, 7
    hole = np.zeros((h, w), bool)
    hole[0, 0] = True  # flat index 0: the first hole pixel of every frame it is hidden in
    hole[2:4, 3:5] = True
    hole[h - 1, w - 1] = True  # the last pixel of the frame (never a nearest-sampling source)
    holes = [hole] * chain_length + [np.zeros((h, w), bool)] * 2
    done = _still(len(holes), holes, lookahead=chain_length)
    for p, scene in done[:chain_length]:
        idx = p.hole_idx
        truth = torch.from_numpy(scene).reshape(-1, 3)[idx]
        known = p.src != UNKNOWN
        # Every pixel but the last one of the frame is found, in the first frame that shows it.
        last = idx == h * w - 1
        assert bool(known[~last].all()), (p.index, idx[~known].tolist())
        assert not bool(known[last].any())
        assert torch.equal(unpack_rgb(p.values)[known], truth[known])
        assert set(p.src[known].tolist()) == {chain_length}
