"""The gate's menu: the training sets a user could train on, and which one to recommend.

Every option is measured on the same cross-fitted folds with the user's classifier
(pipeline/quality/crossfit.py), in macro-F1 with every class weighing the same. On tens of
held-out rows those gains are noisy, so the recommendation ranks the options by an expected
gain: this run's measured gain weighed against what the option typically gained on the
meta-benchmark's tables with the same judge (ADVICE, learned by benchmarks/meta.py --learn).
Among the options within TIE points of the best the cheapest, simplest one wins, except that
the real rows alone come last: "not proven" must not turn into "do nothing", which measured
worst on imbalanced data. An option that changes no held-out prediction of the real rows alone
is the real rows alone in effect (class weights on balanced data), and is named so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import catalog
from pipeline.catalog import REAL_ONLY, Option
from pipeline.quality.prior import RARE_SHARE, load_advice

# points of expected gain within which the order below decides, not the point estimate. Replayed
# on the gate's own gains in benchmarks/imbalance.py (BENCHMARKS.md "Which training set"): ties
# of 0, 0.5 and 1 point with SHRINK 1 to 0; 0.5 with SHRINK 0.5 was closest to the best option
# chosen with hindsight on toy and on natural tables
TIE = 0.5

# the options (Option: one training set) and the menus they are on are registered in
# pipeline/catalog.py (IMAGE_POLICY: torchvision's policy on the image menu); these are live views of it
OPTIONS = catalog.OPTIONS  # every option by name
PARTIAL = OPTIONS.where(lambda o: o.partial)  # the half-way options, off the default menu
# what `--generator auto` ships when no option can be measured (a class of one row): the cheap
# option that measured best on average in benchmarks/imbalance.py (BENCHMARKS.md "Which training set")
UNMEASURED = {"table": "class_weight", "image": "affine"}
# the advice learned across many data sets (benchmarks/meta.py --learn writes it; prior.py reads it):
# per kind of data and judge, the typical gain of every option over the real rows alone (macro-F1
# points on held-out test rows), maybe per description of the data (DESCRIBE), and how much this
# run's own measured gain weighs against it. Version 1: learned from 19 tables, a weight of m / (m + 20)
# for a smallest class of m rows (BENCHMARKS.md "The advice, learned from many tables"); images keep
# 0.8's averages (benchmarks/imbalance.py --priors) until an image meta-benchmark exists
ADVICE = load_advice()
# the typical gains over every description, per (kind, judge): the replays of benchmarks/imbalance.py
# (not the CVAE's latent prior p(z|y), pipeline/model.py)
TYPICAL_GAINS: dict[tuple[str, str], dict[str, float]] = ADVICE.overall()
# the weight of this run's own measured gain when the artifact fixes one (the fallback's 0.5): replayed in
# benchmarks/imbalance.py with each data set's typical gains taken from the other data sets only: with
# tie 0.5, 0.5 matched the measurement alone with LR and beat it by 0 to 1.5 macro-F1 points with trees
SHRINK = 0.5


def menu(modality: str, product: str, partial: bool = False) -> list[Option]:
    """The options measured for this kind of data and the run's generator (`product`), in the
    catalog's order: those on this kind's menu, with `partial` the half-way ones too, then the
    product's own option (where the menu lacks it), then those measured beside the product."""
    on = [o for o in OPTIONS.values() if modality in o.menus]
    options = [o for o in on if not o.partial and o.beside is None]
    if partial:
        options += [o for o in on if o.partial and o.beside is None]
    if product not in {o.name for o in options}:
        options.append(catalog.option(product))
    return options + [o for o in on if o.beside == product and o not in options and (partial or not o.partial)]


def partial_counts(counts: dict[str, int], fraction: float) -> dict[str, int]:
    """`fraction` of each class's asked rows, rounded up (1: the counts as asked)."""
    return dict(counts) if fraction == 1 else {c: int(np.ceil(n * fraction)) for c, n in counts.items()}


