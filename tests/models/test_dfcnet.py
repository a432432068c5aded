"""DFC-Net: layout against DFGVI's checkpoints, loading, the stage-1/2/3 helpers, the Laplace pre-fill."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from lecinpaint.models._weights import CheckpointError, CheckpointNotFoundError
from lecinpaint.models.dfcnet import (
    DFC_CHECKPOINTS,
    DFCNet,
    complete_flows,
    dfcnet,
    laplace_fill,
    load_dfc,
)

from ._refs import functional_dfcnet


def _realistic_weights(model: nn.Module, seed: int = 5) -> nn.Module:
    """He-initialised convolutions and non-trivial BatchNorm statistics.

    DFGVI's own initialisation (N(0, 0.01)) shrinks the signal to ~1e-4 by layer4, which would let a
    wiring error in the trunk hide under the head's bias; these weights keep activations O(1).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


@pytest.fixture(scope="module")
def stage1() -> DFCNet:
    torch.manual_seed(0)
    return _realistic_weights(dfcnet("1"))


@pytest.fixture
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    env_dir, hub_dir = tmp_path / "weights", tmp_path / "hub"
    env_dir.mkdir()
    hub_dir.mkdir()
    monkeypatch.setenv("LECINPAINT_WEIGHTS", str(env_dir))
    # torch.hub.set_dir sticks for the whole session; snapshot its state so that teardown restores it
    # (None: follow $TORCH_HOME) rather than pinning the old directory.
    monkeypatch.setattr(torch.hub, "_hub_dir", getattr(torch.hub, "_hub_dir", None), raising=False)
    torch.hub.set_dir(str(hub_dir))
    return env_dir, hub_dir


# ----------------------------------------------------------------------------------------------------
# Layout: DFGVI's ResNet uses torchvision's ResNet key names, so torchvision is an independent reference


@pytest.mark.parametrize(
    ("stage", "tv_builder", "cin", "cout", "n_params", "mib"),
    [
        ("1", torchvision.models.resnet50, 33, 2, 37_004_930, 141),
        ("2", torchvision.models.resnet50, 66, 4, 37_108_676, 142),
        ("movie", torchvision.models.resnet101, 33, 2, None, None),
    ],
)
def test_keys_and_shapes_match_the_release(  # noqa: ANN001
    stage, tv_builder, cin, cout, n_params, mib
) -> None:
    with torch.device("meta"):
        model = dfcnet(stage)
        ref = tv_builder(weights=None).state_dict()
    sd = model.state_dict()
    backbone = {k: v for k, v in sd.items() if not k.startswith("layer5.")}
    expected = {k: tuple(v.shape) for k, v in ref.items() if not k.startswith("fc.")}
    expected["conv1.weight"] = (64, cin, 7, 7)
    expected["conv1.bias"] = (64,)  # DFGVI's conv1 has a bias, torchvision's does not
    assert {k: tuple(v.shape) for k, v in backbone.items()} == expected
    head = {k: tuple(v.shape) for k, v in sd.items() if k.startswith("layer5.")}
    if stage == "movie":
        assert head == {"layer5.conv1.weight": (cout, 2048, 1, 1), "layer5.conv1.bias": (cout,)}
    else:
        assert head == {
            "layer5.conv1.weight": (256, 2048, 5, 5),
            "layer5.conv1.bias": (256,),
            "layer5.conv2.weight": (128, 256, 3, 3),
            "layer5.conv2.bias": (128,),
            "layer5.conv3.weight": (cout, 128, 1, 1),
            "layer5.conv3.bias": (cout,),
        }
        assert sum(p.numel() for p in model.parameters()) == n_params
        # the released files are ~141 / ~142 MiB of float32 state
        nbytes = sum(v.numel() * v.element_size() for v in sd.values())
        assert round(nbytes / 2**20) == mib
    # stage 3 is stage 2's architecture
    if stage == "2":
        with torch.device("meta"):
            s3 = dfcnet("3").state_dict()
        assert {k: v.shape for k, v in s3.items()} == {k: v.shape for k, v in sd.items()}


