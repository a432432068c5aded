"""Frame I/O for the front ends: y4m and raw video streams, colour conversion, ffmpeg processes.

Submodules:
    lecinpaint.io.y4m        YUV4MPEG2 reader/writer (every 8-bit layout ffmpeg writes, and 9..16 bit)
    lecinpaint.io.rawvideo   headerless rgb24 / bgr24 / yuv420p streams
    lecinpaint.io.color      YUV <-> RGB in torch, and YUV-space compositing (bit-exact outside the hole)
    lecinpaint.io.stream     the one source -> engine -> composited frame path all front ends share
    lecinpaint.io.ffmpeg     ffprobe / ffmpeg subprocess helpers (probe, decode, encode, mask videos)
    lecinpaint.io.pixfmt     which pixel format the command works in and which one an encoder can write
    lecinpaint.io.output     what a file front end writes: work/output formats, colour, encoder command
    lecinpaint.io.preview    the command's before/after contact sheet
    lecinpaint.io.native_log keeps TensorFlow Lite / absl start-up lines off stderr (fd level)
"""

from __future__ import annotations

from lecinpaint.io.rawvideo import RawFormat, RawReader, RawVideoError, RawWriter
from lecinpaint.io.y4m import Y4MError, Y4MHeader, Y4MReader, Y4MWriter, YUVFrame

__all__ = [
    "RawFormat",
    "RawReader",
    "RawVideoError",
    "RawWriter",
    "Y4MError",
    "Y4MHeader",
    "Y4MReader",
    "Y4MWriter",
    "YUVFrame",
]
