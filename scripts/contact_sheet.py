#!/usr/bin/env python
"""Before/after contact sheet of the real whiteboard clip: input, hole mask, output, for a few frames.

Runs the default engine (mediapipe segmentation, DIS flow, Laplace completion, streaming propagation)
over ``../shared/data/whiteboard_lecture/frames`` (relative to the project root; ``--data`` overrides) and
writes ``docs/whiteboard_before_after.png``: one row per chosen frame, columns input | hole (the
stabilised, dilated mask that was filled, shown in red over the input) | output.

    python scripts/contact_sheet.py                      # default frames and output path
    python scripts/contact_sheet.py --frames 10 60 110 --out /tmp/sheet.png
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

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "whiteboard_lecture" / "frames"
MAX_BYTES = 1_000_000


def read_frames(folder: Path):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"contact_sheet: no frames in {folder}")
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"contact_sheet: cannot read {f}")
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (8 + 9 * len(text), 20), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def overlay(frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
    out = frame.astype(np.float32)
    out[hole] = 0.45 * out[hole] + 0.55 * np.array([230, 30, 30], np.float32)
    return out.astype(np.uint8)


def build(rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], width: int) -> np.ndarray:
    tiles = []
    for idx, frame, hole, out in rows:
        h, w = frame.shape[:2]
        size = (width, int(round(h * width / w)))
        row = [
            label(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), f"input, frame {idx}"),
            label(cv2.resize(overlay(frame, hole), size, interpolation=cv2.INTER_AREA), "hole (dilated)"),
            label(cv2.resize(out, size, interpolation=cv2.INTER_AREA), "output"),
        ]
        gap = np.full((size[1], 4, 3), 255, np.uint8)
        tiles.append(np.hstack([row[0], gap, row[1], gap, row[2]]))
        tiles.append(np.full((4, tiles[-1].shape[1], 3), 255, np.uint8))
    return np.vstack(tiles[:-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the clip's frames")
    ap.add_argument("--frames", type=int, nargs="+", default=[30, 60, 100, 130], help="frame indices to show")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "whiteboard_before_after.png")
    ap.add_argument("--width", type=int, default=400, help="width of each tile in pixels")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"contact_sheet: the whiteboard clip is not at {args.data} (give --data)", file=sys.stderr)
        return 1
    want = set(args.frames)
    engine = Engine(Config())
    rows = []
    frames = list(read_frames(args.data))
    for i, (out, hole) in enumerate(engine.run(frames, with_masks=True)):
        if i in want:
            rows.append((i, frames[i], hole, out))
    missing = want - {r[0] for r in rows}
    if missing:
        print(f"contact_sheet: the clip has no frame(s) {sorted(missing)}", file=sys.stderr)
        return 1
    width = args.width
    while True:
        sheet = build(rows, width)
        bgr = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise SystemExit("contact_sheet: PNG encoding failed")
        if len(buf) <= MAX_BYTES or width <= 160:
            break
        width = int(width * 0.85)  # keep the committed picture under 1 MB
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buf.tobytes())
    times = ", ".join(f"{k} {v:.1f}s" for k, v in engine.stage_times.items() if v)
    print(
        f"contact_sheet: wrote {args.out} ({len(buf) / 1e6:.2f} MB, {len(frames)} frames; {times})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