def split_counts(counts: dict[str, int], parts: int) -> list[dict[str, int]]:
    """A class's count shared among `parts` sources, the first ones taking the remainder."""
    return [{c: n // parts + (i < n % parts) for c, n in counts.items()} for i in range(parts)]


def tie_order(option: Option) -> tuple[int, int]:
    """Within TIE of the best: cheaper first, the real rows alone last."""
    return (option.name == REAL_ONLY, option.cost)


def expected_gains(
    gains: dict[str, float], typical: dict[str, float] | None, shrink: float = SHRINK
) -> dict[str, float]:
    """Each option's expected gain over the real rows alone: this run's measured gain weighed
    `shrink` against the option's typical gain on similar data sets with the same judge
    (`typical`, ADVICE's entry). On tens of held-out rows a measured gain is mostly noise; the
    typical gain over many data sets is what a user would bet on without this run. No typical
    gains: the measured gains; an option without one gets the mean of the others."""
    if not typical:
        return dict(gains)
    bets = typical_of(gains, typical).values()
    return {m: shrink * g + (1 - shrink) * bet for (m, g), bet in zip(gains.items(), bets)}


def typical_of(gains: dict[str, float], typical: dict[str, float] | None) -> dict[str, float]:
    """The typical gain of every option in `gains` (0 for the real rows alone; an option without
    one gets the mean of the others); {} without typical gains."""
    if not typical:
        return {}
    fallback = float(np.mean([v for m, v in typical.items() if m != REAL_ONLY]))
    return {m: 0.0 if m == REAL_ONLY else float(typical.get(m, fallback)) for m in gains}


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
    counts: np.ndarray | None = None,
) -> dict[str, Any]:
    """The option to train on and, in words, how sure the measurement is and how it was chosen.

    `points` is each option's macro-F1 (points) on every held-out row, `draws` the same over
    bootstrap resamples of the rows (one draw per resample, shared across options);
    `same_as_real` names the options whose held-out predictions are those of the real rows alone;
    `counts` the real rows per class (what the run sees: which typical gains, how much its own
    measurement weighs). Options are ranked by their expected gain (expected_gains), ties within
    TIE as tie_order says.

    An option that changed no held-out prediction is named the real rows alone only where its
    training set is theirs in effect on balanced classes; on imbalanced classes (a class below
    RARE_SHARE of the largest) a handful of fold rows cannot show that, so the ranking's choice stays
    and the words say the folds could not tell it apart."""
    by_name = {o.name: o for o in options if o.name in points}
    usual = ADVICE.typical_gains(modality, judge, counts)
    shrunk = ADVICE.weight(counts) if usual else 1.0
    measured = {n: points[n] - points[REAL_ONLY] for n in by_name}
    typical = typical_of(measured, usual)
    expected = expected_gains(measured, usual, shrunk)
    best, picked = pick(expected)
    imbalanced = counts is not None and len(counts) > 0 and min(counts) < RARE_SHARE * max(counts)
    chosen = REAL_ONLY if picked in same_as_real and not imbalanced else picked
    rounded = {n: round(v, 3) for n, v in expected.items()}
    out = {"method": chosen, "runner_up": None, "expected_gains": rounded, "weight": round(shrunk, 3)}
    out["typical_gains"] = {n: round(v, 3) for n, v in typical.items()}
    others = [n for n in by_name if n not in (chosen, picked) and n not in same_as_real]
    if not others:
        return out | {"why": "no other option changed a held-out prediction"}
    runner = max(others, key=lambda n: expected[n])
    gap = expected[picked] - expected[runner]
    spread = shrunk * (draws[picked] - draws[runner] - (points[picked] - points[runner]))
    lower = gap + float(np.quantile(spread, 1 - confidence))
    top = max((n for n in by_name if n not in same_as_real or n == picked), key=lambda n: measured[n])
    leads = measured[picked] >= measured[top] - 1e-9  # leads on its own measured gain too
    if expected[best] - expected[picked] > 1e-9:
        why = f"as good as {best} within noise ({expected[best] - expected[picked]:.1f} expected points apart,"
        why += f" under {TIE:g})" + (" and simpler" if picked != REAL_ONLY else "")
    elif round(lower, 1) > 0 and leads:  # as printed: a bound that reads +0.0 is not clear
        why = f"clearly best: {gap:+.1f} points over the runner-up {runner} (one-sided lower bound {lower:+.1f})"
    elif round(lower, 1) > 0:
        why = f"best by expected gain: {gap:+.1f} points over the runner-up {runner} (lower bound {lower:+.1f})"
    else:
        why = f"best by a hair: {runner} is as good within noise ({gap:+.1f} points ahead, lower bound {lower:+.1f})"
    if shrunk < 1:
        why += (
            f"; expected gain = {shrunk:.2g} x the gain measured on your folds + {1 - shrunk:.2g} x the typical"
            f" gain on similar data sets with this judge ({picked} {expected[picked]:+.1f},"
            f" {runner} {expected[runner]:+.1f})"
        )
        if not leads:
            why += (
                f"; this goes against your measurement: chosen from {ADVICE.words()}: on your folds it measured"
                f" {measured[picked]:+.1f}, {top} {measured[top]:+.1f}"
            )
    if picked != chosen:
        why = f"{picked} changes no held-out prediction (your real rows alone in effect on balanced classes); " + why
    elif picked in same_as_real:
        why += (
            f"; on your folds {picked} changed no held-out prediction of your real rows alone: the folds could not"
            f" tell it apart from them, and with imbalanced classes (smallest {int(min(counts))} rows beside"
            f" {int(max(counts))}) it is kept"
        )
    return out | {"runner_up": runner, "why": why}


def balanced_weights(y: np.ndarray, n_classes: int, strength: float = 1.0) -> np.ndarray:
    """Class weights per row. strength 1: scikit-learn's 'balanced' weights, n / (classes present *
    rows of the class). Otherwise each class weighs as if it had its rows plus `strength` of its gap to
    the largest class (0.5: half the imbalance closed), scaled so the weights sum to n, as balanced
    ones do."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    target = counts + strength * (counts.max() - counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.where(counts > 0, target / counts, 0.0)
    total = float((per_class * counts).sum())
    return per_class[y] * (len(y) / total if total else 0.0)
