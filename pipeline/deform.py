"""Smooth deformation fields for images: warp one image, or find the warp between two.

A field is a coarse grid of 2-D displacements (in `grid_sample` units, where the image
spans [-1, 1]) upsampled bicubically to full size, so every warp is smooth: strokes bend
and move, they are not torn or blurred. `register` fits one field per image pair by
gradient descent on the pixel difference plus a penalty on displacement size; the fields
of a batch are independent, so one optimiser serves the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# mean squared displacement penalty relative to the mean squared pixel error: large enough
# that a field moves strokes instead of inventing ones, small enough to follow shape changes
SMOOTHNESS = 0.1


def grid_size(height: int, width: int) -> tuple[int, int]:
    """Control points: one per 4 pixels, at least 3 per side (7 x 7 for 28 x 28)."""
    return max(3, round(height / 4)), max(3, round(width / 4))


def warp(images: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """images (N, C, H, W), field (N, 2, gh, gw) -> warped images, zeros outside."""
    n, _, h, w = images.shape
    identity = torch.eye(2, 3, dtype=images.dtype, device=images.device).expand(n, 2, 3)
    base = F.affine_grid(identity, [n, 1, h, w], align_corners=False)
    flow = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    return F.grid_sample(images, base + flow, mode="bilinear", padding_mode="zeros", align_corners=False)


def register(
    source: torch.Tensor, target: torch.Tensor, steps: int = 60, lr: float = 0.05, smoothness: float = SMOOTHNESS
) -> torch.Tensor:
    """The field that warps each source image onto its target, (N, 2, gh, gw)."""
    gh, gw = grid_size(*source.shape[-2:])
    source, target = source.detach(), target.detach()
    field = source.new_zeros(len(source), 2, gh, gw, requires_grad=True)
    opt = torch.optim.Adam([field], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            error = (warp(source, field) - target).pow(2).flatten(1).mean(1)
            loss = (error + smoothness * field.pow(2).flatten(1).mean(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return field.detach()
