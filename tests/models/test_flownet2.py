"""FlowNet2: layout against NVIDIA's checkpoint, loading, composition, any-size estimation, .flo files.

The network runs on lecinpaint.ops (correlation, resample2d, channelnorm); the references it is
compared with use the slow, independent implementations of tests/models/_refs.py.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lecinpaint.models.flo import read_flo, write_flo
from lecinpaint.models.flownet2 import FLOWNET2_CHECKPOINT, FlowNet2, load_flownet2
from lecinpaint.models._weights import CheckpointError, CheckpointNotFoundError

from ._refs import (
    functional_flownetc,
    functional_flownets,
    functional_flownetsd,
    functional_fusion,
    ref_channelnorm,
    ref_resample2d,
)


@pytest.fixture(scope="module")
def net() -> FlowNet2:
    torch.manual_seed(0)
    return FlowNet2()


@pytest.fixture
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty $LECINPAINT_WEIGHTS directory and an empty torch hub directory."""
    env_dir = tmp_path / "weights"
    hub_dir = tmp_path / "hub"
    env_dir.mkdir()
    hub_dir.mkdir()
    monkeypatch.setenv("LECINPAINT_WEIGHTS", str(env_dir))
    # torch.hub.set_dir sticks for the whole session; snapshot its state so that teardown restores it
    # (None: follow $TORCH_HOME) rather than pinning the old directory.
    monkeypatch.setattr(torch.hub, "_hub_dir", getattr(torch.hub, "_hub_dir", None), raising=False)
    torch.hub.set_dir(str(hub_dir))
    return env_dir, hub_dir


# ----------------------------------------------------------------------------------------------------
# Layout


def test_parameter_counts_and_key_names(net: FlowNet2) -> None:
    sd = net.state_dict()
    assert len(sd) == 220
    assert sum(p.numel() for p in net.parameters()) == 162_518_834
    assert Counter(k.split(".")[0] for k in sd) == {
        "flownets_d": 60,
        "flownetc": 48,
        "flownets_1": 42,
        "flownets_2": 42,
        "flownetfusion": 28,
    }
    counts = {name: sum(p.numel() for p in getattr(net, name).parameters()) for name in
              ("flownetc", "flownets_1", "flownets_2", "flownets_d", "flownetfusion")}
    assert counts == {
        "flownetc": 39_175_298,
        "flownets_1": 38_695_322,
        "flownets_2": 38_695_322,
        "flownets_d": 45_371_666,
        "flownetfusion": 581_226,
    }
    shapes = {
        "flownetc.conv1.0.weight": (64, 3, 7, 7),
        "flownetc.conv_redir.0.weight": (32, 256, 1, 1),
        "flownetc.conv3_1.0.weight": (256, 473, 3, 3),
        "flownets_1.conv1.0.weight": (64, 12, 7, 7),
        "flownets_1.upsampled_flow6_to_5.weight": (2, 2, 4, 4),
        "flownets_d.conv0.0.weight": (64, 6, 3, 3),
        "flownets_d.inter_conv5.0.weight": (512, 1026, 3, 3),
        "flownetfusion.conv0.0.weight": (64, 11, 3, 3),
        "flownetfusion.predict_flow0.weight": (2, 16, 3, 3),
    }
    for k, shape in shapes.items():
        assert tuple(sd[k].shape) == shape, k
    # FlowNetS's flow deconvolutions have no bias, FlowNetC's and FlowNetSD's do.
    assert "flownets_1.upsampled_flow6_to_5.bias" not in sd
    assert "flownets_2.upsampled_flow3_to_2.bias" not in sd
    assert "flownetc.upsampled_flow6_to_5.bias" in sd
    assert "flownets_d.upsampled_flow3_to_2.bias" in sd
    assert not any(k.startswith("module.") for k in sd)
    assert not any(p.requires_grad for p in net.parameters())


# ----------------------------------------------------------------------------------------------------
# The composition of DESIGN.md §4, written independently of the model's forward


