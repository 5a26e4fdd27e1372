"""Smooth warps: the zero field changes nothing; registration finds a known shift."""

from __future__ import annotations

import torch

from pipeline.deform import grid_size, register, warp


def _square(top: int, left: int, size: int = 16) -> torch.Tensor:
    img = torch.zeros(1, 1, size, size)
    img[..., top : top + 6, left : left + 6] = 1.0
    return torch.nn.functional.avg_pool2d(img, 3, 1, 1)  # soft edges, as decoded pictures have


def test_zero_field_is_the_identity():
    images = torch.rand(3, 2, 12, 16)
    field = torch.zeros(3, 2, *grid_size(12, 16))
    assert torch.allclose(warp(images, field), images, atol=1e-6)


def test_register_finds_a_shift_and_moves_the_strokes_there():
    source, target = _square(4, 4), _square(4, 6)  # two pixels to the right
    field = register(source, target)
    before = (source - target).pow(2).mean()
    after = (warp(source, field) - target).pow(2).mean()
    assert after < 0.2 * before
    # output(p) = source(p + flow): moving right means looking left, x flow < 0; 2 px of 16 = 0.25 grid units
    x_flow = field[:, 0].mean().item()
    assert -0.4 < x_flow < -0.05
    assert abs(field[:, 1].mean().item()) < abs(x_flow) / 2  # barely any vertical move


def test_each_pair_is_registered_on_its_own():
    sources = torch.cat([_square(4, 4), _square(4, 4)])
    targets = torch.cat([_square(4, 6), _square(6, 4)])  # right, and down
    both = register(sources, targets)
    alone = register(sources[1:], targets[1:])
    assert torch.allclose(both[1:], alone, atol=1e-5)
    assert both[0, 0].mean() < both[0, 1].mean()  # first mostly in x, second mostly in y
    assert both[1, 1].mean() < both[1, 0].mean()
