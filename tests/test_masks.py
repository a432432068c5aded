"""Hole masks: dilation against a brute-force disc, the temporal stabiliser's known answers, user-given
mask folders and videos, and frame-rate reduction."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from lecinpaint.masks import FrameRateReducer, MaskSource, MaskStabilizer, default_dilation, dilate

# --------------------------------------------------------------------------------------------------
# dilate
# --------------------------------------------------------------------------------------------------


def _dilate_reference(mask: np.ndarray, radius: int) -> np.ndarray:
    """Every pixel within Euclidean distance `radius` of a hole pixel, by exhaustive search."""
    h, w = mask.shape
    out = np.zeros((h, w), bool)
    holes = np.argwhere(mask)
    for y in range(h):
        for x in range(w):
            if holes.size:
                d2 = (holes[:, 0] - y) ** 2 + (holes[:, 1] - x) ** 2
                out[y, x] = d2.min() <= radius * radius
    return out


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8, 30])
@pytest.mark.parametrize("density", [0.02, 0.2])
def test_dilate_matches_brute_force_disc(radius: int, density: float) -> None:
    rng = np.random.default_rng(radius * 100 + int(density * 100))
    mask = rng.random((19, 23)) < density
    mask[0, 5] = True  # holes on the border: the disc is clipped by the frame, not shifted
    mask[18, 22] = True
    got = dilate(mask, radius)
    assert got.dtype == np.bool_ and got.shape == mask.shape
    np.testing.assert_array_equal(got, _dilate_reference(mask, radius))


def test_dilate_single_pixel_is_a_disc_of_the_right_area() -> None:
    mask = np.zeros((41, 41), bool)
    mask[20, 20] = True
    got = dilate(mask, 10)
    # lattice points in a closed disc of radius 10 (Gauss circle problem): 317
    assert int(got.sum()) == 317
    assert got[20, 10] and got[20, 30] and got[14, 28] and not got[13, 28]  # 6²+8²=100 in, 7²+8² out


def test_dilate_edge_cases() -> None:
    empty = np.zeros((7, 9), bool)
    full = np.ones((7, 9), bool)
    assert not dilate(empty, 5).any()
    assert dilate(full, 3).all()
    one = np.zeros((7, 9), bool)
    one[3, 4] = True
    np.testing.assert_array_equal(dilate(one, 0), one)
    assert dilate(one, 0) is not one  # a copy: the caller's mask is never aliased
    # non-bool input: any nonzero is a hole
    np.testing.assert_array_equal(dilate(one.astype(np.uint8) * 255, 2), dilate(one, 2))
    before = one.copy()
    dilate(one, 4)
    np.testing.assert_array_equal(one, before)


@pytest.mark.parametrize("radius", [-1, 2.5])
def test_dilate_rejects_bad_radius(radius: float) -> None:
    with pytest.raises(ValueError, match="radius"):
        dilate(np.zeros((4, 4), bool), radius)  # type: ignore[arg-type]


def test_dilate_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        dilate(np.zeros((4, 4, 1), bool), 1)


def test_default_dilation_scales_with_resolution() -> None:
    r480 = default_dilation(480, 854)
    assert 10 <= r480 <= 15  # DFGVI's advice at its ~480p
    sizes = [(240, 432), (336, 600), (480, 854), (720, 1280), (1080, 1920), (2160, 3840)]
    radii = [default_dilation(h, w) for h, w in sizes]
    assert radii == sorted(radii) and radii[-1] > 3 * radii[2]
    assert default_dilation(1080, 1920) == default_dilation(1920, 1080)  # portrait video alike
    assert default_dilation(1, 1) >= 1
    with pytest.raises(ValueError, match="positive"):
        default_dilation(0, 10)


# --------------------------------------------------------------------------------------------------
# MaskStabilizer
# --------------------------------------------------------------------------------------------------

H, W = 60, 80


def _person(arm: bool = True) -> np.ndarray:
    """A body block, with an arm sticking out to the right when `arm`."""
    p = np.zeros((H, W), np.float32)
    p[10:55, 20:40] = 0.9
    if arm:
        p[20:26, 40:62] = 0.8
    return p


def _run(stab: MaskStabilizer, probs: list[np.ndarray]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for p in probs:
        out += stab.push(p)
    return out + stab.flush()


def test_stabiliser_fills_a_one_frame_dropout_of_an_arm() -> None:
    probs = [_person() for _ in range(7)]
    probs[3] = _person(arm=False)
    out = _run(MaskStabilizer(lookahead=2), probs)
    expected = _person() > 0.5
    for t, m in enumerate(out):
        np.testing.assert_array_equal(m, expected, err_msg=f"frame {t}")


def test_stabiliser_fills_dropouts_up_to_lookahead_frames() -> None:
    probs = [_person() for _ in range(8)]
    probs[3] = probs[4] = _person(arm=False)  # two frames lost
    out1 = _run(MaskStabilizer(lookahead=1), probs)
    out2 = _run(MaskStabilizer(lookahead=2), probs)
    assert not out1[3][22, 50]  # a gap longer than the lookahead is not bridged
    assert out2[3][22, 50] and out2[4][22, 50]


def test_stabiliser_removes_a_one_frame_speck_and_keeps_persistent_parts() -> None:
    probs = [_person() for _ in range(5)]
    for p in probs:
        p[50:53, 70:73] = 1.0  # a small part that is there in every frame (a hand, a marker)
    probs[2] = probs[2].copy()
    probs[2][2:5, 2:5] = 1.0  # a false positive in one frame only
    out = _run(MaskStabilizer(lookahead=1), probs)
    assert not out[2][2:5, 2:5].any()
    for m in out:
        assert m[50:53, 70:73].all()
        assert m[10:55, 20:40].all()


def test_stabiliser_keeps_a_person_who_appears_for_one_frame() -> None:
    # large components are never specks, even without support in neighbouring frames
    probs = [np.zeros((H, W), np.float32) for _ in range(3)]
    probs[1] = _person()
    out = _run(MaskStabilizer(lookahead=1), probs)
    np.testing.assert_array_equal(out[1], _person() > 0.5)
    assert not out[0].any() and not out[2].any()


def test_stabiliser_removes_tiny_specks_even_when_they_persist() -> None:
    probs = [_person() for _ in range(3)]
    for p in probs:
        p[2, 2] = 1.0  # one pixel: below tiny_fraction of the frame
    out = _run(MaskStabilizer(lookahead=1, tiny_fraction=0.001), probs)
    assert not any(m[2, 2] for m in out)


def test_stabiliser_fills_small_enclosed_holes_only() -> None:
    p = np.zeros((H, W), np.float32)
    p[5:55, 5:75] = 1.0
    p[10:13, 10:13] = 0.0  # 9 px hole: filled
    p[20:50, 30:70] = 0.0  # 1200 px hole (25% of the frame): a real gap, kept
    out = _run(MaskStabilizer(lookahead=0, hole_fraction=0.01), [p])
    assert out[0][10:13, 10:13].all()
    assert not out[0][20:50, 30:70].any()
    # holes open to the frame border are background, not holes
    q = np.zeros((H, W), np.float32)
    q[:, 10:20] = 1.0
    q[0:3, 12:15] = 0.0
    out = _run(MaskStabilizer(lookahead=0, hole_fraction=0.01), [q])
    assert not out[0][0:3, 12:15].any()


def test_stabiliser_adds_no_ghost_where_a_person_only_leaves_or_arrives() -> None:
    probs = []
    for t in range(6):
        p = np.zeros((H, W), np.float32)
        p[10:50, 5 + 12 * t : 15 + 12 * t] = 1.0  # disjoint positions, moving right
        probs.append(p)
    out = _run(MaskStabilizer(lookahead=2), probs)
    for p, m in zip(probs, out):
        np.testing.assert_array_equal(m, p > 0.5)


@pytest.mark.parametrize("lookahead", [0, 1, 3])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_stabiliser_emits_one_mask_per_frame_in_order(lookahead: int, n: int) -> None:
    stab = MaskStabilizer(lookahead=lookahead)
    assert stab.lookahead == lookahead
    probs = []
    for t in range(n):
        p = np.zeros((H, W), np.float32)
        p[5:40, 3 + 15 * t : 13 + 15 * t] = 1.0
        probs.append(p)
    out: list[np.ndarray] = []
    for t, p in enumerate(probs):
        got = stab.push(p)
        # latency is exactly `lookahead` frames
        assert len(got) == (1 if t >= lookahead else 0)
        out += got
    out += stab.flush()
    assert len(out) == n
    for p, m in zip(probs, out):
        assert m.dtype == np.bool_
        np.testing.assert_array_equal(m, p > 0.5)
    # reusable after flush
    assert len(_run(stab, probs[:1])) == 1


def test_stabiliser_accepts_bool_masks_and_checks_input() -> None:
    stab = MaskStabilizer(lookahead=0)
    m = _person() > 0.5
    (out,) = stab.push(m)
    np.testing.assert_array_equal(out, m)
    with pytest.raises(ValueError, match="size"):
        stab.push(np.zeros((H + 1, W), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        MaskStabilizer().push(np.zeros((H, W, 1), np.float32))
    with pytest.raises(ValueError, match="lookahead"):
        MaskStabilizer(lookahead=-1)
    with pytest.raises(ValueError, match="threshold"):
        MaskStabilizer(threshold=1.5)
    with pytest.raises(ValueError, match="speck_fraction"):
        MaskStabilizer(speck_fraction=2.0)


# --------------------------------------------------------------------------------------------------
# MaskSource
# --------------------------------------------------------------------------------------------------


def _random_masks(n: int, h: int = 24, w: int = 32, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((h, w)) < 0.3 for _ in range(n)]


def test_mask_folder_natural_order_formats_and_channels(tmp_path: Path) -> None:
    masks = _random_masks(4)
    names = ["m2.png", "m10.bmp", "m1.png", "m3.tif"]  # natural order: m1, m2, m3, m10
    order = {"m1.png": 0, "m2.png": 1, "m3.tif": 2, "m10.bmp": 3}
    for name in names:
        m = masks[order[name]]
        if name.endswith(".bmp"):  # 3-channel, the hole only in the red channel
            img = np.zeros(m.shape + (3,), np.uint8)
            img[..., 2] = m * 200
        else:
            img = m.astype(np.uint8) * 1  # value 1 is a hole too: any nonzero counts
        cv2.imwrite(str(tmp_path / name), img)
    (tmp_path / "notes.txt").write_text("not a mask")
    src = MaskSource(tmp_path)
    assert len(src) == 4 and not src.is_video
    got = list(src)
    assert len(got) == 4
    for g, m in zip(got, masks):
        assert g.dtype == np.bool_
        np.testing.assert_array_equal(g, m)


def test_mask_folder_jpeg_uses_a_half_threshold(tmp_path: Path) -> None:
    m = np.zeros((32, 48), bool)
    m[8:24, 10:30] = True
    cv2.imwrite(str(tmp_path / "0.jpg"), m.astype(np.uint8) * 255, [cv2.IMWRITE_JPEG_QUALITY, 60])
    (got,) = list(MaskSource(tmp_path))
    # compression ringing around the block must not turn into hole
    assert np.mean(got != m) < 0.01
    assert not got[0:4, :].any()


def test_mask_video_lossless(tmp_path: Path) -> None:
    masks = _random_masks(6, 30, 40, seed=1)
    path = tmp_path / "masks.mkv"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (40, 30), isColor=False)
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write FFV1 video")
    for m in masks:
        writer.write(m.astype(np.uint8) * 255)
    writer.release()
    src = MaskSource(path)
    assert src.is_video
    src.check_size(30, 40)
    got = list(src)
    assert len(got) == 6
    for g, m in zip(got, masks):
        np.testing.assert_array_equal(g, m)
    frames = [np.zeros((30, 40, 3), np.uint8)] * 6
    pairs = list(src.pair(frames))
    assert len(pairs) == 6
    np.testing.assert_array_equal(pairs[5][1], masks[5])


def test_mask_source_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MaskSource(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no mask images"):
        MaskSource(empty)
    folder = tmp_path / "masks"
    folder.mkdir()
    for i, m in enumerate(_random_masks(3)):
        cv2.imwrite(str(folder / f"{i}.png"), m.astype(np.uint8) * 255)
    src = MaskSource(folder)
    with pytest.raises(ValueError, match=r"mask 0 .*32x24.*frames are 33x24"):
        src.check_size(24, 33)
    frames = [np.zeros((24, 32, 3), np.uint8)] * 5
    with pytest.raises(ValueError, match="only 3 masks but frame 4 arrived"):
        list(MaskSource(folder).pair(frames))
    wrong = [np.zeros((24, 32, 3), np.uint8), np.zeros((20, 32, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"mask 1 \(file '1.png'\)"):
        list(MaskSource(folder).pair(wrong))
    cv2.imwrite(str(folder / "3.png"), np.zeros((24, 30), np.uint8))
    with pytest.raises(ValueError, match=r"mask 3 \(file '3.png'\) is 30x24 but the first mask is 32x24"):
        list(MaskSource(folder))
    (folder / "3.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read mask image"):
        list(MaskSource(folder))
    notvideo = tmp_path / "x.mp4"
    notvideo.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read mask video"):
        list(MaskSource(notvideo))


# --------------------------------------------------------------------------------------------------
# FrameRateReducer
# --------------------------------------------------------------------------------------------------


def _kept(r: FrameRateReducer, n: int) -> list[int]:
    return [i for i in range(n) if r.keep(i)]


def test_fps_30_to_5_keeps_every_sixth() -> None:
    r = FrameRateReducer(30, 5)
    assert _kept(r, 61) == list(range(0, 61, 6))
    assert r.output_rate == 5


def test_fps_25_to_10_keeps_ten_of_25_evenly() -> None:
    r = FrameRateReducer(25, 10)
    kept = _kept(r, 250)
    assert kept[:5] == [0, 3, 5, 8, 10]
    assert len(kept) == 100
    for start in range(0, 250, 25):
        assert sum(1 for i in kept if start <= i < start + 25) == 10
    assert set(np.diff(kept)) == {2, 3}  # as even as integer frames allow


def test_fps_not_lower_keeps_all() -> None:
    for fps in (30, 60):
        r = FrameRateReducer(30, fps)
        assert _kept(r, 50) == list(range(50))
        assert r.output_rate == 30


def test_fps_ntsc_rates_do_not_drift() -> None:
    r = FrameRateReducer(Fraction(30000, 1001), 5)
    n = 100_000
    kept = _kept(r, n)
    # kept frames are the first at or after each output tick k/5 s: exactly ceil(n * r) of them
    assert len(kept) == math.ceil(n * Fraction(5) / Fraction(30000, 1001))
    assert kept[0] == 0 and set(np.diff(kept)) <= {5, 6}
    assert FrameRateReducer(29.97, 5).keep(6) == FrameRateReducer(Fraction(2997, 100), 5).keep(6)


def test_fps_errors() -> None:
    for bad in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="fps"):
            FrameRateReducer(30, bad)
    with pytest.raises(ValueError, match="input_fps"):
        FrameRateReducer(0, 5)
    with pytest.raises(ValueError, match="index"):
        FrameRateReducer(30, 5).keep(-1)
