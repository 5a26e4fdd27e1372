"""The gate's menu: the training sets a user could train on, and which one to recommend.

Every option is measured on the same cross-fitted folds with the user's classifier
(pipeline/quality/gate.py), in macro-F1 with every class weighing the same. On tens of
held-out rows those gains are noisy, so the recommendation ranks the options by an expected
gain: half this run's measured gain, half what the option gained on average across the
benchmark's data sets with the same judge (PRIOR). Among the options within TIE points of
the best the cheapest, simplest one wins, except that the real rows alone come last: "not
proven" must not turn into "do nothing", which measured worst on imbalanced data. An option
that changes no held-out prediction of the real rows alone is the real rows alone in effect
(class weights on balanced data), and is named so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REAL_ONLY = "real_only"
# points of expected gain within which the order below decides, not the point estimate. Replayed
# on the gate's own gains in benchmarks/imbalance.py (BENCHMARKS.md "Which training set"): ties
# of 0, 0.5 and 1 point with SHRINK 1 to 0; 0.5 with SHRINK 0.5 was closest to the best option
# chosen with hindsight on toy and on natural tables
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
    # torchvision's policies (pipeline.transforms.POLICIES); one of them, IMAGE_POLICY, is on the menu
    "rand_augment": Option("rand_augment", 3, "your real images plus RandAugment views of them", ("rand_augment",)),
    "trivial_augment": Option(
        "trivial_augment", 3, "your real images plus TrivialAugmentWide views of them", ("trivial_augment",)
    ),
    "auto_augment": Option("auto_augment", 3, "your real images plus AutoAugment views of them", ("auto_augment",)),
    "augmix": Option("augmix", 3, "your real images plus AugMix views of them", ("augmix",)),
}
# the policy the image menu measures beside affine views: of torchvision's four, the best with the CNN
# on digits (rare 5 and 10, tuning seeds 0-2; BENCHMARKS.md "Images: torchvision's policies")
IMAGE_POLICY = "rand_augment"
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
# what each option gained over the real rows alone, in macro-F1 points on held-out test rows,
# averaged over benchmarks/imbalance.py's settings, per kind of data and judge
# (`benchmarks/imbalance.py --priors` prints it; BENCHMARKS.md "Which training set"). Tables:
# 0.8's rows (`--out benchmarks/results/imbalance_v08`), images: results/imbalance
PRIOR: dict[tuple[str, str], dict[str, float]] = {
    ("table", "logistic"): {"class_weight": 6.8, "oversample": 6.7, "smote": 6.2, "cvae": 7.0},
    ("table", "forest"): {"class_weight": 3.7, "oversample": 2.2, "smote": 3.3, "cvae": 6.5},
    ("table", "boosting"): {"class_weight": 2.6, "oversample": 4.8, "smote": 5.2, "cvae": 8.9},
    ("image", "logistic"): {"class_weight": 5.2, "oversample": 5.4, "affine": 6.2, "cvae": 4.7, "cvae_affine": 6.1},
    ("image", "cnn"): {"class_weight": 0.9, "oversample": 0.4, "affine": 1.9, "cvae": 0.0, "cvae_affine": 1.7},
}
# the weight of this run's own measured gain against PRIOR (1: the measurement alone); replayed in
# benchmarks/imbalance.py with each data set's prior taken from the other data sets only: with
# tie 0.5, 0.5 matched the measurement alone with LR and beat it by 0 to 1.5 macro-F1 points with trees
SHRINK = 0.5


def menu(modality: str, product: str) -> list[Option]:
    """The options measured for this kind of data and the run's generator (`product`)."""
    options = [CHEAP[REAL_ONLY], CHEAP["class_weight"], CHEAP["oversample"]]
    options += [CHEAP["smote"]] if modality == "table" else [CHEAP["affine"], CHEAP[IMAGE_POLICY]]
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


