"""The gate: which training set should the user train on, and is the product's one proven?

It measures what ships, with the user's classifier (the judge). Every real row is scored
once per repeat by cross-fitting: the real rows are split into K stratified folds; for each
fold every generator of the menu (pipeline/quality/menu.py) is fit on the other folds and
asked for the same rows per class as the shipped file, and the judge is trained on each
option's training set (the real rows alone, with class weights, plus copies, plus SMOTE or
affine views, plus the product's rows generated, scored and accepted as in the run) and
predicts the held-out fold (its probabilities are kept). The menu's gains are in macro-F1
points over the real rows alone; bounds come from a paired bootstrap over the rows
(predictions of every repeat kept together). A class with few rows gets more repeats of the
folds, so each of its rows is scored more often (repeats_for).

Two answers come out: the recommendation (menu.recommend: the best option by expected
gain) and the promotion of the product's rows to `champion` (pipeline/quality/promotion.py: a proper
scoring rule's gain whose lower bound must clear a margin; "keep" when the measured gain is
negative, "not enough evidence" otherwise).
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
from pipeline.processes import raise_if_interrupted
from pipeline.progress import OFF, Bars
from pipeline.quality.classifier import fit_judge
from pipeline.quality.fidelity import LabelJudge, SampleScorer
from pipeline.quality.menu import REAL_ONLY, Option, balanced_weights, partial_counts, recommend, split_counts
from pipeline.quality.parallel import Workers
from pipeline.quality.promotion import WORDS, Interval, decide_promotion, interval, scoring_rule_interval
from pipeline.runtime import configure_threads, seed_everything
from pipeline.synthesizers.base import Synthesizer

BOOTSTRAP = 1000
RARE_SHARE = 0.5  # a class is rare when it has fewer than this share of the largest class's rows
Factory = Callable[[], Synthesizer]


@dataclass
class Evidence:
    """Out-of-fold predictions of every row, per option of the menu and repeat."""

    truth: np.ndarray
    class_names: list[str]
    product: str = "cvae"  # the option holding the run's own generator's rows
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)  # REAL_ONLY: the real rows alone
    synthetic_rows: dict[str, list[int]] = field(default_factory=dict)  # rows per fold, per generator
    folds: int = 0
    options: list[Option] = field(default_factory=list)
    # (rows, classes) held-out probabilities per repeat; absent: one-hot of the predictions
    probabilities: dict[str, list[np.ndarray]] = field(default_factory=dict)
    modality: str = "table"  # the data's kind: which benchmark prior the recommendation weighs (menu.PRIOR)


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
    product: str = "cvae"  # the run's generator: its rows are scored and filtered as the run ships them
    judge: str = "logistic"  # the user's classifier (pipeline/quality/classifier.py JUDGES)
    threads: int | None = None  # torch threads of every fit (train.threads; None: runtime's default)
    encoded: tuple | None = field(default=None, repr=False)  # (x, y) of the real rows, made on first use


def fold_count(y: np.ndarray, wanted: int) -> int:
    """K for stratified folds: at most the smallest class's rows (0: cannot cross-fit)."""
    smallest = int(np.bincount(y).min()) if len(y) else 0
    return min(wanted, smallest) if smallest >= 2 else 0


