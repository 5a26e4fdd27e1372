"""The gate's menu: the training sets a user could train on, and which one to recommend.

Every option is measured on the same cross-fitted folds with the user's classifier
(pipeline/quality/gate.py). The recommendation is the option with the best measured
macro-F1; an option within TIE points of it that is cheaper and simpler wins instead (it is
as good within the noise of tens of held-out rows), and the report says how sure it is.
"Do nothing" (`real_only`) is an option like any other, never a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REAL_ONLY = "real_only"
# points of macro-F1 within which a cheaper option is taken over the best point estimate
# (benchmarks/imbalance.py, "follow the recommendation": BENCHMARKS.md "Which training set")
TIE = 0.5


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


def recommend(
    options: list[Option], draws: dict[str, np.ndarray], points: dict[str, float], confidence: float
) -> dict[str, Any]:
    """The option to train on and, in words, how sure the measurement is.

    `points` is each option's macro-F1 (points) on every held-out row, `draws` the same over
    bootstrap resamples of the rows (one draw per resample, shared across options)."""
    by_name = {o.name: o for o in options if o.name in points}
    best = max(by_name, key=lambda n: (points[n], -by_name[n].cost))
    near = [n for n in by_name if points[n] >= points[best] - TIE]
    chosen = min(near, key=lambda n: (by_name[n].cost, -points[n]))
    others = [n for n in by_name if n != chosen]
    if not others:
        return {"method": chosen, "runner_up": None, "why": "the only option measured"}
    runner = max(others, key=lambda n: points[n])
    gap = points[chosen] - points[runner]
    lower = float(np.quantile(draws[chosen] - draws[runner], 1 - confidence))
    if chosen != best:
        why = (
            f"as good as {best} within noise ({points[best] - points[chosen]:.1f} points apart, "
            f"under {TIE:g}) and simpler"
        )
    elif lower > 0:
        why = f"clearly best: {gap:+.1f} points over the runner-up {runner} (one-sided lower bound {lower:+.1f})"
    else:
        why = f"best by a hair: {runner} is as good within noise ({gap:+.1f} points, lower bound {lower:+.1f})"
    return {"method": chosen, "runner_up": runner, "why": why}


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's 'balanced' class weights per row: n / (classes present * rows of the class)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = int((counts > 0).sum())
    with np.errstate(divide="ignore"):
        per_class = np.where(counts > 0, len(y) / (present * counts), 0.0)
    return per_class[y]
