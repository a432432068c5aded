"""The work of a batch: per-video prepare, per-chunk inpainting, joining the chunks of a video.

:class:`Worker` is a plain class (it does not import Ray): the runner turns it into a Ray actor, so that
each worker process builds the engine once and then serves many tasks. Every method returns a result
dict and never raises for a problem with one input: a broken file is a result with ``ok=False`` and a
one-line ``reason``, and the other videos go on.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from lecinpaint.batch.decode import FrameTimes, decode_range, frame_times
from lecinpaint.batch.plan import Chunk, VideoPlan, plan_chunks, rolls

__all__ = ["Worker", "ChunkTask"]


class ChunkTask(dict):
    """What a chunk task needs (a dict, so that it pickles plainly): ``input``, ``masks``, ``info``,
    ``plan`` (:class:`VideoPlan`), ``chunk`` (:class:`Chunk`), ``target`` (the file to write: the final
    encoding for a video in one chunk, a lossless part otherwise), ``final`` (bool), ``out_rate``,
    ``expected`` (output frames of the chunk), ``key`` and ``progress`` (an object with
    ``report.remote(key, frames_done)``, a Ray actor handle, or None)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(s.strip() for s in str(exc).strip().splitlines()) or type(exc).__name__
    return text if len(text) < 400 else text[:397] + "..."