def test_backbone_is_caffe_style_dilated_output_stride_8(stage1: DFCNet) -> None:
    b = stage1.layer2[0]
    assert b.conv1.stride == (2, 2) and b.conv2.stride == (1, 1)  # stride on the first 1x1
    assert stage1.conv1.kernel_size == (7, 7) and stage1.conv1.stride == (2, 2)
    assert stage1.conv1.bias is not None
    assert stage1.maxpool.ceil_mode and stage1.maxpool.kernel_size == 3 and stage1.maxpool.stride == 2
    assert all(blk.conv2.dilation == (2, 2) and blk.conv2.padding == (2, 2) for blk in stage1.layer3)
    assert all(blk.conv2.dilation == (4, 4) and blk.conv2.padding == (4, 4) for blk in stage1.layer4)
    with torch.no_grad():  # the backbone alone: the head is what costs at this size
        stem = stage1.maxpool(stage1.relu(stage1.bn1(stage1.conv1(torch.randn(1, 33, 68, 44)))))
        feats = stage1.layer4(stage1.layer3(stage1.layer2(stage1.layer1(stem))))
    assert stem.shape[-2:] == (18, 12)  # ceil_mode: 34 -> 18 (floor would give 17)
    assert feats.shape[1:] == (2048, 9, 6)  # output stride 8


