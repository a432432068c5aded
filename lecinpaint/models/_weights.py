"""Finding and reading the checkpoint files of the seed-tier models.

Nothing here downloads anything. A checkpoint is looked for, in order:

1. the explicit path the caller gave (a file, or a directory that holds the file under its usual name);
2. the directory named by the environment variable ``LECINPAINT_WEIGHTS``;
3. torch's hub cache, ``torch.hub.get_dir()/checkpoints`` (where ``torch.hub`` and torchvision put
   the files they download; ``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``).

When the file is in none of these places, :class:`CheckpointNotFoundError` says which file is needed,
every place it was looked for, and where the file comes from.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "WEIGHTS_ENV",
    "checkpoint_search_dirs",
    "find_checkpoint",
    "load_checkpoint_file",
    "load_state_dict_strict",
    "tensor_state_dict",
]

WEIGHTS_ENV = "LECINPAINT_WEIGHTS"


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used (unreadable, wrong layout, wrong keys or shapes)."""


class CheckpointNotFoundError(FileNotFoundError):
    """A checkpoint file was not found in any of the places it is looked for."""


def checkpoint_search_dirs() -> list[Path]:
    """The directories searched for a checkpoint given by file name only, in order.

    ``$LECINPAINT_WEIGHTS`` (when set) first, then ``torch.hub.get_dir()/checkpoints``.
    """
    dirs: list[Path] = []
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def find_checkpoint(
    filename: str,
    path: str | os.PathLike[str] | None = None,
    *,
    what: str,
    source: str,
) -> Path:
    """Locate the checkpoint ``filename``.

    Args:
        filename: the file's usual name, e.g. ``"FlowNet2_checkpoint.pth.tar"``.
        path: an explicit file, or a directory holding ``filename``. When given, only it is used:
            a wrong explicit path is an error rather than a silent fall-back to another copy.
        what: a short description for the error message, e.g. ``"FlowNet2 weights"``.
        source: where the file comes from (URL, licence note), for the error message.

    Returns:
        The path of an existing file.

    Raises:
        CheckpointNotFoundError: nowhere to be found; the message lists every place looked at.
    """
    looked: list[Path] = []
    if path is not None:
        p = Path(path).expanduser()
        candidate = p / filename if p.is_dir() else p
        if candidate.is_file():
            return candidate
        looked.append(candidate)
    else:
        for d in checkpoint_search_dirs():
            candidate = d / filename
            if candidate.is_file():
                return candidate
            looked.append(candidate)
    places = "\n".join(f"  - {p}" for p in looked)
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    hint = f"pass its path explicitly, or put it in ${WEIGHTS_ENV} or in {hub}"
    raise CheckpointNotFoundError(
        f"{what}: checkpoint file {filename!r} not found. Looked for:\n{places}\n"
        f"It comes from {source}. Download it there and {hint}."
    )


def _numpy_safe_globals() -> list[Any]:
    """numpy scalars and arrays, under their numpy 2 and numpy 1 names, for ``weights_only`` loading.

    Old training scripts stored metrics such as FlowNet2's ``best_EPE`` as numpy scalars; these
    reconstructors build plain numbers and arrays and run no other code.
    """
    import numpy as np

    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    allowed: list[Any] = [np.ndarray, np.dtype, core.scalar, core._reconstruct]
    allowed += [
        (core.scalar, "numpy.core.multiarray.scalar"),
        (core._reconstruct, "numpy.core.multiarray._reconstruct"),
    ]
    allowed += [type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)]
    return allowed


def load_checkpoint_file(file: Path, *, what: str) -> Any:
    """``torch.load`` a checkpoint on the CPU with ``weights_only=True``.

    Tensors, plain containers and numbers load as they are; numpy scalars and arrays (which old
    checkpoints use for their metrics) are also accepted. Nothing else is unpickled.

    Raises:
        CheckpointError: the file is not a readable PyTorch checkpoint, or holds objects that
            ``weights_only`` loading refuses.
    """
    try:
        try:
            return torch.load(file, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise CheckpointError(
            f"{what}: {file} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}). "
            "Check that the download is complete and that it is the right file."
        ) from exc


def tensor_state_dict(obj: Any, *, file: Path, what: str, expected: str) -> dict[str, torch.Tensor]:
    """Check that ``obj`` is a mapping from str to tensors and return it as a plain dict.

    ``expected`` describes the layout the loader wanted, for the error message.
    """
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(f"{what}: {file} does not have the expected layout: {expected}.")
    return dict(obj)


def load_state_dict_strict(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], *, file: Path, what: str
) -> None:
    """Load ``state`` into ``module`` strictly, with an error that lists what did not match.

    ``module`` may live on the meta device (built with ``with torch.device("meta"):``): the checkpoint's
    tensors are then assigned, not copied, so no memory or time is spent on a random initialisation.
    A BatchNorm ``num_batches_tracked`` absent from the checkpoint (files written by torch < 0.4.1) is
    set to 0.
    """
    own = module.state_dict()
    state = dict(state)
    for k in own:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.tensor(0, dtype=torch.long)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:

        def show(items: list[str]) -> str:
            return ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {show(shapes)}")
        raise CheckpointError(
            f"{what}: {file} does not match the model ({'; '.join(parts)}). "
            "Is it the right checkpoint for this model variant?"
        )
    on_meta = any(t.is_meta for t in own.values())
    if on_meta:
        # assign=True keeps the checkpoint's dtype; the models are float32 throughout.
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    module.load_state_dict(state, strict=True, assign=on_meta)
    left = [n for n, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if left:
        raise CheckpointError(f"{what}: {file} left tensors uninitialised: {', '.join(left[:6])}")
