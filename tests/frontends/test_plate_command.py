"""``lecinpaint plate``, in this process: what it refuses (and that it then writes nothing), inputs that
give no frames, replacing an output with -y, and what it says.

The plate written is checked against the engine's own first pass over the same frames (the command must
give the engine the frames the single-file command gives it); test_fe_plate runs the command as a child
process and checks the plate's pixels through ``--plate``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lecinpaint.cli import UserError
from lecinpaint.cli_plate import plate_command
from lecinpaint.plate import UNKNOWN, load_plate

from ._helpers import ENGINE_ARGS, ffmpeg_encode_raw, needs_ffmpeg, scene, write_mask_dir

pytestmark = needs_ffmpeg

N = 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("plate_command")
    frames, masks, _ = scene(n=N)
    video = tmp / "talk.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "yuv444p", "-y", str(video)])
    return {"tmp": tmp, "frames": frames, "video": video, "masks": write_mask_dir(masks, tmp / "masks")}


def _args(clip: dict) -> list[str]:
    return ["--masks", str(clip["masks"]), *ENGINE_ARGS]


def _leftovers(folder: Path) -> list[str]:
    """Temporary files the command would leave next to its output."""
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


def test_refusals_write_nothing(clip: dict, tmp_path: Path) -> None:
    out = tmp_path / "talk.plate"
    video = str(clip["video"])
    cases = [
        ([video, "-o", str(out), "--plate", "old.plate"], "^--plate makes no sense here"),
        ([str(tmp_path / "absent.mkv"), "-o", str(out)], "absent.mkv"),
        ([video, "-o", str(tmp_path / "no" / "such" / "talk.plate")],
         f"^the output folder {str(tmp_path / 'no' / 'such')!r} does not exist$"),
        ([video, "-o", str(out), "--ghost", "2"], "ghost"),
    ]
    (tmp_path / "garbage.mkv").write_bytes(b"\x1aE\xdf\xa3 not a video at all" * 20)
    cases.append(([str(tmp_path / "garbage.mkv"), "-o", str(out)], "garbage.mkv"))
    for argv, message in cases:
        with pytest.raises(UserError, match=message) as info:
            plate_command([*argv, *_args(clip)])
        assert "\n" not in str(info.value)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.mkv"], argv


def test_an_output_that_is_a_folder_is_refused_before_the_pass(clip: dict, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def no_engine(settings: dict) -> None:
        raise AssertionError("the first pass started")

    monkeypatch.setattr("lecinpaint.cli_plate.make_engine", no_engine)
    out = tmp_path / "talk.plate"
    out.mkdir()
    (out / "keep").write_text("a file in the folder")
    for y in ([], ["-y"]):
        with pytest.raises(UserError, match=f"^output {str(out)!r} is a folder; give a file name$"):
            plate_command([str(clip["video"]), "-o", str(out), *y, *_args(clip)])
    assert (out / "keep").read_text() == "a file in the folder" and _leftovers(tmp_path) == []


def test_an_existing_output_needs_y(clip: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "talk.plate"
    out.write_bytes(b"an older file")
    with pytest.raises(UserError, match=f"^output {str(out)!r} exists; use -y to replace it$"):
        plate_command([str(clip["video"]), "-o", str(out), *_args(clip)])
    assert out.read_bytes() == b"an older file"
    assert plate_command([str(clip["video"]), "-o", str(out), "-y", *_args(clip)]) == 0
    plate = load_plate(out)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"lecinpaint: wrote {str(out)!r}: plate of {N} frames, "
                                               f"{plate.n_segments} segment(s), ")
    assert _leftovers(tmp_path) == []
    # The plate is the engine's first pass over the frames as the command decodes them (an RGB
    # source stored as 4:4:4 YUV: the same frames back within the round trip's rounding).
    from lecinpaint.cli import engine_settings, make_engine
    from lecinpaint.cli_plate import _parser

    settings = engine_settings(_parser().parse_args([str(clip["video"]), "-o", "x", *_args(clip)]), 25)
    engine = make_engine({**settings, "plate": "off"})
    ref = engine.build_plate(iter(clip["frames"]))
    assert (len(plate), plate.n_segments, plate.shape) == (len(ref), ref.n_segments, ref.shape)
    for k in range(N):
        (got, got_seen), (want, want_seen) = plate.view(k), ref.view(k)
        assert np.array_equal(got_seen, want_seen), k  # the same pixels, first seen in the same frames
        known = want_seen != UNKNOWN
        assert known.any() and np.abs(got.astype(int) - want.astype(int))[known].max() <= 3, k
    # Quiet: nothing said.
    assert plate_command([str(clip["video"]), "-o", str(out), "-y", "-q", *_args(clip)]) == 0
    assert capsys.readouterr().err == ""


def test_inputs_that_give_no_frames(clip: dict, tmp_path: Path) -> None:
    out = tmp_path / "talk.plate"
    # A Y4M header and no frame: ffmpeg decodes nothing and succeeds.
    empty = tmp_path / "empty.y4m"
    empty.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C444\n")
    with pytest.raises(UserError, match=f"^{str(empty)!r}: no video frames could be decoded$"):
        plate_command([str(empty), "-o", str(out), "--masks", str(clip["masks"]), *ENGINE_ARGS])
    # A file cut after its header: it probes as a video, and ffmpeg fails on it.
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip["video"].read_bytes()[:600])
    subprocess.run(["ffprobe", "-v", "error", str(cut)], check=True)  # the header is whole
    with pytest.raises(UserError, match="^ffmpeg could not decode"):
        plate_command([str(cut), "-o", str(out), *_args(clip)])
    assert not out.exists() and _leftovers(tmp_path) == []