def test_forward_matches_functional_reference(stage1: DFCNet) -> None:
    x = torch.randn(1, 33, 36, 44, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        out = stage1(x)
        ref = functional_dfcnet(stage1.state_dict(), x, (3, 4, 6, 3), "multi")
    assert out.shape == (1, 2, 36, 44) and float(ref.std()) > 0.1
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_single_scale_head_matches_functional_reference(stage1: DFCNet) -> None:
    # the movie variant's head on stage 1's (ResNet-50) trunk: no second random ResNet to build
    g = torch.Generator().manual_seed(7)
    state = {k: v for k, v in stage1.state_dict().items() if not k.startswith("layer5.")}
    state["layer5.conv1.weight"] = torch.randn(2, 2048, 1, 1, generator=g) * 0.05
    state["layer5.conv1.bias"] = torch.randn(2, generator=g)
    with torch.device("meta"):
        single = DFCNet(33, 2, 50, "single")
    single.load_state_dict(state, assign=True)
    x = torch.randn(1, 33, 20, 28, generator=g)
    with torch.no_grad():
        out = single(x)
        ref = functional_dfcnet(state, x, (3, 4, 6, 3), "single")
    assert out.shape == (1, 2, 20, 28) and float(ref.std()) > 0.1
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_batchnorm_stays_frozen_in_train_mode(stage1: DFCNet) -> None:
    x = torch.randn(1, 33, 24, 24)
    with torch.no_grad():
        ref = stage1(x)
        stage1.train()
        try:
            assert all(not m.training for m in stage1.modules() if isinstance(m, nn.BatchNorm2d))
            out = stage1(x)
            stats = stage1.bn1.running_mean.clone()
        finally:
            stage1.eval()
    assert torch.equal(out, ref)
    assert torch.equal(stats, stage1.bn1.running_mean)


# ----------------------------------------------------------------------------------------------------
# Checkpoints in DFGVI's format: {'n_iter', 'model'} with DataParallel's 'module.' prefix


@pytest.fixture(scope="module")
def stage1_checkpoint(stage1: DFCNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("dfc") / "resnet50_stage1.pth"
    torch.save({"n_iter": 120000, "model": {"module." + k: v for k, v in stage1.state_dict().items()}}, path)
    yield path
    path.unlink(missing_ok=True)


def test_checkpoint_round_trip_gives_identical_outputs(stage1: DFCNet, stage1_checkpoint: Path) -> None:
    loaded = load_dfc(stage1_checkpoint, stage=1)
    assert isinstance(loaded, DFCNet) and not loaded.training
    a, b = stage1.state_dict(), loaded.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(1, 33, 24, 32)
    with torch.no_grad():
        assert torch.equal(stage1(x), loaded(x))


def test_checkpoint_from_old_torch_without_num_batches_tracked(stage1: DFCNet, tmp_path: Path) -> None:
    state = {
        "module." + k: v for k, v in stage1.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    p = tmp_path / "resnet50_stage1.pth"
    torch.save({"n_iter": 1, "model": state}, p)
    loaded = load_dfc(tmp_path, stage="1")  # a directory: the usual file name is used
    p.unlink()
    assert torch.equal(loaded.layer4[2].bn3.running_var, stage1.layer4[2].bn3.running_var)
    assert int(loaded.bn1.num_batches_tracked) == 0


def test_wrong_variant_and_malformed_files_are_rejected(stage1_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"shape mismatches: conv1\.weight"):
        load_dfc(stage1_checkpoint, stage=2)
    torch.save({"n_iter": 0, "model": {"module.conv1.weight": torch.zeros(64, 33, 7, 7)}}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: .*layer1\.0\.conv1\.weight"):
        load_dfc(tmp_path / "x.pth", stage=1)
    torch.save({"n_iter": 0, "model": {"module.conv1.weight": [1, 2]}}, tmp_path / "y.pth")
    with pytest.raises(CheckpointError, match="expected layout"):
        load_dfc(tmp_path / "y.pth", stage=1)
    with pytest.raises(ValueError, match="stage"):
        load_dfc(stage1_checkpoint, stage=4)


def test_missing_checkpoint_error(isolated_dirs: tuple[Path, Path]) -> None:
    env_dir, hub_dir = isolated_dirs
    for stage in ("1", "2", "3", "movie"):
        name = DFC_CHECKPOINTS[stage][0]
        with pytest.raises(CheckpointNotFoundError) as info:
            load_dfc(stage=stage)
        msg = str(info.value)
        assert name in msg
        assert str(env_dir / name) in msg and str(hub_dir / "checkpoints" / name) in msg
        assert "nbei/Deep-Flow-Guided-Video-Inpainting" in msg


# ----------------------------------------------------------------------------------------------------
# complete() / refine(): the inputs DFGVI's loaders build, and the blending


def _capture(model: DFCNet, monkeypatch: pytest.MonkeyPatch, pred_fn) -> list[torch.Tensor]:  # noqa: ANN001
    seen: list[torch.Tensor] = []

    def fake_forward(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return pred_fn(x)

    monkeypatch.setattr(model, "forward", fake_forward)
    return seen


def _flows_masks(t: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    flows = torch.randn(t, 2, h, w, generator=g) * 3
    masks = torch.zeros(t, 1, h, w, dtype=torch.bool)
    for i in range(t):
        masks[i, 0, 4 + i : 12 + i, 6 : 14 + i] = True
    return flows, masks


def test_complete_builds_clipped_33_channel_windows(stage1: DFCNet, monkeypatch: pytest.MonkeyPatch) -> None:
    t_all, h, w = 7, 24, 32
    flows, masks = _flows_masks(t_all, h, w)
    seen = _capture(stage1, monkeypatch, lambda x: torch.zeros(x.shape[0], 2, *x.shape[-2:]))
    # frame index as the "filled" flow, so the window order can be read back from the input
    def marker(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.arange(f.shape[0], dtype=f.dtype).view(-1, 1, 1, 1).expand_as(f) + 0.25

    stage1.complete(flows, masks, targets=[0, 3, 6], prefill=marker, batch_size=2)
    x = torch.cat(seen)
    assert x.shape == (3, 33, h // 2, w // 2)  # half resolution
    half_masks = torch.nn.functional.interpolate(masks.float(), size=(h // 2, w // 2), mode="nearest")
    for row, t in enumerate([0, 3, 6]):
        for k in range(11):
            src = min(max(t - 5 + k, 0), t_all - 1)
            assert torch.all(x[row, 3 * k] == src + 0.25) and torch.all(x[row, 3 * k + 1] == src + 0.25)
            assert torch.equal(x[row, 3 * k + 2], half_masks[src, 0])


def test_complete_blends_inside_hole_only_and_rescales(
    stage1: DFCNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    t_all, h, w = 3, 24, 40
    flows, masks = _flows_masks(t_all, h, w, seed=1)
    pred = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1)
    seen = _capture(stage1, monkeypatch, lambda x: pred.expand(x.shape[0], 2, *x.shape[-2:]).clone())
    out = stage1.complete(flows, masks)
    assert out.shape == (t_all, 2, h, w)
    m = masks.expand_as(flows)
    assert torch.equal(out[~m], flows[~m])
    # the network ran at 12 x 20: its flow is in those pixels, twice as large at full size
    assert seen[0].shape[-2:] == (12, 20)
    assert torch.allclose(out[:, 0][masks[:, 0]], torch.tensor(3.0))
    assert torch.allclose(out[:, 1][masks[:, 0]], torch.tensor(-1.0))


def test_complete_prefills_the_hole_with_laplace_at_half_resolution(
    stage1: DFCNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, w = 32, 48
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    flow = torch.stack((0.2 * xs + 1, -0.1 * ys))[None]  # linear: harmonic, so the fill reproduces it
    mask = torch.zeros(1, 1, h, w, dtype=torch.bool)
    mask[..., 8:24, 12:36] = True
    corrupted = flow.masked_fill(mask.expand_as(flow), 50.0)
    seen = _capture(stage1, monkeypatch, lambda x: torch.zeros(x.shape[0], 2, *x.shape[-2:]))
    stage1.complete(corrupted, mask)
    x = seen[0][0, 15:17]  # the centre frame's (u, v)
    small = torch.nn.functional.interpolate(flow, size=(16, 24), mode="bilinear", align_corners=False) * 0.5
    torch.testing.assert_close(x, small[0], atol=0.02, rtol=0)


def test_refine_builds_66_channels_and_splits_directions() -> None:
    model = _StubDFC(66, 4, _const([1.0, 2.0, -3.0, -4.0]))
    t_all, h, w = 4, 24, 32
    fwd, masks = _flows_masks(t_all, h, w, seed=2)
    bwd = -fwd + 0.5
    f_out, b_out = model.refine(fwd, bwd, masks, targets=[1, 2], size=(h, w))
    x = model.seen[0]
    assert x.shape == (1, 66, h, w)
    for k in range(11):
        src = min(max(1 - 5 + k, 0), t_all - 1)
        assert torch.equal(x[0, 3 * k : 3 * k + 2], fwd[src])
        assert torch.equal(x[0, 3 * k + 2], masks[src, 0].float())
        assert torch.equal(x[0, 33 + 3 * k : 33 + 3 * k + 2], bwd[src])
    m = masks[[1, 2]].expand(-1, 2, -1, -1)
    assert torch.equal(f_out[~m], fwd[[1, 2]][~m]) and torch.equal(b_out[~m], bwd[[1, 2]][~m])
    assert torch.all(f_out[:, 0][m[:, 0]] == 1.0) and torch.all(b_out[:, 1][m[:, 0]] == -4.0)
    with pytest.raises(ValueError, match="stage-1"):
        model.complete(fwd, masks)


def test_complete_real_network_small(stage1: DFCNet) -> None:
    flows, masks = _flows_masks(2, 32, 48, seed=3)
    out = stage1.complete(flows, masks)
    assert out.shape == (2, 2, 32, 48) and torch.isfinite(out).all()
    m = masks.expand_as(flows)
    assert torch.equal(out[~m], flows[~m])
    assert not torch.allclose(out[m], flows[m])
    with pytest.raises(ValueError, match="masks must be"):
        stage1.complete(flows, masks[:1])
    with pytest.raises(IndexError, match="outside"):
        stage1.complete(flows, masks, targets=[2])


class _StubDFC(DFCNet):
    """A DFCNet whose network is replaced by ``fn``; records its inputs (no ResNet is built)."""

    def __init__(self, cin: int, cout: int, fn) -> None:  # noqa: ANN001
        nn.Module.__init__(self)
        self.in_channels, self.out_channels, self.fn = cin, cout, fn
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the model a device
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return self.fn(x)


def _const(values: list[float]):  # noqa: ANN202
    v = torch.tensor(values).view(1, -1, 1, 1)
    return lambda x: v.expand(x.shape[0], -1, *x.shape[-2:]).clone()


def test_complete_flows_stage1_only_runs_the_centre_per_direction() -> None:
    t_all, h, w = 11, 24, 32
    fwd, masks = _flows_masks(t_all, h, w, seed=4)
    flows = torch.stack((fwd, fwd * -2 + 1), dim=1)  # (T, 2 directions, 2, h, w)
    s1 = _StubDFC(33, 2, _const([0.5, -1.0]))
    out = complete_flows({1: s1}, flows, masks[:, 0])
    assert out.shape == (2, 2, h, w)
    assert len(s1.seen) == 2 and all(x.shape == (1, 33, 12, 16) for x in s1.seen)
    # the centre entry (channels 15-17) of each call comes from its own direction, at half size
    small_mask = torch.nn.functional.interpolate(masks[5:6].float(), size=(12, 16), mode="nearest")
    known = ~small_mask.bool()[0, 0]
    for d in range(2):
        half = torch.nn.functional.interpolate(flows[5:6, d], size=(12, 16), mode="bilinear") * 0.5
        torch.testing.assert_close(s1.seen[d][0, 15:17][:, known], half[0][:, known])
    hole = masks[5, 0]
    for d in range(2):
        assert torch.equal(out[d][:, ~hole], flows[5, d][:, ~hole])
        assert torch.allclose(out[d, 0][hole], torch.tensor(1.0))
        assert torch.allclose(out[d, 1][hole], torch.tensor(-2.0))


def test_complete_flows_with_refinement_stages() -> None:
    t_all, h, w = 11, 24, 36
    fwd, masks = _flows_masks(t_all, h, w, seed=5)
    flows = torch.stack((fwd, -fwd), dim=1)
    s1 = _StubDFC(33, 2, _const([1.0, 1.0]))
    s2 = _StubDFC(66, 4, _const([2.0, 2.0, -2.0, -2.0]))
    s3 = _StubDFC(66, 4, _const([3.0, 4.0, -5.0, -6.0]))
    out = complete_flows({"1": s1, "2": s2, "3": s3}, flows, masks, batch_size=4)
    # stage 1 and 2 on all 11 pairs (stage 1 once per direction), stage 3 on the centre only
    assert sum(x.shape[0] for x in s1.seen) == 22
    assert sum(x.shape[0] for x in s2.seen) == 11 and s2.seen[0].shape[-2:] == (16, 24)  # 2/3 of 24 x 36
    assert len(s3.seen) == 1 and s3.seen[0].shape == (1, 66, 24, 36)
    # stage 3 sees stage 2's result in the hole of the centre pair (channels 15-16 forward, 48-49 backward)
    hole = masks[5, 0]
    c3 = s3.seen[0][0]
    assert torch.allclose(c3[15][hole], torch.tensor(2.0 * 36 / 24))  # up-sampled, values rescaled
    assert torch.allclose(c3[48][hole], torch.tensor(-2.0 * 24 / 16))
    assert torch.equal(c3[15][~hole], flows[5, 0, 0][~hole])
    assert torch.allclose(out[0, 0][hole], torch.tensor(3.0))
    assert torch.allclose(out[1, 1][hole], torch.tensor(-6.0))
    assert torch.equal(out[1][:, ~hole], flows[5, 1][:, ~hole])
    with pytest.raises(ValueError, match="stage-1"):
        complete_flows({2: s2}, flows, masks)


# ----------------------------------------------------------------------------------------------------
# The default pre-fill against a dense solve of the discrete Laplace equation


def _dense_laplace(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """4-neighbour mean-value equations for the hole pixels, replicate border, solved exactly."""
    h, w = values.shape
    idx = -np.ones((h, w), int)
    pts = np.argwhere(hole)
    idx[hole] = np.arange(len(pts))
    a = np.zeros((len(pts), len(pts)))
    b = np.zeros(len(pts))
    for r, (y, x) in enumerate(pts):
        a[r, r] = 4.0
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            yy, xx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)
            if hole[yy, xx]:
                a[r, idx[yy, xx]] -= 1.0
            else:
                b[r] += values[yy, xx]
    out = values.copy()
    out[hole] = np.linalg.solve(a, b)
    return out


@pytest.mark.parametrize("touch_border", [False, True])
def test_laplace_fill_matches_dense_solve(touch_border: bool) -> None:
    rng = np.random.default_rng(0)
    h, w = 22, 27
    values = rng.normal(size=(h, w))
    hole = np.zeros((h, w), bool)
    hole[5:16, 7:20] = True
    hole[9:12, 3:7] = True
    if touch_border:
        hole[0:6, 20:27] = True
    ref = _dense_laplace(values, hole)
    t = torch.from_numpy(np.stack([values, 2 * values]))[None].float()
    m = torch.from_numpy(hole)[None, None]
    out = laplace_fill(t.clone(), m)
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=0.01)
    np.testing.assert_allclose(out[0, 1].numpy(), 2 * ref, atol=0.02)
    assert torch.equal(out[0, :, ~m[0, 0]], t[0, :, ~m[0, 0]])