def repeats_for(y: np.ndarray, quality: QualityConfig) -> int:
    """Repeats of the folds: at least quality.repeats, and enough that every row of the
    smallest class is scored quality.class_scores times in all (at most 10). A class of 5 rows
    has one row held out per fold; more repeats, not more held-out rows, give it weight."""
    smallest = int(np.bincount(y).min()) if len(y) else 0
    wanted = -(-quality.class_scores // smallest) if smallest else quality.repeats
    return min(max(quality.repeats, wanted), 10)


@dataclass
class FoldRows:
    """Every fold's split and every generator's encoded rows for it: what each judge trains on.
    Made once per run; the benchmark judges the same rows with several classifiers."""

    x: torch.Tensor
    y: torch.Tensor
    k: int
    repeats: int
    folds: list  # (repeat, seed, train rows, held-out rows), every repeat's folds
    rows: list[dict[str, tuple[torch.Tensor, torch.Tensor]]]  # per fold: kind -> (x, y)


def cross_fit(task: Task, factories: dict[str, Factory], options: list[Option], bars: Bars = OFF) -> Evidence | str:
    """Out-of-fold predictions for every option, or why there can be none. `factories` makes
    an unfitted generator of each kind the options name; `bars` shows how far each part is.
    The fits run on task.quality.workers processes (pipeline/quality/parallel.py)."""
    with bars, Workers(task.quality.workers, (task, factories)) as pool:
        plan = fold_rows(task, factories, options, bars, pool)
        return plan if isinstance(plan, str) else judge_folds(task, options, plan, bars, pool)


def fold_rows(
    task: Task, factories: dict[str, Factory], options: list[Option], bars: Bars = OFF, pool: Workers | None = None
) -> FoldRows | str:
    """The folds of every repeat and each generator's rows for them, or why there can be none.
    Each (generator, fold) is one job: fit on the fold's training rows, draw its rows."""
    from sklearn.model_selection import StratifiedKFold

    x, y = _encoded(task)
    k = fold_count(y.numpy(), task.quality.folds)
    if not k:
        return "a class has fewer than 2 real rows, so no row of it can be held out"
    folds = []
    repeats = repeats_for(y.numpy(), task.quality)
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=(task.seed + repeat) % 2**32)
        for fold, (train, held) in enumerate(splitter.split(np.zeros(len(y)), y.numpy())):
            folds.append((repeat, task.seed + 1000 * repeat + fold, torch.as_tensor(train), torch.as_tensor(held)))
    kinds = list(dict.fromkeys(kind for o in options for kind in o.sources))
    fitting = bars.add("gate: fitting", len(kinds) * len(folds), detail="generators per fold, rows drawn")
    jobs = [(kind, fold) for kind in kinds for fold in folds]
    with _pool(pool, task, factories) as workers:
        made = workers.map(_generator_job, jobs, done=fitting.advance, check=raise_if_interrupted)
    fitting.close(f"{', '.join(kinds)} per fold", "gate: fitted")
    rows = [{kind: made[i * len(folds) + f] for i, kind in enumerate(kinds)} for f in range(len(folds))]
    return FoldRows(x, y, k, repeats, folds, rows)


def judge_folds(
    task: Task, options: list[Option], plan: FoldRows, bars: Bars = OFF, pool: Workers | None = None
) -> Evidence:
    """The judge (task.judge) trained on every option's training set of every fold; each
    (fold, option) is one job, sent only the rows that option adds."""
    y = plan.y
    evidence = Evidence(
        y.numpy(), task.classes.names, task.product, folds=plan.k, options=options, modality=task.codec.modality
    )
    for fold in plan.rows:
        for kind, (sx, _) in fold.items():
            evidence.synthetic_rows.setdefault(kind, []).append(len(sx))
    proba = {o.name: np.zeros((plan.repeats, len(y), len(task.classes))) for o in options}
    detail = f"{task.judge} judge on {len(options)} options, per fold"
    jobs, where, first = [], [], {}
    for (repeat, seed, train, held), rows in zip(plan.folds, plan.rows):
        for option in options:
            parts = _option_rows(task, option, rows)
            # options whose training sets are the same rows with the same weights (class weights
            # on classes already balanced) give the same fit: one judge serves them all
            key = (id(rows), option.sources, option.balanced and not _uniform(task, y[train], parts))
            if key not in first:
                first[key] = len(jobs)
                jobs.append((option, parts, train, held, seed))
            where.append((option.name, repeat, held, first[key]))
    judging = bars.add("gate: judging", len(jobs), detail=detail)
    with _pool(pool, task, None) as workers:
        found = workers.map(_judge_job, jobs, done=judging.advance, check=raise_if_interrupted)
    for name, repeat, held, job in where:
        proba[name][repeat, held] = found[job]
    judging.close()
    evidence.probabilities = {name: list(p) for name, p in proba.items()}
    evidence.predictions = {name: [r.argmax(1) for r in p] for name, p in proba.items()}
    return evidence


