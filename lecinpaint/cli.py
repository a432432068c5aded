"""Shared plumbing of the command-line front ends (``lecinpaint`` and ``python -m lecinpaint.filter``).

The engine options as argparse flags, their translation into an engine ``Config``, stdout protection
for programs that write frames to stdout, and the one-line error convention. Imports only the standard
library at module level, so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from lecinpaint.segmentation import MEDIAPIPE_VARIANTS

__all__ = [
    "UserError",
    "add_engine_options",
    "engine_settings",
    "make_engine",
    "protect_stdout",
    "error",
    "describe",
    "log",
]

PROG = "lecinpaint"
SEGMENTER_NAMES = ("mediapipe", *(f"mediapipe:{v}" for v in MEDIAPIPE_VARIANTS), "deeplabv3", "fcn")


class UserError(Exception):
    """A problem with the user's input or options: reported as one line on stderr, exit status 1."""


def log(msg: str) -> None:
    """One line on stderr, prefixed with the program name."""
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def error(msg: str) -> None:
    """The one-line error report on stderr."""
    first = str(msg).strip().splitlines()
    print(f"{PROG}: error: {' '.join(s.strip() for s in first) if first else 'unknown error'}",
          file=sys.stderr, flush=True)


def describe(exc: BaseException) -> str:
    """An exception as the one-line message users see: its text, without the exception's class name
    (the class name only when the exception has no text)."""
    return str(exc).strip() or type(exc).__name__


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Add the engine's options (segmenter, flow, completion, ...) to ``parser``.

    Every option defaults to None, meaning "the engine's default", so that only what the user sets is
    passed on (see :func:`engine_settings`).
    """
    g = parser.add_argument_group("engine options (defaults: the built-in tier, no downloads)")
    g.add_argument("--segmenter", choices=SEGMENTER_NAMES, metavar="NAME",
                   help="person segmenter: mediapipe (default: the whole-lecturer stage, also "
                        "mediapipe:lecturer), mediapipe:lecturer-pose, the bare models mediapipe:selfie, "
                        "mediapipe:pose, mediapipe:combined; deeplabv3/fcn need torchvision checkpoints")
    g.add_argument("--segmenter-weights", metavar="PATH",
                   help="checkpoint file or folder for --segmenter deeplabv3/fcn")
    g.add_argument("--masks", metavar="PATH",
                   help="hole masks instead of segmentation: a folder of images or a mask video, one per "
                        "frame, white (nonzero) = remove")
    g.add_argument("--dilation", type=int, metavar="PX",
                   help="grow the hole by this many pixels (default: 3%% of the shorter side)")
    g.add_argument("--flow", choices=("dis", "flownet2"), help="optical flow (default dis)")
    g.add_argument("--flownet2-weights", metavar="PATH",
                   help="FlowNet2_checkpoint.pth.tar for --flow flownet2")
    g.add_argument("--completion", choices=("laplace", "dfc"),
                   help="flow completion in the hole (default laplace)")
    g.add_argument("--dfc-weights", metavar="PATH",
                   help="folder (or file) with the DFC-Net checkpoints for --completion dfc")
    g.add_argument("--threshold", type=float, metavar="PX",
                   help="forward/backward flow consistency threshold in pixels")
    g.add_argument("--lookahead", type=int, metavar="N", help="frames the engine reads ahead (latency)")
    g.add_argument("--fps", metavar="RATE",
                   help="process and output at this lower frame rate, e.g. 5 or 30000/1001")
    g.add_argument("--device", metavar="DEV", help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--plate", metavar="PLATE",
                   help="first-seen plate file from 'lecinpaint plate INPUT -o PLATE' (the command "
                        "otherwise makes its own in a first pass); 'off': none")
    g.add_argument("--ghost", type=float, metavar="ALPHA",
                   help="show the lecturer at this opacity (0 to 1) over the restored board (default 0)")


_FIELDS = (
    "segmenter", "segmenter_weights", "dilation", "flow", "flownet2_weights", "completion", "dfc_weights",
    "threshold", "lookahead", "device", "plate", "ghost",
)


def engine_settings(args: argparse.Namespace, input_fps: Fraction) -> dict[str, Any]:
    """The ``Config`` keyword arguments the user set on the command line (plus the input frame rate)."""
    kw: dict[str, Any] = {f: getattr(args, f) for f in _FIELDS if getattr(args, f, None) is not None}
    if getattr(args, "masks", None):
        kw["segmenter"] = "masks"
        kw["mask_source"] = args.masks
    if getattr(args, "fps", None):
        try:
            fps = Fraction(str(args.fps).replace(":", "/"))
        except (ValueError, ZeroDivisionError):
            raise UserError(f"bad --fps {args.fps!r}: expected a number such as 5 or 30000/1001") from None
        if fps <= 0:
            raise UserError(f"bad --fps {args.fps!r}: it must be positive")
        kw["fps"] = fps
    kw["input_fps"] = input_fps
    return kw


def make_engine(settings: dict[str, Any]) -> Any:
    """Build the engine from :func:`engine_settings`' result.

    Raises:
        UserError: the configuration is invalid or a model/checkpoint cannot be loaded (message from
            the engine, which names the field or file).
    """
    from lecinpaint.engine import Config, Engine

    try:
        return Engine(Config(**settings))
    except (ValueError, ImportError, OSError, RuntimeError) as exc:  # CheckpointNotFoundError is an OSError
        raise UserError(describe(exc)) from exc
    except TypeError as exc:  # an option this engine version does not know
        raise UserError(f"engine configuration rejected: {exc}") from exc


def protect_stdout() -> BinaryIO:
    """Keep fd 1 for frames only: return a binary file on a duplicate of fd 1 and point fd 1 at stderr.

    After this, anything that writes to stdout by file descriptor (C/C++ libraries) or through
    ``sys.stdout`` (stray prints) lands on stderr, and only what is written to the returned file
    reaches the real stdout.
    """
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "wb", buffering=1 << 20)


# ==================================================================================================
# The `lecinpaint` command
# ==================================================================================================

_RUN_EPILOG = """\
examples:
  lecinpaint lecture.mp4 -o clean.mp4
  lecinpaint lecture.mp4 -o clean.mp4 --preview sheet.png --save-masks masks.mkv
  lecinpaint lecture.mp4 -o clean.mp4 --masks masks.mkv          # your own masks, no segmentation
  lecinpaint lecture.mkv -o clean.mkv --codec libx265 --crf 22 --encoder-args "-tag:v hvc1"
  lecinpaint models                                             # seed-tier checkpoints: where, present?
  lecinpaint example example.mp4                                # a small synthetic lecture clip

