"""Shared pieces of the kernel microbenchmarks (see bench_ops.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class BenchCase:
    """One comparison: our op against the plain-PyTorch way of computing the same thing.

    ``setup()`` builds the inputs (seeded) and returns them; ``ours(*inputs)`` and ``baseline(*inputs)``
    compute the same result. ``check(ours_out, baseline_out)`` may raise if they disagree, so a
    benchmark never times two different computations.
    """

    op: str                       # e.g. "correlation"
    label: str                    # the size, e.g. "B=2 C=256 56x128"
    baseline_name: str            # e.g. "shift-and-mean"
    setup: Callable[[str], tuple]  # device -> inputs
    ours: Callable[..., Any]
    baseline: Callable[..., Any]
    check: Callable[[Any, Any], None] | None = None
    meta: dict = field(default_factory=dict)
