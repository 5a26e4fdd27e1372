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


# the augmentation policies practitioners run on images today, as torchvision ships them, by the
# name the menu and `--generator` use
POLICIES = ("trivial_augment", "rand_augment", "auto_augment", "augmix")


def _policy(name: str):
    from torchvision.transforms import v2

    return {
        "trivial_augment": v2.TrivialAugmentWide,
        "rand_augment": v2.RandAugment,
        "auto_augment": v2.AutoAugment,
        "augmix": v2.AugMix,
    }[name]()


def policy_views(x: torch.Tensor, policy: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: (N, C, H, W) in [0, 1]; one view of each image under torchvision's `policy`, drawn per image
    (the policies work on 8-bit pixels, and draw from torch's global generator: a seed taken from
    `generator` makes the views reproducible without touching anyone else's random state)."""
    transform = _policy(policy)
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        views = torch.stack([transform(image) for image in pixels]) if len(pixels) else pixels
    return views.to(x.dtype) / 255
