"""DFC-Net completion against a known answer: a stage-1 network whose output is a known constant.

With the head's last convolution zeroed and its bias set to ``b``, DFC-Net predicts ``b`` everywhere on
its grid (half the image size, flows in that grid's pixels), so the completion must give ``b / 0.5`` in
every hole pixel of both directions of every pair, and the input flow outside the hole, in order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lecinpaint.completion import make_completion


@pytest.mark.slow
def test_constant_head_gives_the_constant_inside_the_hole(tmp_path: Path) -> None:
    from lecinpaint.models.dfcnet import dfcnet

    torch.manual_seed(0)
    sd = dfcnet("1").state_dict()
    sd["layer5.conv3.weight"].zero_()
    sd["layer5.conv3.bias"].copy_(torch.tensor([1.5, -0.75]))
    path = tmp_path / "resnet50_stage1.pth"
    torch.save({"n_iter": 0, "model": {"module." + k: v for k, v in sd.items()}}, path)
    comp = make_completion("dfc", weights=str(path))
    h, w = 32, 48
    outs = []
    holes = []
    for t in range(7):
        hole = torch.zeros(h, w, dtype=torch.bool)
        hole[8:24, 10 + t : 30 + t] = True  # a hole that moves
        flows = torch.randn(2, 2, h, w, generator=torch.Generator().manual_seed(t))
        holes.append((flows, hole))
        outs += comp.push(flows, hole, t)
    outs += comp.flush()
    assert [o[2] for o in outs] == list(range(7))
    expected = torch.tensor([3.0, -1.5]).view(2, 1)
    for (f, hh, _), (flows, hole) in zip(outs, holes):
        assert torch.equal(hh, hole)
        for d in range(2):  # forward and backward flow
            torch.testing.assert_close(f[d][:, hole], expected.expand(2, int(hole.sum())), rtol=0, atol=1e-5)
            assert torch.equal(f[d][:, ~hole], flows[d][:, ~hole])
