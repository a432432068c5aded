"""Background memory and image inpainting of the last holes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.fill import BackgroundMemory, Inpainter
from lecinpaint.propagation import UNKNOWN

from ._synth import static


def test_background_memory_recovers_a_static_scene():
    frames, masks, truth = static(12)
    h, w = masks[0].shape
    mem = BackgroundMemory()
    for t, (f, m) in enumerate(zip(frames, masks)):
        hole = torch.from_numpy(m)
        if t >= 11:
            idx = torch.nonzero(hole.reshape(-1)).squeeze(1)
            val, src = mem.lookup(idx)
            seen = src != UNKNOWN
            assert bool(seen.all())  # the wandering hole uncovered every pixel before
            assert torch.equal(val, torch.from_numpy(truth[t]).reshape(-1, 3)[idx])
            assert int(src.max()) < t
        mem.update(torch.from_numpy(f), hole, t)


def test_background_memory_remembers_last_seen_and_resets():
    mem = BackgroundMemory()
    f0 = torch.full((2, 3, 3), 10, dtype=torch.uint8)
    f1 = torch.full((2, 3, 3), 20, dtype=torch.uint8)
    hole = torch.zeros(2, 3, dtype=torch.bool)
    hole[0, 0] = True
    mem.update(f0, torch.zeros_like(hole), 0)
    mem.update(f1, hole, 1)
    val, src = mem.lookup(torch.tensor([0, 1]))
    assert val[:, 0].tolist() == [10, 20] and src.tolist() == [0, 1]
    mem.reset()
    assert mem.lookup(torch.tensor([0, 1]))[1].tolist() == [UNKNOWN, UNKNOWN]
    # Before any update: nothing known.
    assert BackgroundMemory().lookup(torch.tensor([0]))[1].tolist() == [UNKNOWN]


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_inpainter_keeps_outside_and_fills_flat_colour(scale):
    frame = np.empty((60, 80, 3), np.uint8)
    frame[:] = (30, 140, 220)
    noisy = frame.copy()
    noisy[0, 0] = (1, 2, 3)  # a pixel outside the hole that must survive bit for bit
    hole = np.zeros((60, 80), bool)
    hole[20:45, 30:55] = True
    noisy[hole] = 0
    out = Inpainter("telea", 3, scale)(noisy, hole)
    assert np.array_equal(out[~hole], noisy[~hole])
    assert np.abs(out[hole].astype(int) - frame[hole]).max() <= 4  # Telea is not exact on flat colour


def test_inpainter_edge_cases():
    frame = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    inp = Inpainter("ns", 3, 0.5)
    assert np.array_equal(inp(frame, np.zeros((20, 30), bool)), frame)
    # A hole covering the whole frame: nothing to inpaint from, the frame is returned as is.
    assert np.array_equal(inp(frame, np.ones((20, 30), bool)), frame)
    with pytest.raises(ValueError, match="method"):
        Inpainter("magic")
    with pytest.raises(ValueError, match="scale"):
        Inpainter(scale=2.0)
