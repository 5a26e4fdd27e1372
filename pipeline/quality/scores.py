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


# real rows of a class whose k-NN balls define realism: past it, a seeded sample of that many
# (every row still counts for the distance to the closest record, so no near-copy goes unseen).
# The real-vs-real baseline compares every reference row with every other: at 66,000 rows a
# class it did not end in minutes (200,000 rows x 50 columns, 3 classes); 2,000 rows take
# well under a second
REFERENCE_ROWS = 2_000


def _distance_blocks(
    x: torch.Tensor, ref: torch.Tensor, compute_mode: str, exclude: torch.Tensor | None = None, widest: int = 0
):
    """Distances of x to ref, a block of rows at a time (at most BLOCK_CELLS distances held for
    a ref of max(len(ref), widest) rows: blocks of two calls with the same `widest` align).
    A row's distances do not depend on the other rows of its block, so blocks change no number.
    `exclude[i]`: a column of ref whose distance to row i is inf (row i itself)."""
    step = max(1, BLOCK_CELLS // max(len(ref), widest, 1))
    for start in range(0, len(x), step):
        d = torch.cdist(x[start : start + step], ref, compute_mode=compute_mode)
        if exclude is not None:
            d[torch.arange(len(d)), exclude[start : start + len(d)]] = float("inf")
        yield d


def _reference_rows(n: int, most: int | None, seed: int = 0) -> torch.Tensor | None:
    """Positions of the reference sample among n rows, in order; None: every row."""
    if most is None or n <= most:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:most].sort().values


@dataclass
class ClassReference:
    """The real rows of one class (a sample of them past REFERENCE_ROWS), with their k-NN
    radii and nearest-neighbour scale; `everything` keeps every row for the closest record."""

    features: torch.Tensor  # (n, d): the reference rows
    radii: torch.Tensor  # (n,) distance to the k-th nearest other reference row
    nn_scale: float  # median distance of a reference row to its nearest other real row
    k: int
    everything: torch.Tensor | None = None  # every real row of the class, where features is a sample
    positions: torch.Tensor | None = None  # the reference rows' positions in everything

    @classmethod
    def fit(
        cls, features: torch.Tensor, k: int = 5, compute_mode: str = EXACT, most: int | None = REFERENCE_ROWS
    ) -> "ClassReference":
        """`compute_mode` FAST for large sets whose radii need no exact zeros (report.py)."""
        everything = features.flatten(1).float()
        positions = _reference_rows(len(everything), most)
        features = everything if positions is None else everything[positions]
        n = len(features)
        k = max(1, min(k, n - 1))
        blocks = _distance_blocks(features, features, compute_mode, torch.arange(n))
        nearest = torch.cat([d.topk(min(k, n), dim=1, largest=False).values for d in blocks])  # sorted ascending
        if positions is None:
            nn = nearest[:, 0]
        else:  # the nearest other real row among every row, not only the sample's
            nn = torch.cat([d.min(1).values for d in _distance_blocks(features, everything, compute_mode, positions)])
        scale = float(nn[torch.isfinite(nn)].median()) if n > 1 else 1.0
        sampled = {} if positions is None else {"everything": everything, "positions": positions}
        return cls(features, nearest[:, k - 1], scale or 1.0, k, **sampled)

    def score(self, x: torch.Tensor, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(realism, authenticity, in_manifold) per row of x; exclude_self: x is the reference
        rows themselves, each scored against the others."""
        x = x.flatten(1).float()
        own = torch.arange(len(x)) if exclude_self else None
        if self.everything is None:
            pairs = ((d, d) for d in _distance_blocks(x, self.features, EXACT, own))
        else:  # realism against the reference rows, the closest record among every row
            widest = len(self.everything)
            blocks = _distance_blocks(x, self.features, EXACT, own, widest)
            everyone = self.positions if exclude_self else None
            pairs = zip(blocks, _distance_blocks(x, self.everything, EXACT, everyone, widest))
        realism, dcr, any_inside = [], [], []
        for d, c in pairs:
            inside = d <= self.radii[None, :]
            realism.append(inside.sum(1).float() / self.k)
            dcr.append(c.min(1).values if c.shape[1] else torch.full((len(c),), float("inf")))
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
