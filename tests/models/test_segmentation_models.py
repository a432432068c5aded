"""torchvision FCN / DeepLabV3 person segmenters: file names, the offline cache path, probabilities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import segmentation as tvseg

from lecinpaint.models._weights import CheckpointError, CheckpointNotFoundError
from lecinpaint.models.segmentation import (
    PersonSegmenter,
    checkpoint_name,
    checkpoint_url,
    load_person_segmenter,
)

_ENUMS = {
    "fcn": (tvseg.FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1, tvseg.fcn_resnet101),
    "deeplabv3": (tvseg.DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1, tvseg.deeplabv3_resnet101),
}


@pytest.fixture(scope="module")
def originals() -> dict[str, torch.nn.Module]:
    """Randomly initialised torchvision models with the checkpoint's layout (aux head included)."""
    out = {}
    for seed, (kind, (_, builder)) in enumerate(_ENUMS.items()):
        torch.manual_seed(seed)
        model = builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).eval()
        # random weights give logits in the thousands: tame them so that softmax is not one-hot
        with torch.no_grad():
            model.classifier[-1].weight.mul_(1e-3 if kind == "fcn" else 0.1)
        out[kind] = model
    return out


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty TORCH_HOME; $LECINPAINT_WEIGHTS unset; any download attempt fails the test."""
    monkeypatch.delenv("LECINPAINT_WEIGHTS", raising=False)

    def no_download(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    # A temporary TORCH_HOME, as a user would set it; any directory pinned by torch.hub.set_dir earlier
    # in the session is cleared for the test and restored afterwards.
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert Path(torch.hub.get_dir()) == tmp_path / "hub"
    yield tmp_path / "hub"
    for f in tmp_path.rglob("*.pth"):  # ~200 MB each: do not leave them in pytest's kept directories
        f.unlink()


def _reference_probability(  # noqa: ANN001
    model: torch.nn.Module, weights, frames: np.ndarray, resize: int | None
) -> torch.Tensor:
    """torchvision's own transform for these weights, softmax, person channel, resized back.

    The frames go in as floats in 0..1 (which the transform accepts as they are): given uint8 it would
    round the resized image to integers, a detail of no consequence that we do not reproduce.
    """
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    tf = weights.transforms(resize_size=resize)
    with torch.no_grad():
        logits = model(tf(x))["out"]
    prob = logits.softmax(dim=1)[:, 15:16]  # "person" among the 21 VOC classes
    prob = torch.nn.functional.interpolate(prob, size=frames.shape[1:3], mode="bilinear", align_corners=False)
    return prob[:, 0]


def test_cache_file_names_are_torchvisions() -> None:
    assert checkpoint_name("fcn") == "fcn_resnet101_coco-7ecb50ca.pth"
    assert checkpoint_name("deeplabv3") == "deeplabv3_resnet101_coco-586e9e4e.pth"
    for kind, (weights, _) in _ENUMS.items():
        assert checkpoint_url(kind) == weights.url
        assert checkpoint_name(kind) == Path(weights.url).name
    with pytest.raises(ValueError, match="kind"):
        load_person_segmenter("maskrcnn")


@pytest.mark.parametrize("kind", ["fcn", "deeplabv3"])
def test_loads_from_torch_hub_cache_and_gives_person_probability(
    kind: str, hub: Path, originals: dict[str, torch.nn.Module]
) -> None:
    weights, _ = _ENUMS[kind]
    original = originals[kind]
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(original.state_dict(), hub / "checkpoints" / checkpoint_name(kind))

    seg = load_person_segmenter(kind, None, "cpu", resize=None)
    assert isinstance(seg, PersonSegmenter)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(2, 24, 36, 3), dtype=np.uint8)
    prob = seg(frames)
    assert prob.shape == (2, 24, 36) and prob.dtype == torch.float32
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0
    assert float(prob.std()) > 1e-3  # not a constant: the check below is not vacuous
    ref = _reference_probability(original, weights, frames, resize=None)
    torch.testing.assert_close(prob, ref, atol=1e-5, rtol=1e-4)
    # a single frame, and a (N, 3, H, W) tensor of 0..255 values, are read as the same batch
    batch = seg._as_batch(frames)
    assert torch.equal(seg._as_batch(frames[1]), batch[1:])
    assert torch.equal(seg._as_batch(torch.from_numpy(frames).permute(0, 3, 1, 2)), batch)
    assert torch.equal(batch[0, :, 3, 5], torch.from_numpy(frames[0, 3, 5]).float())


def test_resize_follows_torchvisions_transform(hub: Path, originals: dict[str, torch.nn.Module]) -> None:
    weights, _ = _ENUMS["fcn"]
    original = originals["fcn"]
    path = hub.parent / "my_fcn.pth"
    # an explicit file, saved without the auxiliary head (a model built with aux_loss=False)
    torch.save({k: v for k, v in original.state_dict().items() if not k.startswith("aux_classifier.")}, path)
    seg = load_person_segmenter("fcn", path, "cpu", resize=24)
    frames = np.random.default_rng(1).integers(0, 256, size=(1, 45, 61, 3), dtype=np.uint8)
    ref = _reference_probability(original, weights, frames, resize=24)
    torch.testing.assert_close(seg(frames), ref, atol=1e-5, rtol=1e-4)


def test_missing_weights_error_names_file_place_and_url(hub: Path) -> None:
    for kind in ("fcn", "deeplabv3"):
        with pytest.raises(CheckpointNotFoundError) as info:
            load_person_segmenter(kind)
        msg = str(info.value)
        assert checkpoint_name(kind) in msg
        assert str(hub / "checkpoints" / checkpoint_name(kind)) in msg
        assert checkpoint_url(kind) in msg
    with pytest.raises(CheckpointNotFoundError, match="nowhere.pth"):
        load_person_segmenter("fcn", hub / "nowhere.pth")


def test_wrong_files_are_rejected(hub: Path) -> None:
    p = hub.parent / "x.pth"
    torch.save({"backbone.conv1.weight": torch.zeros(64, 3, 7, 7)}, p)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_person_segmenter("deeplabv3", p)
    p.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_person_segmenter("deeplabv3", p)


def test_input_validation() -> None:
    seg = PersonSegmenter(torch.nn.Identity(), resize=None)
    with pytest.raises(ValueError, match="uint8 RGB"):
        seg(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        seg(torch.zeros(1, 4, 8, 8))
    with pytest.raises(TypeError):
        seg([1, 2, 3])