The size and pixel format (bit depth) of the input are kept, and pixels outside the removed person are
the input's (bit for bit with a lossless --codec such as ffv1). Audio, subtitles, chapters and metadata
are kept. The frame count and the (average) frame rate are kept; timestamps are written at a constant
rate (see docs/frontends.md for variable frame rate sources). The output (and the --preview and
--save-masks files) appear only when the run succeeds (written to temporary files next to them, then
renamed); existing files are replaced only with -y."""

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that clean-up (temporary files, ffmpeg) runs."""


_Terminated = Terminated  # the earlier private name


def add_encoding_options(parser: argparse.ArgumentParser, title: str = "encoding") -> None:
    """Add the encoding options (``--codec``, ``--crf``, ``--preset``, ``--pix-fmt``, ``--matrix``,
    ``--audio-codec``, ``--encoder-args``) to ``parser``, as a group named ``title``; they are the fields
    of :class:`lecinpaint.io.output.EncodeOptions`."""
    enc = parser.add_argument_group(title)
    enc.add_argument("--codec", default="libx264", help="video encoder (default libx264)")
    enc.add_argument("--crf", type=float, default=18, help="quality, lower is better (default 18)")
    enc.add_argument("--preset", default="medium", help="encoder preset (default medium; '' for none)")
    enc.add_argument("--pix-fmt", default=None,
                     help="output pixel format (default: the input's, e.g. yuv420p10le for 10-bit video; "
                          "when the encoder cannot write it, the closest one it can, with a note)")
    enc.add_argument("--matrix", choices=("auto", "bt601", "bt709", "bt2020"), default="auto",
                     help="YUV matrix for the inpainted pixels; auto = the file's tag, else BT.709 from 720 "
                          "lines up and BT.601 below (as the filter)")
    enc.add_argument("--audio-codec", default="copy", help="audio codec (default copy: unchanged)")
    enc.add_argument("--encoder-args", default="", metavar="ARGS",
                     help='more ffmpeg output options, one quoted string, e.g. "-tune film -g 250"')


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s INPUT -o OUTPUT [options]\n       %(prog)s batch INPUT... -o OUTDIR [options]\n"
              "       %(prog)s plate INPUT -o PLATE [options]\n       %(prog)s models [--download NAME]\n"
              "       %(prog)s example OUTPUT",
        description="Remove the lecturer from a lecture video: file in, file out (runs ffmpeg).",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input video file")
    p.add_argument("-o", "--output", required=True,
                   help="output video file (its extension picks the container)")
    p.add_argument("-y", "--overwrite", action="store_true",
                   help="replace OUTPUT (and the --preview / --save-masks files) if they exist")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages (errors only)")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    add_encoding_options(p)
    out = p.add_argument_group("extras")
    out.add_argument("--preview", metavar="PNG", help="write a before/after contact sheet of a few frames")
    out.add_argument("--save-masks", metavar="DIR|VIDEO",
                     help="save the filled holes: a folder of PNGs, or a video (.mkv: lossless FFV1), one "
                          "per output frame; they read back with --masks (with the same --fps)")
    add_engine_options(p)
    return p


