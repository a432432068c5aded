"""``lecinpaint models --download``: hash-checked, atomic, into torch's hub cache.

Tested against a local HTTP server on 127.0.0.1 only: never the network.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._helpers import ROOT, cli_cmd


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``: (base URL, folder)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, directory=str(www), **kw)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TORCH_HOME=str(tmp / "torch"))
    return subprocess.run(cli_cmd("models", *args), capture_output=True, cwd=ROOT, timeout=120, env=env)


def test_download_checks_the_hash_and_writes_atomically(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, www = server
    data = os.urandom(300_000)
    good = f"deeplabv3_resnet101_coco-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (www / good).write_bytes(data)
    cache = tmp_path / "torch" / "hub" / "checkpoints"

    res = _run(tmp_path, "--download", "deeplabv3", "--url", f"{base}/{good}")
    assert res.returncode == 0, res.stderr.decode()
    assert (cache / good).read_bytes() == data
    assert b"hash checked" in res.stderr
    assert sorted(p.name for p in cache.iterdir()) == [good]  # no temporary file left

    # A file whose content does not match the hash in its name: refused, nothing saved.
    bad = "fcn_resnet101_coco-00000000.pth"
    (www / bad).write_bytes(data)
    res = _run(tmp_path, "--download", "fcn", "--url", f"{base}/{bad}")
    err = res.stderr.decode()
    assert res.returncode == 1 and err.count("\n") == 1 and "does not match the 00000000" in err, err
    assert sorted(p.name for p in cache.iterdir()) == [good]

    # Not there (HTTP 404), and a name without a hash: one line each, nothing saved.
    res = _run(tmp_path, "--download", "fcn", "--url", f"{base}/fcn_resnet101_coco-12345678.pth")
    assert res.returncode == 1 and b"cannot download" in res.stderr and b"404" in res.stderr, res.stderr
    res = _run(tmp_path, "--download", "fcn", "--url", f"{base}/weights.pth")
    assert res.returncode == 1 and b"has no hash in its name" in res.stderr
    assert sorted(p.name for p in cache.iterdir()) == [good]


def test_official_urls_carry_a_hash() -> None:
    from lecinpaint.models.download import hash_prefix, official_url

    for name in ("deeplabv3", "fcn"):
        url = official_url(name)
        assert url.startswith("https://download.pytorch.org/models/")
        assert len(hash_prefix(url.rsplit("/", 1)[-1])) >= 8
