"""Missing cells at the real rate, and together where the real rows have them together.

The decoder gives each row a probability that a cell is missing (a Bernoulli flag for a
number, a "missing" level for a category). Drawn as they come, they miss the real rates
in two ways (docs/architecture.md, "Gaps"):

- the rate of a sampled row is E_z[sigmoid(logit(z))], and the logit of a rare gap varies
  over the prior's z far more than over the real rows' posteriors; sigmoid is convex there,
  so the spread inflates rare rates (a column missing in 0.7 % of the real rows: logit
  mean -6.1, sd 2.7 over prior samples; sigmoid of the mean 0.2 %, mean of the sigmoid
  2.8 %) and the per-class rates drift both ways on small tables;
- each cell is drawn on its own, so two columns always missing together come out together
  in about half of the rows that miss either.

A GapModel, fitted once after training on the generator's own samples, corrects both while
keeping what the decoder says about which rows miss a cell: a logit offset per class and
column, so that the expected rate of the samples is the real one (a class's own rate shrunk
toward the column's overall rate by SHRINK pseudo-rows), and a Gaussian copula across the
gap columns, its pairwise correlations fitted so that the samples miss two cells together
as often as the real rows do.

The same calibration holds a category's levels at their real per-class frequencies: the
auxiliary label loss (pipeline/model.py) makes the decoder use a category that carries no
class information as a class cue (a level at 11 % in a class's real rows came out at 43 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from pipeline.data.codec import TableCodec

# pseudo-rows of the column's overall rate added to a class's own count: a class of 10 rows
# is half its own rate, one of 100 rows 91 % its own (a rate from 10 rows has a standard
# error of 0.13 at 20 %: its own rate alone is mostly noise)
SHRINK = 10.0
# samples per class the offsets are fitted on (the mean of p over them, not a count of drawn gaps);
# benchmarks/gaps.py: every class and column then within 0.6-1.5x of its target, a 0.4 % rate too
CALIBRATION_ROWS = 1024
MIN_PAIR_GAPS = 3  # a pair of columns gets a fitted correlation only when each misses at least this many cells
# a pair whose fitted correlation reaches this is tied: the copula alone cannot make the samples
# miss both as often as the real rows (their per-row probabilities disagree), so tied columns share
# one logit, their mean. benchmarks/gaps.py --steps 3000: rows missing p1 or p2 that miss both
# 0.63 drawn cell by cell, 0.74 with the copula alone, 0.96 with ties (real: 1.0)
TIED = 0.99
DECIDED = 1e4  # a logit that makes sigmoid / softmax exactly 0 or 1 in float32
_NODES, _WEIGHTS = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(24))  # on (-1, 1)


@dataclass(frozen=True)
class GapColumn:
    """Where one column's missing probability sits in the decoder's output."""

    name: str
    start: int
    stop: int
    flag: bool  # a number's Bernoulli flag (width 1), else a category's last ("missing") level


def gap_columns(codec: TableCodec) -> list[GapColumn]:
    """The columns that can be missing, in the codec's order."""
    cols, blocks = [], iter(codec.layout)
    for col in codec.columns:
        block = next(blocks)
        if col.kind in ("numeric", "integer"):
            if col.missing:
                flag = next(blocks)
                cols.append(GapColumn(col.name, flag.start, flag.stop, True))
        elif col.missing:
            cols.append(GapColumn(col.name, block.start, block.stop, False))
    return cols


def level_columns(codec: TableCodec) -> list[tuple[int, int]]:
    """(start, stop) of each category's observed levels in the decoder's output."""
    spans, blocks = [], iter(codec.layout)
    for col in codec.columns:
        block = next(blocks)
        if col.kind in ("numeric", "integer"):
            if col.missing:
                next(blocks)
        else:
            spans.append((block.start, block.start + len(col.categories)))
    return spans


def missing_logits(raw: torch.Tensor, cols: list[GapColumn]) -> torch.Tensor:
    """(N, G) logit of P(missing) per gap column, from the decoder's raw outputs."""
    parts = []
    for c in cols:
        if c.flag:
            parts.append(raw[:, c.start])
        else:
            parts.append(raw[:, c.stop - 1] - torch.logsumexp(raw[:, c.start : c.stop - 1], 1))
    return torch.stack(parts, 1).double()


def real_missing(x: torch.Tensor, cols: list[GapColumn]) -> torch.Tensor:
    """(N, G) bool: which cells of the encoded real rows are missing."""
    return torch.stack([x[:, c.stop - 1] > 0.5 for c in cols], 1)


