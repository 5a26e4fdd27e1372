"""Per-row realism and authenticity against the real rows of the same class.

Both live in a feature space that suits the data (the label scorer's CNN embedding for images,
the codec's encoding for tables) and are calibrated on real rows, not magic numbers:

- realism: k-NN density (Naeem et al. 2020): how many real rows' k-NN balls contain the
  sample, divided by k. A real row scores about 1 against the other real rows.
- authenticity: distance to the closest real record divided by the median real-to-real
  nearest-neighbour distance of that class. Near 0: a near-copy of a training row.

Thresholds come from a real-vs-real baseline: each real row scored against the other real
rows of its class (leave-one-out); see baseline_thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

EXACT = "donot_use_mm_for_euclid_dist"  # exact zeros for exact copies; the matmul form is off by ~1e-3
FAST = "use_mm_for_euclid_dist"  # set metrics over thousands of rows, no copy to detect (BENCHMARKS.md)
BLOCK_CELLS = 1 << 24  # distances held at once (64 MB of float32): memory grows with the rows, not their square


def _distance_blocks(x: torch.Tensor, ref: torch.Tensor, compute_mode: str, exclude_self: bool = False):
    """Distances of x to ref, a block of rows at a time (at most BLOCK_CELLS distances held).
    A row's distances do not depend on the other rows of its block, so blocks change no number.
    With exclude_self, row i's distance to ref[i] is inf (x is ref)."""
    step = max(1, BLOCK_CELLS // max(len(ref), 1))
    for start in range(0, len(x), step):
        d = torch.cdist(x[start : start + step], ref, compute_mode=compute_mode)
        if exclude_self:
            rows = torch.arange(len(d))
            d[rows, rows + start] = float("inf")
        yield d


@dataclass
class ClassReference:
    """The real rows of one class, with their k-NN radii and nearest-neighbour scale."""

    features: torch.Tensor  # (n, d)
    radii: torch.Tensor  # (n,) distance to the k-th nearest other real row
    nn_scale: float  # median real-to-real nearest-neighbour distance
    k: int

    @classmethod
    def fit(cls, features: torch.Tensor, k: int = 5, compute_mode: str = EXACT) -> "ClassReference":
        """`compute_mode` FAST for large sets whose radii need no exact zeros (report.py)."""
        features = features.flatten(1).float()
        n = len(features)
        k = max(1, min(k, n - 1))
        blocks = _distance_blocks(features, features, compute_mode, exclude_self=True)
        nearest = torch.cat([d.topk(min(k, n), dim=1, largest=False).values for d in blocks])  # sorted ascending
        nn = nearest[:, 0]
        scale = float(nn[torch.isfinite(nn)].median()) if n > 1 else 1.0
        return cls(features, nearest[:, k - 1], scale or 1.0, k)

    def score(self, x: torch.Tensor, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(realism, authenticity, in_manifold) per row of x."""
        x = x.flatten(1).float()
        realism, dcr, any_inside = [], [], []
        for d in _distance_blocks(x, self.features, EXACT, exclude_self):
            inside = d <= self.radii[None, :]
            realism.append(inside.sum(1).float() / self.k)
            dcr.append(d.min(1).values if d.shape[1] else torch.full((len(d),), float("inf")))
            any_inside.append(inside.any(1))
        if not realism:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32), np.zeros(0, dtype=bool)
        dcr_all = torch.cat(dcr)
        return torch.cat(realism).numpy(), (dcr_all / self.nn_scale).numpy(), torch.cat(any_inside).numpy()


@dataclass
class Thresholds:
    """Minimum realism and authenticity a synthetic row needs, from the real-vs-real baseline."""

    realism: float
    authenticity: float


def baseline_thresholds(
    refs: dict[int, ClassReference], realism_quantile: float = 0.05, copy_quantile: float = 0.01
) -> Thresholds:
    """Score each real row against the other real rows of its class (leave-one-out).

    Realism must reach the `realism_quantile` of the real rows' own realism. A row is a
    near-copy when it is closer to a real record than all but `copy_quantile` of real rows
    are to their nearest other real row: closer than distinct real rows ever come.
    """
    realism, authenticity = [], []
    for ref in refs.values():
        if len(ref.features) < 2:
            continue
        r, a, _ = ref.score(ref.features, exclude_self=True)
        realism.append(r)
        authenticity.append(a)
    if not realism:
        return Thresholds(0.0, 0.0)
    return Thresholds(
        float(np.quantile(np.concatenate(realism), realism_quantile)),
        float(np.quantile(np.concatenate(authenticity), copy_quantile)),
    )
