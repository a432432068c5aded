"""Around the lecturer's feet (``lecinpaint.figure.near_feet`` in the whole-lecturer stage), on scenes with
known answers: a shoe apart from the leg is found, strokes written low on the board and a tray that changes
are not.

Scenes and the stub person model are those of ``test_lecturer``.
"""

from __future__ import annotations

import numpy as np
import pytest

from lecinpaint import figure, lecturer
from lecinpaint.masks import dilate
from tests.test_lecturer import H, SHIRT, TROUSERS, W, _board, _Figure, _run, assert_no_ink

# The figure's feet end at row 226; the look back (and so this cue's wait) covers the first 12 frames.
_SETTLED = 12


def _walk_with_a_shoe_apart(n: int) -> tuple[list, list, list]:
    """A figure walking right, the model finding head, torso and legs but not the rear shoe: 12x7 px on
    the floor, 20 px behind the rear leg (its ankle too thin for anyone to see)."""
    board = _board()
    scenes, bodies, shoes = [], [], []
    for t in range(n):
        fig = _Figure(60 + 6 * t, stride=3)
        frame, body, _ = fig.draw(board)
        rear = fig.x - 10 - fig.stride
        shoe = np.zeros((H, W), bool)
        shoe[219:226, rear - 32 : rear - 20] = True
        frame[shoe] = TROUSERS
        scenes.append((frame, body.copy()))  # the model: the whole figure but the shoe
        bodies.append(body | shoe)
        shoes.append(shoe)
    return scenes, bodies, shoes


def test_a_shoe_apart_from_the_leg_is_in_the_hole() -> None:
    scenes, bodies, shoes = _walk_with_a_shoe_apart(28)
    holes = _run(scenes)
    for t in range(_SETTLED + 1, 28):
        left = int((shoes[t] & ~holes[t]).sum())
        assert left == 0, f"frame {t}: {left} px of the shoe outside the hole"
    # Nothing far from the figure (the zone is the feet's neighbourhood, not the floor), but for a while
    # the shoe of the last frame before the cue starts: the picture recorded it as board, so where it
    # stood differs from the picture, which learns the board there once it leaves the zone.
    far = [int((holes[t] & ~dilate(bodies[t], 30)).sum()) for t in range(28)]
    assert max(far) <= int(shoes[0].sum()) and not any(far[20:]), far


def test_without_the_feet_cue_the_shoe_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scene is what the test above says it is: the board cue alone (thick parts touching the body)
    leaves the shoe out."""
    monkeypatch.setattr(lecturer, "near_feet", lambda *a, **k: None)
    scenes, _, shoes = _walk_with_a_shoe_apart(20)
    holes = _run(scenes)
    assert all((shoes[t] & ~holes[t]).sum() > 60 for t in range(_SETTLED + 1, 20))


def test_strokes_written_low_next_to_the_feet_never_become_hole() -> None:
    """A lecturer stands; strokes (2 px wide) appear just above the tray on both sides of the legs, within
    the feet's zone: none of them is hole."""
    rng = np.random.default_rng(5)
    board = _board()
    fig = _Figure(150)
    written = np.zeros((H, W), bool)
    scenes, ink = [], []
    for t in range(30):
        if t >= _SETTLED:
            for _ in range(2):
                length = int(rng.integers(8, 20))
                y = int(rng.integers(178, 198 - 2))
                x = int(rng.choice([rng.integers(80, 128 - length), rng.integers(172, 230)]))
                if rng.random() < 0.5:
                    written[y : y + 2, x : x + length] = True
                else:
                    written[y : min(y + length, 198), x : x + 2] = True
        b = board.copy()
        b[written] = (30, 40, 150)
        frame, body, _ = fig.draw(b)
        scenes.append((frame, body))
        ink.append(written & ~dilate(body, 4))
    assert_no_ink(_run(scenes), ink, least=500)


