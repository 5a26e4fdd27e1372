"""The gate: does training on augmented.parquet beat training on the real rows alone?

It measures what ships. Every real row is scored once per repeat by cross-fitting: the real
rows are split into K stratified folds; for each fold a generator is fit on the other
folds, asked for the same rows per class as the shipped file (generated, scored, accepted
as in the run), and a classifier trained on those real rows plus the accepted rows (weight
1) predicts the held-out fold; a classifier on the real rows alone predicts it too. The
cheap baselines go through the same folds. The gain is in macro-F1 points over all rows;
its lower bound is a one-sided paired bootstrap over the rows (predictions of every repeat
kept together), so few rows mean a wide bound.

Rule: promote when the lower bound is above -margin (default -0.5 points). Otherwise keep
the candidate: "keep" when the measured gain is negative, "not enough evidence" when it is
positive but not sure enough, or when the data is too small to cross-fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from pipeline.config import QualityConfig
from pipeline.data.codec import ClassIndex, Codec
from pipeline.deliver import accepted_rows, deliver
from pipeline.quality.classifier import fit_cnn, fit_table_classifier
from pipeline.quality.fidelity import LabelJudge, SampleScorer
from pipeline.synthesizers import Synthesizer

BOOTSTRAP = 1000
RARE_SHARE = 0.5  # a class is rare when it has fewer than this share of the largest class's rows
PRODUCT = "product"
Factory = Callable[[], Synthesizer]


@dataclass
class Evidence:
    """Out-of-fold predictions of every row, per method and repeat."""

    truth: np.ndarray
    class_names: list[str]
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)  # "real" = real rows alone
    synthetic_rows: dict[str, list[int]] = field(default_factory=dict)  # accepted rows measured, per fold
    folds: int = 0


@dataclass
class Task:
    """What one run asks for, as the folds must reproduce it."""

    real: pd.DataFrame
    label: str
    features: list[str]
    codec: Codec  # fit on every real row: the classifiers' features
    classes: ClassIndex
    counts: dict[str, int]  # synthetic rows per class, as shipped
    quality: QualityConfig
    seed: int
    max_rounds: int = 5
    unlabelled: pd.DataFrame | None = None  # rows without a label, for generators that use them


def fold_count(y: np.ndarray, wanted: int) -> int:
    """K for stratified folds: at most the smallest class's rows (0: cannot cross-fit)."""
    smallest = int(np.bincount(y).min()) if len(y) else 0
    return min(wanted, smallest) if smallest >= 2 else 0


def cross_fit(task: Task, factories: dict[str, Factory]) -> Evidence | str:
    """Out-of-fold predictions for real-only and each generator, or why there can be none."""
    from sklearn.model_selection import StratifiedKFold

    x = task.codec.encode(task.real[task.features]).x
    y = task.classes.encode(task.real[task.label])
    k = fold_count(y.numpy(), task.quality.folds)
    if not k:
        return "a class has fewer than 2 real rows, so no row of it can be held out"
    evidence = Evidence(y.numpy(), task.classes.names, folds=k)
    folds = []  # (repeat, seed, train rows, held-out rows), every repeat's folds
    for repeat in range(task.quality.repeats):
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=(task.seed + repeat) % 2**32)
        for fold, (train, held) in enumerate(splitter.split(np.zeros(len(y)), y.numpy())):
            folds.append((repeat, task.seed + 1000 * repeat + fold, torch.as_tensor(train), torch.as_tensor(held)))
    generators = {name: _fold_generators(task, factory, folds) for name, factory in factories.items()}
    preds = {name: np.zeros((task.quality.repeats, len(y)), dtype=np.int64) for name in ["real", *factories]}
    for i, (repeat, seed, train, held) in enumerate(folds):
        fold_preds = _one_fold(task, {n: g[i] for n, g in generators.items()}, x, y, train, held, seed, evidence)
        for name, p in fold_preds.items():
            preds[name][repeat, held] = p
    evidence.predictions = {name: list(p) for name, p in preds.items()}
    return evidence


