"""Completion records: how a rerun of the same batch knows which outputs are finished.

A record is a small JSON file in ``OUTDIR/.lecinpaint-batch/``, one per output, written (atomically)
just before the finished output is renamed into place. An output counts as finished when its record
exists, names the same input (path, size, modification time), the same settings (engine and encoding
options), and the output file it describes is there. The size of the output alone proves nothing (an
interrupted encoder leaves a file of some size), hence the record.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["STATE_DIR", "fingerprint", "is_finished", "record_path", "write_record"]

STATE_DIR = ".lecinpaint-batch"


def record_path(output: Path) -> Path:
    """Where the completion record of ``output`` lives."""
    return output.parent / STATE_DIR / (output.name + ".done.json")


def fingerprint(settings: dict[str, Any]) -> str:
    """A stable hash of the options that change the output (engine and encoding options)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _input_identity(source: Path) -> dict[str, Any]:
    st = source.stat()
    return {"input": str(source.resolve()), "input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns}


def is_finished(source: Path, output: Path, settings_hash: str) -> bool:
    """True when ``output`` was finished from this ``source`` with these settings (see the module doc)."""
    rec = record_path(output)
    try:
        data = json.loads(rec.read_text())
        ident = _input_identity(source)
        out_size = output.stat().st_size
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and all(data.get(k) == v for k, v in ident.items())
        and data.get("settings") == settings_hash
        and data.get("output_size") == out_size
    )


def write_record(source: Path, output: Path, finished_file: Path, settings_hash: str, frames: int) -> None:
    """Write the record of ``output`` (whose content is ``finished_file``, not yet renamed) atomically."""
    rec = record_path(output)
    rec.parent.mkdir(parents=True, exist_ok=True)
    data = {
        **_input_identity(source),
        "output": output.name,
        "output_size": finished_file.stat().st_size,
        "settings": settings_hash,
        "frames": frames,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    fd, tmp = tempfile.mkstemp(prefix=".record.", dir=rec.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, rec)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def forget(output: Path) -> None:
    """Remove the record of ``output`` (before it is redone)."""
    record_path(output).unlink(missing_ok=True)
