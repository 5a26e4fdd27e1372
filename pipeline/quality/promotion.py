"""Promotion to `champion`: is there proof that the product's rows help?

Macro-F1 of hard predictions moves only when a prediction flips, so on tens of rows it can
rarely prove anything. A proper scoring rule on the out-of-fold probabilities moves with
every row: the gain is the drop of the Brier score (or log-loss) of the judge trained with
the product's rows against the judge trained on the real rows alone, paired row by row.
Each row weighs 1 / (rows of its class), so five rare rows count as much as fifty common
ones (the test set of a user who cares about every class).

The interval holds the two sources of noise the gate can see: which rows were scored (the
spread of the per-row gains) and which folds and generator seeds were drawn (the spread of
the gain between repeats, each repeat with its own folds and seeds). Measured against the
true gain on large test sets in benchmarks/gate_calibration.py (BENCHMARKS.md "Promotion").
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from pipeline.quality.menu import balanced_weights

WORDS = {
    "brier": "class-weighted Brier score",
    "log_loss": "class-weighted log-loss",
    "macro_f1": "macro-F1",
}
EPS = 1e-6  # log-loss clips probabilities here: one confident mistake must not be infinite


def row_loss(proba: np.ndarray, truth: np.ndarray, metric: str) -> np.ndarray:
    """Each row's loss under a proper scoring rule (lower is better)."""
    if metric == "brier":
        onehot = np.zeros_like(proba)
        onehot[np.arange(len(truth)), truth] = 1.0
        return ((proba - onehot) ** 2).sum(1)
    if metric == "log_loss":
        return -np.log(np.clip(proba[np.arange(len(truth)), truth], EPS, 1.0))
    raise ValueError(f"{metric!r} is not a per-row scoring rule")


def row_gains(base: list[np.ndarray], product: list[np.ndarray], truth: np.ndarray, metric: str) -> np.ndarray:
    """(repeats, rows) paired gains in points (100 x loss of the real rows alone minus the
    product's): positive where the product's rows helped that row."""
    return np.stack([100 * (row_loss(b, truth, metric) - row_loss(p, truth, metric)) for b, p in zip(base, product)])


@dataclass(frozen=True)
class Interval:
    """A gain with its noise split by source, and the two-sided interval that holds both."""

    gain: float
    row_se: float  # standard error from which rows were scored
    repeat_sd: float  # spread of the gain between repeats (folds and generator seeds)
    repeats: int
    lower: float
    upper: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in vars(self).items()}

    def bounds_at(self, confidence: float) -> tuple[float, float]:
        """The gain's one-sided lower and upper bounds at another level, from the same noise."""
        half = _half_width(confidence, self.row_se, self.repeat_sd)
        return self.gain - half, self.gain + half


def _half_width(confidence: float, row_se: float, repeat_sd: float) -> float:
    """z(confidence) * sqrt(row_se^2 + repeat_sd^2): how far a one-sided bound lies from the gain."""
    return NormalDist().inv_cdf(confidence) * float(np.hypot(row_se, repeat_sd))


def interval(gain: float, row_se: float, repeat_gains: np.ndarray, confidence: float) -> Interval:
    """gain +- z * se with se^2 = row_se^2 + repeat_sd^2. The spread between repeats enters
    whole, not divided by the repeats: the shipped rows come from one more generator draw,
    not from the average of the gate's draws."""
    repeats = len(repeat_gains)
    sd = float(np.std(repeat_gains, ddof=1)) if repeats > 1 else 0.0
    half = _half_width(confidence, row_se, sd)
    return Interval(gain, row_se, sd, repeats, gain - half, gain + half)


def weighted_mean_se(values: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """The weighted mean of per-row values and its standard error over rows (rows independent)."""
    w = weight / weight.sum()
    mean = float((w * values).sum())
    n = len(values)
    se = float(np.sqrt((w**2 * (values - mean) ** 2).sum() * n / max(n - 1, 1)))
    return mean, se


def scoring_rule_interval(
    base: list[np.ndarray], product: list[np.ndarray], truth: np.ndarray, n_classes: int, metric: str, confidence: float
) -> Interval:
    """The class-weighted gain of a proper scoring rule, mean over repeats, and its interval."""
    gains = row_gains(base, product, truth, metric)
    weight = balanced_weights(truth, n_classes)  # every class weighs the same
    gain, row_se = weighted_mean_se(gains.mean(0), weight)
    per_repeat = np.array([weighted_mean_se(g, weight)[0] for g in gains])
    return interval(gain, row_se, per_repeat, confidence)


def decide_promotion(found: Interval, margin: float, changed: bool, confidence: float) -> tuple[str, str]:
    """(decision, why in words): promote only when the one-sided lower bound at `confidence`
    clears the margin, i.e. the rows are shown to help; "keep" when they measured worse;
    otherwise no proof."""
    if not changed:
        return "not enough evidence", "the rows changed no held-out probability"
    lower, upper = found.bounds_at(confidence)
    if lower > margin:
        return "promote", f"its lower bound {lower:+.2f} points is above {margin:+.2f}: the rows help"
    if found.gain < 0:
        return "keep", f"the rows cost {found.gain:+.2f} (bounds {lower:+.2f} to {upper:+.2f})"
    why = f"the gain {found.gain:+.2f} is not sure: its lower bound {lower:+.2f} is not above {margin:+.2f}"
    return "not enough evidence", why