def test_strokes_next_to_a_close_up_never_become_hole() -> None:
    """A close-up: the lecturer's body runs out of the frame's bottom, and strokes (3 px wide) appear
    next to its lowest pixels. No feet are in view, so nothing is looked for around them."""
    rng = np.random.default_rng(7)
    board = _board()
    board[200:206] = board[190:196]  # no tray in a close-up
    body = np.zeros((H, W), bool)
    yy, xx = np.mgrid[0:H, 0:W]
    body |= (yy - 70) ** 2 + (xx - 160) ** 2 <= 22**2
    body[90:, 130:190] = True
    written = np.zeros((H, W), bool)
    scenes, ink = [], []
    for t in range(30):
        if t >= _SETTLED:
            for _ in range(2):
                length = int(rng.integers(10, 25))
                y = int(rng.integers(206, 236))
                x = int(rng.choice([rng.integers(80, 124 - length), rng.integers(196, 240)]))
                written[y : y + 3, x : x + length] = True
        b = board.copy()
        b[written] = (30, 40, 150)
        frame = b.astype(np.uint8)
        frame[body] = SHIRT
        scenes.append((frame, body))
        ink.append(written & ~dilate(body, 4))
    assert_no_ink(_run(scenes), ink, least=500)


def test_a_tray_that_changes_along_its_length_is_not_a_foot() -> None:
    """The tray brightens along its whole length (a shadow leaves it) next to a standing lecturer: a
    structure that runs on beyond the feet's zone is not added."""
    board = _board()
    fig = _Figure(150)
    scenes = []
    for t in range(20):
        b = board.copy()
        if t >= 16:
            b[200:206] = (150, 150, 155)
        frame, body, _ = fig.draw(b)
        scenes.append((frame, body))
    holes = _run(scenes)
    body = fig.draw(board)[1]
    tray = np.zeros((H, W), bool)
    tray[200:206] = True
    # The board cue's floor under the feet covers the tray under the legs; elsewhere it stays board.
    far = tray & ~dilate(body, 12)
    for t in (16, 17):
        assert not (holes[t] & far).any(), f"frame {t}: {(holes[t] & far).sum()} tray pixels in the hole"


def test_near_feet_known_answers() -> None:
    """The function alone: a blob on the floor beside the feet is kept, whole; one high above the floor,
    a speck, one that runs on from above the zone, a line through the zone and anything outside it are
    not."""
    body = np.zeros((H, W), bool)
    body[50:150, 140:160] = True  # a figure 100 px tall, feet at row 150, columns 140-159
    raw = np.zeros((H, W), bool)
    raw[140:150, 110:122] = True  # a shoe 18 px left of the feet
    raw[122:127, 170:182] = True  # within the zone (it starts at row 120) but 24 px above the floor
    raw[146:148, 175:178] = True  # a speck thinner than the opening
    raw[155:158, :] = True  # a line through the whole zone (a rail)
    raw[100:148, 190:194] = True  # down to the floor, but from high above the zone (a pointer, a pipe)
    raw[140:150, 20:32] = True  # outside the zone (40 px to the side)
    raw[60:70, 100:110] = True  # far above it
    out = figure.near_feet(raw, body)
    assert out is not None
    want = np.zeros((H, W), bool)
    want[140:150, 110:122] = True
    np.testing.assert_array_equal(out, want)
    # The zone reaches 15 % of the figure's height below its lowest row, to the frame's edges.
    low = np.zeros((H, W), bool)
    low[158:165, 150:162] = True  # a shoe below the model's outline
    edge = np.zeros((H, W), bool)
    edge[140:150, 0:6] = True
    body2 = np.zeros((H, W), bool)
    body2[50:150, 30:45] = True  # a figure whose zone reaches the frame's left edge
    np.testing.assert_array_equal(figure.near_feet(low, body), low)
    np.testing.assert_array_equal(figure.near_feet(edge, body2), edge)
    # Nothing to stand on (no standing figure) or nothing that differs: no answer.
    assert figure.near_feet(raw, np.zeros((H, W), bool)) is None
    assert figure.near_feet(np.zeros((H, W), bool), body) is None
