"""The gate's cross-fitting: out-of-fold predictions of the user's classifier for every option.

It measures what ships, with the user's classifier (the judge). Every real row is scored
once per repeat: the real rows are split into K stratified folds; for each fold every
generator of the menu (pipeline/quality/menu.py) is fit on the other folds and asked for the
same rows per class as the shipped file, and the judge is trained on each option's training
set (the real rows alone, with class weights, plus copies, plus SMOTE or affine views, plus
the product's rows generated, scored and accepted as in the run) and predicts the held-out
fold (its probabilities are kept). A class with few rows gets more repeats of the folds, so
each of its rows is scored more often (repeats_for). What the predictions add up to is
pipeline/quality/gains.py's arithmetic and pipeline/quality/gate.py's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from pipeline.config import QualityConfig
from pipeline.data.codec import ClassIndex, Codec
from pipeline.deliver import accepted_rows, deliver
from pipeline.processes import raise_if_interrupted
from pipeline.progress import OFF, Bars
from pipeline.quality.classifier import fit_judge
from pipeline.quality.fidelity import LabelScorer, SampleScorer
from pipeline.quality.menu import Option, balanced_weights, partial_counts, split_counts
from pipeline.quality.parallel import Workers
from pipeline.runtime import configure_threads, seed_everything
from pipeline.synthesizers.base import Synthesizer

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
    modality: str = "table"  # the data's kind: which typical gains the recommendation weighs (menu.TYPICAL_GAINS)


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


def class_shares(counts: dict[str, int], cap: int) -> dict[str, int]:
    """Rows of each class in a sample of at most `cap` rows: the budget shared equally, a class
    smaller than its share keeping every row and leaving the rest to the others."""
    shares, budget = {}, cap
    ordered = sorted(counts, key=lambda c: (counts[c], c))
    for i, name in enumerate(ordered):
        shares[name] = min(counts[name], budget // (len(ordered) - i))
        budget -= shares[name]
    return {name: shares[name] for name in counts}


def gate_sample(real: pd.DataFrame, label: str, cap: int | None, seed: int) -> pd.DataFrame:
    """The real rows the gate measures on: all of them up to `cap`, else a stratified sample
    (class_shares), drawn by the run's seed, in the data's own order."""
    if cap is None or len(real) <= cap:
        return real
    labels = real[label].astype(str)
    shares = class_shares(labels.value_counts().to_dict(), cap)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in shares.items()])
    return real.iloc[np.sort(keep)].reset_index(drop=True)


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
    fitting.close(
        f"{', '.join(kinds)} per fold" + (f" ({workers.memory_note})" if workers.memory_note else ""), "gate: fitted"
    )
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
    return _generated_rows(task, kind, gen, x[train], y[train], seed)


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


def _generated_rows(task: Task, kind: str, gen: Synthesizer, train_x, train_y, seed: int):
    """Encoded (x, y) of a fold generator's rows: the product's generated, scored and accepted
    as the run ships them; a cheap baseline's as a practitioner uses them, every row."""
    q = task.quality
    if kind == task.product:
        label_scorer = LabelScorer.fit(train_x, train_y, task.classes.names, seed=seed, measure=False)
        accept = q.accept_rule(task.codec.modality)
        scorer = SampleScorer(label_scorer, train_x, train_y, q.realism_quantile, q.copy_quantile, accept)
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
