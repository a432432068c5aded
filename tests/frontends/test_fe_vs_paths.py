"""lecinpaint.vs, the paths that run in the calling thread: the window cache, mask thresholds, error
wrapping, the YUV matrix, argument checks, and the formats that go through RGB24.

VapourSynth calls a filter's frame callbacks on its own worker threads, which coverage's tracer does
not follow; these tests drive the same code (``_Windows``, the first pass, the readers and codecs)
from the test's thread, and check the formats that ``test_fe_vs`` does not (4:1:0, float grey).
"""

from __future__ import annotations

import numpy as np
import pytest

from ._helpers import H, W, scene

vs = pytest.importorskip("vapoursynth",
                         reason="VapourSynth is not installed (pip install vapoursynth, Python >= 3.12)")

from lecinpaint.vs import (  # noqa: E402  (after the skip: the module needs VapourSynth)
    _first_pass,
    _make_engine,
    _matrix,
    _reader,
    _rgb_codec,
    _Windows,
    inpaint,
)

N = 10
OPTS = dict(device="cpu", lookahead=2, dilation=0)


def _clip(frames: np.ndarray, fmt: int = vs.RGB24) -> vs.VideoNode:
    """RGB frames ``(n, H, W, 3)`` as a clip, converted to ``fmt`` (BT.601 for YUV and grey)."""
    n, h, w, _ = frames.shape
    base = vs.core.std.BlankClip(format=vs.RGB24, width=w, height=h, length=n, fpsnum=25, fpsden=1)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fo = f.copy()
        for p in range(3):
            np.copyto(np.asarray(fo[p]), frames[n][:, :, p])
        return fo

    clip = vs.core.std.ModifyFrame(base, base, draw)
    if fmt != vs.RGB24:
        family = vs.core.get_video_format(fmt).color_family
        clip = vs.core.resize.Bicubic(clip, format=fmt, matrix_s=None if family == vs.RGB else "170m")
    return clip


def _mask_clip(masks: np.ndarray) -> vs.VideoNode:
    n, h, w = masks.shape
    base = vs.core.std.BlankClip(format=vs.GRAY8, width=w, height=h, length=n)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fo = f.copy()
        np.copyto(np.asarray(fo[0]), np.where(masks[n], 255, 0).astype(np.uint8))
        return fo

    return vs.core.std.ModifyFrame(base, base, draw)


def _windows(clip, mask, window=4, warmup=2, cache=2, read=None) -> _Windows:
    engine = _make_engine({**OPTS, "plate": "off"})
    return _Windows(read or _reader(clip), clip.num_frames, mask, engine, _rgb_codec(), window, warmup, cache,
                    shape=(clip.height, clip.width))


def _planes(f: vs.VideoFrame) -> list[np.ndarray]:
    return [np.asarray(f[p]).copy() for p in range(f.format.num_planes)]


# --- the window cache ---------------------------------------------------------------------------------
def test_windows_give_the_same_frames_in_any_order_and_cache_whole_windows(monkeypatch):
    frames, masks, bg = scene(W, H, N)
    clip, mask = _clip(frames), _mask_clip(masks)
    seq = [_windows(clip, mask).get(n) for n in range(N)]
    w = _windows(clip, mask, cache=1)
    runs: list[int] = []
    compute = w._compute
    monkeypatch.setattr(w, "_compute", lambda k: runs.append(k) or compute(k))
    order = [9, 0, 5, 1, 8, 4, 2, 6, 3, 7]
    for n in order:
        planes, hole = w.get(n)
        assert np.array_equal(hole, seq[n][1])
        assert all(np.array_equal(a, b) for a, b in zip(planes, seq[n][0]))
    # Window k = frames [4k, 4k + 4): with one window cached, every change of window recomputes it.
    assert runs == [2, 0, 1, 0, 2, 1, 0, 1, 0, 1]
    runs.clear()
    w.get(7)
    w.get(4)
    assert runs == []  # the cached window serves its other frames
    # The frames themselves: the input outside the hole (the mask, no dilation), the board inside.
    for n in range(N):
        planes, hole = seq[n]
        out = np.stack(planes, axis=-1)
        assert np.array_equal(hole, masks[n])
        assert np.array_equal(out[~hole], frames[n][~hole])
        err = np.abs(out[hole].astype(int) - bg[hole]).mean()
        assert err < np.abs(frames[n][hole].astype(int) - bg[hole]).mean() / 4, n


