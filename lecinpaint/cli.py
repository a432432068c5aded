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

__all__ = [
    "UserError",
    "add_engine_options",
    "engine_settings",
    "make_engine",
    "protect_stdout",
    "error",
    "log",
]

PROG = "lecinpaint"


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


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Add the engine's options (segmenter, flow, completion, ...) to ``parser``.

    Every option defaults to None, meaning "the engine's default", so that only what the user sets is
    passed on (see :func:`engine_settings`).
    """
    g = parser.add_argument_group("engine options (defaults: the built-in tier, no downloads)")
    g.add_argument("--segmenter", choices=("mediapipe", "deeplabv3", "fcn"),
                   help="person segmenter (default mediapipe; deeplabv3/fcn need torchvision checkpoints)")
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
    except (ValueError, FileNotFoundError, ImportError, OSError) as exc:
        raise UserError(str(exc)) from exc
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

Audio, subtitles, chapters and metadata of the input are kept. The frame count and the (average)
frame rate are kept; timestamps are written at a constant rate (see docs/frontends.md for variable
frame rate sources). The output appears only when the run succeeds (written to a temporary file next to
it, then renamed)."""

_TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
_MATRIX = {
    "bt709": "bt709", "bt470bg": "bt601", "smpte170m": "bt601", "bt2020nc": "bt2020", "bt2020c": "bt2020",
}


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that clean-up (temporary files, ffmpeg) runs."""


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s INPUT -o OUTPUT [options]\n       %(prog)s plate INPUT -o PLATE [options]\n"
              "       %(prog)s models\n       %(prog)s example OUTPUT",
        description="Remove the lecturer from a lecture video: file in, file out (runs ffmpeg).",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input video file")
    p.add_argument("-o", "--output", required=True,
                   help="output video file (its extension picks the container)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages (errors only)")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    enc = p.add_argument_group("encoding")
    enc.add_argument("--codec", default="libx264", help="video encoder (default libx264)")
    enc.add_argument("--crf", type=float, default=18, help="quality, lower is better (default 18)")
    enc.add_argument("--preset", default="medium", help="encoder preset (default medium; '' for none)")
    enc.add_argument("--pix-fmt", default="yuv420p", help="output pixel format (default yuv420p)")
    enc.add_argument("--audio-codec", default="copy", help="audio codec (default copy: unchanged)")
    enc.add_argument("--encoder-args", default="", metavar="ARGS",
                     help='more ffmpeg output options, one quoted string, e.g. "-tune film -g 250"')
    out = p.add_argument_group("extras")
    out.add_argument("--preview", metavar="PNG", help="write a before/after contact sheet of a few frames")
    out.add_argument("--save-masks", metavar="DIR|VIDEO",
                     help="save the filled holes: a folder of PNGs, or a video (.mkv: lossless FFV1)")
    add_engine_options(p)
    return p


def _version() -> str:
    from lecinpaint import __version__

    return __version__


def _temp_output(out: Path) -> Path:
    """An unused temporary path next to ``out`` with the same extension (ffmpeg picks the container
    from it), hidden, and named so that it cannot be mistaken for a finished output."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".partial{out.suffix}", dir=out.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); the finished output gets the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def _encoder_cmd(args: argparse.Namespace, info: Any, rate: Fraction, tmp: Path, out: Path) -> list[str]:
    import shlex

    from lecinpaint.io.ffmpeg import find_program

    r = f"{rate.numerator}/{rate.denominator}"
    cmd = [find_program("ffmpeg"), "-nostdin", "-v", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{info.width}x{info.height}", "-r", r, "-i", "-",
           "-i", str(args.input),
           "-map", "0:v:0", "-map", "1:a?", "-map_metadata", "1", "-map_metadata:s:v:0", "1:s:v:0",
           "-map_chapters", "1"]
    suffix = out.suffix.lower()
    if info.subtitles:
        if suffix in (".mp4", ".m4v", ".mov"):
            if all(c in _TEXT_SUBS for c in info.subtitle_codecs):
                cmd += ["-map", "1:s?", "-c:s", "mov_text"]
            else:
                log("warning: image subtitles cannot go into an MP4/MOV file; they are dropped "
                    "(use .mkv to keep them)")
        else:
            cmd += ["-map", "1:s?", "-c:s", "copy"]
    cmd += ["-c:a", args.audio_codec, "-c:v", args.codec]
    if args.crf is not None and args.codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
        cmd += ["-crf", f"{args.crf:g}"]
    if args.preset and args.codec in ("libx264", "libx265", "libsvtav1"):
        cmd += ["-preset", args.preset]
    if args.pix_fmt:
        cmd += ["-pix_fmt", args.pix_fmt]
    matrix = _MATRIX.get(info.color_space or "")
    full = info.color_range == "pc"
    if matrix:
        cmd += ["-vf", f"scale=out_color_matrix={matrix}:out_range={'pc' if full else 'tv'}",
                "-colorspace", info.color_space]
    for flag, val in (("-color_primaries", info.color_primaries), ("-color_trc", info.color_transfer),
                      ("-color_range", info.color_range)):
        if val:
            cmd += [flag, val]
    if suffix in (".mp4", ".m4v", ".mov"):
        cmd += ["-movflags", "+faststart"]
    try:
        cmd += shlex.split(args.encoder_args)
    except ValueError as exc:
        raise UserError(f"bad --encoder-args: {exc}") from None
    return cmd + [str(tmp)]