class _pool:
    """The caller's workers, or this call's own (stopped when it ends)."""

    def __init__(self, given: Workers | None, task: Task, factories: dict[str, Factory] | None) -> None:
        self.given, self.own = given, None if given else Workers(task.quality.workers, (task, factories))

    def __enter__(self) -> Workers:
        return self.given or self.own

    def __exit__(self, *exc) -> None:
        if self.own:
            self.own.close()


def _encoded(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """The real rows as the classifiers read them, and their labels (made once per process)."""
    if task.encoded is None:
        task.encoded = (task.codec.encode(task.real[task.features]).x, task.classes.encode(task.real[task.label]))
    return task.encoded


def _generator_job(state: tuple, job: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """One fold's generator of one kind, fit on the fold's training rows, and its rows (encoded)."""
    task, factories = state
    kind, (_, seed, train, _) = job
    configure_threads(task.threads)
    seed_everything(seed)
    gen = _fit_fold_generator(task, factories[kind], seed, train)
    x, y = _encoded(task)
    return _fold_rows(task, kind, gen, x[train], y[train], seed)


def _fit_fold_generator(task: Task, factory: Factory, seed: int, train: torch.Tensor) -> Synthesizer:
    gen = factory()
    gen.seed = seed
    return gen.fit(task.real.iloc[train.numpy()], label=task.label, unlabelled=task.unlabelled)


def _option_rows(task: Task, option: Option, rows: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The rows `option` adds to a fold's real training rows: its share of each generator's."""
    return [_take_per_class(*rows[kind], task.classes, share) for kind, share in _shares(option, task.counts)]


def _uniform(task: Task, train_y: torch.Tensor, parts: list) -> bool:
    """Whether balanced class weights of this training set are all the same (classes equal in size)."""
    fy = torch.cat([train_y, *(p[1] for p in parts)]).numpy()
    return bool(np.all(balanced_weights(fy, len(task.classes)) == 1.0))


def _judge_job(state: tuple, job: tuple) -> np.ndarray:
    """Held-out probabilities of the judge trained on one option's training set of one fold."""
    task, _ = state
    option, parts, train, held, seed = job
    configure_threads(task.threads)
    seed_everything(seed)
    x, y = _encoded(task)
    fx = torch.cat([x[train], *(p[0] for p in parts)])
    fy = torch.cat([y[train], *(p[1] for p in parts)])
    n_classes = len(task.classes)
    weights = balanced_weights(fy.numpy(), n_classes, option.strength) if option.balanced else None
    weight = None if weights is None or np.all(weights == 1.0) else torch.as_tensor(weights, dtype=torch.float32)
    clf = fit_judge(task.judge, fx, fy, n_classes, seed, weight, task.quality.classifier_steps)
    return clf.predict_proba(x[held])


def _shares(option: Option, counts: dict[str, int]) -> list[tuple[str, dict[str, int]]]:
    """Each source's rows per class: the option's fraction of the asked counts, shared evenly."""
    return list(zip(option.sources, split_counts(partial_counts(counts, option.fraction), len(option.sources))))


def _fold_rows(task: Task, kind: str, gen: Synthesizer, train_x, train_y, seed: int):
    """Encoded (x, y) of a fold generator's rows: the product's generated, scored and accepted
    as the run ships them; a cheap baseline's as a practitioner uses them, every row."""
    q = task.quality
    if kind == task.product:
        judge = LabelJudge.fit(train_x, train_y, task.classes.names, seed=seed, measure=False)
        accept = q.accept_rule(task.codec.modality)
        scorer = SampleScorer(judge, train_x, train_y, q.realism_quantile, q.copy_quantile, accept)
        frames = deliver(gen, task.counts, scorer, seed, task.max_rounds, codec=task.codec)
        return accepted_rows(frames, task.codec, task.classes, task.features, task.label)
    xs, ys = [torch.zeros(0, *task.codec.input_shape)], [torch.zeros(0, dtype=torch.long)]
    for frame, written in gen.sample_written(task.counts, seed):
        image = written is not None and tuple(written.shape[1:]) == task.codec.input_shape
        xs.append(written if image else task.codec.encode(frame[task.features]).x)
        ys.append(task.classes.encode(frame[task.label]))
    return torch.cat(xs), torch.cat(ys)


def _take_per_class(x: torch.Tensor, y: torch.Tensor, classes: ClassIndex, counts: dict[str, int]):
    """The first counts[c] rows of each class c (a share of the rows made for the full count)."""
    keep = torch.zeros(len(y), dtype=torch.bool)
    for name, n in counts.items():
        keep[torch.nonzero(y == classes.index_of(name)).flatten()[:n]] = True
    return x[keep], y[keep]


# --- the arithmetic ------------------------------------------------------------------------
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


def decide(
    evidence: Evidence | str, quality: QualityConfig, seed: int = 0, judge: str = "logistic", balanced: bool = True
) -> dict[str, Any]:
    """The report's `gate` section: the menu and the recommendation (macro-F1 with every class
    weighing the same, `balanced`), the product's macro-F1 gain over the rows (`gain`, bounds),
    its promotion (`promotion`: quality.promotion's statistic, calibrated in
    benchmarks/gate_calibration.py), and the one-sentence verdict."""
    base = {"metric": "macro_f1", "margin": quality.margin, "confidence": quality.confidence, "judge": judge}
    base["options_weighting"] = "classes" if balanced else "rows"
    if isinstance(evidence, str):
        out = base | unmeasured(evidence)
        bar = quality.promotion_margin if quality.promotion != "macro_f1" else -quality.margin
        means = meaning("run's", quality.promotion, bar, promotion_level(quality))
        out["promotion"] |= {"metric": quality.promotion, "margin": bar, "means": means}
        out["promotion"]["summary"] = f"{means}; this run: {evidence}"
        return out
    promoted_by = option_scores(evidence, seed, balanced=False, methods=[REAL_ONLY, evidence.product])
    promotion = gains(*promoted_by, quality.confidence)
    points, draws = option_scores(evidence, seed, balanced)
    measured = gains(points, draws, quality.confidence)
    product = evidence.product
    gain, lower, upper = promotion[product]
    promoted = promotion_section(evidence, quality, promoted_by, (gain, lower, upper))
    decision = promoted["decision"]
    real = evidence.predictions[REAL_ONLY]
    same = frozenset(m for m, p in evidence.predictions.items() if m != REAL_ONLY and all(map(np.array_equal, p, real)))
    counts = np.bincount(evidence.truth, minlength=len(evidence.class_names))
    advice = recommend(evidence.options, draws, points, quality.confidence, same, evidence.modality, judge, counts)
    rare = rare_classes(evidence.truth, evidence.class_names)
    recall = {m: recall_by_class(evidence, m) for m in evidence.predictions}
    rounded = {
        m: {"gain": round(g, 3), "lower_bound": round(lo, 3), "upper_bound": round(hi, 3)}
        | ({"typical_gain": advice["typical_gains"][m]} if m in advice["typical_gains"] else {})
        | {"expected_gain": advice["expected_gains"][m]}
        for m, (g, lo, hi) in measured.items()
    }
    chosen = advice["method"]
    return base | {
        "decision": decision,
        "promoted": decision == "promote",
        "promotion": promoted,
        "gain": round(gain, 3),
        "lower_bound": round(lower, 3),
        "upper_bound": round(upper, 3),
        "eval_rows": int(len(evidence.truth) * len(evidence.predictions[REAL_ONLY])),
        "folds": evidence.folds,
        "repeats": len(evidence.predictions[REAL_ONLY]),
        "synthetic_rows_per_fold": float(np.mean(evidence.synthetic_rows.get(product, [0]))),
        "product": product,
        "options": rounded,
        "recommendation": {"method": chosen, **measured_of(rounded[chosen]), "why": advice["why"]}
        | {k: advice[k] for k in ("runner_up", "expected_gains", "typical_gains", "weight")},
        "baselines": {
            m: {"gain": v["gain"], "lower_bound": v["lower_bound"]}
            for m, v in rounded.items()
            if m not in (product, REAL_ONLY)
        },
        "rare_class_recall": {
            c: {"real_only": recall[REAL_ONLY][c], "augmented": recall[product][c]}
            | {m: recall[m][c] for m in recall if m not in (REAL_ONLY, product)}
            for c in rare
        },
        "reasons": [
            f"{product}: macro-F1 {gain:+.1f} points over real rows alone on held-out real rows, every row "
            f"weighing the same (bounds {lower:+.1f} to {upper:+.1f}; the options weigh every class the same)"
        ],
        "verdict": verdict(evidence.options, rounded, advice),
    }


def measured_of(option: dict[str, float]) -> dict[str, float]:
    """An option's measured gain and bounds (macro-F1 on the user's folds), without the advice's keys."""
    return {k: option[k] for k in ("gain", "lower_bound", "upper_bound")}


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


def promotion_section(
    evidence: Evidence, quality: QualityConfig, f1: tuple[dict[str, float], dict[str, np.ndarray]], f1_bounds: tuple
) -> dict[str, Any]:
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
    return {
        "metric": metric,
        "gain": round(gain, 3),
        "lower_bound": round(lower, 3),
        "upper_bound": round(upper, 3),
        "margin": bar,
        "confidence": promotion_level(quality),
        "decision": decision,
        "why": why,
        "means": means,
        "summary": f"{means}; this run: {why}",
        "by_metric": {m: iv.as_dict() for m, iv in by_metric.items()},
    }


def promotion_level(quality: QualityConfig) -> float | None:
    """The one-sided level of the bound that decides promotion (the macro-F1 rule has its own)."""
    return None if quality.promotion == "macro_f1" else quality.promotion_confidence


def meaning(product: str, metric: str, bar: float, confidence: float | None) -> str:
    """What `champion` means, in the words the report and the console print."""
    level = "" if confidence is None else f"one-sided {100 * confidence:g} % "
    return (
        f"champion means the {product} rows help: the {level}lower bound of their {WORDS[metric]} gain "
        f"over your real rows alone, on held-out real rows, must be above {bar:+g}"
    )


def unmeasured(why: str) -> dict[str, Any]:
    """The gate section of a run whose options could not be measured: why, and what to do."""
    return {
        "decision": "not enough evidence",
        "promoted": False,
        "gain": None,
        "lower_bound": None,
        "eval_rows": 0,
        "options": {},
        "recommendation": None,
        "promotion": dict.fromkeys(("metric", "gain", "lower_bound", "upper_bound", "margin"))
        | {"decision": "not enough evidence", "why": why, "summary": why},
        "baselines": {},
        "reasons": [why],
        "verdict": f"No measured advice: {why}. Check the rows yourself before training on them.",
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


def verdict(options: list[Option], measured: dict[str, dict], advice: dict[str, Any]) -> str:
    """One sentence a user can follow: which training set, how sure, and the others' gains."""
    words = {o.name: o.words for o in options}
    chosen = advice["method"]
    others = ", ".join(f"{m} {v['gain']:+.1f}" for m, v in measured.items() if m not in (chosen, REAL_ONLY))
    gain = measured[chosen]["gain"]
    head = f"Train on {words.get(chosen, chosen)} ({chosen}"
    head += ")" if chosen == REAL_ONLY else f", {gain:+.1f} macro-F1 points over your real rows alone)"
    return f"{head}: {advice['why']}." + (f" Others: {others}." if others else "")


def shipped_note(gate: dict[str, Any], shipped: str, asked: str = "auto") -> str:
    """What augmented.parquet holds, next to the advice. `asked` is the run's --generator: under
    `auto` the file is the advice (or, where nothing was measured, menu.UNMEASURED's option)."""
    advice = gate.get("recommendation")
    if asked == "auto" and not advice:
        return (
            f"augmented.parquet holds {shipped}: nothing was measured here, so it is the option that "
            "measured best across the project's benchmarks."
        )
    if not advice or advice["method"] == shipped:
        return f"augmented.parquet holds {shipped}" + (", the recommended training set." if advice else ".")
    return (
        f"augmented.parquet holds {shipped}, as asked (--generator {asked}); the recommended training set "
        f"is {advice['method']}, which --generator auto (the default) ships."
    )
