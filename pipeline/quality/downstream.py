"""Does adding the accepted synthetic rows help a classifier? Measured, then gated.

The evaluation generator is trained without a held-out part of the real rows; classifiers
trained on real-only and on real + synthetic are compared on that held-out part, over a
few seeds, and the paired differences give the gain and its noise. How many synthetic rows
to add and with what weight is chosen on a validation split of the training rows, never
on the held-out rows the gain is reported on.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from pipeline.config import QualityConfig
from pipeline.quality.classifier import fit_cnn, fit_table_classifier
from pipeline.train import stratified_split

VALIDATION_FRACTION = 0.3


def _fit(
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    seed: int,
    steps: int,
    weight: torch.Tensor | None = None,
    classic: bool = True,
):
    """The downstream classifier; for images `classic` trains it on random affine views."""
    if x.dim() == 4:
        return fit_cnn(x, y, k, seed=seed, steps=steps, weight=weight, augment=classic)
    return fit_table_classifier(x, y, k, seed=seed, weight=weight)


def _predict(clf, x: torch.Tensor) -> np.ndarray:
    return clf.predict_proba(x).argmax(1)


def _take(syn_x: torch.Tensor, syn_y: torch.Tensor, per_class: dict[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n synthetic rows of each class."""
    idx = torch.cat(
        [torch.nonzero(syn_y == c).flatten()[:n] for c, n in per_class.items()] or [torch.zeros(0, dtype=torch.long)]
    )
    return syn_x[idx], syn_y[idx]


def _with_synthetic(x, y, syn_x, syn_y, weight: float):
    w = torch.cat([torch.ones(len(x)), torch.full((len(syn_x),), float(weight))])
    return torch.cat([x, syn_x]), torch.cat([y, syn_y]), w


@dataclass
class GainResult:
    real_only: list[float]
    augmented: list[float]
    ratio: float
    weight: float
    synthetic_rows: int
    eval_rows: int
    per_class_gain: dict[str, float] = field(default_factory=dict)
    candidates: list[dict[str, float]] = field(default_factory=list)
    real_only_f1: list[float] = field(default_factory=list)  # macro-F1 per seed, beside the accuracies
    augmented_f1: list[float] = field(default_factory=list)

    @property
    def diffs(self) -> list[float]:
        return [a - r for a, r in zip(self.augmented, self.real_only)]

    @property
    def mean_gain(self) -> float:
        return statistics.fmean(self.diffs)

    @property
    def noise(self) -> float:
        """Standard error of the paired differences over seeds (0 with one seed)."""
        d = self.diffs
        return statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        f1 = (
            {
                "real_only_f1_mean": statistics.fmean(self.real_only_f1),
                "augmented_f1_mean": statistics.fmean(self.augmented_f1),
            }
            if self.real_only_f1
            else {}
        )
        return (
            asdict(self)
            | {
                "mean_gain": self.mean_gain,
                "noise": self.noise,
                "diffs": self.diffs,
                "real_only_mean": statistics.fmean(self.real_only),
                "augmented_mean": statistics.fmean(self.augmented),
            }
            | f1
        )


def downstream_gain(
    fit_x: torch.Tensor,
    fit_y: torch.Tensor,
    syn_x: torch.Tensor,
    syn_y: torch.Tensor,
    eval_x: torch.Tensor,
    eval_y: torch.Tensor,
    class_names: list[str],
    cfg: QualityConfig,
    seed: int = 0,
    classic: bool = True,
) -> GainResult:
    k = len(class_names)
    counts = {int(c): int((fit_y == c).sum()) for c in torch.unique(fit_y)}
    steps = cfg.classifier_steps
    # choose ratio and weight on a validation split of the training rows
    tr, va = stratified_split(fit_y, VALIDATION_FRACTION, torch.Generator().manual_seed(seed))
    candidates = []
    best = (max(cfg.ratios), max(cfg.weights))
    if len(va):
        base = float(
            (
                _predict(_fit(fit_x[tr], fit_y[tr], k, seed, steps, classic=classic), fit_x[va]) == fit_y[va].numpy()
            ).mean()
        )
        best_acc = -1.0
        for ratio in sorted(cfg.ratios):
            sx, sy = _take(syn_x, syn_y, {c: round(ratio * n) for c, n in counts.items()})
            for weight in sorted(cfg.weights):
                x, y, w = _with_synthetic(fit_x[tr], fit_y[tr], sx, sy, weight)
                acc = float((_predict(_fit(x, y, k, seed, steps, w, classic), fit_x[va]) == fit_y[va].numpy()).mean())
                candidates.append(
                    {
                        "ratio": ratio,
                        "weight": weight,
                        "validation_accuracy": acc,
                        "real_only_validation_accuracy": base,
                    }
                )
                if acc > best_acc + 1e-9:
                    best_acc, best = acc, (ratio, weight)
    ratio, weight = best
    sx, sy = _take(syn_x, syn_y, {c: round(ratio * n) for c, n in counts.items()})
    real_only, augmented, real_f1, aug_f1 = [], [], [], []
    per_class = np.zeros(k)
    truth = eval_y.numpy()
    for s in range(cfg.seeds):
        pred_r = _predict(_fit(fit_x, fit_y, k, seed + s, steps, classic=classic), eval_x)
        x, y, w = _with_synthetic(fit_x, fit_y, sx, sy, weight)
        pred_a = _predict(_fit(x, y, k, seed + s, steps, w, classic), eval_x)
        real_only.append(float((pred_r == truth).mean()))
        augmented.append(float((pred_a == truth).mean()))
        real_f1.append(float(f1_score(truth, pred_r, average="macro", labels=np.unique(truth), zero_division=0)))
        aug_f1.append(float(f1_score(truth, pred_a, average="macro", labels=np.unique(truth), zero_division=0)))
        for c in range(k):
            rows = truth == c
            if rows.any():
                per_class[c] += ((pred_a[rows] == c).mean() - (pred_r[rows] == c).mean()) / cfg.seeds
    return GainResult(
        real_only,
        augmented,
        ratio,
        weight,
        len(sx),
        len(eval_x),
        {class_names[c]: float(per_class[c]) for c in range(k) if (truth == c).any()},
        candidates,
        real_f1,
        aug_f1,
    )


def gate(
    gain: GainResult | None, per_class_report: dict[str, dict[str, Any]], skipped_reason: str | None = None
) -> dict[str, Any]:
    """Promote only when the gain is not negative beyond noise and every class has accepted rows."""
    reasons = []
    if gain is None:
        reasons.append(f"no downstream measurement: {skipped_reason or 'evaluation turned off'}")
    elif gain.mean_gain < -gain.noise:
        worse = sorted((g, c) for c, g in gain.per_class_gain.items() if g < 0)[:3]
        named = ", ".join(f"{c} ({g:+.1%})" for g, c in worse)
        reasons.append(
            f"augmentation did not help: accuracy {gain.mean_gain:+.1%} ± {gain.noise:.1%} on held-out real rows"
            + (f"; worst classes {named}" if named else "")
        )
    empty = [c for c, e in per_class_report.items() if e.get("accepted_share", 0) == 0]
    if empty:
        reasons.append(f"no accepted synthetic rows for class(es) {', '.join(empty)}")
    decision = "promote" if not reasons else "keep candidate"
    if not reasons:
        reasons.append(
            f"accuracy {gain.mean_gain:+.1%} ± {gain.noise:.1%} on held-out real rows with {gain.ratio:g} synthetic "
            f"rows per real row at weight {gain.weight:g}; every class has accepted rows"
        )
    return {"decision": decision, "promoted": decision == "promote", "reasons": reasons}
