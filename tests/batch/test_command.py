"""``lecinpaint batch``, the command's own work, in this process and without a Ray cluster: the checks of
its arguments (each refused before anything is made on disk), the masks each input gets, the outputs
it skips or refuses, the summary and the exit status, and what it says when interrupted.

When every input is skipped or has failed before any work, the command starts no cluster; the runs here
are such runs. Where a test needs the command to hand work on, ``run_batch`` is replaced by a stand-in
that records what it was given (the real runner is tested in tests/frontends/test_fe_batch.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'lecinpaint[ray]')")

from lecinpaint.batch import record
from lecinpaint.batch.command import main
from lecinpaint.batch.runner import VideoResult
from lecinpaint.cli import Terminated, UserError

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ["--dilation", "0", "--lookahead", "2", "--device", "cpu"]


def _videos(folder: Path, *names: str) -> list[Path]:
    """Files with video names (the command does not open them before a worker does)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        (folder / name).write_bytes(b"not decoded here: " + name.encode())
        out.append(folder / name)
    return out


class _Runner:
    """A stand-in for ``run_batch`` that records its arguments and answers as told."""

    def __init__(self, answer: BaseException | None = None) -> None:
        self.answer = answer
        self.sources: list[Any] = []
        self.opts: Any = None

    def __call__(self, sources: list[Any], opts: Any) -> tuple[list[VideoResult], float]:
        self.sources, self.opts = sources, opts
        if self.answer is not None:
            raise self.answer
        # As the runner: an input with a known problem fails with it, the others are done here.
        return [VideoResult(s, status="failed", reason=s.problem) if s.problem
                else VideoResult(s, status="ok", frames=10, seconds=2.0) for s in sources], 2.0


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> _Runner:
    r = _Runner()
    monkeypatch.setattr("lecinpaint.batch.runner.run_batch", r)
    return r


# --- arguments refused before anything is made --------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--chunk", "0"], "--chunk must be a positive number of seconds"),
    (["--chunk", "-2"], "--chunk must be a positive number of seconds"),
    (["--chunk", "nan"], "--chunk must be a positive number of seconds"),
    (["--preroll", "-1"], "--preroll must be >= 0 seconds"),
    (["--preroll", "nan"], "--preroll must be >= 0 seconds"),
    (["--ghost", "2"], "ghost"),
    (["--encoder-args", '-tune "film'], "bad --encoder-args"),
    (["--masks", "{tmp}/no-such-masks"], "--masks '{tmp}/no-such-masks' does not exist"),
])
def test_bad_arguments_are_refused_before_anything_is_made(tmp_path: Path, runner: _Runner, args: list[str],
                                                           message: str) -> None:
    (src,) = _videos(tmp_path / "in", "talk.mp4")
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(UserError) as info:
        main([str(src), "-o", str(out), *ENGINE, *args])
    assert message.replace("{tmp}", str(tmp_path)) in str(info.value)
    assert "\n" not in str(info.value)
    assert not out.exists()  # not even the output folder
    assert runner.opts is None


