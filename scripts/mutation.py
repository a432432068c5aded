#!/usr/bin/env python3
"""Mutation check: plant small bugs one at a time and see whether the tests notice.

Each mutant is (file, original snippet, mutated snippet, tests). For each one the harness writes the
mutated file into a private copy of the tree (the checkout is never touched), rebuilds the CPU op
library when the file is C++ (``setup.py build_ext --inplace`` with ``LECINPAINT_CPU_ONLY=1``; ninja
recompiles only the changed file), runs the mapped tests with ``pytest -x``, records "killed" (a test
failed) or "survived" (all passed), and restores the file. A snippet that is no longer in its file (or
not exactly once) makes the mutant "n/a", so the list survives refactoring.

Usage (from the repository root; slow, not part of CI)::

    nice -n 10 .venv/bin/python scripts/mutation.py              # every mutant
    .venv/bin/python scripts/mutation.py --only masks fill      # mutants whose id starts so
    .venv/bin/python scripts/mutation.py --skip kernel          # all but these (here: no C++ rebuilds)
    .venv/bin/python scripts/mutation.py --list                 # the mutants, nothing run
    .venv/bin/python scripts/mutation.py --json out.json        # also save the results

Exit status: 0 when the score (killed / applicable) reaches ``--target`` (default 0.9), else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Test sets, kept small: a mutant is judged by the tests that exercise its file.
T_WIDE = "tests/ops/test_wide_shapes.py"
T_CORR = "tests/ops/test_correlation.py"
T_WARP = "tests/ops/test_flow_warp.py"
T_RES = "tests/ops/test_resample2d.py"
T_NORM = "tests/ops/test_channelnorm.py"
T_CONS = "tests/ops/test_flow_consistency.py"
T_MASKS = ("tests/test_masks_thresholds.py", "tests/test_masks.py")  # the fast, targeted file first
T_ROWS = "tests/engine/test_row_fill.py"
T_FILL = "tests/engine/test_fill.py"
T_STATE = "tests/engine/test_engine_state.py"
T_PLATE = "tests/engine/test_plate.py"
T_PROP = ("tests/engine/test_propagation_chains.py", "tests/engine/test_propagation.py")
T_COMP = "tests/engine/test_completion.py"
T_LAP = "tests/engine/test_laplace_variants.py"
T_FLOW = ("tests/engine/test_upsample_flow.py", "tests/engine/test_flow.py")
T_IO = "tests/frontends/test_fe_io.py"
T_RATE = "tests/test_y4m_rate.py"
T_CLI = "tests/frontends/test_fe_cli.py"
T_FILTER = "tests/frontends/test_fe_filter.py"
T_CLI_OUT = "tests/frontends/test_cli_output.py"
T_FFMPEG = "tests/frontends/test_fe_ffmpeg.py"
T_VS = "tests/frontends/test_fe_vs_paths.py"
T_LECT = ("tests/test_lecturer_lookback.py", "tests/test_lecturer.py")
T_FEET = "tests/test_lecturer_feet.py"


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``before`` (exactly once in ``path``) becomes ``after``; ``tests`` judge it."""

    id: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]

    @property
    def native(self) -> bool:
        return self.path.startswith("csrc/")


def _m(id: str, path: str, before: str, after: str, *tests: str | tuple[str, ...]) -> Mutant:
    flat: list[str] = []
    for t in tests:
        flat.extend([t] if isinstance(t, str) else t)
    return Mutant(id, path, before, after, tuple(flat))