def _decode_filter(info: Any) -> str | None:
    matrix = _MATRIX.get(info.color_space or "")
    if not matrix:
        return None
    return f"scale=in_color_matrix={matrix}:in_range={'pc' if info.color_range == 'pc' else 'tv'}"


class _Preview:
    """Collects a few (before, after) pairs and writes them as one PNG contact sheet."""

    def __init__(self, path: Path, total: int | None, n: int = 4) -> None:
        self.path = path
        total = total or 1
        self.wanted = sorted({round(j * (total - 1) / max(1, n - 1)) for j in range(n)})
        self.before: dict[int, Any] = {}
        self.pairs: list[tuple[int, Any, Any]] = []

    def write(self) -> None:
        import cv2
        import numpy as np

        pairs = self.pairs
        if not pairs:
            raise UserError("no frames to preview")
        rows = []
        for idx, before, after in pairs:
            h, w = before.shape[:2]
            s = min(1.0, 480.0 / w)
            size = (max(1, int(w * s)), max(1, int(h * s)))
            cells = []
            for img, label in ((before, "before"), (after, "after")):
                cell = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)
                fs = max(0.3, 0.6 * size[0] / 480.0)
                org = (max(2, int(12 * fs)), max(10, int(36 * fs)))
                # A dark box behind the label: an outline drawn with a thicker stroke does not line up
                # with the thin text in every OpenCV version.
                text = f"{label} #{idx}"
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, 1)
                pad = max(2, int(4 * fs))
                cv2.rectangle(cell, (org[0] - pad, org[1] - th - pad), (org[0] + tw + pad, org[1] + base + pad),
                              (0, 0, 0), cv2.FILLED)
                cv2.putText(cell, text, org, cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 0), 1, cv2.LINE_AA)
                cells.append(cell)
            rows.append(np.concatenate([cells[0], np.full((size[1], 4, 3), 255, np.uint8), cells[1]], axis=1))
        sheet = np.concatenate(rows, axis=0)
        if not cv2.imwrite(str(self.path), sheet[:, :, ::-1]):
            raise UserError(f"cannot write the preview {str(self.path)!r} (is the extension .png or .jpg?)")


