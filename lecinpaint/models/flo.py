"""Reading and writing Middlebury ``.flo`` optical-flow files (the format FlowNet2 and DFGVI use).

Layout, little-endian: the float32 tag 202021.25 (the bytes ``PIEH``), int32 width, int32 height, then
``height * width * 2`` float32 values, row by row, u and v interleaved (u = dx, v = dy, pixels).

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> flow = np.zeros((4, 6, 2), np.float32); flow[..., 0] = 1.5
    >>> path = os.path.join(tempfile.mkdtemp(), "a.flo")
    >>> write_flo(path, flow)
    >>> bool(np.array_equal(read_flo(path), flow))
    True
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["FLO_TAG", "read_flo", "write_flo"]

FLO_TAG = 202021.25
_HEADER = 12


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``.flo`` file into a float32 array ``(H, W, 2)`` (channel 0 = dx).

    Raises:
        ValueError: the file is not a ``.flo`` file (wrong tag) or is truncated.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _HEADER:
        raise ValueError(f"{path}: too short for a .flo file ({len(data)} bytes)")
    tag = np.frombuffer(data, "<f4", 1, 0)[0]
    if tag != np.float32(FLO_TAG):
        raise ValueError(f"{path}: not a .flo file (tag {tag!r}, expected {FLO_TAG})")
    w, h = (int(v) for v in np.frombuffer(data, "<i4", 2, 4))
    if w < 0 or h < 0:
        raise ValueError(f"{path}: invalid .flo size {w}x{h}")
    need = _HEADER + 8 * w * h
    if len(data) < need:
        raise ValueError(f"{path}: truncated .flo file ({len(data)} bytes, {need} expected for {w}x{h})")
    return np.frombuffer(data, "<f4", 2 * w * h, _HEADER).reshape(h, w, 2).astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write a flow ``(H, W, 2)`` (channel 0 = dx) as a ``.flo`` file.

    Raises:
        ValueError: ``flow`` does not have shape (H, W, 2).
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"write_flo: flow must have shape (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    with open(path, "wb") as f:
        f.write(np.array([FLO_TAG], "<f4").tobytes())
        f.write(np.array([w, h], "<i4").tobytes())
        f.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())
