"""Shared pytest helpers for lecinpaint.

- ``@pytest.mark.cuda``: the test needs a CUDA device; it is skipped, with the reason shown, where
  there is none (``pytest -rs`` lists the skips).
- ``requires_ext``: a marker-like decorator that skips when the compiled library ``lecinpaint._C`` is not
  built, saying how to build it.
- ``seed`` fixture: parametrise-friendly RNG seeding (``torch.manual_seed``) so failures reproduce.
"""

from __future__ import annotations

import pytest
import torch

from lecinpaint.ops._loader import _load, extension_available

_NO_CUDA = "no CUDA device available (torch.cuda.is_available() is False)"

requires_ext = pytest.mark.skipif(
    not extension_available(),
    reason="lecinpaint._C is not built (python setup.py build_ext --inplace): " + _load()[1],
)

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=_NO_CUDA)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped visibly where none is present")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=_NO_CUDA)
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(params=[0, 1, 2], ids=lambda s: f"seed{s}")
def seed(request: pytest.FixtureRequest) -> int:
    """Seeds torch's RNG with 0, 1 and 2 in turn and returns the seed."""
    torch.manual_seed(request.param)
    return request.param


@pytest.fixture
def generator() -> torch.Generator:
    """A CPU generator seeded with 0, for tests that want their own RNG stream."""
    return torch.Generator().manual_seed(0)