MUTANTS: list[Mutant] = [
    # --- C++ kernels (csrc/cpu) ---------------------------------------------------------------------
    _m("kernel.correlation.band_row", "csrc/cpu/correlation.cpp",
       "gather_rows(g, item2, first - g.pad + r0, r1 - r0",
       "gather_rows(g, item2, first - g.pad + r0 + (oy0 > 0 ? 1 : 0), r1 - r0", T_WIDE),
    _m("kernel.correlation.band_end", "csrc/cpu/correlation.cpp",
       "const int64_t oy1 = std::min(g.outH, oy0 + kBand);",
       "const int64_t oy1 = std::min(g.outH, oy0 + kBand - 1);", T_WIDE, T_CORR),
    _m("kernel.flow_warp.valid_chunk", "csrc/cpu/flow_warp.cpp",
       "std::memcpy(vrow + xb, ok", "std::memcpy(vrow, ok", T_WIDE, T_WARP),
    _m("kernel.flow_warp.invalid_value", "csrc/cpu/flow_warp.cpp",
       "o[i] = ok[i] ? plane[off[i]] : E(0);", "o[i] = ok[i] ? plane[off[i]] : plane[0];", T_WARP, T_WIDE),
    _m("kernel.flow_warp.bilinear_valid", "csrc/cpu/flow_warp.cpp",
       "vrow[xb + i] = tg[i].valid;", "vrow[i] = tg[i].valid;", T_WIDE, T_WARP),
    _m("kernel.resample2d.corner", "csrc/cpu/resample2d.cpp",
       "o01[i] = t.y0 * W + t.x1;", "o01[i] = t.y0 * W + t.x0;", T_RES, T_WIDE),
    _m("kernel.channelnorm.init", "csrc/cpu/channelnorm.cpp",
       "for (int64_t i = 0; i < len; ++i) acc[i] = T(0);",
       "for (int64_t i = 0; i < len; ++i) acc[i] = T(1e-4);", T_NORM, T_WIDE),
    _m("kernel.channelnorm.grad", "csrc/cpu/channelnorm.cpp",
       "gi[i] = scale[i] * x[i];", "gi[i] = scale[i] * x[i] * T(1.001);", T_NORM),
    _m("kernel.flow_consistency.mid_y", "csrc/cpu/flow_consistency.cpp",
       "my[x] = c.mid_y;", "my[x] = c.mid_x;", T_CONS, T_WIDE),
    # --- masks ----------------------------------------------------------------------------------------
    _m("masks.support_past_only", "lecinpaint/masks.py",
       "support: np.ndarray | None = _or(prev, nxt)", "support: np.ndarray | None = prev", T_MASKS),
    _m("masks.hole_formula", "lecinpaint/masks.py",
       "cv2.contourArea(c) - len(c) / 2 + 1 < hole_area", "cv2.contourArea(c) - len(c) / 2 < hole_area",
       T_MASKS),
    _m("masks.speck_boundary", "lecinpaint/masks.py",
       "if pixels >= speck_area:", "if pixels > speck_area:", T_MASKS),
    _m("masks.reach", "lecinpaint/masks.py",
       "reach = max(2, int(round(0.01 * min(h, w))))", "reach = max(1, int(round(0.01 * min(h, w))))",
       T_MASKS),
    _m("masks.closing", "lecinpaint/masks.py",
       "mask = _or(b, _and(prev, nxt))", "mask = _or(b, _or(prev, nxt))", T_MASKS),
    _m("masks.tiny", "lecinpaint/masks.py",
       "if pixels >= tiny_area and support", "if pixels > tiny_area and support", T_MASKS),
    _m("masks.dilate_threshold", "lecinpaint/masks.py",
       "d * d <= radius_i * radius_i + 0.5", "d * d < radius_i * radius_i", T_MASKS),
    _m("masks.fps_keep", "lecinpaint/masks.py",
       "return i == 0 or math.floor(i * r) > math.floor((i - 1) * r)",
       "return i == 0 or math.ceil(i * r) > math.ceil((i - 1) * r)", T_MASKS),
    _m("masks.default_dilation", "lecinpaint/masks.py",
       "max(2, int(round(0.03 * min(height, width))))", "max(2, int(round(0.03 * max(height, width))))",
       T_MASKS),
    # --- the whole lecturer (segmentation stage) -------------------------------------------------------
    _m("lecturer.no_hold", "lecinpaint/intake.py",
       'cap = int(getattr(segmenter, "look_back_frames", 0))', "cap = 0", T_LECT),
    _m("lecturer.hold_past_cap", "lecinpaint/intake.py",
       "if len(held) >= cap:", "if len(held) > cap:", T_LECT),
    _m("lecturer.no_next_body", "lecinpaint/lecturer.py",
       "kept = touching(_thick(later_own & ~body, thick), body, far)", "kept = None", T_LECT),
    _m("lecturer.no_planted", "lecinpaint/lecturer.py",
       "planted = touching(_thick(later_body & same & ~body, thick), body, reach)", "planted = None", T_LECT),
    _m("lecturer.floor_low_quantile", "lecinpaint/figure.py",
       "quantile: float = 0.8", "quantile: float = 0.2", T_LECT),
    _m("lecturer.floor_never_continued", "lecinpaint/figure.py",
       "if gap > d and gap <= bh:", "if gap > bh:", T_LECT),
    _m("lecturer.floor_kept_at_a_cut", "lecinpaint/lecturer.py",
       "            self._floor.clear()", "            pass", T_LECT),
    _m("lecturer.shift_guard_off", "lecinpaint/board_picture.py",
       "if float(shifted.mean()) >= float(still.mean()):", "if False:", T_LECT),
    _m("lecturer.feet_while_settling", "lecinpaint/lecturer.py",
       "if self.board.raw is not None and not self.settling and", "if self.board.raw is not None and", T_LECT),
    _m("lecturer.feet_off", "lecinpaint/lecturer.py",
       "                add = feet if add is None else add | feet\n", "                pass\n", T_FEET),
    _m("lecturer.feet_sides_open", "lecinpaint/figure.py",
       "for inside, line in ((py0 < y0, labels[0, :]), (px0 < x0, labels[:, 0]), (px1 > x1, labels[:, -1])):",
       "for inside, line in ((py0 < y0, labels[0, :]),):", T_FEET),
    _m("lecturer.feet_top_open", "lecinpaint/figure.py",
       "for inside, line in ((py0 < y0, labels[0, :]), (px0 < x0, labels[:, 0]), (px1 > x1, labels[:, -1])):",
       "for inside, line in ((px0 < x0, labels[:, 0]), (px1 > x1, labels[:, -1])):", T_FEET),
    _m("lecturer.feet_no_lift", "lecinpaint/figure.py",
       "keep = py0 + stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] >= low - lift * bh",
       "keep = np.ones(n, bool)", T_FEET),
    _m("lecturer.feet_in_a_close_up", "lecinpaint/lecturer.py",
       "and not self.settling and not found[-1].any():", "and not self.settling:", T_FEET),
    _m("lecturer.feet_zone_no_below", "lecinpaint/figure.py",
       "min(h, int(math.ceil(low + below * bh)))", "min(h, low)", T_FEET),
    _m("lecturer.feet_no_opening", "lecinpaint/figure.py",
       "opened = cv2.morphologyEx(zone, cv2.MORPH_OPEN, disc(r))", "opened = zone.copy()", T_FEET),
    _m("lecturer.feet_not_recorded", "lecinpaint/lecturer.py",
       "hole = body if feet is None else body | feet", "hole = body", T_FEET),
    # --- batch on Ray ---------------------------------------------------------------------------------
    _m("batch.no_gpu_request", "lecinpaint/batch/runner.py",
       "num_gpus=1 if opts.gpu else 0", "num_gpus=0", "tests/batch/test_runner_resources.py"),
    _m("batch.auto_ignores_gpus", "lecinpaint/batch/runner.py",
       'ray.cluster_resources().get("GPU", 0) >= 1:', 'ray.cluster_resources().get("GPU", 0) > 99:',
       "tests/batch/test_runner_resources.py"),
    # --- fill -----------------------------------------------------------------------------------------
    _m("fill.row_ends_swapped", "lecinpaint/fill.py",
       "lv * (1 - t) + rv * t", "rv * (1 - t) + lv * t", T_ROWS),
    _m("fill.row_smoothing_off", "lecinpaint/fill.py",
       "k = max(1, int(smooth))", "k = 1", T_ROWS),
    _m("fill.row_one_sided", "lecinpaint/fill.py",
       "np.where(has_l[..., None], lv, rv)", "np.where(has_l[..., None], rv, lv)", T_ROWS),
    _m("fill.row_column_fallback", "lecinpaint/fill.py",
       "gap[~(has_l | has_r)] = np.inf", "gap[~(has_l & has_r)] = np.inf", T_ROWS),
    _m("fill.memory_keeps_hidden_value", "lecinpaint/fill.py",
       "self._val.index_copy_(0, newly, last_flat.index_select(0, newly))",
       "self._val.index_copy_(0, newly, flat.index_select(0, newly))", T_STATE, T_FILL),
    _m("fill.memory_reset_keeps_last", "lecinpaint/fill.py",
       "        self._last_valid = False\n        if self._time is not None:",
       "        if self._time is not None:", T_STATE, T_FILL),
    _m("fill.inpaint_margin", "lecinpaint/fill.py",
       "margin = int(np.ceil((self.radius + 2) / self.scale)) + 2", "margin = 0", T_ROWS, T_FILL),
    # --- propagation ----------------------------------------------------------------------------------
    _m("propagation.merge_ties", "lecinpaint/propagation.py",
       "take_f = source_distance(f_src, p.index) <= source_distance(b_src, p.index)",
       "take_f = source_distance(f_src, p.index) < source_distance(b_src, p.index)", T_PROP),
    _m("propagation.resolved", "lecinpaint/propagation.py",
       "resolved = ok & (entry < 0)", "resolved = ok", T_PROP),
    _m("propagation.alive", "lecinpaint/propagation.py",
       "alive = (self.src == UNKNOWN) & (self.pos >= 0)", "alive = (self.src == UNKNOWN) & (self.pos > 0)",
       T_PROP),
    _m("propagation.ready", "lecinpaint/propagation.py",
       "return self._ended or len(self._window) > self.lookahead",
       "return self._ended or len(self._window) >= self.lookahead", T_PROP),
    _m("propagation.commit_time", "lecinpaint/propagation.py",
       "s.fill_(prop.index)", "s.fill_(prop.index - 1)", T_PROP),
    _m("propagation.pack", "lecinpaint/propagation.py",
       "(v[:, 2] << 16)", "(v[:, 2] << 15)", T_PROP),
    _m("propagation.threshold", "lecinpaint/propagation.py",
       "flows.flip(0).contiguous(), self.threshold)", "flows.flip(0).contiguous(), self.threshold * 100)",
       T_PROP),
    _m("propagation.pointer_choice", "lecinpaint/propagation.py",
       "return torch.where(ok[row].index_select(0, rel), t, torch.full_like(t, -1))", "return t", T_PROP),
    _m("flowahead.every_pair", "lecinpaint/flowahead.py",
       "if prev is not None and prev[0] == r.index - 1 and (prev[2] or hole):",
       "if prev is not None and prev[0] == r.index - 1:", "tests/test_ahead.py"),
    _m("lecturer.look_back_near_only", "lecinpaint/lecturer.py",
       "far = 3 * reach  # step 4's distance (see the docstring)", "far = reach",
       "tests/test_lecturer_lookback.py"),
    _m("board.no_row_median", "lecinpaint/board.py",
       "lf, rf = _median_rows(lw, rows_k), _median_rows(rw, rows_k)", "lf, rf = lw, rw",
       "tests/engine/test_board.py"),
    _m("board.line_against_the_field", "lecinpaint/board.py",
       "lum_l = (self.ln - _median_rows(lw, 3 * rows_k)).mean(axis=1)", "lum_l = (self.ln - lf).mean(axis=1)",
       "tests/engine/test_board.py"),
    _m("board.upper_median", "lecinpaint/board.py",
       "lo, hi = np.clip((n - 1) // 2, 0, band - 1), np.clip(n // 2, 0, band - 1)",
       "lo, hi = np.clip(n // 2, 0, band - 1), np.clip(n // 2, 0, band - 1)", "tests/engine/test_board.py"),
    # --- last holes (restore) -------------------------------------------------------------------------
    _m("restore.memory_only_over_unknown", "lecinpaint/restore.py",
       "(src == UNKNOWN) | (src == INPAINTED) | (src == PLATED)", "(src == UNKNOWN)", T_STATE),
    _m("restore.memory_not_over_inpainting", "lecinpaint/restore.py",
       "(src == UNKNOWN) | (src == INPAINTED) | (src == PLATED)", "(src == UNKNOWN) | (src == PLATED)",
       T_STATE),
    _m("restore.plate_carried_not_reread", "lecinpaint/restore.py",
       "(src == UNKNOWN) | (src == INPAINTED) | (src == PLATED)", "(src == UNKNOWN) | (src == INPAINTED)",
       T_STATE, T_PLATE),
    _m("restore.inpainted_recorded_unknown", "lecinpaint/restore.py",
       "src = src.masked_fill(unknown, INPAINTED)", "src = src", T_STATE),
    # --- completion -----------------------------------------------------------------------------------
    _m("completion.box_margin", "lecinpaint/completion.py",
       "        box = _bbox(hole_np, _BOX_MARGIN)\n        if box is None:",
       "        box = _bbox(hole_np, 0)\n        if box is None:", T_LAP, T_COMP),
    _m("completion.torch_jacobi", "lecinpaint/completion.py",
       "v = v + holef * (avg - v)", "v = v + holef * (avg - v) * 0.5", T_LAP),
    _m("completion.coarse_known", "lecinpaint/completion.py",
       "coarse_hole = frac < 0.99", "coarse_hole = frac < 0.5", T_LAP, T_COMP),
    _m("completion.exact_solve", "lecinpaint/completion.py",
       "a[np.arange(m), np.arange(m)] = 4.0", "a[np.arange(m), np.arange(m)] = 4.2", T_LAP, T_COMP),
    # --- flow -----------------------------------------------------------------------------------------
    _m("flow.upsample_scale", "lecinpaint/flow.py",
       "return up[:, :, y0 - oy : y1 - oy, x0 - ox : x1 - ox] * f",
       "return up[:, :, y0 - oy : y1 - oy, x0 - ox : x1 - ox]", T_FLOW),
    _m("flow.upsample_grid", "lecinpaint/flow.py",
       "scale = torch.tensor([1.0 / sx, 1.0 / sy]", "scale = torch.tensor([1.0 / sy, 1.0 / sx]", T_FLOW),
    # --- io ---------------------------------------------------------------------------------------------
    _m("io.y4m.with_rate", "lecinpaint/io/y4m.py",
       'tokens = tuple(f if t.startswith("F") else t for t in self.tokens)',
       "tokens = tuple(t for t in self.tokens)", T_RATE, T_IO),
    _m("io.y4m.with_rate_fields", "lecinpaint/io/y4m.py",
       "        if not self.tokens:\n            # A header built from its fields",
       "        if False:\n            # A header built from its fields", T_RATE),
    _m("io.y4m.rate_parse", "lecinpaint/io/y4m.py",
       "rate = Fraction(int(num), int(den))", "rate = Fraction(int(den), int(num))", T_IO),
    _m("io.color.red", "lecinpaint/io/color.py",
       "vr = 255.0 * 2.0 * (1.0 - kr) / c_scale", "vr = 255.0 * 2.0 * (1.0 - kb) / c_scale", T_IO),
    _m("io.color.chroma", "lecinpaint/io/color.py",
       "cr = (np.array([1.0, 0.0, 0.0]) / 255.0 - luma) / (2.0 * (1.0 - kr))",
       "cr = (np.array([1.0, 0.0, 0.0]) / 255.0 - luma) / (2.0 * (1.0 - kb))", T_IO),
    _m("io.color.box", "lecinpaint/io/stream.py",
       "y0, x0 = int(rows[0]) // sy * sy, int(cols[0]) // sx * sx", "y0, x0 = int(rows[0]), int(cols[0])",
       T_IO),
    _m("io.color.range", "lecinpaint/io/color.py",
       "return 16.0 * s, 219.0 * s, half, 224.0 * s", "return 16.0 * s, 219.0 * s, half, 219.0 * s", T_IO),
    _m("io.ffmpeg.base_rate_first", "lecinpaint/io/ffmpeg.py",
       "rate = avg or real or Fraction(25)", "rate = real or avg or Fraction(25)", T_FFMPEG),
    # --- front ends ---------------------------------------------------------------------------------------
    _m("cli.crf", "lecinpaint/io/output.py",
       'cmd += ["-crf", f"{opts.crf:g}"]', 'cmd += ["-crf", "51"]', T_CLI_OUT),
    _m("cli.audio", "lecinpaint/io/output.py",
       '"-map", "0:v:0", "-map", "1:a?"', '"-map", "0:v:0", "-map", "1:a:1?"',
       T_CLI + "::test_lecinpaint_keeps_audio_subtitles_chapters_metadata"),
    _m("vs.mask_threshold", "lecinpaint/vs.py",
       "yield m > ((1 << fmt.bits_per_sample) - 1) // 2", "yield m >= ((1 << fmt.bits_per_sample) - 1) // 2",
       T_VS),
    _m("vs.variable_format", "lecinpaint/vs.py",
       "return clip.format is None or clip.format.id == vs.NONE", "return clip.format is None", T_VS),
    _m("filter.rate_header", "ffmpeg_filter/_server.py",
       "y4m.header if out_rate == rate else y4m.header.with_rate(out_rate)", "y4m.header",
       T_FILTER + "::test_fps_reduction_keeps_exact_frames"),
]