def _run(argv: list[str]) -> int:
    import numpy as np

    from lecinpaint.io.ffmpeg import FFmpegError, FrameEncoder, MaskWriter, decode_rgb, probe

    args = _run_parser().parse_args(argv)
    inp, out = Path(args.input), Path(args.output)
    try:
        info = probe(inp)
    except (FileNotFoundError, FFmpegError) as exc:
        raise UserError(str(exc)) from None
    if out.exists() and not args.overwrite:
        raise UserError(f"output {str(out)!r} exists; use -y to replace it")
    if out.exists() and inp.resolve() == out.resolve():
        raise UserError("the output file must not be the input file")
    if not out.parent.is_dir():
        raise UserError(f"the output folder {str(out.parent)!r} does not exist")
    if info.vfr and not args.quiet:
        log("note: the input looks like variable frame rate; the output is constant "
            f"{float(info.rate):.3f} fps with every frame kept")

    settings = engine_settings(args, info.rate)
    engine = make_engine(settings)
    rate = Fraction(engine.output_rate(info.rate))
    total_in = info.frames
    total_out = None if total_in is None else (total_in if rate == info.rate else
                                               max(1, round(total_in * rate / info.rate)))
    keep = None
    if rate != info.rate:
        from lecinpaint.masks import FrameRateReducer

        keep = FrameRateReducer(info.rate, settings["fps"]).keep

    preview = _Preview(Path(args.preview), total_out) if args.preview else None
    tmp = _temp_output(out)
    encoder = None
    masks_out = None
    bar = None
    try:
        encoder = FrameEncoder(_encoder_cmd(args, info, rate, tmp, out), (info.height, info.width, 3))
        if args.save_masks:
            masks_out = MaskWriter(args.save_masks, info.width, info.height, rate)
        from tqdm import tqdm

        bar = tqdm(total=total_out, unit="frame", file=sys.stderr, dynamic_ncols=True,
                   disable=args.quiet or not sys.stderr.isatty(), desc=PROG)

        def inputs() -> Any:
            k = 0
            for i, frame in enumerate(decode_rgb(inp, info, vf=_decode_filter(info))):
                if preview is not None and (keep is None or keep(i)):
                    if k in preview.wanted:
                        preview.before[k] = frame
                    k += 1
                yield frame

        with_masks = masks_out is not None
        n = 0
        from lecinpaint.twopass import Reiterable

        # A source decoded anew on each reading: the engine makes its first pass (the plate) over it.
        for n, item in enumerate(engine.run(Reiterable(inputs), with_masks=with_masks), 1):
            frame, mask = item if with_masks else (item, None)
            encoder.write(np.asarray(frame, dtype=np.uint8))
            if masks_out is not None:
                masks_out.write(np.asarray(mask, dtype=bool))
            if preview is not None:
                if n - 1 in preview.before:
                    preview.pairs.append((n - 1, preview.before.pop(n - 1), np.array(frame)))
            bar.update(1)
        bar.close()
        if n == 0:
            raise UserError(f"{str(inp)!r}: no video frames could be decoded")
        encoder.close()
        encoder = None
        if masks_out is not None:
            masks_out.close()
            masks_out = None
        os.replace(tmp, out)
        if preview is not None:
            preview.write()
        if not args.quiet:
            first, second = engine.pass_times["first"], engine.pass_times["second"]
            if first and engine.config.plate == "auto":  # a first pass ran (not --plate FILE/off)
                log(f"first pass (plate): {first:.1f} s, {100 * first / max(second, 1e-9):.0f} % of the second")
            log(f"wrote {str(out)!r}: {n} frames")
        return 0
    except FFmpegError as exc:
        raise UserError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
        if encoder is not None:
            encoder.abort()
        if masks_out is not None:
            masks_out.abort()
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------------------------
# lecinpaint models
# --------------------------------------------------------------------------------------------------

_DFGVI = "https://github.com/nbei/Deep-Flow-Guided-Video-Inpainting (README: pretrained models)"
_FLOWNET2 = ("https://github.com/NVIDIA/flownet2-pytorch (README: 'Converted Caffe Pre-trained Models', "
             "FlowNet2; research-only licence)")


def _checkpoints() -> list[dict[str, str]]:
    """The seed-tier checkpoints: file, use, flag, expected size, hash, source."""
    rows = [
        dict(file="FlowNet2_checkpoint.pth.tar", use="optical flow (--flow flownet2)",
             flag="--flownet2-weights", size="620 MB", hash="unknown", source=_FLOWNET2),
        dict(file="resnet50_stage1.pth", use="DFC-Net stage 1 (--completion dfc)", flag="--dfc-weights",
             size="~141 MiB", hash="unknown", source=_DFGVI),
        dict(file="davis_stage2.pth", use="DFC-Net stage 2 (--completion dfc)", flag="--dfc-weights",
             size="~142 MiB", hash="unknown", source=_DFGVI),
        dict(file="davis_stage3.pth", use="DFC-Net stage 3 (--completion dfc)", flag="--dfc-weights",
             size="~142 MiB", hash="unknown", source=_DFGVI),
        dict(file="resnet101_movie.pth", use="DFC-Net single-scale ResNet-101 variant (optional)",
             flag="--dfc-weights", size="unknown", hash="unknown", source=_DFGVI),
    ]
    try:
        from torchvision.models.segmentation import DeepLabV3_ResNet101_Weights, FCN_ResNet101_Weights
    except ImportError:  # torchvision missing: list the names without its metadata
        weights = []
    else:
        weights = [("deeplabv3", DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1),
                   ("fcn", FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1)]
    for kind, w in weights:
        name = w.url.rsplit("/", 1)[-1]
        prefix = name.rsplit("-", 1)[-1].split(".")[0]
        size = w.meta.get("_file_size")
        rows.append(dict(
            file=name, use=f"person segmentation (--segmenter {kind})", flag="--segmenter-weights",
            size=f"{size:.1f} MB" if size else "unknown",
            hash=f"sha256 starts with {prefix} (torchvision's file-name convention)",
            source=f"{w.url} (torchvision downloads it there on first use when online)"))
    return rows


