"""The ``lecinpaint`` command's output targets of the wrong kind (a folder where a file goes, a file where
a folder of masks goes) are refused before any work, not by the rename once the run is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from lecinpaint.cli import UserError, _run

from ._helpers import ENGINE_ARGS, ffmpeg_encode_raw, needs_ffmpeg, scene, write_mask_dir

pytestmark = needs_ffmpeg


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def engine(settings: dict) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr("lecinpaint.cli.make_engine", engine)


def test_targets_of_the_wrong_kind(tmp_path: Path, no_work: None) -> None:
    frames, masks, _ = scene(n=4)
    src = tmp_path / "in.mkv"
    ffmpeg_encode_raw(frames, ["-c:v", "ffv1", "-y", str(src)])
    args = ["--masks", str(write_mask_dir(masks, tmp_path / "m")), *ENGINE_ARGS, "-y", "-q"]
    folder = tmp_path / "out.mp4"
    folder.mkdir()
    (folder / "keep").write_text("kept")
    with pytest.raises(UserError, match=f"^output {str(folder)!r} is a folder; give a file name$"):
        _run([str(src), "-o", str(folder), *args])
    # --save-masks: a video file, or else a folder of images.
    afile = tmp_path / "masks_here"
    afile.write_text("a file")
    with pytest.raises(UserError, match=f"^mask output {str(afile)!r} is a file; give a folder name$"):
        _run([str(src), "-o", str(tmp_path / "out.mkv"), "--save-masks", str(afile), *args])
    with pytest.raises(UserError, match=f"^mask output {str(folder)!r} is a folder; give a file name$"):
        _run([str(src), "-o", str(tmp_path / "out.mkv"), "--save-masks", str(folder), *args])
    preview = tmp_path / "p.png"
    preview.mkdir()
    with pytest.raises(UserError, match=f"^preview {str(preview)!r} is a folder; give a file name$"):
        _run([str(src), "-o", str(tmp_path / "out.mkv"), "--preview", str(preview), *args])
    assert (folder / "keep").read_text() == "kept" and afile.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "m", "masks_here", "out.mp4", "p.png"]
    # The same kinds, right: past the checks (the run starts).
    mask_dir = tmp_path / "old_masks"
    mask_dir.mkdir()
    with pytest.raises(AssertionError, match="the run started"):
        _run([str(src), "-o", str(tmp_path / "out.mkv"), "--save-masks", str(mask_dir), *args])
