"""The frame server behind ``python -m lecinpaint.filter``: y4m (or raw video) in, the same out.

Data flow::

    stdin ─► reader thread (bounded queue) ─► RGB for the engine ─► Engine.run ─► (frame, hole)
          ─► composite into the original planes (only the hole changes) ─► stdout, one flush per frame

The original planes of the frames the engine still holds wait in a deque (at most the engine's lookahead
plus the queue), so memory stays bounded on endless input. Nothing but frames reaches stdout: fd 1 is
pointed at stderr while the program runs and frames go to a duplicate of the original fd 1.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, BinaryIO

from lecinpaint.cli import (
    UserError,
    add_engine_options,
    engine_settings,
    describe,
    error,
    log,
    make_engine,
    protect_stdout,
)
from lecinpaint.io.rawvideo import (
    PIX_FMTS,
    RawFormat,
    RawReader,
    RawVideoError,
    RawWriter,
    parse_rate,
    parse_size,
)
from lecinpaint.io.stream import inpaint_stream
from lecinpaint.io.y4m import Y4MError, Y4MHeader, Y4MReader, Y4MWriter, parse_layout

__all__ = ["main", "build_parser"]

_EPILOG = """\
examples:
  # remove the lecturer, keep the audio (the filter sees only the video):
  ffmpeg -nostdin -i in.mp4 -map 0:v:0 -pix_fmt yuv420p -f yuv4mpegpipe - \\
    | python -m lecinpaint.filter \\
    | ffmpeg -y -f yuv4mpegpipe -i - -i in.mp4 -map 0:v:0 -map 1:a:0? -c:v libx264 -crf 18 -c:a copy out.mp4

  # raw RGB frames:
  ffmpeg -nostdin -i in.mp4 -f rawvideo -pix_fmt rgb24 - \\
    | python -m lecinpaint.filter --input-format rawvideo --size 1280x720 --pix-fmt rgb24 --rate 25 \\
    | ffmpeg -y -f rawvideo -pix_fmt rgb24 -s 1280x720 -r 25 -i - -c:v libx264 -crf 18 out.mp4