class GapModel:
    """Per class and column a logit offset, across columns a Gaussian copula (its Cholesky
    factor); applied to raw decoder outputs before the codec decodes them."""

    def __init__(
        self,
        cols: list[GapColumn],
        offset: torch.Tensor,
        chol: torch.Tensor,
        spans: list[tuple[int, int]],
        levels: torch.Tensor,
        tie: torch.Tensor,
    ) -> None:
        self.cols, self.offset, self.chol, self.tie = cols, offset.double(), chol.double(), tie.long()
        self.spans, self.levels = spans, levels.float()  # levels: (K, all categories' levels) offsets

    @classmethod
    def fit(
        cls,
        cols: list[GapColumn],
        spans: list[tuple[int, int]],
        x: torch.Tensor,
        y: torch.Tensor,
        n_classes: int,
        draw: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
        seed: int,
    ) -> "GapModel":
        """`draw(labels, generator)`: raw decoder outputs exactly as the generator samples them."""
        gen = torch.Generator().manual_seed(seed)
        labels = torch.arange(n_classes).repeat_interleave(CALIBRATION_ROWS)
        with torch.no_grad():
            raw = draw(labels, gen).cpu().float()
        x, y = x.cpu().flatten(1), y.cpu()
        levels = _fit_levels(raw, labels, x, y, n_classes, spans)
        tie = torch.arange(len(cols))
        if not cols:
            return cls(cols, torch.zeros(n_classes, 0), torch.zeros(0, 0), spans, levels, tie)
        logits = missing_logits(raw, cols)
        missing = real_missing(x, cols).double()
        offset = _fit_offsets(logits, labels, missing, y, n_classes)
        corr = _fit_copula(torch.sigmoid(logits + offset[labels]), missing, torch.Generator().manual_seed(seed))
        tie = _ties(corr)
        if len(tie.unique()) < len(tie):  # refit with the tied columns sharing their logit
            logits = _tied(logits, tie)
            offset = _fit_offsets(logits, labels, missing, y, n_classes)
            corr = _fit_copula(torch.sigmoid(logits + offset[labels]), missing, torch.Generator().manual_seed(seed))
        return cls(cols, offset, torch.linalg.cholesky(_nearest_correlation(corr)), spans, levels, tie)

    def apply(self, raw: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """raw with every gap decided (logits set to +-DECIDED): cell j of a row is missing when
        its copula draw is below its calibrated probability."""
        raw = raw.clone()
        if self.cols:
            logits = _tied(missing_logits(raw.cpu().float(), self.cols), self.tie)
            p = torch.sigmoid(logits + self.offset[y.cpu()])
            eps = torch.randn(len(raw), len(self.cols), generator=generator, dtype=torch.float64)
            missing = (torch.special.ndtr(eps @ self.chol.T) < p).to(raw.device)
        shift, at = self.levels[y.cpu()].to(raw.device), 0
        for start, stop in self.spans:  # after the gap logits were read: they see the decoder's levels
            raw[:, start:stop] += shift[:, at : at + stop - start]
            at += stop - start
        for j, c in enumerate(self.cols):
            gap = missing[:, j]
            if c.flag:
                raw[:, c.start] = torch.where(gap, DECIDED, -DECIDED)
            else:
                levels = raw[:, c.start : c.stop - 1]
                raw[:, c.start : c.stop - 1] = torch.where(gap[:, None], -DECIDED, levels)
                raw[:, c.stop - 1] = torch.where(gap, 0.0, -DECIDED)
        return raw

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "gaps.offset": self.offset.float(),
            "gaps.chol": self.chol.float(),
            "gaps.levels": self.levels,
            "gaps.tie": self.tie,
        }

    @classmethod
    def from_tensors(
        cls, cols: list[GapColumn], spans: list[tuple[int, int]], tensors: dict[str, torch.Tensor]
    ) -> "GapModel | None":
        if "gaps.offset" not in tensors:
            return None  # saved before the calibration: cells are drawn as the decoder gives them
        names = ("gaps.offset", "gaps.chol", "gaps.levels", "gaps.tie")
        return cls(cols, *(tensors[n] for n in names[:2]), spans, *(tensors[n] for n in names[2:]))


