"""lecinpaint.io.ffmpeg on small files made here with ffmpeg: probing, decoding, encoding, mask writing,
and the error paths (a missing program, a file that is not a video, ffmpeg failing or exiting early)."""

from __future__ import annotations

import signal
import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from lecinpaint.io.ffmpeg import (
    FFmpegError,
    FrameEncoder,
    MaskWriter,
    VideoInfo,
    YUVDecoder,
    decode_rgb,
    find_program,
    probe,
)
from lecinpaint.io.y4m import parse_layout

from ._helpers import needs_ffmpeg

pytestmark = needs_ffmpeg

W, H = 40, 24


def _frames(n: int, seed: int = 0) -> np.ndarray:
    """Random RGB frames: any decoding slip (a row, a channel, a frame) changes the values."""
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def _rgb_cmd(out: Path, rate: str = "25", codec: tuple[str, ...] = ("-c:v", "ffv1")) -> list[str]:
    return [find_program("ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{W}x{H}", "-r", rate, "-i", "-", *codec, str(out)]


def _lossless_clip(path: Path, frames: np.ndarray, rate: str = "25") -> Path:
    """``frames`` in an FFV1 RGB file, written through FrameEncoder."""
    enc = FrameEncoder(_rgb_cmd(path, rate, ("-c:v", "ffv1", "-pix_fmt", "bgr0")), (H, W, 3))
    for f in frames:
        enc.write(f)
    enc.close()
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run([find_program("ffmpeg"), "-nostdin", "-v", "error", "-y", *args], check=True,
                   capture_output=True)


# --- find_program / probe ---------------------------------------------------------------------------
def test_missing_program_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no ffmpeg, no ffprobe
    with pytest.raises(FFmpegError, match=r"ffprobe not found on PATH: install FFmpeg"):
        find_program("ffprobe")
    clip = tmp_path / "a.mkv"
    clip.write_bytes(b"\0")
    with pytest.raises(FFmpegError, match="ffprobe not found"):
        probe(clip)


def test_probe_rejects_what_is_not_a_video(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(FFmpegError, match="is a folder"):
        probe(tmp_path)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(FFmpegError, match=r"ffprobe cannot read .*notes\.mp4"):
        probe(text)
    sound = tmp_path / "tone.mka"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.2", str(sound))
    with pytest.raises(FFmpegError, match="has no video stream"):
        probe(sound)


def test_probe_counts_frames_from_the_container_or_the_duration(tmp_path):
    frames = _frames(12)
    # MP4 stores the frame count (nb_frames); Matroska does not, so the count comes from the duration.
    mp4 = tmp_path / "a.mp4"
    enc = FrameEncoder(_rgb_cmd(mp4, "30000/1001", ("-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p")),
                       (H, W, 3))
    for f in frames:
        enc.write(f)
    enc.close()
    info = probe(mp4)
    assert (info.width, info.height, info.rate, info.frames) == (W, H, Fraction(30000, 1001), 12)
    assert info.pix_fmt == "yuv444p" and not info.vfr
    assert (info.audio, info.subtitles, info.chapters) == (0, 0, 0)
    assert info.duration == pytest.approx(12 * 1001 / 30000, abs=0.01)

    mkv = _lossless_clip(tmp_path / "b.mkv", frames, rate="12")
    out = subprocess.run([find_program("ffprobe"), "-v", "error", "-show_streams", str(mkv)],
                         capture_output=True, text=True, check=True).stdout
    assert "nb_frames=N/A" in out  # the premise: the count is not in the container
    info = probe(mkv)
    assert info.rate == 12 and info.frames == 12 and info.duration == pytest.approx(1.0, abs=0.01)


def test_probe_of_an_elementary_stream_without_duration(tmp_path):
    # A bare MJPEG stream: no duration, no frame count, no average rate ("0/0"); the base rate is used.
    video = _lossless_clip(tmp_path / "v.mkv", _frames(5))
    bare = tmp_path / "v.mjpeg"
    _ffmpeg("-i", str(video), "-c:v", "mjpeg", "-f", "mjpeg", str(bare))
    info = probe(bare)
    assert (info.width, info.height, info.rate) == (W, H, 25)
    assert info.frames is None and info.duration is None and not info.vfr
    assert len(list(decode_rgb(bare, info))) == 5


def test_probe_reports_audio_subtitles_chapters_and_variable_rate(tmp_path):
    video = _lossless_clip(tmp_path / "v.mkv", _frames(10))
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,300\nhello\n")
    meta = tmp_path / "chapters.txt"
    meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=200\ntitle=one\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=200\nEND=400\ntitle=two\n")
    full = tmp_path / "full.mkv"
    _ffmpeg("-i", str(video), "-f", "lavfi", "-i", "sine=duration=0.4", "-i", str(srt), "-i", str(meta),
            "-map", "0:v", "-map", "1:a", "-map", "1:a", "-map", "2:s", "-map_chapters", "3",
            "-c:v", "copy", "-c:a", "flac", "-c:s", "srt", str(full))
    info = probe(full)
    assert (info.audio, info.subtitles, info.subtitle_codecs, info.chapters) == (2, 1, ["subrip"], 2)

    # Frame times 0, 1, 2, 3, 4 then 10, 11, ... ticks of 1/25 s: 10 frames in 0.6 s, so the average
    # rate (the one used) is 50/3 while the stream's base rate is 25.
    vfr = tmp_path / "vfr.mp4"
    _ffmpeg("-i", str(video), "-vf", "setpts='if(lt(N,5),N,N+5)/(25*TB)'", "-fps_mode", "passthrough",
            "-c:v", "libx264", "-qp", "0", str(vfr))
    info = probe(vfr)
    assert info.vfr and info.rate == Fraction(50, 3) and info.frames == 10


# --- decoding ---------------------------------------------------------------------------------------
def test_decode_rgb_gives_every_frame_exactly_and_applies_the_filter(tmp_path):
    frames = _frames(6, seed=1)
    clip = _lossless_clip(tmp_path / "c.mkv", frames)
    info = probe(clip)
    got = list(decode_rgb(clip, info))
    assert len(got) == len(frames)
    for a, b in zip(got, frames):
        assert np.array_equal(a, b)
    got[0][:] = 0  # each frame is its own writable buffer
    assert not np.array_equal(got[0], got[1]) and got[1].flags.writeable
    flipped = list(decode_rgb(clip, info, vf="hflip"))
    assert all(np.array_equal(a, b[:, ::-1]) for a, b in zip(flipped, frames))


def test_decode_rgb_failures_and_early_stop(tmp_path):
    clip = _lossless_clip(tmp_path / "c.mkv", _frames(30, seed=2))
    info = probe(clip)
    with pytest.raises(FFmpegError, match=r"ffmpeg could not decode .*c\.mkv': .*filter"):
        list(decode_rgb(clip, info, vf="nosuchfilter"))
    # A consumer that stops early: ffmpeg is stopped, and that is not an error.
    gen = decode_rgb(clip, info)
    assert next(gen).shape == (H, W, 3)
    gen.close()
    # The file went away between probing and decoding: ffmpeg's own message.
    clip.unlink()
    with pytest.raises(FFmpegError, match=r"could not decode .*c\.mkv': .*No such file or directory"):
        next(decode_rgb(clip, info))


def test_yuv_decoder_planes_seek_count_and_close(tmp_path):
    frames = _frames(10, seed=3)
    clip = tmp_path / "y.mkv"
    enc = FrameEncoder(_rgb_cmd(clip, codec=("-c:v", "ffv1", "-pix_fmt", "yuv420p")), (H, W, 3))
    for f in frames:
        enc.write(f)
    enc.close()
    layout = parse_layout("420jpeg")
    # The reference: the same planes as ffmpeg writes them to a raw file.
    raw = tmp_path / "y.yuv"
    _ffmpeg("-i", str(clip), "-f", "rawvideo", "-pix_fmt", "yuv420p", str(raw))
    ref = np.frombuffer(raw.read_bytes(), np.uint8).reshape(10, -1)
    got = list(YUVDecoder(clip, "yuv420p", layout, W, H))
    assert len(got) == 10
    for f, r in zip(got, ref):
        assert [p.shape for p in f.planes] == [(H, W), (H // 2, W // 2), (H // 2, W // 2)]
        assert np.array_equal(np.concatenate([p.reshape(-1) for p in f.planes]), r)
    # seek (0.2 s = frame 5 at 25 fps) and a frame count.
    part = list(YUVDecoder(clip, "yuv420p", layout, W, H, seek=0.2, frames=3))
    assert len(part) == 3
    for f, r in zip(part, ref[5:8]):
        assert np.array_equal(np.concatenate([p.reshape(-1) for p in f.planes]), r)
    # Stopped early, then closed twice: no error.
    dec = YUVDecoder(clip, "yuv420p", layout, W, H)
    it = iter(dec)
    next(it)
    it.close()
    dec.close()
    dec.close()
    # Closed before reading anything: ffmpeg is stopped, not left waiting on a full pipe.
    idle = YUVDecoder(clip, "yuv420p", layout, W, H)
    idle.close()
    assert idle._proc.returncode is not None
    # A 10-bit layout reads little-endian uint16 samples.
    deep = list(YUVDecoder(clip, "yuv420p10le", parse_layout("420p10"), W, H, frames=1))
    assert deep[0].planes[0].dtype == np.dtype("<u2")
    assert np.abs(deep[0].planes[0].astype(int) - 4 * got[0].planes[0].astype(int)).max() <= 3


def test_yuv_decoder_reports_ffmpeg_errors(tmp_path):
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"this is not matroska" * 20)
    with pytest.raises(FFmpegError, match=r"ffmpeg could not decode .*junk\.mkv"):
        list(YUVDecoder(junk, "yuv420p", parse_layout("420jpeg"), W, H))


# --- encoding ---------------------------------------------------------------------------------------
def test_frame_encoder_checks_shapes_and_reports_a_failing_ffmpeg(tmp_path):
    out = tmp_path / "ok.nut"
    enc = FrameEncoder(_rgb_cmd(out, codec=("-c:v", "rawvideo")), (H, W, 3))
    with pytest.raises(ValueError, match=r"encoder: frame of shape \(24, 41, 3\), expected \(24, 40, 3\)"):
        enc.write(np.zeros((H, W + 1, 3), np.uint8))
    frames = _frames(3, seed=4)
    enc.write(frames[0])
    enc.write_bytes(frames[1].tobytes())  # bytes as they are
    enc.write_bytes(memoryview(frames[2].tobytes()))
    enc.close()
    back = list(decode_rgb(out, probe(out)))
    assert len(back) == 3 and all(np.array_equal(a, b) for a, b in zip(back, frames))

    # ffmpeg cannot open its output: it exits, and the next writes (or close) say so with its message.
    bad = tmp_path / "no" / "such" / "dir" / "x.nut"
    enc = FrameEncoder(_rgb_cmd(bad, codec=("-c:v", "rawvideo")), (H, W, 3))
    with pytest.raises(FFmpegError, match=r"ffmpeg \(encoding\) failed: .*No such file or directory"):
        for _ in range(2000):  # far more than a pipe holds
            enc.write(frames[0])
    enc.abort()
    enc = FrameEncoder(_rgb_cmd(bad, codec=("-c:v", "rawvideo")), (H, W, 3))
    with pytest.raises(FFmpegError, match=r"ffmpeg \(encoding\) failed"):
        for _ in range(2000):
            enc.write_bytes(frames[0].tobytes())
    enc.abort()
    # A frame that fits in the pipe is accepted; the failure comes with close().
    enc = FrameEncoder(_rgb_cmd(bad, codec=("-c:v", "rawvideo")), (H, W, 3))
    enc.write(frames[0])
    with pytest.raises(FFmpegError, match=r"ffmpeg \(encoding\) failed: .*No such file or directory"):
        enc.close()
    assert not bad.exists()


def test_frame_encoder_abort_kills_ffmpeg(tmp_path):
    # ffmpeg still waits for frames (its input is open): abort kills it rather than letting it finish.
    out = tmp_path / "aborted.nut"
    enc = FrameEncoder(_rgb_cmd(out, codec=("-c:v", "rawvideo")), (H, W, 3))
    enc.write(_frames(1)[0])
    enc.abort()
    assert enc._proc.returncode == -signal.SIGKILL
    enc.abort()  # harmless twice
    # After the end it kills nothing: a finished encoder keeps its exit status.
    done = FrameEncoder(_rgb_cmd(tmp_path / "done.nut", codec=("-c:v", "rawvideo")), (H, W, 3))
    done.write(_frames(1)[0])
    done.close()
    done.abort()
    assert done._proc.returncode == 0


# --- masks ------------------------------------------------------------------------------------------
def _masks(n: int) -> np.ndarray:
    m = np.zeros((n, H, W), bool)
    for i in range(n):
        m[i, 4 + i : 14 + i, 3 * i : 3 * i + 9] = True
    return m


def test_mask_writer_folder_of_pngs(tmp_path):
    masks = _masks(3)
    folder = tmp_path / "masks" / "nested"
    mw = MaskWriter(folder, W, H, Fraction(25))
    for m in masks:
        mw.write(m)
    mw.close()
    mw.abort()  # no-op for a folder
    assert mw.count == 3
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["mask_000000.png", "mask_000001.png", "mask_000002.png"]
    for m, name in zip(masks, names):
        img = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint8 and np.array_equal(img, np.where(m, 255, 0))


def test_mask_writer_folder_write_failure(tmp_path):
    folder = tmp_path / "masks"
    mw = MaskWriter(folder, W, H, Fraction(25))
    (folder / "mask_000000.png").mkdir()  # a folder where the image should go
    with pytest.raises(OSError, match=r"cannot write mask image .*mask_000000\.png"):
        mw.write(_masks(1)[0])


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_mask_writer_video_is_lossless(tmp_path, suffix):
    masks = _masks(5)
    path = tmp_path / f"masks{suffix}"
    mw = MaskWriter(path, W, H, Fraction(30000, 1001))
    for m in masks:
        mw.write(m)
    mw.close()
    info = probe(path)
    assert (info.width, info.height, info.rate) == (W, H, Fraction(30000, 1001))
    # FFV1 grey in Matroska, lossless x264 (4:4:4) otherwise.
    assert info.pix_fmt == ("gray" if suffix == ".mkv" else "yuv444p")
    back = list(YUVDecoder(path, "gray", parse_layout("mono"), W, H))
    assert len(back) == 5
    for m, f in zip(masks, back):
        assert np.array_equal(f.planes[0], np.where(m, 255, 0))


def test_mask_writer_video_abort(tmp_path):
    path = tmp_path / "masks.nut"
    mw = MaskWriter(path, W, H, Fraction(25))
    mw.write(_masks(1)[0])
    mw.abort()
    assert mw._encoder is not None and mw._encoder._proc.returncode == -signal.SIGKILL


def test_video_info_defaults():
    info = VideoInfo(W, H, Fraction(25))
    assert info.frames is None and info.subtitle_codecs == [] and not info.vfr


@pytest.mark.parametrize(
    "text, rate",
    [("30000/1001", Fraction(30000, 1001)), ("25", Fraction(25)), ("0/0", None), ("N/A", None), (None, None),
     ("", None), ("fast", None), ("1/0", None), ("-25/1", None), ("0", None)],
)
def test_rate_fields_as_ffprobe_writes_them(text, rate):
    # ffprobe writes "0/0" or "N/A" for an unknown rate; anything unusable counts as unknown.
    from lecinpaint.io.ffmpeg import _fraction

    assert _fraction(text) == rate