Only frames are written to stdout; logs and progress go to stderr. Exit status: 0 done, 1 bad input or
failure (frames already written stay valid), 2 bad usage, 130/143 stopped by SIGINT/SIGTERM (the frames
finished before the signal are written first)."""

_END = object()


class _Failure:
    """An exception raised in the reader thread, handed to the main thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``python -m lecinpaint.filter``."""
    p = argparse.ArgumentParser(
        prog="python -m lecinpaint.filter",
        description="Remove the lecturer from a video stream: reads y4m (or raw video) on stdin and writes "
        "the same format, same size, rate and frame count, on stdout.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = p.add_argument_group("stream format")
    io.add_argument("--input-format", "-f", choices=("yuv4mpegpipe", "y4m", "rawvideo"), default="y4m",
                    help="y4m (default; ffmpeg calls it yuv4mpegpipe) or rawvideo")
    io.add_argument("--size", "-s", metavar="WxH", help="frame size (rawvideo only), e.g. 1280x720")
    io.add_argument("--pix-fmt", choices=PIX_FMTS, help="pixel format (rawvideo only)")
    io.add_argument("--rate", "-r", metavar="N/D", help="frame rate (rawvideo only), e.g. 25 or 30000/1001")
    io.add_argument("--matrix", choices=("auto", "bt601", "bt709", "bt2020"), default="auto",
                    help="YUV matrix (y4m does not carry it); auto = BT.709 from 720 lines up, else BT.601")
    io.add_argument("--range", dest="color_range", choices=("auto", "limited", "full"), default="auto",
                    help="YUV range; auto = the stream's XCOLORRANGE, else limited (TV)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr")
    add_engine_options(p)
    return p


class _Stop:
    """SIGINT/SIGTERM handling: the first signal asks to stop reading; a second one aborts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        for s in (signal.SIGINT, signal.SIGTERM):
            # A SIGINT ignored by whoever started us (``cmd &`` in a script, nohup) stays ignored, as for
            # any POSIX tool: only a terminal's Ctrl-C for a foreground job is meant to stop the filter.
            if s == signal.SIGINT and signal.getsignal(s) == signal.SIG_IGN:
                continue
            self._old[s] = signal.signal(s, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()


class _Progress:
    """A progress line on stderr: rewritten in place on a terminal, a summary line otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self._last = 0.0
        self.done = 0

    def __call__(self, n: int) -> None:
        self.done = n
        if self.quiet or not self.tty:
            return
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            fps = n / max(now - self.start, 1e-9)
            sys.stderr.write(f"\rlecinpaint: {n} frames, {fps:.2f} fps ")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.quiet:
            return
        dt = time.monotonic() - self.start
        if self.tty:
            sys.stderr.write("\n")
        log(f"{self.done} frames in {dt:.1f} s ({self.done / max(dt, 1e-9):.2f} fps)")


def _reader(source: Iterator[Any], q: queue.Queue, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            item = next(source, _END)
            q.put(item)
            if item is _END:
                return
        q.put(_END)
    except BaseException as exc:  # handed to the main thread, which reports it
        q.put(_Failure(exc))


def _discard_stdout(out: BinaryIO) -> None:
    """After a broken pipe: point the frame fd at /dev/null so that closing it cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, out.fileno())
    finally:
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run the frame server; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    raw = args.input_format == "rawvideo"
    if raw and not (args.size and args.pix_fmt and args.rate):
        parser.error("--input-format rawvideo needs --size, --pix-fmt and --rate")
    if not raw and (args.size or args.pix_fmt or args.rate):
        parser.error("--size, --pix-fmt and --rate are for --input-format rawvideo (y4m has a header)")
    if sys.stdin is None or sys.stdin.isatty():
        error("no input: pipe a y4m stream into stdin (see --help for an ffmpeg example)")
        return 1

    from lecinpaint.io.native_log import NativeLogFilter

    logs = NativeLogFilter().install()
    out = protect_stdout()
    stop = _Stop()
    stop.install()
    state = _State()
    try:
        code = _run(args, out, stop, state)
    except BrokenPipeError:
        _discard_stdout(out)
        code = 1
    except UserError as exc:
        error(str(exc))
        code = 1
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    except Exception as exc:  # a failure inside the engine: report it in one line, keep what was written
        error(describe(exc))
        code = 1
    try:
        out.flush()
    except BrokenPipeError:
        _discard_stdout(out)
        code = code or 1
    sys.stderr.flush()
    logs.close(also=(1,))  # fd 1 was pointed at the filtered fd 2 by protect_stdout
    if state.reader is not None and state.reader.is_alive():
        # The reader thread may be blocked in a read on stdin; a normal interpreter shutdown would
        # wait on the stdin lock. Everything is flushed, so leave at once.
        os._exit(code)
    return code


class _State:
    reader: threading.Thread | None = None


def _open_source(args: argparse.Namespace, stdin: BinaryIO) -> tuple[Any, Any, Any]:
    """(y4m reader or None, raw format or None, frame iterator): the header or the raw description is
    checked before any model is loaded."""
    try:
        if args.input_format == "rawvideo":
            w, h = parse_size(args.size)
            fmt = RawFormat(w, h, args.pix_fmt)
            parse_rate(args.rate)
            return None, fmt, iter(RawReader(stdin, fmt))
        y4m = Y4MReader(stdin)
        return y4m, None, iter(y4m)
    except (Y4MError, RawVideoError) as exc:
        raise UserError(str(exc)) from None