def target_rates(missing: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(K, G) rate per class and column: the class's own count plus SHRINK rows at the overall rate."""
    overall = missing.mean(0)
    counts = torch.zeros(n_classes, missing.shape[1], dtype=torch.float64).index_add_(0, y, missing)
    rows = torch.bincount(y, minlength=n_classes).double()[:, None]
    return (counts + SHRINK * overall) / (rows + SHRINK)


def _fit_offsets(
    logits: torch.Tensor, labels: torch.Tensor, missing: torch.Tensor, y: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """Per class and column the offset whose mean sigmoid over the samples is the target rate
    (bisection: the mean is increasing in the offset)."""
    target = target_rates(missing, y, n_classes)
    lo = torch.full_like(target, -40.0)
    hi = torch.full_like(target, 40.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        rate = torch.stack([torch.sigmoid(logits[labels == k] + mid[k]).mean(0) for k in range(n_classes)])
        below = rate < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2


def _fit_levels(
    raw: torch.Tensor,
    labels: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    spans: list[tuple[int, int]],
) -> torch.Tensor:
    """(K, levels) offsets that give each category's observed levels their real frequency per
    class among the rows where it is not missing (shrunk like the gap rates), by fixed-point
    steps offset += log(target / mean softmax)."""
    parts = []
    for start, stop in spans:
        seen = x[:, start:stop].double()
        counts = torch.zeros(n_classes, stop - start, dtype=torch.float64).index_add_(0, y, seen)
        overall = seen.sum(0) / seen.sum().clamp(min=1)
        target = ((counts + SHRINK * overall) / (counts.sum(1, keepdim=True) + SHRINK)).clamp(min=1e-6)
        logits, offset = raw[:, start:stop].double(), torch.zeros_like(target)
        for _ in range(50):
            mean = torch.stack([torch.softmax(logits[labels == k] + offset[k], 1).mean(0) for k in range(n_classes)])
            offset = (offset + torch.log(target / mean.clamp(min=1e-12))).clamp(-30, 30)
        parts.append(offset)
    return torch.cat(parts, 1) if parts else torch.zeros(n_classes, 0, dtype=torch.float64)


def _quadrature(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes t (N, Q) and weights w (N, Q) with sum_q w f(t) = E[f(U); U < a] for U ~ N(0, 1):
    Gauss-Legendre over u = Phi(U) in (0, Phi(a)), smooth in a where a grid over t is not."""
    top = torch.special.ndtr(a)[:, None]
    u = top * (_NODES[None, :] + 1) / 2
    return torch.special.ndtri(u.clamp(min=1e-300)), top * _WEIGHTS[None, :] / 2


def _both_rate(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor, rho: float) -> float:
    """Mean over rows of P(U < a, V < b) for standard normals with correlation rho, from the
    quadrature of U < a: E[Phi((b - rho U) / sqrt(1 - rho^2)); U < a]."""
    inner = torch.special.ndtr((b[:, None] - rho * t) / (1 - rho**2) ** 0.5)
    return float((w * inner).sum(1).mean())


def _ties(corr: torch.Tensor) -> torch.Tensor:
    """Per column the smallest column it is tied to (through pairs at TIED or above), itself if none."""
    tie = torch.arange(len(corr))
    for _ in range(len(corr)):  # propagate along chains of tied pairs
        linked = torch.where(corr >= TIED, tie[None, :].expand_as(corr), len(corr))
        tie = torch.minimum(tie, linked.min(1).values)
    return tie


def _tied(logits: torch.Tensor, tie: torch.Tensor) -> torch.Tensor:
    """Each tied group's columns share the mean of their logits (their offsets keep their rates)."""
    if len(tie.unique()) == len(tie):
        return logits
    sums = torch.zeros_like(logits).index_add_(1, tie, logits)
    sizes = torch.bincount(tie, minlength=len(tie)).to(logits.dtype)
    return (sums / sizes.clamp(min=1))[:, tie]


def _fit_copula(p: torch.Tensor, missing: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The copula's correlation: per pair of gap columns the rho at which
    the samples miss both cells as often as the real rows do (0 where a column has too few
    gaps to tell)."""
    g = p.shape[1]
    corr = torch.eye(g, dtype=torch.float64)
    rows = torch.randperm(len(p), generator=gen)[:CALIBRATION_ROWS]
    a = torch.special.ndtri(p[rows].clamp(1e-9, 1 - 1e-9))
    counts = missing.sum(0)
    for i in range(g):
        t, w = _quadrature(a[:, i])
        for j in range(i + 1, g):
            if min(counts[i], counts[j]) < MIN_PAIR_GAPS:
                continue
            target = float((missing[:, i] * missing[:, j]).mean())
            lo, hi = -0.995, 0.995
            for _ in range(20):
                mid = (lo + hi) / 2
                if _both_rate(t, w, a[:, j], mid) < target:
                    lo = mid
                else:
                    hi = mid
            corr[i, j] = corr[j, i] = (lo + hi) / 2
    return corr


def _nearest_correlation(corr: torch.Tensor) -> torch.Tensor:
    """Pairwise fits need not form a valid correlation matrix: clip its eigenvalues, rescale."""
    values, vectors = torch.linalg.eigh(corr)
    fixed = vectors @ torch.diag(values.clamp(min=1e-4)) @ vectors.T
    scale = fixed.diagonal().sqrt()
    return fixed / scale[:, None] / scale[None, :]