def _version() -> str:
    from lecinpaint import __version__

    return __version__


def _temp_output(out: Path, folder: bool = False) -> Path:
    """An unused temporary path next to ``out`` with the same extension (ffmpeg picks the container
    from it), hidden, and named so that it cannot be mistaken for a finished output."""
    import tempfile

    if folder:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".partial{out.suffix}", dir=out.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); the finished output gets the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


class _Outputs:
    """Every file a run writes goes to a temporary path next to its target, renamed only on success:
    a failed or interrupted run leaves no partial output, and existing files need ``-y``."""

    def __init__(self, overwrite: bool) -> None:
        self.overwrite = overwrite
        self._temps: list[tuple[Path, Path]] = []

    def check(self, target: Path, what: str, folder: bool = False) -> None:
        """Refuse ``target`` (a file, or a folder with ``folder``) now, before any work, rather than at the
        rename when the run is done."""
        if target.exists() and target.is_dir() != folder:
            raise UserError(f"{what} {str(target)!r} is a {'file' if folder else 'folder'}; give "
                            f"{'a folder' if folder else 'a file'} name")
        if target.exists() and not self.overwrite:
            raise UserError(f"{what} {str(target)!r} exists; use -y to replace it")
        if not target.parent.is_dir():
            raise UserError(f"the {what} folder {str(target.parent)!r} does not exist")

    def temp(self, target: Path, folder: bool = False) -> Path:
        tmp = _temp_output(target, folder)
        self._temps.append((tmp, target))
        return tmp

    def commit(self) -> None:
        import shutil

        for tmp, target in self._temps:
            if tmp.is_dir() and target.is_dir():
                shutil.rmtree(target)
            os.replace(tmp, target)
        self._temps.clear()

    def discard(self) -> None:
        import shutil

        for tmp, _ in self._temps:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
        self._temps.clear()


def _output_format(args: argparse.Namespace, info: Any) -> Any:
    """The run's :class:`lecinpaint.io.output.OutputFormat` (work format, output pixel format, colour),
    with its notes on stderr."""
    from lecinpaint.io.output import EncodeOptions, output_format_for, subtitle_note

    fmt = output_format_for(EncodeOptions.from_namespace(args), info)
    warning = subtitle_note(info, Path(args.output).suffix)
    for note in fmt.notes:
        if not args.quiet:
            log(f"note: {note}")
    if warning:
        log(warning)
    return fmt


