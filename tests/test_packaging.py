"""The package is publishable: ``python -m build --sdist`` makes an sdist that builds the op library in a
fresh virtual environment and works there, away from the checkout.

The fresh environment gets torch (and the other runtime dependencies) from the environment running the
tests, through a path entry, so that the test needs no network: what it checks is the sdist itself (every
source and header it needs is inside, the extension compiles from it, the console script and the
``lecinpaint.filter`` module are installed). CPU kernels only, to keep it to a few minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sdist_builds_and_installs_in_a_fresh_venv(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the 'build' package is not installed (requirements-dev.txt)")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    env = dict(os.environ, LECINPAINT_CPU_ONLY="1", MAX_JOBS=os.environ.get("MAX_JOBS", "2"))
    dist = tmp_path / "dist"
    res = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(dist), str(ROOT)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (sdist,) = dist.glob("lecinpaint-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = subprocess.run(["git", "ls-files", "csrc"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked and set(tracked) <= names, sorted(set(tracked) - names)
    assert {"setup.py", "pyproject.toml", "ffmpeg_filter/_server.py", "lecinpaint/cli.py"} <= names
    assert not [n for n in names if n.endswith(".so")]

    # A fresh venv; torch & co. come from this environment's site-packages via a path entry.
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    py = target / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    deps = {str(Path(m.__file__).resolve().parents[1]) for m in _runtime_modules()}
    deps.add(sysconfig.get_paths()["purelib"])
    (site / "zz_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                          "--no-index", str(sdist)], capture_output=True, text=True, env=env, timeout=1500,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    check = ("import lecinpaint, lecinpaint.ops as ops, lecinpaint.filter, pathlib; "
             "p = pathlib.Path(lecinpaint.__file__).resolve(); "
             "print(p); print(ops.extension_available())")
    res = subprocess.run([str(py), "-c", check], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    where, ext = res.stdout.split()
    assert Path(where).is_relative_to(target) and ext == "True", res.stdout
    res = subprocess.run([str(target / "bin" / "lecinpaint"), "--version"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0 and res.stdout.startswith("lecinpaint "), res.stderr
    res = subprocess.run([str(py), "-m", "lecinpaint.filter", "--help"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0 and "ffmpeg" in res.stdout


def _runtime_modules() -> list:
    import cv2
    import numpy
    import torch
    import torchvision
    import tqdm

    return [torch, torchvision, numpy, cv2, tqdm]