def _reference_forward(net: FlowNet2, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    n = img0.shape[0]
    both = torch.cat((img0.reshape(n, 3, -1), img1.reshape(n, 3, -1)), dim=2)
    mean = both.mean(dim=2).view(n, 3, 1, 1)
    x0, x1 = (img0 - mean) / 255.0, (img1 - mean) / 255.0
    x = torch.cat((x0, x1), 1)

    def bil(f: torch.Tensor) -> torch.Tensor:
        return F.interpolate(f, scale_factor=4, mode="bilinear", align_corners=False)

    def near(f: torch.Tensor) -> torch.Tensor:
        return F.interpolate(f, scale_factor=4, mode="nearest")

    def stage_input(flow: torch.Tensor) -> torch.Tensor:
        warped = ref_resample2d(x1, flow)
        return torch.cat((x0, x1, warped, flow / 20.0, ref_channelnorm(x0 - warped)), 1)

    # The sub-networks too are the functional references, run on the model's weights: nothing of the
    # model's own forward code is used.
    sd = net.state_dict()
    fc = bil(functional_flownetc(sd, "flownetc.", x) * 20.0)
    fs1 = bil(functional_flownets(sd, "flownets_1.", stage_input(fc)) * 20.0)
    fs2 = near(functional_flownets(sd, "flownets_2.", stage_input(fs1)) * 20.0)
    fsd = near(functional_flownetsd(sd, "flownets_d.", x) / 20.0)
    fin = torch.cat(
        (
            x0,
            fsd,
            fs2,
            ref_channelnorm(fsd),
            ref_channelnorm(fs2),
            ref_channelnorm(x0 - ref_resample2d(x1, fsd)),
            ref_channelnorm(x0 - ref_resample2d(x1, fs2)),
        ),
        1,
    )
    return functional_fusion(sd, "flownetfusion.", fin)


def test_forward_matches_reference_composition(net: FlowNet2) -> None:
    g = torch.Generator().manual_seed(1)
    img0 = torch.rand(1, 3, 64, 128, generator=g) * 255
    img1 = torch.roll(img0, shifts=(1, 2), dims=(2, 3))
    with torch.no_grad():
        out = net(img0, img1)
        ref = _reference_forward(net, img0, img1)
    assert out.shape == (1, 2, 64, 128)
    assert torch.isfinite(out).all()
    scale = ref.abs().max().item() + 1.0
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize(
    ("name", "reference", "cin", "out_hw"),
    [
        ("flownetc", functional_flownetc, 6, (16, 32)),
        ("flownets_1", functional_flownets, 12, (16, 32)),
        ("flownets_d", functional_flownetsd, 6, (16, 32)),
        ("flownetfusion", functional_fusion, 11, (64, 128)),
    ],
)
def test_subnetworks_match_functional_reference(
    net: FlowNet2, name: str, reference, cin: int, out_hw: tuple[int, int]  # noqa: ANN001
) -> None:
    sub = getattr(net, name)
    x = torch.randn(1, cin, 64, 128, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = sub(x)
        ref = reference(sub.state_dict(), "", x)
    assert out.shape == (1, 2, *out_hw)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * (ref.abs().max().item() + 1.0))


def test_forward_rejects_sizes_not_multiple_of_64(net: FlowNet2) -> None:
    a = torch.zeros(1, 3, 70, 64)
    with pytest.raises(ValueError, match="multiples of 64"):
        net(a, a)
    with pytest.raises(ValueError, match="same shape"):
        net.estimate(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 128))


# ----------------------------------------------------------------------------------------------------
# estimate(): resize to multiples of 64 and back


class _StubFlowNet2(FlowNet2):
    """FlowNet2.estimate around a fake network: records what it is given, returns ``fn(img0, img1)``."""

    def __init__(self, fn) -> None:  # noqa: ANN001
        nn.Module.__init__(self)
        self.fn = fn
        self.seen: list[torch.Tensor] = []

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        self.seen.append(img0.clone())
        return self.fn(img0, img1)


def _cv2_resize(chw: np.ndarray, h: int, w: int) -> np.ndarray:
    """cv2's bilinear resize (pixel-centre aligned) of a (C, H, W) array, an independent reference."""
    return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in chw])


