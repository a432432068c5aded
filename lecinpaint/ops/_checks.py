"""Argument validation shared by the warp-family op wrappers (errors name the op and the problem)."""

from __future__ import annotations

import torch
from torch import Tensor

_FLOAT = (torch.float32, torch.float64)


def check_4d(op: str, t: Tensor, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != 4:
        raise ValueError(f"{op}: {name} must be 4-D (N, C, H, W), got shape {tuple(t.shape)}")


def check_flow(op: str, flow: Tensor, name: str = "flow") -> None:
    if not isinstance(flow, Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(flow).__name__}")
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"{op}: {name} must have shape (N, 2, H, W) (channel 0 = dx, channel 1 = dy), "
            f"got {tuple(flow.shape)}"
        )
    if flow.dtype not in _FLOAT:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {flow.dtype}")


def check_floating(op: str, t: Tensor, name: str) -> None:
    if t.dtype not in _FLOAT:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")


def check_pair(op: str, a: Tensor, an: str, b: Tensor, bn: str, *, same_dtype: bool) -> None:
    """Same device, same N/H/W, and (optionally) the same dtype."""
    if a.device != b.device:
        raise ValueError(f"{op}: {an} and {bn} must be on the same device, got {a.device} and {b.device}")
    if (a.shape[0], a.shape[2], a.shape[3]) != (b.shape[0], b.shape[2], b.shape[3]):
        raise ValueError(
            f"{op}: {an} and {bn} must have the same N, H, W, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if same_dtype and a.dtype != b.dtype:
        raise TypeError(f"{op}: {an} and {bn} must have the same dtype, got {a.dtype} and {b.dtype}")
