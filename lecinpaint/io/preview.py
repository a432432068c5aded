"""The command's ``--preview``: a before/after contact sheet of a few frames, as one image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["Preview", "PreviewError"]


class PreviewError(ValueError):
    """The sheet cannot be written (no frames, or an image format OpenCV does not write)."""


class Preview:
    """Collects a few (before, after) RGB pairs and writes them as one contact sheet.

    Args:
        path: where :meth:`write` puts the sheet (its extension picks the image format).
        total: the number of output frames, if known: the wanted frames spread over it.
        n: how many pairs.
    """

    def __init__(self, path: Path, total: int | None, n: int = 4) -> None:
        self.path = Path(path)
        total = total or 1
        self.wanted = sorted({round(j * (total - 1) / max(1, n - 1)) for j in range(n)})
        self.pairs: list[tuple[int, np.ndarray, np.ndarray]] = []

    def add(self, index: int, before: np.ndarray, after: np.ndarray) -> None:
        """Keep the pair of output frame ``index`` (only the wanted ones are passed in)."""
        self.pairs.append((index, np.array(before), np.array(after)))

    def write(self, path: Path | None = None) -> None:
        """Write the sheet to ``path`` (default: :attr:`path`).

        Raises:
            PreviewError: no frames, or the image cannot be written.
        """
        import cv2

        target = Path(path or self.path)
        if not self.pairs:
            raise PreviewError("no frames to preview")
        rows = []
        for idx, before, after in self.pairs:
            h, w = before.shape[:2]
            s = min(1.0, 480.0 / w)
            size = (max(1, int(w * s)), max(1, int(h * s)))
            cells = []
            for img, label in ((before, "before"), (after, "after")):
                cell = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)
                fs = max(0.3, 0.6 * size[0] / 480.0)
                org = (max(2, int(12 * fs)), max(10, int(36 * fs)))
                # A dark box behind the label: an outline drawn with a thicker stroke does not line up
                # with the thin text in every OpenCV version.
                text = f"{label} #{idx}"
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, 1)
                pad = max(2, int(4 * fs))
                cv2.rectangle(cell, (org[0] - pad, org[1] - th - pad),
                              (org[0] + tw + pad, org[1] + base + pad), (0, 0, 0), cv2.FILLED)
                cv2.putText(cell, text, org, cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 0), 1, cv2.LINE_AA)
                cells.append(cell)
            rows.append(np.concatenate([cells[0], np.full((size[1], 4, 3), 255, np.uint8), cells[1]], axis=1))
        sheet = np.concatenate(rows, axis=0)
        if not cv2.imwrite(str(target), sheet[:, :, ::-1]):
            raise PreviewError(f"cannot write the preview {str(self.path)!r} "
                               "(is the extension .png or .jpg?)")
