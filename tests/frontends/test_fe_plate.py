"""The first-seen plate through the front ends: ``lecinpaint plate``, ``--plate``, the command's own first
pass, ``--ghost``; exact masks, lossless RGB files, so that pixels can be compared."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lecinpaint.plate import load_plate

from ._helpers import ENGINE_ARGS, ROOT, cli_cmd, ffmpeg_encode_raw, needs_ffmpeg, run_filter, scene, write_mask_dir

pytestmark = needs_ffmpeg

N_STILL, N_ALL = 12, 18


def _still_scene(shift: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The helpers' background; a block stands still on it for 12 frames, then the board is bare."""
    _, _, bg = scene(n=1)
    bg = np.roll(bg, shift, axis=1)
    h, w = bg.shape[:2]
    masks = np.zeros((N_ALL, h, w), bool)
    masks[:N_STILL, 12:36, 20:36] = True
    frames = np.repeat(bg[None], N_ALL, axis=0)
    frames[masks] = (200, 40, 60)
    return frames, masks, bg


def _lossless(frames: np.ndarray, path: Path) -> Path:
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-pix_fmt", "bgr0", "-y", str(path)])
    return path


def _decode(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    return np.frombuffer(res.stdout, np.uint8).reshape(-1, *shape)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), capture_output=True, cwd=ROOT, timeout=300, text=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("plate")
    frames, masks, bg = _still_scene()
    other, _, _ = _still_scene(shift=17)
    return dict(tmp=tmp, frames=frames, masks=masks, bg=bg, video=_lossless(frames, tmp / "in.mkv"),
                other=_lossless(other, tmp / "other.mkv"), maskdir=write_mask_dir(masks, tmp / "masks"))


def _out_args(clip: dict) -> list[str]:
    return ["--masks", str(clip["maskdir"]), *ENGINE_ARGS, "--codec", "ffv1", "--pix-fmt", "bgr0", "-y", "-q"]


def test_plate_command_then_plate_option(clip: dict) -> None:
    plate = clip["tmp"] / "lecture.plate"
    res = _cli("plate", str(clip["video"]), "-o", str(plate), "--masks", str(clip["maskdir"]), *ENGINE_ARGS)
    assert res.returncode == 0, res.stderr
    assert "plate of 18 frames" in res.stderr
    assert len(load_plate(plate)) == N_ALL
    out = clip["tmp"] / "with_plate.mkv"
    res = _cli(str(clip["video"]), "-o", str(out), "--plate", str(plate), *_out_args(clip))
    assert res.returncode == 0, res.stderr
    got = _decode(out, clip["bg"].shape)
    box = clip["masks"][0]
    for t in range(N_ALL):  # within the RGB -> YUV -> RGB round trip of an RGB source (see test_ghost)
        out_t = ~clip["masks"][t]
        assert np.abs(got[t][out_t].astype(int) - clip["frames"][t][out_t]).max() <= 2
        assert np.abs(got[t][box].astype(int) - clip["bg"][box]).max() <= 2, t  # seen only from frame 12 on
    # The command's own first pass gives the same frames, and says what it cost.
    own = clip["tmp"] / "own.mkv"
    res = _cli(str(clip["video"]), "-o", str(own), *[a for a in _out_args(clip) if a != "-q"])
    assert res.returncode == 0, res.stderr
    assert "first pass (plate)" in res.stderr
    assert np.array_equal(_decode(own, clip["bg"].shape), got)


def test_plate_of_another_video_is_a_clear_error(clip: dict) -> None:
    plate = clip["tmp"] / "other.plate"
    assert _cli("plate", str(clip["other"]), "-o", str(plate), "-q", "--masks", str(clip["maskdir"]),
                *ENGINE_ARGS).returncode == 0
    res = _cli(str(clip["video"]), "-o", str(clip["tmp"] / "x.mkv"), "--plate", str(plate), *_out_args(clip))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "another video" in lines[0], res.stderr
    assert not (clip["tmp"] / "x.mkv").exists()
    junk = clip["tmp"] / "junk.plate"
    junk.write_bytes(b"\x00" * 100)
    res = _cli(str(clip["video"]), "-o", str(clip["tmp"] / "x.mkv"), "--plate", str(junk), *_out_args(clip))
    assert res.returncode == 1 and "not a lecinpaint plate file" in res.stderr


def test_filter_takes_a_plate(clip: dict) -> None:
    plate = clip["tmp"] / "for_filter.plate"
    assert _cli("plate", str(clip["video"]), "-o", str(plate), "-q", "--masks", str(clip["maskdir"]),
                *ENGINE_ARGS).returncode == 0
    y4m = ffmpeg_encode_raw(clip["frames"], ["-pix_fmt", "yuv444p", "-f", "yuv4mpegpipe", "-"])
    res = run_filter(["--plate", str(plate), "--masks", str(clip["maskdir"]), *ENGINE_ARGS], y4m)
    assert res.returncode == 0, res.stderr.decode()
    dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], input=res.stdout, capture_output=True, check=True).stdout
    got = np.frombuffer(dec, np.uint8).reshape(-1, *clip["bg"].shape)
    box = clip["masks"][0]
    # Through YUV 4:4:4 and back: within the round trip's rounding of the board itself.
    err = np.abs(got[0][box].astype(int) - clip["bg"][box].astype(int))
    assert err.mean() < 3.0, err.mean()


@pytest.mark.parametrize("alpha", ["0", "1"])
def test_ghost_option(clip: dict, alpha: str) -> None:
    out = clip["tmp"] / f"ghost{alpha}.mkv"
    res = _cli(str(clip["video"]), "-o", str(out), "--ghost", alpha, *_out_args(clip))
    assert res.returncode == 0, res.stderr
    got = _decode(out, clip["bg"].shape)
    # The command works in the source's YUV: an RGB source goes RGB -> YUV -> RGB through ffmpeg, which
    # moves values by a code or two; the ghost itself must add nothing beyond that.
    if alpha == "1":
        assert np.abs(got.astype(int) - clip["frames"]).max() <= 2  # the lecturer at full opacity: the input
    else:
        m = clip["masks"][0]
        assert np.abs(got[0][m].astype(int) - clip["bg"][m]).max() <= 2
    res = _cli(str(clip["video"]), "-o", str(out), "--ghost", "2", *_out_args(clip))
    assert res.returncode == 1 and "Config.ghost" in res.stderr