def expected_gains(gains: dict[str, float], prior: dict[str, float] | None, shrink: float = SHRINK) -> dict[str, float]:
    """Each option's expected gain over the real rows alone: this run's measured gain weighed
    `shrink` against what the option gained across the benchmark's data sets with the same
    judge (`prior`, PRIOR's entry). On tens of held-out rows a measured gain is mostly noise;
    the average over many data sets is what a user would bet on without this run. No prior:
    the measured gains; an option without one gets the mean of the others."""
    if not prior:
        return dict(gains)
    fallback = float(np.mean([v for m, v in prior.items() if m != REAL_ONLY]))
    bet = {m: 0.0 if m == REAL_ONLY else prior.get(m, fallback) for m in gains}
    return {m: shrink * g + (1 - shrink) * bet[m] for m, g in gains.items()}


def pick(expected: dict[str, float], tie: float = TIE) -> tuple[str, str]:
    """(the best option by expected gain, the one recommended): among those within `tie` of the
    best, the first in tie_order."""
    best = max(expected, key=lambda n: (expected[n], -OPTIONS[n].cost))
    near = [n for n in expected if expected[n] >= expected[best] - tie]
    return best, min(near, key=lambda n: (*tie_order(OPTIONS[n]), -expected[n]))


def recommend(
    options: list[Option],
    draws: dict[str, np.ndarray],
    points: dict[str, float],
    confidence: float,
    same_as_real: frozenset[str] = frozenset(),
    modality: str = "table",
    judge: str = "logistic",
) -> dict[str, Any]:
    """The option to train on and, in words, how sure the measurement is.

    `points` is each option's macro-F1 (points) on every held-out row, `draws` the same over
    bootstrap resamples of the rows (one draw per resample, shared across options);
    `same_as_real` names the options whose held-out predictions are those of the real rows alone.
    Options are ranked by their expected gain (expected_gains), ties within TIE as tie_order says."""
    by_name = {o.name: o for o in options if o.name in points}
    prior = PRIOR.get((modality, judge))
    expected = expected_gains({n: points[n] - points[REAL_ONLY] for n in by_name}, prior)
    best, picked = pick(expected)
    chosen = REAL_ONLY if picked in same_as_real else picked
    prefix = f"{picked} changes no held-out prediction (your real rows alone in effect); " if picked != chosen else ""
    others = [n for n in by_name if n != chosen and n not in same_as_real]
    rounded = {n: round(v, 3) for n, v in expected.items()}
    if not others:
        why = "no other option changed a held-out prediction"
        return {"method": chosen, "runner_up": None, "why": why, "expected_gains": rounded}
    runner = max(others, key=lambda n: expected[n])
    gap = expected[chosen] - expected[runner]
    shrunk = SHRINK if prior else 1.0
    spread = shrunk * (draws[chosen] - draws[runner] - (points[chosen] - points[runner]))
    lower = gap + float(np.quantile(spread, 1 - confidence))
    if expected[best] - expected[chosen] > 1e-9:
        why = f"as good as {best} within noise ({expected[best] - expected[chosen]:.1f} points apart, under {TIE:g})"
        why += " and simpler" if chosen != REAL_ONLY else ""
    elif round(lower, 1) > 0:  # as printed: a bound that reads +0.0 is not clear
        why = f"clearly best: {gap:+.1f} points over the runner-up {runner} (one-sided lower bound {lower:+.1f})"
    else:
        why = f"best by a hair: {runner} is as good within noise ({gap:+.1f} points ahead, lower bound {lower:+.1f})"
    if shrunk < 1:
        why += (
            f"; expected gain = {SHRINK:g} x this run's measured gain + {1 - SHRINK:g} x the option's average"
            f" across the benchmark's data sets with this judge ({chosen} {expected[chosen]:+.1f},"
            f" {runner} {expected[runner]:+.1f})"
        )
    return {"method": chosen, "runner_up": runner, "why": prefix + why, "expected_gains": rounded}


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's 'balanced' class weights per row: n / (classes present * rows of the class)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = int((counts > 0).sum())
    with np.errstate(divide="ignore"):
        per_class = np.where(counts > 0, len(y) / (present * counts), 0.0)
    return per_class[y]
