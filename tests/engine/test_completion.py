"""Flow completion: Laplace fill (exactness on harmonic fields), global motion, streaming wrappers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecinpaint.completion import LaplaceCompletion, fit_global_motion, laplace_fill, make_completion


def _ramp(h=61, w=83):
    ys, xs = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    return torch.stack((0.3 * xs + 2.0, -0.1 * ys + 0.05 * xs))[None]


def test_laplace_fill_reproduces_linear_fields_and_keeps_known_values():
    v = _ramp()
    hole = torch.zeros(1, 1, 61, 83, dtype=torch.bool)
    hole[..., 12:50, 20:70] = True
    noisy = v.clone()
    noisy[hole.expand_as(v)] = 1e3  # whatever is inside the hole is ignored
    out = laplace_fill(noisy, hole)
    assert torch.allclose(out, v, atol=0.02)
    assert torch.equal(out[~hole.expand_as(v)], v[~hole.expand_as(v)])


def test_laplace_fill_is_harmonic():
    # The discrete Laplacian of the result vanishes inside the hole (a membrane through the boundary).
    rng = torch.Generator().manual_seed(0)
    v = torch.rand(1, 1, 40, 50, generator=rng) * 10
    hole = torch.zeros(1, 1, 40, 50, dtype=torch.bool)
    hole[..., 5:35, 8:42] = True
    out = laplace_fill(v, hole, iters=200)
    c = out[..., 1:-1, 1:-1]
    lap = 4 * c - out[..., :-2, 1:-1] - out[..., 2:, 1:-1] - out[..., 1:-1, :-2] - out[..., 1:-1, 2:]
    inner = hole[..., 1:-1, 1:-1]
    assert float(lap[inner].abs().max()) < 0.05


def test_laplace_fill_edge_cases():
    v = torch.randn(2, 2, 8, 8)
    none = torch.zeros(2, 8, 8, dtype=torch.bool)
    assert torch.equal(laplace_fill(v, none), v)
    all_hole = torch.ones(2, 8, 8, dtype=torch.bool)
    assert torch.equal(laplace_fill(v, all_hole), torch.zeros_like(v))
    # 2-D hole broadcast over the batch, more than 4 channels.
    w = torch.randn(1, 6, 16, 16)
    h = torch.zeros(16, 16, dtype=torch.bool)
    h[4:12, 4:12] = True
    out = laplace_fill(w, h)
    assert out.shape == w.shape and torch.isfinite(out).all()


def test_global_motion_ignores_flow_dragged_by_the_lecturer():
    h, w = 60, 80
    flow = np.zeros((2, h, w), np.float32)
    flow[0] = 1.5  # the camera pans by 1.5 px
    flow[:, 20:40, 30:50] = 6.0  # a moving person, not in the hole mask: an outlier region
    coef = fit_global_motion(flow, np.ones((h, w), bool))
    assert coef is not None
    assert coef[:, 0].tolist() == pytest.approx([1.5, 0.0], abs=1e-3)
    assert np.abs(coef[:, 1:]).max() < 1e-4
    assert fit_global_motion(flow, np.zeros((h, w), bool)) is None


def test_laplace_completion_replaces_dragged_flow_near_the_hole():
    h, w = 60, 80
    flows = torch.zeros(2, 2, h, w)
    flows[0, 0], flows[1, 0] = 0.25, -0.25  # a slow pan
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[20:40, 30:50] = True
    flows[:, :, 18:42, 28:52] = 5.0  # the lecturer's motion, inside and just around the hole
    out = LaplaceCompletion(quantize=False).complete(flows, hole)
    assert torch.allclose(out[0, 0, 15:45, 25:55], torch.tensor(0.25), atol=1e-3)
    assert torch.allclose(out[1, 0, 15:45, 25:55], torch.tensor(-0.25), atol=1e-3)
    plain = LaplaceCompletion(global_motion=False).complete(flows, hole)
    assert float(plain[0, 0, 30, 40]) > 1.0  # the plain fill inherits the dragged boundary


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_quantized_motion_carries_the_rounding_error(scale):
    # A slow pan of 0.3 frame px per frame: each pair moves by a whole pixel or none, and the sum of the
    # steps never strays more than half a pixel from the true motion (no drift along chains of copies).
    h, w = 40, 60
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[10:30, 20:40] = True
    comp = LaplaceCompletion(scale=scale)
    total = 0.0
    for t in range(1, 40):
        flows = torch.zeros(2, 2, h, w)
        flows[0, 0], flows[1, 0] = 0.3 * scale, -0.3 * scale
        out = comp.complete(flows, hole)
        step = float(out[0, 0, 20, 30]) / scale
        assert step == round(step) and float(out[1, 0, 20, 30]) / scale == -step
        total += step
        assert abs(total - 0.3 * t) <= 0.5 + 1e-6
    # Noise below the dead zone is a still camera: no step ever.
    comp = LaplaceCompletion(scale=scale)
    for t in range(50):
        flows = torch.zeros(2, 2, h, w)
        flows[0, 0], flows[1, 0] = 0.06 * scale, -0.06 * scale
        assert float(comp.complete(flows, hole)[0, 0, 20, 30]) == 0.0


def test_streaming_interface_passes_empty_pairs_in_order():
    comp = make_completion("laplace")
    assert comp.lookahead == 0
    flows = torch.zeros(2, 2, 8, 8)
    hole = torch.zeros(8, 8, dtype=torch.bool)
    hole[2:5, 2:5] = True
    out = comp.push(flows, hole, "a") + comp.push(None, None, "b") + comp.flush()
    assert [o[2] for o in out] == ["a", "b"]
    assert out[1][0] is None
    with pytest.raises(ValueError, match="unknown completion"):
        make_completion("magic")


@pytest.mark.slow
def test_dfc_completion_streams_with_random_weights(tmp_path):
    # DFC-Net stage 1 with random weights saved in DFGVI's layout: the wrapper loads it strictly and
    # completes every pair once, in order, with a latency of 5 pairs.
    from lecinpaint.models.dfcnet import dfcnet

    torch.manual_seed(0)
    model = dfcnet("1")
    path = tmp_path / "resnet50_stage1.pth"
    torch.save({"n_iter": 0, "model": {"module." + k: v for k, v in model.state_dict().items()}}, path)
    comp = make_completion("dfc", weights=str(path))
    assert comp.lookahead == 5
    h, w = 32, 48
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[8:24, 12:36] = True
    outs = []
    for t in range(8):
        flows = None if t == 3 else torch.full((2, 2, h, w), float(t))
        outs += comp.push(flows, None if flows is None else hole, t)
        assert len(outs) == max(0, t + 1 - 5)
    outs += comp.flush()
    assert [o[2] for o in outs] == list(range(8))
    for t, (f, hh, _) in enumerate(outs):
        if t == 3:
            assert f is None
            continue
        assert f.shape == (2, 2, h, w) and torch.isfinite(f).all()
        assert torch.equal(f[:, :, ~hole], torch.full((2, 2, h, w), float(t))[:, :, ~hole])
