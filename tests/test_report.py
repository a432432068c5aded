"""The lecture benchmark's report: re-rendering the saved results reproduces docs/benchmark.md exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.lecture.report import write_report

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_saved_results_render_to_the_committed_report(tmp_path: Path) -> None:
    pics = tmp_path / "benchmark"
    shutil.copytree(DOCS / "benchmark", pics)  # existing contact sheets are linked, not redrawn
    results = json.loads((DOCS / "benchmark" / "results.json").read_text())
    write_report(results, {}, tmp_path / "benchmark.md", pics)
    assert (tmp_path / "benchmark.md").read_text() == (DOCS / "benchmark.md").read_text()


def test_sections_follow_the_results(tmp_path: Path) -> None:
    results = json.loads((DOCS / "benchmark" / "results.json").read_text())
    for key in ("no_truth", "speed", "memory"):
        results.pop(key)
    first = next(iter(results["quality"][0]["systems"]))
    results["quality"][0]["systems"][first] = {"error": "Traceback ...\nValueError: bad clip\n"}
    write_report(results, {}, tmp_path / "r.md", tmp_path / "p")
    text = (tmp_path / "r.md").read_text()
    assert "## Quality with ground truth" in text
    assert f"| {first} | error: ValueError: bad clip |" in text
    for absent in ("## Real clips without ground truth", "## Speed", "## Memory"):
        assert absent not in text
