"""lecinpaint.vs with VapourSynth: formats, random access == sequential, errors, a .vpy through vspipe."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ._helpers import H, PY, ROOT, W, ffprobe, needs_ffmpeg, scene

vs = pytest.importorskip("vapoursynth",
                         reason="VapourSynth is not installed (pip install vapoursynth, Python >= 3.12)")

N = 10
OPTS = dict(device="cpu", lookahead=2, dilation=0)


def _source(fmt: int) -> tuple[vs.VideoNode, vs.VideoNode]:
    """The test scene as a clip of format ``fmt`` (built with BlankClip + numpy), and its mask clip."""
    frames, masks, _ = scene(W, H, N)
    core = vs.core
    base = core.std.BlankClip(format=vs.RGB24, width=W, height=H, length=N, fpsnum=30000, fpsden=1001)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fo = f.copy()
        for p in range(3):
            np.copyto(np.asarray(fo[p]), frames[n][:, :, p])
        return fo

    clip = core.std.ModifyFrame(base, base, draw)
    if fmt != vs.RGB24:
        family = vs.core.get_video_format(fmt).color_family
        clip = core.resize.Bicubic(clip, format=fmt, matrix_s="170m" if family != vs.RGB else None)
    mbase = core.std.BlankClip(format=vs.GRAY8, width=W, height=H, length=N)

    def draw_mask(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fo = f.copy()
        np.copyto(np.asarray(fo[0]), np.where(masks[n], 255, 0).astype(np.uint8))
        return fo

    return clip, core.std.ModifyFrame(mbase, mbase, draw_mask)


def _planes(f: vs.VideoFrame) -> list[np.ndarray]:
    return [np.asarray(f[p]).copy() for p in range(f.format.num_planes)]


@pytest.mark.parametrize("fmt", [vs.RGB24, vs.YUV420P8, vs.RGBS, vs.YUV444P10],
                         ids=lambda f: vs.core.get_video_format(f).name)
def test_random_access_equals_sequential(fmt: int) -> None:
    from lecinpaint.vs import inpaint

    clip, mask = _source(fmt)
    seq_clip = inpaint(clip, mask, window=4, warmup=2, **OPTS)
    rnd_clip = inpaint(clip, mask, window=4, warmup=2, **OPTS)  # a separate instance: no shared cache
    assert (seq_clip.num_frames, seq_clip.format.id, seq_clip.fps) == (N, fmt, clip.fps)
    assert (seq_clip.width, seq_clip.height) == (W, H)
    sequential = [_planes(f) for f in seq_clip.frames()]
    order = list(range(N))
    random.Random(3).shuffle(order)
    for n in order:
        got = _planes(rnd_clip.get_frame(n))
        assert all(np.array_equal(a, b) for a, b in zip(got, sequential[n])), f"frame {n} differs"
    # Outside the hole the output equals the input, bit for bit, in every plane; inside it changed.
    _, masks, _ = scene(W, H, N)
    for n in (0, 5, 9):
        src = _planes(clip.get_frame(n))
        m = masks[n]
        ss = seq_clip.format.subsampling_w
        for p, (a, b) in enumerate(zip(sequential[n], src)):
            pm = m if p == 0 or not ss else m.reshape(H // 2, 2, W // 2, 2).any(axis=(1, 3))
            assert np.array_equal(a[~pm], b[~pm])
        assert not np.array_equal(sequential[n][0][m], src[0][m])


def test_parallel_requests_are_safe() -> None:
    from lecinpaint.vs import inpaint

    clip, mask = _source(vs.RGB24)
    ref = [_planes(f) for f in inpaint(clip, mask, window=3, **OPTS).frames()]
    core = vs.core
    old = core.num_threads
    core.num_threads = 4
    try:
        out = inpaint(clip, mask, window=3, **OPTS)
        futures = [out.get_frame_async(n) for n in reversed(range(N))]
        got = [_planes(f.result()) for f in reversed(futures)]
    finally:
        core.num_threads = old
    assert all(np.array_equal(a, b) for fa, fb in zip(got, ref) for a, b in zip(fa, fb))


def test_errors_are_vs_errors() -> None:
    from lecinpaint.vs import inpaint

    clip, mask = _source(vs.RGB24)
    with pytest.raises(vs.Error, match="^lecinpaint: clip must be a vapoursynth.VideoNode"):
        inpaint(np.zeros((4, 4, 3)))
    with pytest.raises(vs.Error, match="^lecinpaint: mask must have the clip's size"):
        inpaint(clip, vs.core.std.BlankClip(format=vs.GRAY8, width=8, height=8, length=N))
    with pytest.raises(vs.Error, match="^lecinpaint: fps is not supported"):
        inpaint(clip, fps=5)
    with pytest.raises(vs.Error, match="^lecinpaint: .*threshold"):
        inpaint(clip, threshold=-1)
    with pytest.raises(vs.Error, match="^lecinpaint: window must be an integer"):
        inpaint(clip, window=0)
    short = vs.core.std.Trim(mask, 0, 2)  # masks run out: the error surfaces from get_frame
    with pytest.raises(vs.Error, match="^lecinpaint: mask must have the clip's size"):
        inpaint(clip, short)


def test_import_without_vapoursynth() -> None:
    code = (
        "import sys; sys.modules['vapoursynth'] = None\n"
        "import lecinpaint, lecinpaint.cli, lecinpaint.io\n"
        "try:\n    import lecinpaint.vs\nexcept ImportError as e:\n    print('ImportError:', e)\n"
    )
    res = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "ImportError: lecinpaint.vs needs VapourSynth: pip install" in res.stdout


@needs_ffmpeg
def test_vpy_script_through_vspipe_into_ffmpeg(tmp_path: Path) -> None:
    vspipe = shutil.which("vspipe") or str(Path(sys.executable).parent / "vspipe")
    if not Path(vspipe).exists():
        pytest.skip("vspipe not found")
    script = tmp_path / "lecture.vpy"
    script.write_text(textwrap.dedent(f"""
        import numpy as np
        import vapoursynth as vs
        from lecinpaint.vs import inpaint

        core = vs.core
        W, H, N = 64, 48, 12
        base = core.std.BlankClip(format=vs.YUV420P8, width=W, height=H, length=N, fpsnum=25, fpsden=1,
                                  color=[120, 128, 128])

        def block(n):
            m = np.zeros((H, W), bool)
            m[12:36, 4 * n:4 * n + 12] = True
            return m

        def draw(n, f):
            fo = f.copy()
            y = np.asarray(fo[0])
            y[:] = (np.arange(W)[None, :] * 3 + np.arange(H)[:, None] * 2) % 200 + 20
            y[block(n)] = 230
            return fo

        def draw_mask(n, f):
            fo = f.copy()
            np.copyto(np.asarray(fo[0]), np.where(block(n), 255, 0).astype(np.uint8))
            return fo

        clip = core.std.ModifyFrame(base, base, draw)
        mbase = core.std.BlankClip(format=vs.GRAY8, width=W, height=H, length=N)
        mask = core.std.ModifyFrame(mbase, mbase, draw_mask)
        inpaint(clip, mask, window=6, device="cpu", lookahead=2, dilation=0).set_output()
    """))
    out = tmp_path / "out.mkv"
    pipe = subprocess.Popen([vspipe, "-c", "y4m", str(script), "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    enc = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-", "-c:v", "ffv1",
                          str(out)], stdin=pipe.stdout, capture_output=True)
    pipe.stdout.close()
    err = pipe.stderr.read().decode()
    assert pipe.wait(timeout=300) == 0, err
    assert enc.returncode == 0, enc.stderr.decode()
    v = ffprobe(out)["streams"][0]
    assert (v["width"], v["height"], v["r_frame_rate"], int(v["nb_read_frames"])) == (64, 48, "25/1", 12)
    # The moving bright block is gone: decode frame 6 and look where the block was.
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    y = np.frombuffer(raw, np.uint8).reshape(12, 48, 64)
    assert (y[6, 12:36, 24:36] < 225).mean() > 0.9
