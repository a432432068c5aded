"""The seed tier's wiring (FlowNet2 flow, DFC-Net completion) through the engine.

The networks themselves are tested in tests/models; here small stand-ins with the same interface check
that the engine calls them right (batch of two directions, windows, latency, errors), quickly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint import Config, Engine

from ._synth import translating


class _StubFlowNet2(torch.nn.Module):
    """FlowNet2.estimate's interface: (N, 3, H, W) RGB pairs -> (N, 2, H, W) flow; here the true motion."""

    def __init__(self, dx: float) -> None:
        super().__init__()
        self.dx = dx
        self.calls: list[tuple[int, ...]] = []

    def estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(img0.shape))
        n, _, h, w = img0.shape
        flow = torch.zeros(n, 2, h, w)
        flow[0, 0] = self.dx  # a -> b
        flow[1, 0] = -self.dx  # b -> a
        return flow


def test_flownet2_flow_through_the_engine(monkeypatch):
    import lecinpaint.models.flownet2 as fn2

    stub = _StubFlowNet2(-2.0)
    monkeypatch.setattr(fn2, "load_flownet2", lambda path=None, device="cpu": stub)
    frames, masks, truth = translating(20, speed=2)
    eng = Engine(Config(flow="flownet2", flownet2_weights="unused", dilation=0, lookahead=4, device="cpu"))
    outs = list(eng.run(frames, masks=masks))
    assert len(outs) == 20
    assert stub.calls and all(c[0] == 2 and c[2:] == frames[0].shape[:2] for c in stub.calls)
    exact = [float((o[m] == g[m]).all(axis=1).mean()) for o, g, m in zip(outs, truth, masks)]
    assert min(exact[10:]) == 1.0


def test_flownet2_missing_checkpoint_is_a_clear_error_at_construction(tmp_path, monkeypatch):
    monkeypatch.setenv("LECINPAINT_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FileNotFoundError, match="FlowNet2_checkpoint.pth.tar"):
        Engine(Config(flow="flownet2"))


class _StubDFC:
    """DFCNet's complete()/refine() interface; returns the flows as given (the hole stays as filled)."""

    def __init__(self, stage: int) -> None:
        self.stage = stage
        self.windows: list[int] = []

    def eval(self) -> _StubDFC:
        return self

    def complete(self, flows, masks, targets, *, prefill=None, **kw):
        self.windows.append(flows.shape[0])
        filled = prefill(flows, masks.unsqueeze(1) if masks.dim() == 3 else masks)
        return filled[list(targets)]

    def refine(self, fwd, bwd, masks, targets, *, size=None, **kw):
        self.windows.append(fwd.shape[0])
        return fwd[list(targets)], bwd[list(targets)]


@pytest.mark.parametrize("stages", [(1,), (1, 2), (1, 2, 3)])
def test_dfc_completion_through_the_engine(monkeypatch, stages):
    import lecinpaint.models.dfcnet as dfc

    made: dict[int, _StubDFC] = {}

    def load(path=None, stage=1, device="cpu"):
        made[int(stage)] = _StubDFC(int(stage))
        return made[int(stage)]

    monkeypatch.setattr(dfc, "load_dfc", load)
    weights = {s: f"stage{s}.pth" for s in stages}
    frames, masks, _ = translating(14, speed=2)
    cfg = Config(completion="dfc", dfc_weights=weights, dilation=0, lookahead=3, stabilize=0, device="cpu")
    eng = Engine(cfg)
    assert eng.lookahead == 3 + 5 * len(stages)
    outs = list(eng.run(frames, masks=masks))
    assert len(outs) == 14
    for o, f, m in zip(outs, frames, masks):
        assert np.array_equal(o[~m], f[~m])
    assert set(made) == set(stages)
    assert all(w == 11 for s in made.values() for w in s.windows)  # 11-pair windows, clipped at the ends


def test_dfc_stage3_without_stage2_is_rejected(monkeypatch):
    import lecinpaint.models.dfcnet as dfc

    monkeypatch.setattr(dfc, "load_dfc", lambda path=None, stage=1, device="cpu": _StubDFC(int(stage)))
    with pytest.raises(ValueError, match="stage 3"):
        Engine(Config(completion="dfc", dfc_weights={1: "a", 3: "c"}))
