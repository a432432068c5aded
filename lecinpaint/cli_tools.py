"""The ``lecinpaint models`` and ``lecinpaint example`` subcommands (the main command is in :mod:`cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lecinpaint.cli import PROG, UserError, _temp_output, log

__all__ = ["models_command", "example_command"]


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
            source=f"{w.url} (get it with: lecinpaint models --download {kind})"))
    return rows


def models_command(argv: list[str]) -> int:
    """``lecinpaint models [--download NAME]``: list (or fetch) the seed-tier checkpoints."""
    p = argparse.ArgumentParser(prog=f"{PROG} models",
                                description="List the seed-tier checkpoints, where they are looked for, "
                                            "and whether they are present. Nothing is downloaded unless "
                                            "--download is given.")
    p.add_argument("--download", choices=("deeplabv3", "fcn"), metavar="NAME",
                   help="download the torchvision checkpoint of --segmenter NAME (deeplabv3 or fcn) from "
                        "its official URL into torch's hub cache, checked against the hash in its name")
    p.add_argument("--url", help="with --download: fetch from this URL (a mirror) instead; the file name "
                                 "must still carry the hash")
    p.add_argument("-q", "--quiet", action="store_true", help="with --download: no progress")
    args = p.parse_args(argv)
    if args.url and not args.download:
        p.error("--url goes with --download")
    if args.download:
        return _download(args.download, args.url, args.quiet)
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


def _download(name: str, url: str | None, quiet: bool) -> int:
    import torch
    from tqdm import tqdm

    from lecinpaint.models.download import DownloadError, download, official_url

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        url = url or official_url(name)
        bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, desc=url.rsplit("/", 1)[-1],
                   disable=quiet or not sys.stderr.isatty())

        def progress(got: int, total: int | None) -> None:
            bar.total = total
            bar.update(got - bar.n)

        try:
            path = download(url, folder, progress=progress)
        finally:
            bar.close()
    except DownloadError as exc:
        raise UserError(str(exc)) from None
    if not quiet:
        log(f"saved {str(path)!r} ({path.stat().st_size / 1e6:.1f} MB, hash checked); use it with "
            f"--segmenter {name}")
    return 0


# --------------------------------------------------------------------------------------------------
# lecinpaint example
# --------------------------------------------------------------------------------------------------


def example_command(argv: list[str]) -> int:
    """``lecinpaint example OUTPUT``: write the synthetic lecture clip."""
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