def test_no_input_video(tmp_path: Path, runner: _Runner, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a video")
    with pytest.raises(UserError, match="^no input video found$"):
        main([str(folder), str(tmp_path / "gone*.mp4"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith(f"lecinpaint: error: {folder}: the folder holds no video")
    assert err[1] == f"lecinpaint: error: {tmp_path}/gone*.mp4: no video matches this pattern"
    assert not (tmp_path / "out").exists()


def test_output_folder_that_cannot_be_made(tmp_path: Path, runner: _Runner) -> None:
    (src,) = _videos(tmp_path / "in", "talk.mp4")
    (tmp_path / "file").write_text("a file where the folder would go")
    with pytest.raises(UserError, match=r"^cannot create the output folder '.*file/out': Not a directory$"):
        main([str(src), "-o", str(tmp_path / "file" / "out")])
    assert runner.opts is None


def test_two_inputs_one_output_and_output_over_input(tmp_path: Path, runner: _Runner) -> None:
    a, b = _videos(tmp_path / "in", "talk.mp4", "talk.mov")
    out = tmp_path / "out"
    both = r"talk\.mp4 and .*talk\.mov would both be written to .*out/talk\.mkv"
    with pytest.raises(UserError, match=both):
        main([str(a), str(b), "-o", str(out), "--ext", "mkv"])
    c, d = _videos(tmp_path / "x", "talk.mp4")[0], _videos(tmp_path / "y", "talk.mp4")[0]
    with pytest.raises(UserError, match="would both be written to"):
        main([str(c), str(d), "-o", str(out)])
    with pytest.raises(UserError, match=r"talk\.mp4: the output would replace the input"):
        main([str(a), "-o", str(tmp_path / "in")])
    assert main([str(a), str(b), "-o", str(out)]) == 0  # their own extensions: two outputs
    assert [s.output.name for s in runner.sources] == ["talk.mp4", "talk.mov"]
    assert a.read_bytes().startswith(b"not decoded")


# --- the masks each input gets ----------------------------------------------------------------------------
def test_masks_per_input(tmp_path: Path, runner: _Runner) -> None:
    inputs = _videos(tmp_path / "in", "a.mp4", "b.mkv", "x[1].mkv", "x1.mkv", "c.mkv")
    masks = tmp_path / "masks"
    (masks / "a").mkdir(parents=True)  # a folder of images
    for name in ("b.mkv", "x[1].mp4", "x1.webm"):  # mask videos, any extension
        (masks / name).write_bytes(b"m")
    out = tmp_path / "out"
    assert main([*map(str, inputs), "-o", str(out), "--masks", str(masks), "-q"]) == 1
    got = {s.input.name: (s.masks.name if s.masks else None, s.problem) for s in runner.sources}
    assert got["a.mp4"] == ("a", None)
    assert got["b.mkv"] == ("b.mkv", None)
    assert got["x[1].mkv"] == ("x[1].mp4", None)  # a name with glob characters: taken literally
    assert got["x1.mkv"] == ("x1.webm", None)
    assert got["c.mkv"][0] is None
    assert got["c.mkv"][1] == f"no masks for it in {str(masks)!r} (expected c/ or c.<ext> in that folder)"
    # The engine settings the workers get: masks, each input's own (never the folder as a mask source),
    # and no frame rate (each worker has its video's).
    settings = runner.opts.settings
    assert settings["segmenter"] == "masks" and "mask_source" not in settings and "input_fps" not in settings
    # One input: the given masks are its own when the folder holds none named after it.
    for given in (masks / "b.mkv", masks):
        assert main([str(inputs[4]), "-o", str(out), "--masks", str(given), "-q"]) == 0
        assert runner.sources[0].masks == given and runner.sources[0].problem is None
    assert main([str(inputs[0]), "-o", str(out), "-q"]) == 0
    assert runner.sources[0].masks is None


# --- skips, refusals, the summary ---------------------------------------------------------------------
def _finish(src: Path, out: Path, settings_hash: str) -> Path:
    """``out`` as a finished output of ``src`` (its completion record written, as the runner does)."""
    tmp = out.with_name(".tmp" + out.suffix)
    tmp.write_bytes(b"a finished output")
    record.write_record(src, out, tmp, settings_hash, frames=25)
    os.replace(tmp, out)
    return out


def test_skip_refuse_fail_summary_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    a, b, c = _videos(tmp_path / "in", "a.mkv", "b.mkv", "c.mkv")
    masks = tmp_path / "masks"
    (masks / "a").mkdir(parents=True)
    (masks / "b").mkdir()
    out = tmp_path / "out"
    args = [str(a), str(b), str(c), "-o", str(out), "--masks", str(masks), *ENGINE]
    # The settings' fingerprint, as a run hands it to the runner (a stand-in here: nothing is done).
    spy = _Runner(KeyboardInterrupt())
    monkeypatch.setattr("lecinpaint.batch.runner.run_batch", spy)
    assert main(args) == 130
    monkeypatch.undo()
    capsys.readouterr()
    out.mkdir(exist_ok=True)
    _finish(a, out / "a.mkv", spy.opts.settings_hash)
    (out / "b.mkv").write_bytes(b"someone else's file")
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    # The real runner: a is finished (skipped), b's output is not the batch's (refused), c has no masks
    # (failed); nothing is left to do, so no cluster starts and nothing changes on disk.
    assert main(args) == 1
    res = capsys.readouterr()
    rows = res.out.splitlines()
    assert rows[0].split() == ["file", "frames", "frames/s", "status"]
    assert rows[1].split() == ["a.mkv", "-", "-", "skipped", "(finished", "before)"]
    assert rows[2].split()[:4] == ["b.mkv", "-", "-", "failed:"] and "use -y to replace it" in rows[2]
    assert rows[3].split()[:4] == ["c.mkv", "-", "-", "failed:"] and "no masks for it" in rows[3]
    assert rows[4] == "0 done (0 frames), 1 skipped, 2 failed" and len(rows) == 5
    err = res.err.splitlines()
    assert err[0].startswith(f"lecinpaint: error: {b}: b.mkv exists without a matching completion record")
    assert err[1].startswith(f"lecinpaint: error: {c}: no masks for it in")
    assert err[2] == f"lecinpaint: outputs in {str(out)!r}" and len(err) == 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps
    # Quiet: the errors and the table only.
    assert main([*args, "-q"]) == 1
    res = capsys.readouterr()
    assert len(res.err.splitlines()) == 2 and "outputs in" not in res.err
    assert res.out.splitlines()[-1] == "0 done (0 frames), 1 skipped, 2 failed"
    # Only the input that needs no work, and the same settings: done, status 0.
    assert main([str(a), "-o", str(out), "--masks", str(masks), *ENGINE, "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 done (0 frames), 1 skipped, 0 failed"
    # Other settings (engine, encoding or masks) make another output: a's is no longer finished.
    for other in (["--crf", "20"], ["--dilation", "1"]):
        assert main([str(a), "-o", str(out), "--masks", str(masks), *ENGINE, *other, "-q"]) == 1
        assert "exists without a matching completion record" in capsys.readouterr().out
    elsewhere = tmp_path / "masks2"
    (elsewhere / "a").mkdir(parents=True)
    assert main([str(a), "-o", str(out), "--masks", str(elsewhere), *ENGINE, "-q"]) == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps


def test_summary_of_a_finished_run(tmp_path: Path, runner: _Runner, capsys: pytest.CaptureFixture) -> None:
    a, b = _videos(tmp_path / "in", "a.mkv", "b.mkv")
    assert main([str(a), str(b), "-o", str(tmp_path / "out")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split() for r in rows[1:3]] == [["a.mkv", "10", "5.00", "ok"], ["b.mkv", "10", "5.00", "ok"]]
    assert rows[3] == "2 done (20 frames in 2.0 s, 10.00 frames/s), 0 skipped, 0 failed"
    # An input that is not there fails the batch (status 1), and the others are still done.
    assert main([str(a), str(tmp_path / "in" / "gone.mkv"), "-o", str(tmp_path / "out")]) == 1
    res = capsys.readouterr()
    assert res.err.startswith(f"lecinpaint: error: {tmp_path / 'in' / 'gone.mkv'}: ")
    assert res.out.splitlines()[-1].startswith("1 done (10 frames")
    # What the runner is given: the command's options, parsed.
    o = runner.opts
    assert (o.outdir, o.workers, o.chunk, o.preroll, o.overwrite, o.gpu, o.auto_device) == \
        (tmp_path / "out", None, None, 10.0, False, False, True)
    assert main([str(a), "-o", str(tmp_path / "out"), "--workers", "3", "--chunk", "60", "--preroll", "0",
                 "-y", "--device", "cuda", "--crf", "23", "--codec", "ffv1"]) == 0
    o = runner.opts
    assert (o.workers, o.chunk, o.preroll, o.overwrite, o.gpu, o.auto_device) == (3, 60.0, 0.0, True, True,
                                                                                   False)
    assert o.encoding["crf"] == 23 and o.encoding["codec"] == "ffv1" and o.settings["device"] == "cuda"


# --- the cluster unreachable, interrupted, terminated ------------------------------------------------------
@pytest.mark.parametrize("answer, status, said", [
    (KeyboardInterrupt(), 130, ("lecinpaint: error: interrupted; the finished outputs are kept, the "
                                "unfinished ones discarded; run the same command again to go on")),
    (Terminated(), 143, "lecinpaint: error: terminated; the finished outputs are kept"),
])
def test_interrupted_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                           answer: BaseException, status: int, said: str) -> None:
    (src,) = _videos(tmp_path / "in", "talk.mp4")
    monkeypatch.setattr("lecinpaint.batch.runner.run_batch", _Runner(answer))
    assert main([str(src), "-o", str(tmp_path / "out")]) == status
    res = capsys.readouterr()
    assert res.err.startswith(said) and len(res.err.splitlines()) == 1 and res.out == ""


def test_unreachable_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (src,) = _videos(tmp_path / "in", "talk.mp4")
    unreachable = _Runner(ConnectionError("no GCS at 10.0.0.9:6379"))
    monkeypatch.setattr("lecinpaint.batch.runner.run_batch", unreachable)
    with pytest.raises(UserError, match=r"^cannot reach the Ray cluster at '10\.0\.0\.9:6379': no GCS at"):
        main([str(src), "-o", str(tmp_path / "out"), "--address", "10.0.0.9:6379"])


def test_command_line_error_is_one_line_and_status_1(tmp_path: Path) -> None:
    (src,) = _videos(tmp_path / "in", "talk.mp4")
    cmd = [sys.executable, "-m", "lecinpaint.cli", "batch", str(src), "-o", str(tmp_path / "out"),
           "--chunk", "0"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == "lecinpaint: error: --chunk must be a positive number of seconds\n"
    assert not (tmp_path / "out").exists()