def _mask_stream(args: argparse.Namespace, info: Any, fps: Fraction | None) -> tuple[Any, Any]:
    """(one mask per input frame for ``Engine.run``, the underlying iterator) for ``--masks``.

    Masks come one per input frame, or, under ``--fps``, one per output frame (what ``--save-masks``
    writes): a mask video at the output rate, or a folder with as many images as output frames. The
    latter are spread over the input frames the engine keeps; the dropped ones get an empty mask.
    """
    import numpy as np

    from lecinpaint.io.ffmpeg import FFmpegError, probe
    from lecinpaint.masks import FrameRateReducer, MaskSource

    try:
        src = MaskSource(args.masks)
        src.check_size(info.height, info.width)
    except (ValueError, OSError) as exc:
        raise UserError(f"--masks: {exc}") from None
    it = iter(src)
    if fps is None or fps >= info.rate:
        return it, it
    reducer = FrameRateReducer(info.rate, fps)
    if src.is_video:
        try:
            per_output = probe(args.masks).rate == reducer.output_rate
        except FFmpegError:
            per_output = False
    else:
        n_out = None if info.frames is None else sum(map(reducer.keep, range(info.frames)))
        per_output = len(src) == n_out and len(src) != info.frames
    if not per_output:
        return it, it
    empty = np.zeros((info.height, info.width), bool)

    def spread() -> Any:
        i = 0
        while True:
            if reducer.keep(i):
                m = next(it, None)
                if m is None:
                    return
                yield m
            else:
                yield empty
            i += 1

    return spread(), it