def test_estimate_resizes_frames_and_scales_flow() -> None:
    h, w = 70, 90  # network runs at 128 x 128
    rng = np.random.default_rng(0)
    img0 = torch.from_numpy(rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32))
    img1 = img0.flip(-1)

    def fake(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # a smooth, non-constant flow on the network's grid, in that grid's pixels
        hh, ww = a.shape[-2:]
        ys, xs = torch.meshgrid(
            torch.arange(hh, dtype=a.dtype), torch.arange(ww, dtype=a.dtype), indexing="ij"
        )
        flow = torch.stack((torch.sin(xs / 9.0) * 5 + 3, torch.cos(ys / 7.0) * 4 - 1))
        return flow[None].expand(a.shape[0], -1, -1, -1)

    stub = _StubFlowNet2(fake)
    flow = stub.estimate(img0, img1)
    assert flow.shape == (1, 2, h, w) and flow.dtype == torch.float32
    seen = stub.seen[0]
    assert seen.shape == (1, 3, 128, 128)
    np.testing.assert_allclose(seen[0].numpy(), _cv2_resize(img0[0].numpy(), 128, 128), atol=1e-3)

    net_flow = fake(seen, seen)[0].numpy().astype(np.float32)
    expect = _cv2_resize(net_flow, h, w)
    expect[0] *= w / 128
    expect[1] *= h / 128
    np.testing.assert_allclose(flow[0].numpy(), expect, atol=1e-4)


def test_estimate_constant_flow_scaling_and_unbatched() -> None:
    const = torch.tensor([8.0, -4.0]).view(1, 2, 1, 1)
    stub = _StubFlowNet2(lambda a, b: torch.ones(a.shape[0], 2, *a.shape[-2:]) * const)
    img = torch.zeros(3, 100, 130, dtype=torch.uint8)  # -> 128 x 192
    flow = stub.estimate(img, img)
    assert stub.seen[0].shape == (1, 3, 128, 192)
    assert flow.shape == (2, 100, 130)
    torch.testing.assert_close(flow[0], torch.full((100, 130), 8.0 * 130 / 192))
    torch.testing.assert_close(flow[1], torch.full((100, 130), -4.0 * 100 / 128))


def test_estimate_multiple_of_64_is_plain_forward() -> None:
    out = torch.randn(2, 2, 64, 128)
    stub = _StubFlowNet2(lambda a, b: out)
    img = torch.rand(2, 3, 64, 128) * 255
    flow = stub.estimate(img, img)
    assert torch.equal(flow, out)
    assert torch.equal(stub.seen[0], img)


def test_estimate_real_network_odd_size(net: FlowNet2) -> None:
    g = torch.Generator().manual_seed(2)
    img0 = torch.rand(1, 3, 50, 70, generator=g) * 255
    flow = net.estimate(img0, img0.roll(1, -1))
    assert flow.shape == (1, 2, 50, 70)
    assert torch.isfinite(flow).all()


# ----------------------------------------------------------------------------------------------------
# Checkpoint loading


@pytest.fixture(scope="module")
def checkpoint(net: FlowNet2, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The random model saved in the original layout, under the original name."""
    d = tmp_path_factory.mktemp("flownet2_ckpt")
    path = d / FLOWNET2_CHECKPOINT
    torch.save({"epoch": 0, "state_dict": net.state_dict(), "best_EPE": torch.tensor(2.02)}, path)
    yield path
    path.unlink(missing_ok=True)  # 650 MB: do not leave it in pytest's kept temporary directories


def test_checkpoint_round_trip_gives_identical_outputs(net: FlowNet2, checkpoint: Path) -> None:
    loaded = load_flownet2(checkpoint, device="cpu")
    assert isinstance(loaded, FlowNet2) and not loaded.training
    a, b = net.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    g = torch.Generator().manual_seed(3)
    img0 = torch.rand(1, 3, 64, 64, generator=g) * 255
    img1 = torch.rand(1, 3, 64, 64, generator=g) * 255
    with torch.no_grad():
        assert torch.equal(net(img0, img1), loaded(img0, img1))


def test_checkpoint_found_in_env_dir_then_hub_cache(
    checkpoint: Path, isolated_dirs: tuple[Path, Path]
) -> None:
    env_dir, hub_dir = isolated_dirs
    (hub_dir / "checkpoints").mkdir()
    (hub_dir / "checkpoints" / FLOWNET2_CHECKPOINT).symlink_to(checkpoint)
    m = load_flownet2()  # from the hub cache
    saved = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert torch.equal(m.flownetfusion.conv0[0].weight, saved["flownetfusion.conv0.0.weight"])
    (env_dir / FLOWNET2_CHECKPOINT).write_bytes(b"not a checkpoint")  # env dir wins, and is read
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_flownet2()
    # a directory given explicitly is searched for the usual name
    assert isinstance(load_flownet2(checkpoint.parent), FlowNet2)


def test_missing_checkpoint_error_says_what_where_and_whence(isolated_dirs: tuple[Path, Path]) -> None:
    env_dir, hub_dir = isolated_dirs
    with pytest.raises(CheckpointNotFoundError) as info:
        load_flownet2()
    msg = str(info.value)
    assert FLOWNET2_CHECKPOINT in msg
    assert str(env_dir / FLOWNET2_CHECKPOINT) in msg
    assert str(hub_dir / "checkpoints" / FLOWNET2_CHECKPOINT) in msg
    assert "NVIDIA" in msg and "flownet2-pytorch" in msg and "research-only" in msg

    explicit = env_dir / "elsewhere" / "fn2.pth.tar"
    with pytest.raises(FileNotFoundError, match="fn2.pth.tar"):
        load_flownet2(explicit)


def test_malformed_checkpoints_are_rejected(tmp_path: Path) -> None:
    p = tmp_path / FLOWNET2_CHECKPOINT
    torch.save({"epoch": 1, "best_EPE": 1.0}, p)
    with pytest.raises(CheckpointError, match="expected layout"):
        load_flownet2(p)
    # best_EPE as a numpy scalar (as old training scripts stored it) is read: the error is about keys
    one = {"flownetc.conv1.0.weight": torch.zeros(64, 3, 7, 7)}
    torch.save({"epoch": 1, "state_dict": one, "best_EPE": np.float64(1.5)}, p)
    with pytest.raises(CheckpointError, match=r"missing keys: .*flownetc\.conv1\.0\.bias"):
        load_flownet2(p)
    bad = {"flownetc.conv1.0.weight": torch.zeros(64, 6, 7, 7), "extra": torch.zeros(1)}
    torch.save({"state_dict": bad}, p)
    with pytest.raises(CheckpointError, match=r"unexpected keys: extra.*shape mismatches: flownetc\.conv1"):
        load_flownet2(p)
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_flownet2(p)


# ----------------------------------------------------------------------------------------------------
# .flo files


def test_flo_round_trip_and_byte_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(5, 7, 2)).astype(np.float32)
    p = tmp_path / "a.flo"
    write_flo(p, flow)
    raw = p.read_bytes()
    assert raw[:4] == b"PIEH"
    assert struct.unpack("<ii", raw[4:12]) == (7, 5)
    assert len(raw) == 12 + 5 * 7 * 2 * 4
    # u, v interleaved per pixel, row-major
    assert struct.unpack("<ff", raw[12:20]) == (float(flow[0, 0, 0]), float(flow[0, 0, 1]))
    assert struct.unpack("<f", raw[12 + 8 * 7 : 16 + 8 * 7])[0] == float(flow[1, 0, 0])
    np.testing.assert_array_equal(read_flo(p), flow)


def test_flo_rejects_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "bad.flo"
    p.write_bytes(b"XXXX" + struct.pack("<ii", 2, 2))
    with pytest.raises(ValueError, match="not a .flo"):
        read_flo(p)
    p.write_bytes(b"PIEH" + struct.pack("<ii", 2, 2) + b"\x00" * 8)
    with pytest.raises(ValueError, match="truncated"):
        read_flo(p)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        write_flo(p, np.zeros((2, 2, 3), np.float32))
