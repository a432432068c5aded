"""Pictures of the first-seen plate, the board-like fill and the ghost on the real whiteboard clip.

    python scripts/plate_pictures.py [--frames N]

Writes ``docs/whiteboard_board_fill.jpg`` (frame 30: the input, the fill with the row inpainting of
earlier versions, the fill of this version: plate and board-like synthesis) and ``docs/ghost.jpg``
(frame 30: the input, the removal, the lecturer as a ghost at 0.35). Uses the default segmenter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lecinpaint import Config, Engine  # noqa: E402


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    cv2.rectangle(img, (4, 4), (12 + tw, 12 + th + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(img, text, (8, 8 + th), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 1, cv2.LINE_AA)
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60, help="frames of the clip to run (default 60)")
    ap.add_argument("--pick", type=int, default=30, help="frame to show (default 30)")
    args = ap.parse_args()
    folder = ROOT.parent / "shared" / "data" / "whiteboard_lecture" / "frames"
    files = sorted(folder.glob("*.jpg"))[: args.frames]
    if not files:
        print(f"no frames in {folder}", file=sys.stderr)
        return 1
    frames = [cv2.imread(str(f))[:, :, ::-1].copy() for f in files]
    runs = {
        "before: row inpainting, no plate": Config(device="cpu", plate="off", board_fill=False),
        "now: plate + board-like fill": Config(device="cpu"),
        "ghost 0.35": Config(device="cpu", ghost=0.35),
    }
    outs = {name: list(Engine(cfg).run(frames))[args.pick] for name, cfg in runs.items()}
    k = args.pick
    h, w = frames[k].shape[:2]
    s = min(1.0, 640 / w)
    size = (int(w * s), int(h * s))
    small = {n: cv2.resize(o, size, interpolation=cv2.INTER_AREA) for n, o in outs.items()}
    inp = cv2.resize(frames[k], size, interpolation=cv2.INTER_AREA)
    names = list(runs)
    fill = np.concatenate([_label(inp, f"input #{k}"), _label(small[names[0]], names[0]),
                           _label(small[names[1]], names[1])], axis=0)
    cv2.imwrite(str(ROOT / "docs" / "whiteboard_board_fill.jpg"), fill[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    ghost = np.concatenate([_label(inp, "input"), _label(small[names[1]], "removed"),
                            _label(small[names[2]], "--ghost 0.35")], axis=1)
    cv2.imwrite(str(ROOT / "docs" / "ghost.jpg"), ghost[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    print("wrote docs/whiteboard_board_fill.jpg and docs/ghost.jpg", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
