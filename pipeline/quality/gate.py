"""The gate: which training set should the user train on, and is the product's one proven?

The evidence is the cross-fitting's (pipeline/quality/crossfit.py: out-of-fold predictions
of the user's classifier for every option of the menu), its numbers the arithmetic's
(pipeline/quality/gains.py). Two answers come out: the recommendation (menu.recommend: the
best option by expected gain) and the promotion of the product's rows to `champion`
(pipeline/quality/promotion.py: a proper scoring rule's gain whose lower bound must clear a
margin; "keep" when the measured gain is negative, "not enough evidence" otherwise). The
sentences a user reads are pipeline/quality/wording.py's.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import QualityConfig
from pipeline.quality.crossfit import Evidence
from pipeline.quality.gains import (
    gains,
    option_scores,
    probabilities,
    promotion_intervals,
    rare_classes,
    recall_by_class,
)
from pipeline.quality.menu import REAL_ONLY, recommend
from pipeline.quality.promotion import decide_promotion
from pipeline.quality.result import ClassRecall, GateResult, OptionGain, Promotion, Recommendation
from pipeline.quality.wording import meaning, verdict


def decide(
    evidence: Evidence | str, quality: QualityConfig, seed: int = 0, judge: str = "logistic", balanced: bool = True
) -> GateResult:
    """The report's `gate` section: the menu and the recommendation (macro-F1 with every class
    weighing the same, `balanced`), the product's macro-F1 gain over the rows (`gain`, bounds),
    its promotion (`promotion`: quality.promotion's statistic, calibrated in
    benchmarks/gate_calibration.py), and the one-sentence verdict."""
    weighting = "classes" if balanced else "rows"
    if isinstance(evidence, str):
        return unmeasured(evidence, quality, judge, weighting)
    promoted_by = option_scores(evidence, seed, balanced=False, methods=[REAL_ONLY, evidence.product])
    gain, lower, upper = gains(*promoted_by, quality.confidence)[evidence.product]
    points, draws = option_scores(evidence, seed, balanced)
    real = evidence.predictions[REAL_ONLY]
    same = frozenset(m for m, p in evidence.predictions.items() if m != REAL_ONLY and all(map(np.array_equal, p, real)))
    counts = np.bincount(evidence.truth, minlength=len(evidence.class_names))
    advice = recommend(evidence.options, draws, points, quality.confidence, same, evidence.modality, judge, counts)
    expected, typical = advice["expected_gains"], advice["typical_gains"]
    options = {
        m: OptionGain(round(g, 3), round(lo, 3), round(hi, 3), expected[m], typical.get(m))
        for m, (g, lo, hi) in gains(points, draws, quality.confidence).items()
    }
    chosen, keys = options[advice["method"]], ("runner_up", "expected_gains", "typical_gains", "weight")
    bounds = (chosen.gain, chosen.lower_bound, chosen.upper_bound)
    recommendation = Recommendation(advice["method"], *bounds, advice["why"], *(advice[k] for k in keys))
    return GateResult(
        margin=quality.margin,
        confidence=quality.confidence,
        judge=judge,
        options_weighting=weighting,
        promotion=promotion_section(evidence, quality, promoted_by, (gain, lower, upper)),
        reasons=(
            f"{evidence.product}: macro-F1 {gain:+.1f} points over real rows alone on held-out real rows, every row "
            f"weighing the same (bounds {lower:+.1f} to {upper:+.1f}; the options weigh every class the same)",
        ),
        verdict=verdict(evidence.options, options, recommendation),
        gain=round(gain, 3),
        lower_bound=round(lower, 3),
        upper_bound=round(upper, 3),
        eval_rows=int(len(evidence.truth) * len(real)),
        folds=evidence.folds,
        repeats=len(real),
        synthetic_rows_per_fold=float(np.mean(evidence.synthetic_rows.get(evidence.product, [0]))),
        product=evidence.product,
        options=options,
        recommendation=recommendation,
        rare_class_recall=rare_class_recall(evidence),
    )


def rare_class_recall(evidence: Evidence) -> dict[str, ClassRecall]:
    """Each rare class's held-out recall with the real rows alone, the product's rows and every other option."""
    recall = {m: recall_by_class(evidence, m) for m in evidence.predictions}
    product = evidence.product
    others = [m for m in recall if m not in (REAL_ONLY, product)]
    return {
        c: ClassRecall(recall[REAL_ONLY][c], recall[product][c], {m: recall[m][c] for m in others})
        for c in rare_classes(evidence.truth, evidence.class_names)
    }


def promotion_section(
    evidence: Evidence, quality: QualityConfig, f1: tuple[dict[str, float], dict[str, np.ndarray]], f1_bounds: tuple
) -> Promotion:
    """gate.promotion: what `champion` means, the statistic, its gain and bounds, and the decision
    with its reason. Under quality.promotion = macro_f1 the 0.5 rule decides (rule, on the row
    bootstrap's bounds `f1_bounds`), for comparison with the earlier releases."""
    metric, by_metric = quality.promotion, promotion_intervals(evidence, quality.confidence, f1)
    base, mine = probabilities(evidence, REAL_ONLY), probabilities(evidence, evidence.product)
    if metric == "macro_f1":
        gain, lower, upper = f1_bounds
        bar = floor(len(evidence.truth), quality.margin)
        decision, why = rule(gain, lower, upper, len(evidence.truth), quality.margin)
    else:
        found, bar = by_metric[metric], quality.promotion_margin
        gain, (lower, upper) = found.gain, found.bounds_at(quality.promotion_confidence)
        changed = not all(map(np.array_equal, base, mine))
        decision, why = decide_promotion(found, bar, changed, quality.promotion_confidence)
    means = meaning(evidence.product, metric, bar, promotion_level(quality))
    return Promotion(
        metric=metric,
        gain=round(gain, 3),
        lower_bound=round(lower, 3),
        upper_bound=round(upper, 3),
        margin=bar,
        decision=decision,
        why=why,
        means=means,
        summary=f"{means}; this run: {why}",
        confidence=promotion_level(quality),
        by_metric=by_metric,
    )


def promotion_level(quality: QualityConfig) -> float | None:
    """The one-sided level of the bound that decides promotion (the macro-F1 rule has its own)."""
    return None if quality.promotion == "macro_f1" else quality.promotion_confidence


def unmeasured(why: str, quality: QualityConfig, judge: str, weighting: str = "classes") -> GateResult:
    """The gate section of a run whose options could not be measured: why, and what to do."""
    bar = quality.promotion_margin if quality.promotion != "macro_f1" else -quality.margin
    means = meaning("run's", quality.promotion, bar, promotion_level(quality))
    decision, summary = "not enough evidence", f"{means}; this run: {why}"
    return GateResult(
        margin=quality.margin,
        confidence=quality.confidence,
        judge=judge,
        options_weighting=weighting,
        promotion=Promotion(quality.promotion, None, None, None, bar, decision, why, means, summary),
        reasons=(why,),
        verdict=f"No measured advice: {why}. Check the rows yourself before training on them.",
    )


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
