"""The engine's state across frames, seen through its public API: the background memory after a camera
move, inpainted pixels carried on (no flicker) and overridden by real observations, and the caller's
copies of the output frames.
"""

from __future__ import annotations

import cv2
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


def _jitter_scene(n: int = 12, shown_at_end: bool = False):
    """A still camera that jitters once by a sub-pixel step, with a hole that grows at the jitter.

    The core C (rows 20..49, columns 40..55) is hidden from frame 0 on, so it is synthesised (or, with
    ``shown_at_end``, taken from the first-seen plate, which sees it in the last frame). The strip A just
    left of it (columns 32..39) is background in frames 0..5, so the background memory holds it, and is
    hidden with C from frame 6 on. Frame 6 is the scene moved left by 0.75 px: a shake too small to
    count as a camera move (the memory is kept), which the flow completion rounds to one whole pixel, so
    every hole pixel of frame 6 pulls from its right neighbour in frame 5. The last column of A (39)
    then pulls the core's filled value (column 40) while the memory holds what was really there.
    """
    h, w = 72, 96
    base = texture(h, w, seed=3)
    shake = np.float32([[1, 0, 0.75], [0, 1, 0]])  # dst(x) = src(x + 0.75): the scene moves left
    moved = cv2.warpAffine(base, shake, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT)
    core = np.zeros((h, w), bool)
    core[20:50, 40:56] = True
    strip = np.zeros((h, w), bool)
    strip[20:50, 32:40] = True
    frames, masks = [], []
    for t in range(n):
        m = np.zeros((h, w), bool)
        if not (shown_at_end and t == n - 1):
            m |= core
            if t >= 6:
                m |= strip
        f = (base if t < 6 else moved).copy()
        f[m] = 0
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_memory_beats_carried_inpainting() -> None:
    frames, masks = _jitter_scene()
    outs = list(_engine().run(frames, masks=masks))
    seen = frames[5][20:50, 39]  # column 39 as last seen, by the memory, in frame 5
    inpainted = outs[5][20:50, 40]  # the synthesised core's edge, which frame 6 pulls into column 39
    assert np.abs(seen.astype(int) - inpainted).max() > 10  # the test's premise: they differ
    # The premise that the shake moved the copies by one pixel: column 38 shows frame 5's column 39.
    assert np.array_equal(outs[6][20:50, 38], seen)
    for t in range(6, len(outs)):
        # What the memory saw beats the inpainting carried over it; later frames carry it on.
        assert np.array_equal(outs[t][20:50, 39], seen), t


def test_memory_beats_the_plate() -> None:
    # The same, with the core shown in the last frame: a first pass's plate fills it from the start,
    # and the memory's value (seen in frame 5, later than the plate's) must beat the plate's relit value
    # carried over column 39. Frames 12.. see the last frame in their lookahead, so only 6..11 count.
    frames, masks = _jitter_scene(n=16, shown_at_end=True)
    eng = _engine(plate="auto")
    outs = list(eng.run(frames, masks=masks))
    assert eng.plate is not None and eng.plate.failures == 0
    seen = frames[5][20:50, 39]
    plated = outs[5][20:50, 40]
    assert np.abs(seen.astype(int) - plated).max() > 10  # the premise: the plate's value differs
    for t in range(6, 12):
        assert np.array_equal(outs[t][20:50, 39], seen), t