class Worker:
    """One engine, reused for every task this process gets.

    Args:
        settings: ``Config`` keyword arguments (as from ``cli.engine_settings``), without the input's
            frame rate; ``fps`` (a frame-rate reduction) is applied here, per video, so that it counts
            frames from the start of the video and not from the start of a chunk.
        encoding: the encoding options (``codec``, ``crf``, ``preset``, ``pix_fmt``, ``audio_codec``,
            ``matrix``, ``encoder_args``), as the ``lecinpaint`` command takes them.
    """

    def __init__(self, settings: dict[str, Any], encoding: dict[str, Any]) -> None:
        from lecinpaint.cli import make_engine

        settings = dict(settings)
        self.fps: Fraction | None = settings.pop("fps", None)
        settings.pop("input_fps", None)
        settings.pop("mask_source", None)
        self.uses_masks = settings.get("segmenter") == "masks"
        if self.uses_masks:
            # Masks are handed to run() per chunk (from the chunk's first frame); the segmenter named here
            # is never loaded, and no mask stabiliser runs (the same path as `--masks` in one pass).
            settings.update(segmenter="mediapipe", stabilize=0)
        self.engine = make_engine(settings)
        from lecinpaint.io.output import EncodeOptions

        self.encoding = EncodeOptions.from_namespace(encoding)

    # ---------------------------------------------------------------------------------------------
    def prepare(self, source: str, masks: str | None, chunk_seconds: float | None,
                preroll_seconds: float) -> dict[str, Any]:
        """Probe a video, list its frames' timestamps, check its masks, and cut it into chunks.

        This is the once-per-video step whose product (:class:`VideoPlan`) every chunk of the video
        receives; a product of a first pass over the video belongs in ``VideoPlan.shared`` too.
        """
        from lecinpaint.io.ffmpeg import probe
        from lecinpaint.io.output import output_format_for

        try:
            info = probe(source)
            times = frame_times(source)
            fmt = output_format_for(self.encoding, info)
            if masks is not None:
                _check_masks(masks, info)
            rate = info.rate
            out_rate = rate if self.fps is None else min(self.fps, rate)
            ratio = float(rate / out_rate)
            lookahead = self.engine.lookahead + 1
            pre = int(round(preroll_seconds * float(out_rate)))
            pre_in, post_in = rolls(pre, lookahead, ratio)
            chunk_frames = None if chunk_seconds is None else max(1, int(round(chunk_seconds * float(rate))))
            chunks = plan_chunks(times.count, chunk_frames, pre_in, post_in)
            out_frames = sum(_kept(self._reducer(rate), c.start, c.stop) for c in chunks)
            plan = VideoPlan(times.count, chunks, shared={"times": times, "format": fmt})
            if self.engine.config.plate == "auto":
                # The first pass, once per video: every chunk then uses the same first-seen plate, as
                # the single-file command's second pass does.
                plan.shared["plate"] = self._first_pass(source, info, times, fmt, masks)
        except Exception as exc:  # a broken input: reported, the batch goes on
            return {"ok": False, "reason": _one_line(exc)}
        return {"ok": True, "info": info, "plan": plan, "out_frames": out_frames, "out_rate": out_rate,
                "notes": list(fmt.notes)}

    def _first_pass(self, source: str, info: Any, times: FrameTimes, fmt: Any, masks: str | None) -> Any:
        """The video's first-seen plate, from its kept frames decoded as the chunks decode them."""
        reducer = self._reducer(info.rate)
        keep = (lambda i: True) if reducer is None else reducer.keep
        colour = fmt.colour()
        frames = decode_range(source, info, times, 0, times.count, fmt.work)
        rgb = (colour.to_rgb_frame(f) for i, f in enumerate(frames) if keep(i))
        mask_iter = None if masks is None else _masks_from(masks, 0, times.count, keep)
        try:
            return self.engine.build_plate(rgb, mask_iter)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def _reducer(self, rate: Fraction) -> Any:
        if self.fps is None or self.fps >= rate:
            return None
        from lecinpaint.masks import FrameRateReducer

        return FrameRateReducer(rate, self.fps)

    # ---------------------------------------------------------------------------------------------
    def run_chunk(self, task: dict[str, Any]) -> dict[str, Any]:
        """Inpaint one chunk and write it to ``task['target']`` (through a temporary file).

        Decodes the chunk with its pre-roll and post-roll in the video's work format (the source's own
        planes), runs the engine over all of it, and keeps the output frames of the chunk proper,
        composited into the source planes exactly as the single-file command does. A video in one chunk
        is encoded straight into its final form; a chunk of a longer video becomes a lossless part
        (FFV1, the work format's planes at the source's depth) for :meth:`join`.
        """
        from lecinpaint.io.ffmpeg import FrameEncoder
        from lecinpaint.io.output import OutputFormat, lossless_part_command
        from lecinpaint.io.stream import inpaint_stream

        t0 = time.perf_counter()
        plan: VideoPlan = task["plan"]
        chunk: Chunk = task["chunk"]
        fmt: OutputFormat = plan.shared["format"]
        info = fmt.info
        target = Path(task["target"])
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
        encoder = None
        frames = None
        stream = None
        try:
            times: FrameTimes = plan.shared["times"]
            reducer = self._reducer(info.rate)
            keep = (lambda i: True) if reducer is None else reducer.keep
            frames = decode_range(task["input"], info, times, chunk.decode_start, chunk.decode_stop, fmt.work)
            kept_idx: list[int] = []

            def kept_frames() -> Any:
                for i, f in enumerate(frames, chunk.decode_start):
                    if keep(i):
                        kept_idx.append(i)
                        yield f

            mask_iter = None
            if task["masks"] is not None:
                mask_iter = _masks_from(task["masks"], chunk.decode_start, chunk.decode_stop, keep)
            if task["final"]:
                cmd = self._final_cmd(task["input"], fmt, task["out_rate"], tmp)
            else:
                cmd = lossless_part_command(info, fmt.work, task["out_rate"], tmp)
            encoder = FrameEncoder(cmd, (0,))
            colour = fmt.colour()
            written = 0
            last_report = 0.0
            progress = task.get("progress")  # an object with report.remote(key, frames), or None
            plate = plan.shared.get("plate")
            self.engine.use_plate(plate)  # None: the configuration's (off, or a plate file)
            # The chunk's first kept frame in the whole video's numbering: where it sits in the plate.
            start = _kept(reducer, 0, chunk.decode_start)
            stream = inpaint_stream(self.engine, kept_frames(), colour.to_rgb_frame, colour.composite_frame,
                                    masks=mask_iter, start=start)
            for k, out in stream:
                i = kept_idx[k]
                if chunk.start <= i < chunk.stop:
                    encoder.write_bytes(_frame_bytes(out))
                    written += 1
                    now = time.perf_counter()
                    if progress is not None and now - last_report > 0.5:
                        progress.report.remote(task["key"], written)
                        last_report = now
                elif i >= chunk.stop:
                    # The post-roll's own outputs are not needed: its frames only served as lookahead.
                    break
            expected = task["expected"]
            if written != expected:
                raise RuntimeError(f"frames {chunk.start}..{chunk.stop - 1}: decoded {written} output "
                                   f"frames, expected {expected} (the file ends early or is damaged)")
            encoder.close()
            encoder = None
            os.replace(tmp, target)
            if progress is not None:
                progress.report.remote(task["key"], written)
            return {"ok": True, "frames": written, "seconds": time.perf_counter() - t0}
        except Exception as exc:
            return {"ok": False, "reason": _one_line(exc)}
        finally:
            self.engine.use_plate(None)  # the next task may be another video
            if stream is not None:
                stream.close()
            if frames is not None:
                frames.close()  # stops the decoder when the post-roll was cut short
            if encoder is not None:
                encoder.abort()
            tmp.unlink(missing_ok=True)

    def join(self, task: dict[str, Any]) -> dict[str, Any]:
        """Encode a video's lossless parts, in order, into one file with the source's other streams.

        One encoder over all the parts: the joins are frame-exact (no duplicated or missing frame) and
        invisible (no encoder restart, one GOP structure, one rate control). The parts are read back in
        the work format, so the encoder gets exactly the planes a single pass would have given it.
        """
        from lecinpaint.io.ffmpeg import FrameEncoder, YUVDecoder
        from lecinpaint.io.output import OutputFormat

        t0 = time.perf_counter()
        fmt: OutputFormat = task["format"]
        info = fmt.info
        target = Path(task["target"])
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
        encoder = None
        try:
            encoder = FrameEncoder(self._final_cmd(task["input"], fmt, task["out_rate"], tmp),
                                   (0,))
            n = 0
            for part in task["parts"]:
                for frame in YUVDecoder(part, fmt.work.name, fmt.layout, info.width, info.height):
                    encoder.write_bytes(_frame_bytes(frame))
                    n += 1
            if n != task["expected"]:
                raise RuntimeError(f"joining the chunks gave {n} frames, expected {task['expected']}")
            encoder.close()
            encoder = None
            os.replace(tmp, target)
            return {"ok": True, "frames": n, "seconds": time.perf_counter() - t0}
        except Exception as exc:
            return {"ok": False, "reason": _one_line(exc)}
        finally:
            if encoder is not None:
                encoder.abort()
            tmp.unlink(missing_ok=True)

    def _final_cmd(self, source: str, fmt: Any, rate: Fraction, tmp: Path) -> list[str]:
        """The single-file command's encoder (same options, same streams from the source); ``tmp`` has
        the output's extension, which picks the container."""
        from lecinpaint.io.output import encoder_command

        return encoder_command(self.encoding, source, fmt.info, fmt.work, Fraction(rate), fmt.pix_fmt, tmp,
                               tmp.suffix)


def _frame_bytes(frame: Any) -> bytes:
    """A :class:`YUVFrame`'s planes, one after the other, as ffmpeg's raw planar formats lay them out."""
    return b"".join(np.ascontiguousarray(p).data for p in frame.planes)


def _kept(reducer: Any, start: int, stop: int) -> int:
    if reducer is None:
        return stop - start
    return sum(1 for i in range(start, stop) if reducer.keep(i))


def _check_masks(path: str, info: Any) -> None:
    from lecinpaint.masks import MaskSource

    src = MaskSource(path)
    src.check_size(info.height, info.width)


def _masks_from(path: str, start: int, stop: int, keep: Any) -> Any:
    """Masks ``start .. stop-1`` of a mask source, those of kept frames only (in step with the frames)."""
    from lecinpaint.masks import MaskSource

    src = MaskSource(path)
    if src.files is not None:  # a folder: open only the chunk's images
        src.files = src.files[start:stop]
        base = start
        it = iter(src)
    else:  # a mask video: small and lossless, read from its start
        base = 0
        it = iter(src)
    for i, m in enumerate(it, base):
        if i >= stop:
            break
        if i >= start and keep(i):
            yield m
