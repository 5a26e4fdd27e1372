"""The gate's arithmetic: macro-F1, the options' gains over the real rows alone and their bounds.

The gains are in macro-F1 points over the real rows alone; bounds come from a paired
bootstrap over the rows (predictions of every repeat kept together). promotion_intervals
puts the product's gain under every promotion statistic (pipeline/quality/promotion.py).
"""

from __future__ import annotations

import numpy as np

from pipeline.quality.crossfit import Evidence
from pipeline.quality.menu import REAL_ONLY
from pipeline.quality.promotion import Interval, interval, scoring_rule_interval

BOOTSTRAP = 1000
RARE_SHARE = 0.5  # a class is rare when it has fewer than this share of the largest class's rows


def macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int, balanced: bool = False) -> float:
    """Macro-F1 over the classes present in truth (0 for a class never predicted right). With
    `balanced`, each row weighs 1 / (rows of its class): the macro-F1 of a test set where every
    class is as common as any other, so a rare class's precision is not read at its rarity."""
    weight = None
    if balanced:
        weight = 1.0 / np.bincount(truth, minlength=n_classes)[truth]
    cm = np.bincount(truth * n_classes + pred, weights=weight, minlength=n_classes * n_classes)
    cm = cm.reshape(n_classes, n_classes)
    tp, actual, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(actual + predicted > 0, 2 * tp / (actual + predicted), 0.0)
    return float(f1[actual > 0].mean())


def option_scores(
    evidence: Evidence, seed: int = 0, balanced: bool = False, methods: list[str] | None = None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each option's (or each of `methods`') macro-F1 in points on every held-out row (mean over
    repeats), and the same over BOOTSTRAP resamples of the rows, shared by every option (paired)."""
    k, truth = len(evidence.class_names), evidence.truth

    def score(method: str, rows: np.ndarray) -> float:
        preds = evidence.predictions[method]
        return 100 * float(np.mean([macro_f1(truth[rows], p[rows], k, balanced) for p in preds]))

    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, len(truth), len(truth)) for _ in range(BOOTSTRAP)]
    methods = list(evidence.predictions) if methods is None else methods
    points = {m: score(m, np.arange(len(truth))) for m in methods}
    draws = {m: np.array([score(m, rows) for rows in resamples]) for m in methods}
    return points, draws


def gains(points: dict[str, float], draws: dict[str, np.ndarray], confidence: float) -> dict[str, tuple]:
    """(gain, lower bound, upper bound) in macro-F1 points of every option over the real rows alone."""
    alpha = 1 - confidence
    out = {}
    for m in points:
        diff = draws[m] - draws[REAL_ONLY]
        out[m] = (points[m] - points[REAL_ONLY], float(np.quantile(diff, alpha)), float(np.quantile(diff, 1 - alpha)))
    return out


def recall_by_class(evidence: Evidence, method: str) -> dict[str, float]:
    truth = np.concatenate([evidence.truth] * len(evidence.predictions[method]))
    pred = np.concatenate(evidence.predictions[method])
    return {name: float((pred[truth == c] == c).mean()) for c, name in enumerate(evidence.class_names)}


def rare_classes(truth: np.ndarray, names: list[str]) -> list[str]:
    counts = np.bincount(truth, minlength=len(names))
    return [names[c] for c in range(len(names)) if 0 < counts[c] < RARE_SHARE * counts.max()]


def probabilities(evidence: Evidence, method: str) -> list[np.ndarray]:
    """An option's held-out probabilities; one-hot of its predictions where only those were kept."""
    if method in evidence.probabilities:
        return evidence.probabilities[method]
    return [np.eye(len(evidence.class_names))[p] for p in evidence.predictions[method]]


def promotion_intervals(
    evidence: Evidence, confidence: float, f1: tuple[dict[str, float], dict[str, np.ndarray]]
) -> dict[str, Interval]:
    """The product's gain over the real rows alone under every promotion statistic, with the
    interval that holds row, fold and generator noise (promotion.interval). `f1`: macro-F1
    points and bootstrap draws of the two (option_scores), whose spread is macro-F1's row noise."""
    k, truth, product = len(evidence.class_names), evidence.truth, evidence.product
    base, mine = probabilities(evidence, REAL_ONLY), probabilities(evidence, product)
    out = {m: scoring_rule_interval(base, mine, truth, k, m, confidence) for m in ("brier", "log_loss")}
    points, draws = f1
    per_repeat = [
        100 * (macro_f1(truth, p, k) - macro_f1(truth, b, k))
        for b, p in zip(evidence.predictions[REAL_ONLY], evidence.predictions[product])
    ]
    row_se = float(np.std(draws[product] - draws[REAL_ONLY], ddof=1))
    out["macro_f1"] = interval(points[product] - points[REAL_ONLY], row_se, np.array(per_repeat), confidence)
    return out