def _run(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    inp, out = Path(args.input), Path(args.output)
    outputs = _Outputs(args.overwrite)
    info = _probe(inp)
    outputs.check(out, "output")
    if out.exists() and inp.resolve() == out.resolve():
        raise UserError("the output file must not be the input file")
    if args.save_masks:
        target = Path(args.save_masks)
        outputs.check(target, "mask output", folder=target.suffix.lower() not in _video_suffixes())
    if args.preview:
        if Path(args.preview).suffix.lower() not in _IMAGE_SUFFIXES:
            raise UserError(f"--preview {args.preview!r}: give an image file name (.png or .jpg)")
        outputs.check(Path(args.preview), "preview")
    if info.vfr and not args.quiet:
        log("note: the input looks like variable frame rate; the output is constant "
            f"{float(info.rate):.3f} fps with every frame kept")
    settings = engine_settings(args, info.rate)
    _note_fps(args, settings, info.rate)
    masks = _mask_stream(args, info, settings.get("fps")) if args.masks else None
    fmt = _output_format(args, info)
    engine = make_engine(settings)
    try:
        return _execute(args, engine, outputs, fmt, masks)
    finally:
        outputs.discard()


def _probe(inp: Path) -> Any:
    from lecinpaint.io.ffmpeg import FFmpegError, probe

    try:
        return probe(inp)
    except (FileNotFoundError, FFmpegError) as exc:
        raise UserError(str(exc)) from None


def _note_fps(args: argparse.Namespace, settings: dict[str, Any], rate: Fraction) -> None:
    fps = settings.get("fps")
    if fps is not None and fps >= rate and not getattr(args, "quiet", False):
        log(f"note: --fps {args.fps} is not below the input's {float(rate):g} fps: every frame is kept")


def _execute(args: argparse.Namespace, engine: Any, outputs: _Outputs, fmt: Any,
             masks: tuple[Any, Any] | None) -> int:
    """Decode, inpaint, encode; the outputs appear only when everything succeeded."""
    import numpy as np

    from lecinpaint.io.ffmpeg import FFmpegError, FrameEncoder, MaskWriter, YUVDecoder
    from lecinpaint.io.output import EncodeOptions, encoder_command
    from lecinpaint.io.preview import Preview, PreviewError
    from lecinpaint.io.stream import inpaint_stream

    out = Path(args.output)
    info, pix_fmt = fmt.info, fmt.pix_fmt
    rate = Fraction(engine.output_rate(info.rate))
    total_out = info.frames if info.frames is None or rate == info.rate else \
        max(1, round(info.frames * rate / info.rate))
    decoder = encoder = masks_out = bar = None
    try:
        # Decoded anew by each reading: the engine's first pass (the plate) reads the file, then the run.
        decoder = _Decoding(lambda: YUVDecoder(args.input, fmt.work.name, fmt.layout, info.width,
                                               info.height))
        colour = fmt.colour()
        try:
            cmd = encoder_command(EncodeOptions.from_namespace(args), args.input, info, fmt.work, rate,
                                  pix_fmt, outputs.temp(out), out.suffix)
        except ValueError as exc:  # --encoder-args
            raise UserError(str(exc)) from None
        encoder = FrameEncoder(cmd, (0,))
        if args.save_masks:
            target = Path(args.save_masks)
            is_video = target.suffix.lower() in _video_suffixes()
            masks_out = MaskWriter(outputs.temp(target, folder=not is_video), info.width, info.height, rate)
        preview = Preview(Path(args.preview), total_out) if args.preview else None
        from tqdm import tqdm

        bar = tqdm(total=total_out, unit="frame", file=sys.stderr, dynamic_ncols=True,
                   disable=args.quiet or not sys.stderr.isatty(), desc=PROG)
        n = 0

        def composite(orig: Any, rgb: Any, hole: Any) -> Any:
            frame = colour.composite_frame(orig, rgb, hole)
            if masks_out is not None:
                masks_out.write(hole)
            if preview is not None and n in preview.wanted:
                preview.add(n, colour.to_rgb_frame(orig), colour.to_rgb_frame(frame))
            return frame

        stream = inpaint_stream(engine, decoder, colour.to_rgb_frame, composite,
                                masks=None if masks is None else masks[0])
        try:
            for _, frame in stream:
                encoder.write_bytes(b"".join(np.ascontiguousarray(p).data for p in frame.planes))
                n += 1
                bar.update(1)
        except ValueError as exc:  # the engine rejecting the masks or frames (message names the frame)
            raise UserError(str(exc).removeprefix("masks: ")) from None
        bar.close()
        if n == 0:
            raise UserError(f"{args.input!r}: no video frames could be decoded")
        if masks is not None and next(masks[1], None) is not None:
            raise UserError(f"--masks {args.masks!r} has more masks than the input has frames ({n}); give "
                            "one mask per frame")
        encoder.close()
        encoder = None
        if masks_out is not None:
            masks_out.close()
            masks_out = None
        if preview is not None:
            preview.write(outputs.temp(Path(args.preview)))
        outputs.commit()
        if not args.quiet:
            first, second = engine.pass_times["first"], engine.pass_times["second"]
            if first and engine.config.plate == "auto":  # a first pass ran (not --plate FILE/off)
                share = 100 * first / max(second, 1e-9)
                log(f"first pass (plate): {first:.1f} s, {share:.0f} % of the second")
            log(f"wrote {str(out)!r}: {n} frames, {pix_fmt}")
        return 0
    except (FFmpegError, PreviewError) as exc:
        raise UserError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
        for proc in (decoder, encoder, masks_out):
            if proc is not None:
                proc.close() if proc is decoder else proc.abort()


class _Decoding:
    """A source read anew by each ``iter()`` (a decoder started again); ``close()`` stops them all."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.decoders: list[Any] = []

    def __iter__(self) -> Any:
        decoder = self.make()
        self.decoders.append(decoder)
        return iter(decoder)

    def close(self) -> None:
        for decoder in self.decoders:
            decoder.close()


def _video_suffixes() -> tuple[str, ...]:
    from lecinpaint.io.ffmpeg import VIDEO_SUFFIXES

    return VIDEO_SUFFIXES


def _batch(argv: list[str]) -> int:
    from lecinpaint.batch.command import main as batch_main  # Ray stays optional: imported on use

    return batch_main(argv)


def main(argv: list[str] | None = None) -> int:
    """The ``lecinpaint`` command; returns the exit status (0 ok, 1 error, 2 usage, 130/143 signal)."""
    import signal

    argv = list(sys.argv[1:] if argv is None else argv)
    from lecinpaint.cli_plate import plate_command
    from lecinpaint.cli_tools import example_command, models_command

    commands = {"models": models_command, "example": example_command, "batch": _batch, "plate": plate_command}
    func = commands.get(argv[0]) if argv else None

    def on_term(signum: int, frame: Any) -> None:
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass
    from lecinpaint.io.native_log import NativeLogFilter

    with NativeLogFilter():
        try:
            return func(argv[1:]) if func is not None else _run(argv)
        except UserError as exc:
            error(str(exc))
            return 1
        except KeyboardInterrupt:
            error("interrupted; no output written")
            return 130
        except Terminated:
            error("terminated; no output written")
            return 143
        except Exception as exc:  # e.g. the engine rejecting the input mid-run: one line, no output written
            error(describe(exc))
            return 1


if __name__ == "__main__":
    sys.exit(main())
