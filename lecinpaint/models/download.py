"""Downloading the torchvision segmentation checkpoints, on request only (``lecinpaint models --download``).

Nothing else in lecinpaint downloads: this runs only when a user asks for it. The file comes from the
official URL torchvision's weight enums name (or a mirror URL the user gives); its SHA-256 must start
with the hex digits in the file name (torchvision's convention: ``deeplabv3_resnet101_coco-586e9e4e.pth``
has a SHA-256 starting with ``586e9e4e``), and it lands in torch's hub cache
(``torch.hub.get_dir()/checkpoints``, where the segmenter looks for it) by an atomic rename of a
temporary file in the same folder: an interrupted or corrupt download never leaves a file under the
final name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = ["DOWNLOADABLE", "DownloadError", "official_url", "hash_prefix", "download"]

DOWNLOADABLE = ("deeplabv3", "fcn")
_HASH_RE = re.compile(r"-([0-9a-f]{6,64})\.")


class DownloadError(RuntimeError):
    """The download failed or the file is not the expected one (the message says which)."""


def official_url(name: str) -> str:
    """torchvision's URL for the checkpoint of segmenter ``name`` (``"deeplabv3"`` or ``"fcn"``)."""
    try:
        from torchvision.models.segmentation import DeepLabV3_ResNet101_Weights, FCN_ResNet101_Weights
    except ImportError as exc:  # pragma: no cover - torchvision is a dependency
        raise DownloadError(f"torchvision is needed to know the checkpoint's URL: {exc}") from None
    weights = {"deeplabv3": DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1,
               "fcn": FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1}
    if name not in weights:
        raise DownloadError(f"unknown checkpoint {name!r}; downloadable: {', '.join(DOWNLOADABLE)}")
    return str(weights[name].url)


def hash_prefix(filename: str) -> str:
    """The SHA-256 prefix in a torchvision checkpoint's file name.

    Raises:
        DownloadError: the name carries no hash (nothing to check the file against).
    """
    m = _HASH_RE.search(filename)
    if m is None:
        raise DownloadError(f"{filename!r} has no hash in its name (NAME-<sha256 prefix>.pth): "
                            "cannot check it")
    return m.group(1)


def download(
    url: str,
    folder: Path,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` into ``folder`` under its own file name, checked against the hash in that name.

    Args:
        url: http(s) or file URL; its last path component is the file name.
        folder: the destination folder (created if needed).
        progress: called with (bytes so far, total bytes or None) as the data arrives.

    Returns:
        The path of the finished file.

    Raises:
        DownloadError: network or HTTP failure, a short read, or a hash mismatch; nothing is left behind.
    """
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    want = hash_prefix(name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    tmp = Path(tmp_name)
    sha = hashlib.sha256()
    got = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - the user's own request
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise DownloadError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
            with resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    sha.update(chunk)
                    got += len(chunk)
                    if progress is not None:
                        progress(got, total)
            if total is not None and got != total:
                raise DownloadError(f"download of {url} stopped after {got} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        digest = sha.hexdigest()
        if not digest.startswith(want):
            raise DownloadError(f"{name}: SHA-256 {digest[:len(want)]}... does not match the {want} in its "
                                "name; the file is corrupt or not the official one (nothing was saved)")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return target
    finally:
        if tmp.exists():
            tmp.unlink()
