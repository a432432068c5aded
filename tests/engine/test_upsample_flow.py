"""``flow.upsample_flow`` with different factors along x and y: each component scaled by its own axis."""

from __future__ import annotations

import pytest
import torch

from lecinpaint.flow import upsample_flow


@pytest.mark.parametrize(("small", "big"), [((10, 20), (30, 40)), ((12, 9), (18, 36)), ((8, 8), (20, 12))])
def test_components_scale_with_their_own_axis(small: tuple[int, int], big: tuple[int, int]) -> None:
    h, w = small
    flow = torch.empty(1, 2, h, w)
    flow[:, 0], flow[:, 1] = 1.5, -0.5  # constant: the interpolation leaves it constant
    out = upsample_flow(flow, big)
    assert out.shape == (1, 2, *big)
    torch.testing.assert_close(out[:, 0], torch.full((1, *big), 1.5 * big[1] / w))
    torch.testing.assert_close(out[:, 1], torch.full((1, *big), -0.5 * big[0] / h))


def test_a_crop_of_an_anisotropic_upsampling_is_the_same_crop() -> None:
    g = torch.Generator().manual_seed(0)
    flow = torch.randn(1, 2, 10, 15, generator=g)
    full = upsample_flow(flow, (40, 45))
    part = upsample_flow(flow, (40, 45), box=(5, 30, 7, 41))
    torch.testing.assert_close(part, full[:, :, 5:30, 7:41])
