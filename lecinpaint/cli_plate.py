"""``lecinpaint plate INPUT -o PLATE``: the first pass alone, written as a plate file.

For the pipe filter, which cannot read its input twice: make the plate once from the file, then give it
with ``--plate PLATE`` (to the filter or to the command). The file format is documented in
:mod:`lecinpaint.plate`; it is checked when loaded (format, version, and that it is this video's).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lecinpaint.cli import PROG, UserError, add_engine_options, engine_settings, log, make_engine

__all__ = ["plate_command"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} plate",
        description="Build the first-seen plate of a lecture video (the board as first seen behind the "
                    "lecturer, per pixel, following the camera) and write it to a file, for --plate.",
        epilog="example:\n  lecinpaint plate lecture.mp4 -o lecture.plate\n"
               "  ffmpeg ... | python -m lecinpaint.filter --plate lecture.plate | ffmpeg ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input video file")
    p.add_argument("-o", "--output", required=True, help="plate file to write (e.g. lecture.plate)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no messages (errors only)")
    add_engine_options(p)
    return p


def plate_command(argv: list[str]) -> int:
    """Run ``lecinpaint plate``; returns the exit status (user errors raise :class:`UserError`)."""
    from lecinpaint.cli import _Outputs, _temp_output
    from lecinpaint.io.ffmpeg import FFmpegError, YUVDecoder, probe
    from lecinpaint.io.output import EncodeOptions, output_format_for

    args = _parser().parse_args(argv)
    inp, out = Path(args.input), Path(args.output)
    if args.plate is not None:
        raise UserError("--plate makes no sense here: this command writes the plate")
    try:
        info = probe(inp)
    except (FileNotFoundError, FFmpegError) as exc:
        raise UserError(str(exc)) from None
    _Outputs(args.overwrite).check(out, "output")  # before the first pass, not at the rename after it
    settings = engine_settings(args, info.rate)
    settings["plate"] = "off"  # nothing to load: this run builds one
    engine = make_engine(settings)
    engine.output_rate(info.rate)
    tmp = _temp_output(out)
    try:
        # The frames exactly as the command gives them to the engine: decoded to the same work format
        # and converted to RGB by the same colour path (the command's default output options).
        fmt = output_format_for(EncodeOptions(), info)
        colour = fmt.colour()
        decoder = YUVDecoder(inp, fmt.work.name, fmt.layout, info.width, info.height)
        try:
            plate = engine.build_plate(colour.to_rgb_frame(f) for f in decoder)
        finally:
            decoder.close()
        if len(plate) == 0:
            raise UserError(f"{str(inp)!r}: no video frames could be decoded")
        plate.save(tmp)
        os.replace(tmp, out)
    except FFmpegError as exc:
        raise UserError(str(exc)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    if not args.quiet:
        log(f"wrote {str(out)!r}: plate of {len(plate)} frames, {plate.n_segments} segment(s), "
            f"{engine.pass_times['first']:.1f} s"
            + (f"; camera registration failed at {plate.failures} frame(s)" if plate.failures else ""))
    return 0
