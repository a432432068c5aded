"""The engine's state across frames, seen through its public API: the background memory after a camera
move, inpainted pixels carried on (no flicker) and overridden by real observations, and the caller's
copies of the output frames.
"""

from __future__ import annotations

import numpy as np

from lecinpaint import Config, Engine

from ._synth import texture


def _engine(**kw) -> Engine:
    kw.setdefault("dilation", 0)
    kw.setdefault("lookahead", 3)
    kw.setdefault("device", "cpu")
    kw.setdefault("stabilize", 0)
    # One pass, as from a pipe: these tests are about the state a single streaming pass carries (the
    # first-seen plate of a first pass would answer the never-seen core from the future).
    kw.setdefault("plate", "off")
    return Engine(Config(**kw))


def _pan_scene(n_static: int = 10, n_pan: int = 14, speed: int = 2):
    """A still camera that then pans right (the scene moves left), with a hole at the right edge.

    The world is a dark texture with a bright line in the last column of the still view. The hole
    (rows 20..43, the last 16 columns) is open in frames 0..4, so the background memory learns the
    line there, and closed from frame 5 on. The last column is never a source of nearest-sampled
    propagation, so there the memory is what fills the hole while the camera is still. After the pan
    what enters the hole at the right edge is dark, and a memory that was not reset would paint the
    stale line back (which the flow then carries across the hole).
    """
    h, w = 64, 96
    world = (texture(h, w + speed * n_pan + 8, seed=5).astype(np.int32) * 100 // 255).astype(np.uint8)
    world[20:44, w - 1] = 250
    frames, masks, truth = [], [], []
    for t in range(n_static + n_pan):
        x = 0 if t < n_static else speed * (t - n_static + 1)
        clean = np.ascontiguousarray(world[:, x : x + w])
        m = np.zeros((h, w), bool)
        if t >= 5:
            m[20:44, w - 16 :] = True
        f = clean.copy()
        f[m] = 0
        frames.append(f)
        masks.append(m)
        truth.append(clean)
    return frames, masks, truth


def test_background_memory_is_forgotten_when_the_camera_moves() -> None:
    frames, masks, truth = _pan_scene()
    outs = list(_engine().run(frames, masks=masks))
    assert len(outs) == len(frames)
    for t in range(17, 24):
        m = masks[t]
        assert truth[t][m].max() <= 100  # the line has left the hole by now
        # The stale line (250) must not come back; what is there is dark, like the scene.
        assert outs[t][m].max() < 180, (t, int(outs[t][m].max()))
        assert np.abs(outs[t][m].astype(int) - truth[t][m]).mean() < 10


def test_background_memory_is_kept_while_the_camera_is_still() -> None:
    # The same scene without the pan: the memory (and propagation) give the line back exactly.
    frames, masks, truth = _pan_scene(n_static=24, n_pan=0)
    outs = list(_engine().run(frames, masks=masks))
    for t in range(5, 24):
        assert np.array_equal(outs[t][masks[t]], truth[t][masks[t]]), t


def _never_seen_scene(n: int = 14):
    """A still scene whose hole is never uncovered in its core and changes shape around it; the known
    pixels flicker in brightness from frame to frame (as a camera's noise and exposure do)."""
    h, w = 48, 64
    base = texture(h, w, seed=7).astype(np.int32)
    frames, masks = [], []
    for t in range(n):
        m = np.zeros((h, w), bool)
        m[12:36, 24:40] = True  # the core: hidden in every frame
        m[12 + (t % 3) * 4 : 20 + (t % 3) * 4, 40 : 44 + 4 * (t % 4)] = True  # an arm that moves
        f = np.clip(base + (7 * t) % 23 - 11, 0, 255).astype(np.uint8)
        f[m] = 0
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_inpainted_pixels_are_carried_on_not_inpainted_anew() -> None:
    frames, masks = _never_seen_scene()
    outs = list(_engine().run(frames, masks=masks))
    core = np.zeros(masks[0].shape, bool)
    core[12:36, 24:40] = True
    # Frame 0's inpainting of the core is carried to every later frame: no flicker, although the
    # surroundings that a fresh inpainting would read change every frame.
    for t in range(1, len(outs)):
        assert np.array_equal(outs[t][core], outs[0][core]), t
    # ... and a fresh inpainting would have differed (the test's premise).
    assert not np.array_equal(frames[1][~masks[1]], frames[0][~masks[1]])


def test_real_pixels_beat_earlier_inpainting() -> None:
    # The core is hidden (and inpainted) in frames 0..7, uncovered in frame 8, hidden again after: from
    # then on the real background is shown, not the earlier inpainting.
    frames, masks = _never_seen_scene(16)
    core = np.zeros(masks[0].shape, bool)
    core[12:36, 24:40] = True
    clean = [f.copy() for f in frames]
    truth8 = np.clip(texture(48, 64, seed=7).astype(np.int32) + (7 * 8) % 23 - 11, 0, 255).astype(np.uint8)
    masks[8] = masks[8] & ~core
    frames[8] = clean[8]
    frames[8][core] = truth8[core]
    outs = list(_engine(lookahead=2).run(frames, masks=masks))
    inpainted = outs[0][core]
    assert np.abs(inpainted.astype(int) - truth8[core]).mean() > 10  # inpainting is visibly different
    for t in range(9, 16):
        # The still scene's background as last seen (frame 8), not frame 0's inpainting.
        assert np.array_equal(outs[t][core], truth8[core]), t


def test_the_caller_gets_its_own_frames() -> None:
    # Writing into a frame the engine gave out must not change what it gives out next (the engine
    # keeps the last finished frame as its forward state and its background memory).
    frames, masks = _never_seen_scene(12)
    expected = list(_engine().run(frames, masks=masks))
    got = []
    for out in _engine().run(frames, masks=masks):
        got.append(out.copy())
        out[:] = 255  # a caller that reuses the buffer, e.g. to draw on it
    for t, (a, b) in enumerate(zip(got, expected)):
        assert np.array_equal(a, b), t
    # Every frame given out is a writable array of its own.
    outs = list(_engine().run(frames, masks=masks))
    for i in range(1, len(outs)):
        assert outs[i].flags.writeable and not np.shares_memory(outs[i], outs[i - 1]), i
