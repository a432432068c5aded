"""Flow estimators: convention (a(p) ~ b(p + f_ab(p))), working resolution, up-sampling, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.flow import DISFlow, make_flow, upsample_flow

from ._synth import texture


def _pair(dx: int, dy: int = 0, h: int = 96, w: int = 128):
    tex = texture(h + 40, w + 40, seed=3)
    a = np.ascontiguousarray(tex[20 : 20 + h, 20 : 20 + w])
    # b(p) = a(p - d): the content moves by d, so a(p) = b(p + d) and the flow a->b is +d.
    b = np.ascontiguousarray(tex[20 - dy : 20 - dy + h, 20 - dx : 20 - dx + w])
    return a, b


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_dis_convention_and_working_size(scale):
    a, b = _pair(3, -2)
    est = DISFlow("medium", scale)
    flows = est.pair(est.prepare(a), est.prepare(b))
    h, w = est.working_size(96, 128)
    assert flows.shape == (2, 2, h, w) and flows.dtype == torch.float32
    inner = flows[..., h // 8 : -h // 8, w // 8 : -w // 8]
    fwd = inner[0].flatten(1).median(dim=1).values / scale
    bwd = inner[1].flatten(1).median(dim=1).values / scale
    assert fwd.tolist() == pytest.approx([3.0, -2.0], abs=0.25)
    assert bwd.tolist() == pytest.approx([-3.0, 2.0], abs=0.25)


def test_upsample_flow_scales_values_and_crops():
    small = torch.zeros(2, 2, 30, 40)
    small[:, 0] = 1.5
    small[:, 1] = -0.5
    full = upsample_flow(small, (60, 80))
    assert full.shape == (2, 2, 60, 80)
    assert torch.allclose(full[:, 0], torch.full((2, 60, 80), 3.0))
    assert torch.allclose(full[:, 1], torch.full((2, 60, 80), -1.0))
    box = upsample_flow(small, (60, 80), (10, 30, 5, 25))
    assert box.shape == (2, 2, 20, 20)
    # A linear flow field is reproduced at the right full-resolution positions.
    ys, xs = torch.meshgrid(torch.arange(30.0), torch.arange(40.0), indexing="ij")
    lin = torch.stack((xs, ys))[None]  # u = x_small: at full res u = 2 * ((x + 0.5) / 2 - 0.5)
    up = upsample_flow(lin, (60, 80), (0, 60, 2, 78))
    x_full = torch.arange(2, 78, dtype=torch.float32)
    assert torch.allclose(up[0, 0, 30], 2 * ((x_full + 0.5) / 2 - 0.5), atol=1e-4)
    # Same size: returned as is.
    assert torch.equal(upsample_flow(small, (30, 40)), small)


def test_make_flow_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown flow"):
        make_flow("farneback")
    with pytest.raises(ValueError, match="preset"):
        make_flow("dis", preset="slow")
    with pytest.raises(ValueError, match="scale"):
        make_flow("dis", scale=0.0)
    # FlowNet2 without its checkpoint: a clear error that names the file.
    monkeypatch.setenv("LECINPAINT_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FileNotFoundError, match="FlowNet2_checkpoint.pth.tar"):
        make_flow("flownet2")
