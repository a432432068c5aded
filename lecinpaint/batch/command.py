"""``lecinpaint batch``: many lectures (and long ones, in chunks) on a Ray cluster.

The options are those of the ``lecinpaint`` command (the engine's and the encoding's, the same flags
with the same meaning) plus the batch's own. The work is done by :mod:`lecinpaint.batch.runner`.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from lecinpaint.batch.plan import Source, expand_inputs, output_path
from lecinpaint.cli import (
    PROG,
    Terminated,
    UserError,
    add_encoding_options,
    add_engine_options,
    engine_settings,
    error,
    log,
)
from lecinpaint.io.output import EncodeOptions

__all__ = ["main", "parser"]

_EPILOG = """\
examples:
  lecinpaint batch lectures/ -o clean/                       # every video in the folder, local Ray
  lecinpaint batch 'archive/**/*.mp4' -o clean/ --address auto --device cuda
  lecinpaint batch long.mp4 -o clean/ --chunk 120             # one long video, 2-minute chunks in parallel

Each output is OUTDIR/<input name>.<ext>, written only when complete. Running the same batch again skips
the outputs that were finished (use -y to redo them). --masks takes a folder of per-video masks named
after the inputs (MASKS/<name>.mkv, MASKS/<name>/, ...); with a single input it may also be the masks
themselves. The exit status is 1 if any input failed. See docs/cluster.md."""


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``lecinpaint batch``."""
    p = argparse.ArgumentParser(
        prog=f"{PROG} batch",
        usage="%(prog)s INPUT... -o OUTDIR [options]",
        description="Remove the lecturer from many lecture videos, in parallel on Ray "
                    "(a local cluster by default, or any cluster by --address).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (the videos inside) or globs")
    p.add_argument("-o", "--outdir", required=True, help="output folder (created if missing)")
    p.add_argument("--ext", help="output container, e.g. mp4 or mkv (default: the input's own)")
    p.add_argument("-y", "--overwrite", action="store_true", help="redo outputs that are already finished")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the summary is printed)")
    r = p.add_argument_group("Ray")
    r.add_argument("--address", metavar="ADDR",
                   help="join this Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                        "(default: start a local cluster for this run)")
    r.add_argument("--workers", type=int, metavar="N",
                   help="engine workers (default: one per CPU, or one per GPU with --device cuda, "
                        "or with auto on a cluster that has GPUs)")
    r.add_argument("--chunk", type=float, metavar="SECONDS",
                   help="cut each video into chunks of this length, processed in parallel and joined")
    r.add_argument("--preroll", type=float, default=10.0, metavar="SECONDS",
                   help="frames decoded before each chunk to bring the engine's state to where a single "
                        "pass has it (default 10; see docs/cluster.md)")
    add_encoding_options(p, "encoding (as for a single file)")
    add_engine_options(p)
    return p


def _mask_for(masks: Path | None, source: Path, single: bool) -> tuple[Path | None, str | None]:
    """(the masks of ``source``, or None; a problem that fails this input, or None)."""
    if masks is None:
        return None, None
    if masks.is_dir():
        for cand in [masks / source.stem, *sorted(masks.glob(glob.escape(source.stem) + ".*"))]:
            if cand.exists():
                return cand, None
    if single:
        return masks, None
    return None, (f"no masks for it in {str(masks)!r} "
                  f"(expected {source.stem}/ or {source.stem}.<ext> in that folder)")


def main(argv: list[str]) -> int:
    """Run ``lecinpaint batch``; returns the exit status (0 all done or skipped, 1 any failure)."""
    from lecinpaint.batch.record import fingerprint
    from lecinpaint.batch.runner import BatchOptions, import_ray, run_batch, summary_table

    args = parser().parse_args(argv)
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.chunk is not None and not args.chunk > 0:
        raise UserError("--chunk must be a positive number of seconds")
    if not args.preroll >= 0:
        raise UserError("--preroll must be >= 0 seconds")
    import_ray_error = None
    try:
        import_ray()
    except ImportError as exc:
        import_ray_error = str(exc)
    if import_ray_error:
        raise UserError(import_ray_error)

    inputs, problems = expand_inputs(args.inputs)
    for msg in problems:
        error(msg)
    if not inputs:
        raise UserError("no input video found")
    outdir = Path(args.outdir)
    masks = Path(args.masks) if args.masks else None
    if masks is not None and not masks.exists():
        raise UserError(f"--masks {str(masks)!r} does not exist")
    sources: list[Source] = []
    seen: dict[Path, Path] = {}
    for inp in inputs:
        out = output_path(inp, outdir, args.ext)
        if out in seen:
            raise UserError(f"{seen[out]} and {inp} would both be written to {out}; rename one, or run them "
                            "into different output folders")
        if out.resolve() == inp.resolve():
            raise UserError(f"{inp}: the output would replace the input; choose another output folder")
        seen[out] = inp
        mask, problem = _mask_for(masks, inp, len(inputs) == 1)
        sources.append(Source(inp, out, mask, problem))

    # The engine options are checked here, once, before any worker starts.
    settings = engine_settings(args, input_fps=1)  # type: ignore[arg-type]
    settings.pop("input_fps")
    settings.pop("mask_source", None)
    try:
        from lecinpaint.engine import Config

        Config(**{k: v for k, v in settings.items() if k != "segmenter" or v != "masks"})
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
    # The same fields, with the same meaning, as the single-file command's encoding options.
    encoding = {k: getattr(args, k) for k in EncodeOptions.__dataclass_fields__}
    try:
        EncodeOptions.from_namespace(encoding).extra_args()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    # Made only now, once every argument is known to be good: a refused command leaves nothing behind.
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {str(outdir)!r}: {exc.strerror}") from None
    device = str(settings.get("device", "auto"))
    opts = BatchOptions(
        outdir=outdir, settings=settings, encoding=encoding, address=args.address, workers=args.workers,
        chunk=args.chunk, preroll=args.preroll, overwrite=args.overwrite, quiet=args.quiet,
        gpu=device.startswith("cuda"), auto_device=device == "auto",
        settings_hash=fingerprint({"engine": settings, "encoding": encoding, "masks": str(masks)}),
    )
    try:
        results, elapsed = run_batch(sources, opts)
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray cluster at {args.address!r}: {exc}") from None
    except (KeyboardInterrupt, Terminated) as exc:
        # Unlike a single file, a batch keeps what it finished: say so, and how to go on.
        error(f"{'interrupted' if isinstance(exc, KeyboardInterrupt) else 'terminated'}; the finished "
              "outputs are kept, the unfinished ones discarded; run the same command again to go on")
        return 130 if isinstance(exc, KeyboardInterrupt) else 143
    for r in results:
        if r.status == "failed":
            error(f"{r.source.input}: {r.reason}")
    print(summary_table(results, elapsed), flush=True)
    failed = bool(problems) or any(r.status == "failed" for r in results)
    if not args.quiet:
        log(f"outputs in {str(outdir)!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
