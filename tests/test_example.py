"""The synthetic example lecture: its frames and masks, and the files it writes."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import lecinpaint.example as example
from lecinpaint.example import example_frames, write_example
from lecinpaint.masks import MaskSource

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def test_frames_masks_and_the_late_line() -> None:
    items = list(example_frames((160, 96), Fraction(10), 2.0))
    assert len(items) == 20
    frames = np.stack([f for f, _ in items])
    masks = np.stack([m for _, m in items])
    assert frames.dtype == np.uint8 and frames.shape == (20, 96, 160, 3)
    assert masks.dtype == np.bool_ and masks.shape == (20, 96, 160)
    # A lecturer in every frame, of a plausible size, walking right then back left.
    area = masks.mean(axis=(1, 2))
    assert (area > 0.03).all() and (area < 0.5).all()
    cx = [float(np.nonzero(m)[1].mean()) for m in masks]
    turn = int(np.argmax(cx))
    assert 5 <= turn <= 14 and cx[turn] - cx[0] > 40 and cx[turn] - cx[-1] > 40
    # Outside the lecturer the board is the same in every frame, except where the late line appears.
    bg = ~masks.any(axis=0)
    changed = (frames != frames[:1]).any(axis=3) & bg
    assert not changed[:10].any()  # nothing is written in the first 60 % of the clip
    assert changed[-1].sum() > 20  # the late line is there at the end
    # The mask is exact: where it is True the frame differs from the board.
    board_end = frames[-1].copy()
    assert (frames[10][masks[10]] != board_end[masks[10]]).any(axis=1).mean() > 0.5


def test_deterministic_and_one_frame_minimum() -> None:
    a = [f for f, _ in example_frames((64, 48), Fraction(5), 1.0)]
    b = [f for f, _ in example_frames((64, 48), Fraction(5), 1.0)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len(list(example_frames((64, 48), Fraction(5), 0.01))) == 1


@needs_ffmpeg
@pytest.mark.parametrize("audio", [True, False])
def test_write_example_with_masks(tmp_path: Path, audio: bool) -> None:
    out = write_example(tmp_path / "ex.mp4", masks=tmp_path / "m", size=(96, 64), rate=Fraction(10),
                        seconds=0.6, audio=audio)
    assert out == tmp_path / "ex.mp4" and out.stat().st_size > 0
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height",
                            "-of", "csv=p=0", str(out)], capture_output=True, text=True, check=True).stdout
    kinds = sorted(line.split(",")[0] for line in probe.split())
    assert kinds == (["audio", "video"] if audio else ["video"])
    want = [m for _, m in example_frames((96, 64), Fraction(10), 0.6)]
    got = list(MaskSource(tmp_path / "m"))
    assert len(got) == len(want) == 6
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    cap = cv2.VideoCapture(str(out))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (64, 96, 3)


@needs_ffmpeg
def test_a_failure_while_writing_stops_both_encoders_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The encoders are killed (abort), not waited for: the call returns with the drawing error at once.
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        yield np.zeros((64, 96, 3), np.uint8), np.zeros((64, 96), bool)
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(example, "example_frames", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        write_example(tmp_path / "ex.mp4", masks=tmp_path / "m.mkv", size=(96, 64), seconds=0.4)
