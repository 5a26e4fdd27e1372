"""Classic image augmentation on whole batches: small random affine maps, one per image.

torchvision's v2 RandomAffine draws one set of parameters per call; training needs a fresh
draw per image without a Python loop, so the maps are built as a batch of 2x3 matrices
for `affine_grid`/`grid_sample`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    shear: float = 5.0,
) -> torch.Tensor:
    """x: (N, C, H, W) in [0, 1]; rotate, shear, scale and shift each image a little."""
    n = len(x)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    angle = uniform(-degrees, degrees) * math.pi / 180
    sh = uniform(-shear, shear) * math.pi / 180
    s = uniform(*scale)
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2  # grid units span 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos / s, (-sin + torch.tan(sh) * cos) / s, tx], 1),
            torch.stack([sin / s, (cos + torch.tan(sh) * sin) / s, ty], 1),
        ],
        1,
    ).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