@pytest.mark.parametrize("fmt, below, above", [(vs.GRAY8, 127, 128), (vs.GRAY16, 32767, 32768),
                                               (vs.GRAYS, 0.5, 0.50001)],
                         ids=["GRAY8", "GRAY16", "GRAYS"])
def test_mask_clip_threshold_is_half_its_range(fmt, below, above):
    # A hole is a value above half the maximum (integer) or above 0.5 (float).
    core = vs.core
    left = core.std.BlankClip(format=fmt, width=W // 2, height=H, length=2, color=[below])
    right = core.std.BlankClip(format=fmt, width=W // 2, height=H, length=2, color=[above])
    mask = core.std.StackHorizontal([left, right])
    clip = _clip(np.zeros((2, H, W, 3), np.uint8))
    got = list(_windows(clip, mask)._masks(0, 2))
    expected = np.zeros((H, W), bool)
    expected[:, W // 2 :] = True
    assert len(got) == 2 and all(np.array_equal(g, expected) for g in got)


def test_errors_while_computing_a_window():
    frames, masks, _ = scene(W, H, N)
    clip, mask = _clip(frames), _mask_clip(masks)
    read = _reader(clip)

    def bad_size(i: int):  # frame 5 comes out two columns narrower
        return [p[:, :-2] for p in read(i)] if i == 5 else read(i)

    # Window 1 is frames 4..7, fed to the engine from frame 2 (the warm-up): the error names the clip's
    # frame 5, not the window's third frame.
    narrow = r"^lecinpaint: frame 5: size 62x48 differs from the first frame's 64x48"
    with pytest.raises(vs.Error, match=narrow) as info:
        _windows(clip, mask, read=bad_size).get(4)
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(vs.Error, match=r"^lecinpaint: frame 5: size 62x48 differs"):
        _windows(clip, mask, window=3, warmup=0, read=bad_size).get(4)  # window 1 = frames 3..5

    def bad_type(i: int):  # frame 9 comes out as floats
        return [p.astype(np.float32) for p in read(i)] if i == 9 else read(i)

    with pytest.raises(vs.Error, match=r"^lecinpaint: frame 9: expected dtype uint8, got float32"):
        _windows(clip, mask, read=bad_type).get(8)  # window 2 = frames 8..9, from frame 6
    # An upstream filter's own error passes through unchanged.
    broken = vs.core.std.ModifyFrame(clip, clip, lambda n, f: f if n != 6 else 1 / 0)
    with pytest.raises(vs.Error) as info:
        _windows(broken, mask).get(5)
    assert not str(info.value).startswith("lecinpaint:") and "ZeroDivisionError" in str(info.value)
    # The first pass wraps an engine error in its own words, and lets VapourSynth's through.
    w = _windows(clip, mask, read=bad_size)
    with pytest.raises(vs.Error, match=r"^lecinpaint: first pass: frame 5: size 62x48 differs"):
        _first_pass(w, {})
    _first_pass(w, {"plate": "off"})  # no first pass at all: the bad frame is not read
    with pytest.raises(vs.Error, match="ZeroDivisionError"):
        inpaint(broken, mask, **OPTS)  # the default plate="auto" reads every frame now


# --- the YUV matrix -----------------------------------------------------------------------------------
def test_matrix_from_the_argument_the_frames_or_the_height():
    core = vs.core
    sd = core.std.BlankClip(format=vs.YUV420P8, width=64, height=480, length=1)
    hd = core.std.BlankClip(format=vs.YUV420P8, width=64, height=720, length=1)
    assert _matrix(core.std.BlankClip(format=vs.RGB24, width=8, height=8, length=1), "bt2020") is None
    assert (_matrix(sd, "bt601"), _matrix(sd, "bt709"), _matrix(sd, "bt2020")) == (6, 1, 9)
    with pytest.raises(vs.Error, match=r"^lecinpaint: unknown matrix 'smpte240m'; use one of bt601, bt709"):
        _matrix(sd, "smpte240m")
    # Without an argument: the frame's _Matrix when it names a known matrix, else by height.
    assert _matrix(core.std.SetFrameProps(hd, _Matrix=5), None) == 5
    assert _matrix(core.std.SetFrameProps(sd, _Matrix=9), None) == 9
    assert _matrix(core.std.SetFrameProps(sd, _Matrix=2), None) == 6  # 2: unspecified
    assert (_matrix(sd, None), _matrix(hd, None)) == (6, 1)
    grey = core.std.BlankClip(format=vs.GRAY8, width=64, height=720, length=1)
    assert _matrix(grey, None) == 1
    with pytest.raises(vs.Error, match="unknown matrix"):
        inpaint(sd, matrix="bt470")


# --- argument checks ------------------------------------------------------------------------------------
def test_argument_errors():
    core = vs.core
    frames, masks, _ = scene(W, H, N)
    clip, mask = _clip(frames), _mask_clip(masks)
    rgb = core.std.BlankClip(format=vs.RGB24, width=W, height=H, length=2)
    yuv = core.std.BlankClip(format=vs.YUV420P8, width=W, height=H, length=2)
    wide = core.std.BlankClip(format=vs.RGB24, width=W + 2, height=H, length=2)
    mixed_format = core.std.Splice([rgb, yuv], mismatch=True)
    mixed_size = core.std.Splice([rgb, wide], mismatch=True)
    for bad in (mixed_format, mixed_size):
        with pytest.raises(vs.Error, match="^lecinpaint: clip must have a constant format and size"):
            inpaint(bad, **OPTS)
    with pytest.raises(vs.Error, match="^lecinpaint: mask must be a clip with a constant format"):
        inpaint(clip, masks, **OPTS)
    grey = core.std.BlankClip(format=vs.GRAY8, width=W, height=H, length=N)
    with pytest.raises(vs.Error, match="^lecinpaint: mask must be a clip with a constant format"):
        inpaint(clip, core.std.Splice([grey, core.std.BlankClip(grey, format=vs.GRAY16)], mismatch=True))
    for kw, msg in (({"warmup": -1}, "warmup must be an integer >= 0, got -1"),
                    ({"cache": True}, "cache must be an integer >= 1, got True"),
                    ({"window": 2.0}, "window must be an integer >= 1, got 2.0"),
                    ({"input_fps": 25}, "fps is not supported here"),
                    ({"colour": "red"}, "unknown option: .*colour")):
        with pytest.raises(vs.Error, match=f"^lecinpaint: {msg}"):
            inpaint(clip, mask, **kw)


# --- formats through RGB24 ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [vs.YUV410P8, vs.GRAYS], ids=["YUV410P8", "GRAYS"])
def test_formats_through_rgb24_keep_the_source_outside_the_hole(fmt):
    frames, masks, bg = scene(W, H, N)
    clip = _clip(frames, fmt)
    board = _clip(np.repeat(bg[None], N, axis=0), fmt)
    out = inpaint(clip, _mask_clip(masks), window=5, warmup=2, **OPTS)
    assert (out.num_frames, out.format.id, out.width, out.height, out.fps) == (N, fmt, W, H, clip.fps)
    f = out.format
    for n in (0, 4, 9):
        got, src, truth = (_planes(c.get_frame(n)) for c in (out, clip, board))
        m = masks[n]
        for p in range(f.num_planes):
            if p == 0:
                pm = m
            else:  # a subsampled chroma sample changes when any luma pixel under it is in the hole
                sy, sx = 1 << f.subsampling_h, 1 << f.subsampling_w
                pm = m.reshape(H // sy, sy, W // sx, sx).any(axis=(1, 3))
            assert np.array_equal(got[p][~pm], src[p][~pm]), (n, p)
        # Inside the hole the luma is the board's, not the block's.
        scale = 255.0 if f.sample_type == vs.FLOAT else 1.0
        err = np.abs(got[0][m] - truth[0][m]).mean() * scale
        assert err < np.abs(src[0][m] - truth[0][m]).mean() * scale / 4, n


def test_the_engine_reads_the_clip_on_vapoursynths_threads_only():
    """A worker thread asking VapourSynth for a frame while every VapourSynth thread waits in this filter
    would wait for ever (a filter with masks hung so): the engine runs with no worker threads, whatever
    the options say, and reads each frame on the thread that asks for the window."""
    import threading

    assert _make_engine({**OPTS, "segment_ahead": 4}).config.segment_ahead == 0
    frames, masks, _ = scene(W, H, 8)
    clip = _clip(frames)
    base = _reader(clip)
    readers: set[str] = set()

    def read(i: int):
        readers.add(threading.current_thread().name)
        return base(i)

    windows = _windows(clip, _mask_clip(masks), read=read)
    windows.get(5)
    assert readers == {threading.current_thread().name}