def _fold_generators(task: Task, factory: Factory, folds: list) -> list[Synthesizer]:
    """One generator per fold, fit on the fold's training rows (all at once where the
    generator can: pipeline/ensemble.py)."""
    gens = [factory() for _ in folds]
    for gen, (_, seed, _, _) in zip(gens, folds):
        gen.seed = seed
    frames = [task.real.iloc[train.numpy()] for _, _, train, _ in folds]
    return type(gens[0]).fit_many(gens, frames, task.label, task.unlabelled)


def _one_fold(task: Task, fitted: dict[str, Synthesizer], x, y, train, held, seed: int, evidence) -> dict:
    """Held-out predictions of real-only and of each fitted generator's rows on one fold."""
    n_classes, steps = len(task.classes), task.quality.classifier_steps
    preds = {"real": _classifier(x[train], y[train], n_classes, seed, steps).predict_proba(x[held]).argmax(1)}
    judge = LabelJudge.fit(x[train], y[train], task.classes.names, seed=seed, measure=False)
    q = task.quality
    accept = q.accept_rule(task.codec.modality)
    scorer = SampleScorer(judge, x[train], y[train], q.realism_quantile, q.copy_quantile, accept)
    for name, gen in fitted.items():
        frames = deliver(gen, task.counts, scorer, seed, task.max_rounds, codec=task.codec)
        sx, sy = accepted_rows(frames, task.codec, task.classes, task.features, task.label)
        evidence.synthetic_rows.setdefault(name, []).append(len(sx))
        clf = _classifier(torch.cat([x[train], sx]), torch.cat([y[train], sy]), n_classes, seed, steps)
        preds[name] = clf.predict_proba(x[held]).argmax(1)
    return preds


def _classifier(x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int, steps: int):
    """The downstream yardstick: logistic regression on the encoded columns, or a small CNN
    trained without augmentation (so affine views are measured as rows, not twice)."""
    if x.dim() == 4:
        return fit_cnn(x, y, n_classes, seed=seed, steps=steps, augment=False)
    return fit_table_classifier(x, y, n_classes, seed=seed)


# --- the arithmetic ------------------------------------------------------------------------
def macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the classes present in truth (0 for a class never predicted right)."""
    cm = np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp, actual, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(actual + predicted > 0, 2 * tp / (actual + predicted), 0.0)
    return float(f1[actual > 0].mean())


def gain_and_bound(evidence: Evidence, method: str, confidence: float, seed: int = 0) -> tuple[float, float, float]:
    """(gain, lower bound, upper bound) in macro-F1 points of `method` over real rows alone."""
    k, truth = len(evidence.class_names), evidence.truth

    def gain(rows: np.ndarray) -> float:
        pairs = zip(evidence.predictions[method], evidence.predictions["real"])
        return 100 * float(
            np.mean([macro_f1(truth[rows], a[rows], k) - macro_f1(truth[rows], r[rows], k) for a, r in pairs])
        )

    rng = np.random.default_rng(seed)
    draws = np.array([gain(rng.integers(0, len(truth), len(truth))) for _ in range(BOOTSTRAP)])
    alpha = 1 - confidence
    return gain(np.arange(len(truth))), float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))


def recall_by_class(evidence: Evidence, method: str) -> dict[str, float]:
    truth = np.concatenate([evidence.truth] * len(evidence.predictions[method]))
    pred = np.concatenate(evidence.predictions[method])
    return {name: float((pred[truth == c] == c).mean()) for c, name in enumerate(evidence.class_names)}


def rare_classes(truth: np.ndarray, names: list[str]) -> list[str]:
    counts = np.bincount(truth, minlength=len(names))
    return [names[c] for c in range(len(names)) if 0 < counts[c] < RARE_SHARE * counts.max()]


def decide(evidence: Evidence | str, quality: QualityConfig, seed: int = 0) -> dict[str, Any]:
    """The report's `gate` section: decision, numbers and the one-sentence verdict."""
    base = {"metric": "macro_f1", "margin": quality.margin, "confidence": quality.confidence}
    if isinstance(evidence, str):
        return base | {
            "decision": "not enough evidence",
            "promoted": False,
            "gain": None,
            "lower_bound": None,
            "eval_rows": 0,
            "baselines": {},
            "reasons": [evidence],
            "verdict": f"No verdict: {evidence}. Check the rows yourself before training on them.",
        }
    measured = {m: gain_and_bound(evidence, m, quality.confidence, seed) for m in evidence.predictions if m != "real"}
    gain, lower, upper = measured[PRODUCT]
    decision, why = rule(gain, lower, upper, len(evidence.truth), quality.margin)
    rare = rare_classes(evidence.truth, evidence.class_names)
    real_recall, product_recall = recall_by_class(evidence, "real"), recall_by_class(evidence, PRODUCT)
    return base | {
        "decision": decision,
        "promoted": decision == "promote",
        "gain": round(gain, 3),
        "lower_bound": round(lower, 3),
        "upper_bound": round(upper, 3),
        "eval_rows": int(len(evidence.truth) * len(evidence.predictions["real"])),
        "folds": evidence.folds,
        "repeats": len(evidence.predictions["real"]),
        "synthetic_rows_per_fold": float(np.mean(evidence.synthetic_rows[PRODUCT])),
        "baselines": {
            m: {"gain": round(g, 3), "lower_bound": round(lo, 3)} for m, (g, lo, _) in measured.items() if m != PRODUCT
        },
        "rare_class_recall": {c: {"real_only": real_recall[c], "augmented": product_recall[c]} for c in rare},
        "reasons": [f"macro-F1 {gain:+.1f} points over real rows alone on held-out real rows; {why}"],
        "verdict": verdict(measured, quality.margin, len(evidence.truth)),
    }


