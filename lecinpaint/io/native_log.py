"""Keep the native libraries' start-up chatter (TensorFlow Lite, absl, glog) off the terminal.

mediapipe's models print, from C++ straight to file descriptor 2, lines such as::

    INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    W0000 00:00:1795950400.190397    8095 inference_feedback_manager.cc:114] Feedback manager requires ...

They appear when the graph first runs (not at import, not when the segmenter is built), and the
environment variables these libraries read elsewhere (``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL``)
do not reach mediapipe 0.10.21's logger. So the command-line front ends put a filter on fd 2 itself:
fd 2 becomes a pipe read by a thread that drops these informational lines and passes every other byte
through to the real stderr; Python's own ``sys.stderr`` (progress, errors) writes to the real stderr
directly. Errors and fatal lines of those libraries (``E``/``F`` prefixes) still show.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from typing import Any

__all__ = ["NATIVE_NOISE", "is_noise", "NativeLogFilter"]

NATIVE_NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite .*delegate"
    rb"|INFO: Initialized TensorFlow Lite runtime"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] )"
)


def is_noise(line: bytes) -> bool:
    """True for an informational line of TensorFlow Lite / absl / glog."""
    return NATIVE_NOISE.match(line) is not None


class NativeLogFilter:
    """Filter fd 2 while installed (a context manager; see the module docstring).

    ``install`` is a no-op when fd 2 is not open. ``close`` restores fd 2, forwards what is still in the
    pipe, and stops the thread; call it before ``os._exit``.
    """

    def __init__(self) -> None:
        self._saved: int | None = None
        self._thread: threading.Thread | None = None
        self._old_stderr: Any = None

    def install(self) -> NativeLogFilter:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, AttributeError, ValueError):
            return self
        r, w = os.pipe()
        os.dup2(w, 2)
        os.close(w)
        self._saved = saved
        # Python's writes go to the real stderr (no detour through the pipe and the thread), a whole line
        # (or whatever is there at a flush) in one write: the thread forwards native lines to the same
        # descriptor at any moment, and a line written in pieces (print writes the text, then the
        # newline) could be cut in two by one of them.
        self._old_stderr = sys.stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True, write_through=False)
        self._thread = threading.Thread(target=self._pump, args=(r, saved), name="lecinpaint-stderr",
                                        daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _pump(r: int, out: int) -> None:
        pending = b""
        with os.fdopen(r, "rb", buffering=0) as src:
            while True:
                chunk = src.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                data = b"".join(ln + b"\n" for ln in lines if not is_noise(ln))
                if data:
                    _write_all(out, data)
        if pending and not is_noise(pending):
            _write_all(out, pending)

    def close(self, also: tuple[int, ...] = ()) -> None:
        """Restore fd 2 (and the descriptors in ``also``, e.g. fd 1 pointed at fd 2 by the filter) to the
        real stderr, forward what is left in the pipe, stop the thread."""
        if self._saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        for fd in (*also, 2):  # closes the pipe's write ends (unless a child still holds one)
            os.dup2(self._saved, fd)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        replaced, sys.stderr = sys.stderr, self._old_stderr
        try:
            replaced.close()
        except (OSError, ValueError):
            pass
        os.close(self._saved)
        self._saved = None

    def __enter__(self) -> NativeLogFilter:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:  # the real stderr is gone: nothing more can be shown
            return
        view = view[n:]