def _copy_tree(dst: Path) -> None:
    """The checkout's files as git sees them (tracked + untracked, not ignored) and the built library."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                         capture_output=True).stdout.decode()
    for rel in filter(None, out.split("\0")):
        src = ROOT / rel
        if src.is_symlink():  # e.g. lecinpaint/filter -> ../ffmpeg_filter: keep it a link
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            (dst / rel).symlink_to(os.readlink(src))
        elif src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    for lib in list((ROOT / "lecinpaint").glob("_C*.so")) + [ROOT / "lecinpaint" / "_csrc"]:
        if lib.is_dir():
            shutil.copytree(lib, dst / "lecinpaint" / lib.name, dirs_exist_ok=True)
        elif lib.exists():
            shutil.copy2(lib, dst / "lecinpaint" / lib.name)
    data = ROOT.parent / "shared"
    if data.exists() and not (dst.parent / "shared").exists():
        (dst.parent / "shared").symlink_to(data)  # tests find ../shared/data next to the tree


def _build(tree: Path, log: Path) -> bool:
    env = dict(os.environ, LECINPAINT_CPU_ONLY="1", MAX_JOBS=os.environ.get("MAX_JOBS", "1"))
    with log.open("ab") as fh:
        r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace", "--build-temp",
                            str(tree / ".mutation-build")], cwd=tree, env=env, stdout=fh, stderr=fh)
    return r.returncode == 0


def _run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "killed (timeout)", time.perf_counter() - t0
    dt = time.perf_counter() - t0
    if r.returncode == 0:
        return "survived", dt
    if r.returncode in (1, 3) or r.returncode < 0:  # failures, internal error, crash (e.g. SIGSEGV)
        return "killed", dt
    return f"error (pytest exit {r.returncode})", dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="run the mutants whose id starts with these")
    ap.add_argument("--skip", nargs="*", default=(), help="leave out the mutants whose id starts with these")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per mutant's test run")
    ap.add_argument("--target", type=float, default=0.9, help="score needed for exit status 0")
    ap.add_argument("--keep", action="store_true", help="keep the temporary tree (for debugging)")
    args = ap.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or any(m.id.startswith(p) for p in args.only)]
    mutants = [m for m in mutants if not any(m.id.startswith(p) for p in args.skip)]
    # Python mutants first: the C++ ones need a rebuild each (the first one a full build).
    mutants.sort(key=lambda m: m.native)
    if args.list:
        for m in mutants:
            print(f"{m.id:40s} {m.path:34s} {' '.join(m.tests)}")
        print(f"{len(mutants)} mutants")
        return 0
    if not mutants:
        print("mutation: no mutant matches --only", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="lecinpaint-mutation-"))
    tree = work / "tree"
    tree.mkdir()
    _copy_tree(tree)
    log = work / "build.log"
    lib = next((tree / "lecinpaint").glob("_C*.so"), None)
    lib_copy = work / lib.name if lib is not None else None
    if lib is not None and lib_copy is not None:
        shutil.copy2(lib, lib_copy)
    results: list[dict[str, object]] = []
    try:
        for m in mutants:
            target = tree / m.path
            text = target.read_text() if target.exists() else ""
            count = text.count(m.before)
            if count != 1:
                status, dt = f"n/a (snippet found {count}x)", 0.0
            else:
                target.write_text(text.replace(m.before, m.after))
                try:
                    if m.native and not _build(tree, log):
                        status, dt = "killed (build failed)", 0.0
                    else:
                        status, dt = _run_tests(tree, m.tests, args.timeout)
                finally:
                    target.write_text(text)
                    if m.native and lib is not None and lib_copy is not None:
                        shutil.copy2(lib_copy, lib)  # the unmutated library, without a rebuild
            results.append({"id": m.id, "path": m.path, "status": status, "seconds": round(dt, 1)})
            print(f"{m.id:40s} {status:24s} {dt:6.1f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    applicable = [r for r in results if not str(r["status"]).startswith("n/a")]
    killed = [r for r in applicable if str(r["status"]).startswith("killed")]
    score = len(killed) / len(applicable) if applicable else 0.0
    print(f"\nscore: {len(killed)}/{len(applicable)} killed = {score:.0%} "
          f"({len(results) - len(applicable)} not applicable)")
    survivors = [r["id"] for r in applicable if not str(r["status"]).startswith("killed")]
    if survivors:
        print("survivors: " + ", ".join(map(str, survivors)))
    if args.json:
        args.json.write_text(json.dumps({"score": score, "results": results}, indent=2))
    return 0 if score >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