def floor(rows: int, margin: float) -> float:
    """The lowest lower bound that promotes. One row of n moves macro-F1 by about 100/n points:
    an evaluation on fewer than 100/margin rows cannot see a loss of `margin`, so there the
    rows must show a gain (bound above 0) rather than only "no loss beyond the margin"."""
    return -margin if rows >= 100 / max(margin, 1e-9) else 0.0


def rule(gain: float, lower: float, upper: float, rows: int, margin: float) -> tuple[str, str]:
    """(decision, why in words) from the gain's bounds and how many real rows were scored."""
    bar = floor(rows, margin)
    if gain == lower == upper == 0:
        return "not enough evidence", "the rows changed no held-out prediction"
    if lower > bar:
        return "promote", f"its lower bound {lower:+.1f} is above {bar:+.1f}" + (
            "" if bar < 0 else f" (on {rows} rows a loss of {margin:g} points cannot be seen, so a gain must be)"
        )
    if gain < 0:
        return "keep", f"the rows cost {gain:+.1f} points (bound {lower:+.1f} to {upper:+.1f})"
    why = f"the gain {gain:+.1f} is not sure: its lower bound {lower:+.1f} is not above {bar:+.1f}"
    return "not enough evidence", why


def verdict(measured: dict[str, tuple[float, float, float]], margin: float, rows: int = 10**9) -> str:
    """One sentence: the product's rows, a baseline (which), or the real rows alone; a method
    counts as helping when the gate's own rule would promote it and its gain is positive."""
    gain = measured[PRODUCT][0]
    helps = {m: v for m, v in measured.items() if v[0] > 0 and rule(*v, rows, margin)[0] == "promote"}
    others = ", ".join(f"{m} {g:+.1f}" for m, (g, _, _) in measured.items() if m != PRODUCT)
    tail = f" (macro-F1 points over real rows alone: {PRODUCT} {gain:+.1f}" + (f", {others})" if others else ")")
    if not helps:
        return "Train on your real rows alone: no generator measured here is shown to help" + tail + "."
    best = max(helps, key=lambda m: helps[m][0])
    if best == PRODUCT:
        return "Use the product's rows (augmented.parquet): they help" + tail + "."
    return f"Use the {best} baseline instead: it helps more than the product's rows" + tail + "."