def _models(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"{PROG} models",
                                description="List the seed-tier checkpoints, where they are looked for, "
                                            "and whether they are present. Nothing is downloaded.")
    p.parse_args(argv)
    from lecinpaint.models._weights import WEIGHTS_ENV, checkpoint_search_dirs

    dirs = checkpoint_search_dirs()
    print("The built-in tier (the default: mediapipe, DIS flow, laplace completion) needs no checkpoint.")
    print("Seed-tier checkpoints are looked for, in order: the path given by the option, then")
    if not os.environ.get(WEIGHTS_ENV):
        print(f"  ${WEIGHTS_ENV} (not set)")
    for d in dirs:
        print(f"  {d}")
    print()
    missing = 0
    for row in _checkpoints():
        found = next((d / row["file"] for d in dirs if (d / row["file"]).is_file()), None)
        if found is None:
            missing += 1
            state = "missing"
        else:
            state = f"present: {found} ({found.stat().st_size / 1e6:.1f} MB)"
        print(f"{row['file']}")
        print(f"  for     {row['use']}; or give it with {row['flag']} PATH")
        print(f"  status  {state}")
        print(f"  size    {row['size']}; hash {row['hash']}")
        print(f"  from    {row['source']}")
    print()
    print(f"{missing} missing" if missing else "all present")
    return 0


# --------------------------------------------------------------------------------------------------
# lecinpaint example
# --------------------------------------------------------------------------------------------------


def _example(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"{PROG} example",
                                description="Write a small synthetic lecture clip (640x360, 5 s, with a "
                                            "sine-tone audio track), made without any external data.")
    p.add_argument("output", help="output video, e.g. example.mp4")
    p.add_argument("--masks", metavar="PATH", help="also write the lecturer's exact masks (e.g. masks.mkv)")
    p.add_argument("--seconds", type=float, default=5.0, help="duration (default 5)")
    p.add_argument("--size", default="640x360", metavar="WxH", help="frame size (default 640x360)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    args = p.parse_args(argv)
    from lecinpaint.example import write_example
    from lecinpaint.io.ffmpeg import FFmpegError
    from lecinpaint.io.rawvideo import RawVideoError, parse_size

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise UserError(f"output {str(out)!r} exists; use -y to replace it")
    if not 0 < args.seconds <= 600:
        raise UserError("--seconds must be in (0, 600]")
    try:
        size = parse_size(args.size)
    except RawVideoError as exc:
        raise UserError(str(exc)) from None
    if size[0] % 2 or size[1] % 2:
        raise UserError("--size: width and height must be even (H.264 4:2:0)")
    tmp = _temp_output(out)
    try:
        write_example(tmp, masks=args.masks, size=size, seconds=args.seconds)
        os.replace(tmp, out)
    except FFmpegError as exc:
        raise UserError(str(exc)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    log(f"wrote {str(out)!r}" + (f" and masks {args.masks!r}" if args.masks else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``lecinpaint`` command; returns the exit status (0 ok, 1 error, 2 usage, 130/143 signal)."""
    import signal

    argv = list(sys.argv[1:] if argv is None else argv)
    from lecinpaint.cli_plate import plate_command

    commands = {"models": _models, "example": _example, "plate": plate_command}
    func = commands.get(argv[0]) if argv else None

    def on_term(signum: int, frame: Any) -> None:
        raise _Terminated

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass
    try:
        return func(argv[1:]) if func is not None else _run(argv)
    except UserError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        error("interrupted; no output written")
        return 130
    except _Terminated:
        error("terminated; no output written")
        return 143
    except Exception as exc:  # e.g. the engine rejecting the input mid-run: one line, no output written
        error(f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