def _codec(args: argparse.Namespace, y4m: Y4MReader | None, fmt: RawFormat | None) -> tuple[Any, Any]:
    """(to_rgb, composite) for the stream's format: YUV goes through :class:`Colour` (only the hole's
    samples change), RGB raw video is composited in RGB."""
    from lecinpaint.io.stream import Colour, composite_rgb  # torch: imported after the stdout redirect

    if y4m is not None:
        hdr = y4m.header
        full = {"full": True, "limited": False}.get(args.color_range, bool(hdr.full_range))
        matrix = None if args.matrix == "auto" else args.matrix
        colour = Colour.for_layout(hdr.layout, hdr.height, matrix=matrix, full_range=full)
        return colour.to_rgb_frame, colour.composite_frame
    assert fmt is not None
    if fmt.planar:
        full = args.color_range == "full"
        matrix = None if args.matrix == "auto" else args.matrix
        colour = Colour.for_layout(parse_layout("420jpeg"), fmt.height, matrix=matrix, full_range=full)
        return colour.to_rgb, colour.composite
    if fmt.pix_fmt == "rgb24":
        return (lambda item: item[0]), (lambda orig, rgb, hole: [composite_rgb(orig[0], rgb, hole)])
    return ((lambda item: item[0][:, :, ::-1]),
            (lambda orig, rgb, hole: [composite_rgb(orig[0], rgb[:, :, ::-1], hole)]))


def _queued(source: Iterator[Any], stop: _Stop, state: _State, failure: list[BaseException]) -> Iterator[Any]:
    """The source's items, read ahead by a thread (so decoding stdin overlaps the engine's work); after
    a stop request, what was already read, without waiting for more."""
    q: queue.Queue = queue.Queue(maxsize=4)
    state.reader = threading.Thread(target=_reader, args=(source, q, stop.event), name="lecinpaint-reader",
                                    daemon=True)
    state.reader.start()
    while True:
        try:
            item = q.get_nowait() if stop.event.is_set() else q.get(timeout=0.1)
        except queue.Empty:
            if stop.event.is_set():
                return
            continue
        if item is _END:
            return
        if isinstance(item, _Failure):
            failure.append(item.exc)
            return
        yield item


def _run(args: argparse.Namespace, out: BinaryIO, stop: _Stop, state: _State) -> int:
    stdin = os.fdopen(os.dup(0), "rb", buffering=1 << 20)
    y4m, fmt, source = _open_source(args, stdin)
    if y4m is not None and y4m.header.interlace in ("t", "b", "m"):
        log("warning: interlaced input; fields are processed as progressive frames (deinterlace first)")
    rate = y4m.header.rate if y4m is not None else parse_rate(args.rate)
    to_rgb, composite = _codec(args, y4m, fmt)
    settings = engine_settings(args, rate)
    fps = settings.get("fps")
    if fps is not None and fps >= rate and not args.quiet:
        log(f"note: --fps {args.fps} is not below the input's {float(rate):g} fps: every frame is kept")
    engine = make_engine(settings)
    out_rate = Fraction(engine.output_rate(rate))
    if y4m is not None:
        header: Y4MHeader = y4m.header if out_rate == rate else y4m.header.with_rate(out_rate)
        writer: Any = Y4MWriter(out, header)
    else:
        writer = RawWriter(out, fmt)  # type: ignore[arg-type]

    failure: list[BaseException] = []
    progress = _Progress(args.quiet)
    frames = _queued(source, stop, state, failure)
    for _, frame in inpaint_stream(engine, frames, to_rgb, composite, progress=progress):
        writer.write(frame)
    if failure:
        exc = failure[0]
        if isinstance(exc, (Y4MError, RawVideoError)):
            raise UserError(str(exc))
        if isinstance(exc, OSError):
            raise UserError(f"cannot read the input: {exc}")
        raise exc
    progress.finish()
    if stop.event.is_set():
        name = "SIGINT" if stop.signum == signal.SIGINT else "SIGTERM"
        log(f"stopped by {name} after {progress.done} frames (all finished frames written)")
        return 128 + stop.signum
    return 0
