"""The gate's menu: the training sets a user could train on, and which one to recommend.

Every option is measured on the same cross-fitted folds with the user's classifier
(pipeline/quality/gate.py), in macro-F1 with every class weighing the same. The
recommendation is the option with the best measured macro-F1; among the options within TIE
points of it (as good within the noise of tens of held-out rows) the cheapest, simplest one
wins, except that the real rows alone come last: on tens of rows nothing is proven, and
"not proven" must not turn into "do nothing", which measured worst on imbalanced data.
An option that changes no held-out prediction of the real rows alone is the real rows alone
in effect (class weights on balanced data), and is named so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REAL_ONLY = "real_only"
# points of macro-F1 within which the order below decides, not the point estimate. Replayed on
# the gate's own gains in benchmarks/imbalance.py (BENCHMARKS.md "Which training set"): 0, 0.5,
# 1 and 2 points, three orders, two weightings; 1 point with every class weighing the same and the
# real rows alone last was closest to the best option chosen with hindsight
TIE = 1.0


@dataclass(frozen=True)
class Option:
    """One training set: the real rows, maybe weighted, maybe plus rows from generators."""

    name: str
    cost: int  # ties go to the lower: cheaper to make and simpler to explain
    words: str  # what a user trains on, for the verdict
    sources: tuple[str, ...] = ()  # generator kinds whose rows are added; a class's count split evenly
    balanced: bool = False  # balanced class weights on every row (sample_weight)


CHEAP = {
    REAL_ONLY: Option(REAL_ONLY, 0, "your real rows alone"),
    "class_weight": Option("class_weight", 1, "your real rows with balanced class weights", balanced=True),
    "oversample": Option("oversample", 2, "your real rows plus random copies of them", ("oversample",)),
    "smote": Option("smote", 3, "your real rows plus SMOTE rows", ("smote",)),
    "affine": Option("affine", 3, "your real images plus random affine views of them", ("affine",)),
}
GENERATED = {
    "cvae": Option("cvae", 4, "your real rows plus the CVAE's rows", ("cvae",)),
    "pseudo_label": Option("pseudo_label", 4, "your real rows plus your unlabelled rows, labelled", ("pseudo_label",)),
    "cvae_affine": Option(
        "cvae_affine", 5, "your real images plus half CVAE rows, half affine views", ("cvae", "affine")
    ),
}
OPTIONS = CHEAP | GENERATED  # every option by name
# what `--generator auto` ships when no option can be measured (a class of one row): the cheap
# option that measured best on average in benchmarks/imbalance.py (BENCHMARKS.md "Which training set")
UNMEASURED = {"table": "class_weight", "image": "affine"}


def menu(modality: str, product: str) -> list[Option]:
    """The options measured for this kind of data and the run's generator (`product`)."""
    options = [CHEAP[REAL_ONLY], CHEAP["class_weight"], CHEAP["oversample"]]
    options.append(CHEAP["smote"] if modality == "table" else CHEAP["affine"])
    if product not in {o.name for o in options}:
        options.append(GENERATED[product])
    if modality == "image" and product == "cvae":
        options.append(GENERATED["cvae_affine"])
    return options


def split_counts(counts: dict[str, int], parts: int) -> list[dict[str, int]]:
    """A class's count shared among `parts` sources, the first ones taking the remainder."""
    return [{c: n // parts + (i < n % parts) for c, n in counts.items()} for i in range(parts)]


def tie_order(option: Option) -> tuple[int, int]:
    """Within TIE of the best: cheaper first, the real rows alone last."""
    return (option.name == REAL_ONLY, option.cost)


def recommend(
    options: list[Option],
    draws: dict[str, np.ndarray],
    points: dict[str, float],
    confidence: float,
    same_as_real: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The option to train on and, in words, how sure the measurement is.

    `points` is each option's macro-F1 (points) on every held-out row, `draws` the same over
    bootstrap resamples of the rows (one draw per resample, shared across options);
    `same_as_real` names the options whose held-out predictions are those of the real rows alone."""
    by_name = {o.name: o for o in options if o.name in points}
    best = max(by_name, key=lambda n: (points[n], -by_name[n].cost))
    near = [n for n in by_name if points[n] >= points[best] - TIE]
    picked = min(near, key=lambda n: (*tie_order(by_name[n]), -points[n]))
    chosen = REAL_ONLY if picked in same_as_real else picked
    prefix = f"{picked} changes no held-out prediction (your real rows alone in effect); " if picked != chosen else ""
    others = [n for n in by_name if n != chosen and n not in same_as_real]
    if not others:
        return {"method": chosen, "runner_up": None, "why": "no other option changed a held-out prediction"}
    runner = max(others, key=lambda n: points[n])
    gap = points[chosen] - points[runner]
    lower = float(np.quantile(draws[chosen] - draws[runner], 1 - confidence))
    if points[best] - points[chosen] > 1e-9:
        why = f"as good as {best} within noise ({points[best] - points[chosen]:.1f} points apart, under {TIE:g})"
        why += " and simpler" if chosen != REAL_ONLY else ""
    elif lower > 0:
        why = f"clearly best: {gap:+.1f} points over the runner-up {runner} (one-sided lower bound {lower:+.1f})"
    else:
        why = f"best by a hair: {runner} is as good within noise ({gap:+.1f} points, lower bound {lower:+.1f})"
    return {"method": chosen, "runner_up": runner, "why": prefix + why}


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's 'balanced' class weights per row: n / (classes present * rows of the class)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = int((counts > 0).sum())
    with np.errstate(divide="ignore"):
        per_class = np.where(counts > 0, len(y) / (present * counts), 0.0)
    return per_class[y]
