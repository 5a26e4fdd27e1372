"""The stages of one `augment run`, as plain functions: the Prefect flow only wires them.

    stage_data -> (train: pipeline/reuse.py) -> evaluate_gate -> synthesize -> make_plots

Stages hand each other paths and small typed records, never tensors or frames, so the same
stages run in one process or on workers of a real stack.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
from pydantic import BaseModel

from pipeline import catalog, plots
from pipeline.config import QualityConfig, RunConfig, SampleConfig, TrainConfig
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.data.sources import RealData, frame_hash, load_real
from pipeline.deliver import Delivery, deliver
from pipeline.errors import ConfigError
from pipeline.io import head_per_class, iter_row_groups, write_augmented, write_frames, write_training_set
from pipeline.progress import Bars
from pipeline.quality.crossfit import Evidence, Task, cross_fit, gate_sample
from pipeline.quality.fidelity import LabelScorer, SampleScorer
from pipeline.quality.gate import decide
from pipeline.quality.memory import check_table_fits
from pipeline.quality.menu import OPTIONS, REAL_ONLY, UNMEASURED, Option, menu, partial_counts, split_counts
from pipeline.quality.report import QualityAccumulator, build_report, write_report
from pipeline.quality.result import GateResult
from pipeline.runtime import pick_device
from pipeline.synthesizers.base import Synthesizer, plan_counts
from pipeline.synthesizers.registry import load_synthesizer
from pipeline.train import TrainHooks

PLOT_ROWS_PER_CLASS = 2000  # plenty for a histogram; keeps plotting flat in the output size


class DataRef(BaseModel):
    """The staged real rows and what later stages need to know about them."""

    path: str
    unlabelled_path: str | None
    hash: str
    name: str
    label: str
    features: list[str]
    image_column: str | None
    modality: str
    counts: dict[str, int]
    unlabelled_rows: int
    requested: dict[str, int]  # synthetic rows per class, as asked

    def real(self) -> pd.DataFrame:
        return pd.read_parquet(self.path)

    def unlabelled(self) -> pd.DataFrame | None:
        return pd.read_parquet(self.unlabelled_path) if self.unlabelled_path else None


Validated = tuple[RealData, dict[str, int], dict[str, int]]  # validate's answer: rows, counts, rows asked


def stage_data(config: RunConfig, work: Path, validated: Validated | None = None) -> DataRef:
    """Load and validate everything a run needs before any side effect elsewhere, and stage
    the rows as Parquet for the later stages. `validated`: what validate(config) returned just
    before (the CLI's check), so the data is not loaded and checked twice."""
    real, counts, requested = validated or validate(config)
    image_columns = [real.image_column] if real.image_column else []
    path, pool_path, data_hash = work / "real.parquet", None, frame_hash(real.frame)
    write_frames(path, [real.frame], {"stage": "real"}, image_columns)
    if real.unlabelled is not None:
        pool_path = work / "unlabelled.parquet"
        write_frames(pool_path, [real.unlabelled], {"stage": "unlabelled"}, image_columns)
        data_hash = hashlib.sha256(f"{data_hash}+{frame_hash(real.unlabelled)}".encode()).hexdigest()
    return DataRef(
        path=str(path),
        unlabelled_path=str(pool_path) if pool_path else None,
        hash=data_hash,
        name=real.name,
        label=real.label,
        features=real.features,
        image_column=real.image_column,
        modality=real.modality,
        counts=counts,
        unlabelled_rows=0 if real.unlabelled is None else len(real.unlabelled),
        requested=requested,
    )


def trained_kind(config: RunConfig) -> str:
    """The generator a run trains and registers: `auto` trains the CVAE, then ships what the gate recommends."""
    return "cvae" if config.generator == "auto" else config.generator


def generator_class(config: RunConfig) -> type[Synthesizer]:
    """The class of the run's generator, from the catalog (pipeline/catalog.py)."""
    return catalog.generator_class(trained_kind(config))


def make_generator(config: RunConfig, hooks: TrainHooks | None = None, train: TrainConfig | None = None) -> Synthesizer:
    """The run's generator, unfitted, as its config says (`train`: other training settings)."""
    return generator_class(config).from_config(config, train=train, hooks=hooks)


def cheap_generator(config: RunConfig, kind: str) -> Synthesizer:
    """A generator of the menu beside the run's own, unfitted, with the run's settings."""
    return catalog.generator_class(kind).from_config(config)


def evaluate_gate(config: RunConfig, data: DataRef, progress: bool = False) -> GateResult:
    """The gate section of the report: every option of the menu, cross-fitted with the judge
    (with `progress`, bars on the terminal: the gate is often the run's longest step)."""
    judge = config.quality.judge_for(data.modality)
    gate = decide(gate_evidence(config, data, progress), config.quality, config.seed, judge)
    rows, cap = sum(data.counts.values()), config.quality.gate_rows  # the staged rows, not read again
    if gate.folds is None or cap is None or rows <= cap:
        return gate
    said = f"measured on a stratified sample of {cap:,} of your {rows:,} real rows (quality.gate_rows)"
    return replace(gate, reasons=(*gate.reasons, said))


def gate_evidence(config: RunConfig, data: DataRef, progress: bool = False) -> Evidence | str:
    """Out-of-fold predictions of every option of the menu, or why there are none."""
    if not config.quality.evaluate:
        return "the gate is turned off (quality.evaluate = false)"
    return cross_fit(*gate_task(config, data), Bars(progress))


def gate_task(config: RunConfig, data: DataRef) -> tuple[Task, dict[str, Callable[[], Synthesizer]], list[Option]]:
    """What the gate cross-fits: the run as its folds reproduce it, a factory for each
    generator the menu names, and the menu."""
    judge = config.quality.judge_for(data.modality)
    everything = data.real()
    real = gate_sample(everything, data.label, config.quality.gate_rows, config.seed)
    fold_steps = config.quality.fold_steps_for(data.modality, config.train.target_steps)
    fold_train = config.train.model_copy(update={"target_steps": fold_steps})
    product = trained_kind(config)
    options = menu(data.modality, product)
    if not config.quality.baselines:
        options = [o for o in options if o.name in (REAL_ONLY, product)]
    kinds = {kind for o in options for kind in o.sources}
    factories: dict[str, Callable[[], Synthesizer]] = {
        kind: partial(make_generator, config, None, fold_train)  # picklable: workers make their own
        if kind == product
        else partial(cheap_generator, config, kind)
        for kind in kinds
    }
    pool = data.unlabelled()  # the classifiers' codec sees every value a generator may write
    features = everything[data.features] if pool is None else pd.concat([everything[data.features], pool])
    codec = fit_codec(features, data.image_column)
    task = Task(
        real,
        data.label,
        data.features,
        codec,
        ClassIndex.fit(real[data.label]),
        sampled_counts(data.requested, everything[data.label], real[data.label]),
        config.quality,
        config.seed,
        config.sample.max_rounds,
        pool,
        product=product,
        judge=judge,
        threads=config.train.threads,
    )
    return task, factories, options


def sampled_counts(requested: dict[str, int], labels: pd.Series, sampled: pd.Series) -> dict[str, int]:
    """Synthetic rows per class for the gate's folds: as shipped, scaled by the share of the
    class's real rows the gate's sample holds, so that each fold adds rows in the run's ratio."""
    if len(sampled) == len(labels):
        return requested
    have, kept = labels.astype(str).value_counts(), sampled.astype(str).value_counts()
    return {c: -(-n * int(kept.get(c, 0)) // int(have.get(c, 1))) for c, n in requested.items()}


def shipped_option(config: RunConfig, data: DataRef, gate: GateResult) -> str | None:
    """Under --generator auto, the menu option whose training set ships: the gate's
    recommendation, or where nothing could be measured (a class of one row) the option that
    measured best across the project's benchmarks (menu.UNMEASURED). None: the run's generator."""
    if config.generator != "auto":
        return None
    advice = gate.recommendation
    return advice.method if advice is not None else UNMEASURED[data.modality]


@dataclass
class Source:
    """Rows one generator adds to the shipped training set, and which of them ship: `accept`
    is the scorer's rule, or "none" (every row, as a practitioner uses a cheap baseline)."""

    gen: Synthesizer
    counts: dict[str, int]
    accept: str


def synthesize(
    config: RunConfig,
    data: DataRef,
    generator_folder: str,
    out: Path,
    provenance: dict[str, Any],
    option: str | None = None,
) -> dict[str, Any]:
    """synthetic.parquet: the trained generator's rows as asked, scored (synthesize_rows), whatever
    ships; augmented.parquet: the training set of `option` (a name of the gate's menu, under
    --generator auto), or without one the trained generator's accepted rows. Returns
    synthesize_rows' record plus `shipped` (what augmented.parquet holds) and `shipped_rows`."""
    trained, real = load_synthesizer(generator_folder), data.real()
    rule = config.quality.accept_rule(trained.codec.modality)
    sources = [Source(trained, data.requested, rule)]
    result = synthesize_rows(sources, real, None, config.quality, config.sample, config.seed, out, provenance)
    shipped, rows = option or trained.kind, result["accepted_rows"]
    chosen = OPTIONS.get(option) if option is not None else None
    if chosen is not None and (chosen.sources != (trained.kind,) or chosen.balanced or chosen.fraction != 1):
        image_columns = [trained.codec.column] if trained.codec.modality == "image" else []
        frames = option_frames(config, data, trained, option, out / "synthetic.parquet")
        kept = write_training_set(
            out / "augmented.parquet",
            real,
            frames,
            result["provenance"],
            image_columns,
            chosen.balanced,
            data.label,
            chosen.strength,
        )
        rows = kept["synthetic"]
    return result | {"shipped": shipped, "shipped_rows": rows}


def option_frames(
    config: RunConfig, data: DataRef, trained: Synthesizer, option: str, synthetic: Path
) -> Iterator[pd.DataFrame]:
    """The rows a menu option adds to the real ones, as the gate measured them: the trained
    generator's share taken from its accepted rows in `synthetic` (the first ones of each
    class), a cheap baseline's share fit here and kept whole (as a practitioner uses it)."""
    kinds = OPTIONS[option].sources
    asked = partial_counts(data.requested, OPTIONS[option].fraction)
    for i, (kind, counts) in enumerate(zip(kinds, split_counts(asked, len(kinds)))):
        if kind == trained.kind:
            yield from first_accepted(synthetic, data.label, counts)
            continue
        gen = cheap_generator(config, kind).fit(data.real(), label=data.label, unlabelled=data.unlabelled())
        for frame in gen.sample_frames(counts, config.seed + i + 1, config.sample.batch_rows):
            yield frame.assign(source=kind)


def first_accepted(path: Path, label: str, counts: dict[str, int]) -> Iterator[pd.DataFrame]:
    """The first counts[c] accepted rows of each class c of a synthetic file, streamed."""
    taken: dict[str, int] = {}
    for group in iter_row_groups(path):
        group = group.loc[group["accepted"]]
        keep = []
        for cls, rows in group.groupby(group[label].astype(str), sort=False):
            room = counts.get(cls, 0) - taken.get(cls, 0)
            if room > 0:
                keep.append(rows.head(room))
                taken[cls] = taken.get(cls, 0) + min(room, len(rows))
        if keep:
            yield pd.concat(keep).sort_index()


def synthesize_rows(
    sources: list[Source] | Synthesizer,
    real: pd.DataFrame,
    requested: dict[str, int] | None,
    quality: QualityConfig,
    sample: SampleConfig,
    seed: int,
    out: Path,
    provenance: dict[str, Any],
    balanced: bool = False,
    option: str | None = None,
) -> dict[str, Any]:
    """Generate, score and keep rows until each class has its count; write synthetic.parquet,
    augmented.parquet and the quality report (without the gate) into `out`. `sources` is one
    generator (asked for `requested`) or the generators of a menu option; `balanced` gives
    the shipped rows balanced class weights (sample_weight); `option` names the menu option shipped."""
    if isinstance(sources, Synthesizer):
        sources = [Source(sources, dict(requested or {}), quality.accept_rule(sources.codec.modality))]
    gen = sources[0].gen  # every source is fit on the same rows: one codec, one class index
    real_x, real_y = gen.codec.encode(real[gen.features]).x, gen.classes.encode(real[gen.label])
    label_scorer = LabelScorer.fit(real_x, real_y, gen.classes.names, seed=seed)
    q = quality
    scorer = SampleScorer(label_scorer, real_x, real_y, q.realism_quantile, q.copy_quantile, sources[0].accept)
    thresholds = {
        "realism": scorer.thresholds.realism,
        "authenticity": scorer.thresholds.authenticity,
        "baseline_quantiles": scorer.quantiles,
        "accept": sources[0].accept,
    }
    provenance = provenance | {"thresholds": thresholds}
    asked = {c: sum(s.counts.get(c, 0) for s in sources) for c in gen.classes.names}
    accumulator, delivery = QualityAccumulator(gen.classes.names), Delivery({c: n for c, n in asked.items() if n})
    image_columns = [gen.codec.column] if gen.codec.modality == "image" else []

    def frames():
        for i, source in enumerate(sources):
            part = Delivery(dict(source.counts))
            rule = copy.copy(scorer)
            rule.accept = source.accept
            for frame in deliver(
                source.gen, source.counts, rule, seed + i, sample.max_rounds, sample.batch_rows, accumulator, part
            ):
                yield frame.assign(source=source.gen.kind)
            delivery.merge(part)

    empty = no_rows(gen, real)
    rows = write_frames(out / "synthetic.parquet", frames(), provenance, image_columns, empty=empty)
    kept = write_augmented(
        out / "augmented.parquet", real, out / "synthetic.parquet", provenance, image_columns, balanced, gen.label
    )
    head = (
        None if image_columns or not rows else head_per_class(out / "synthetic.parquet", gen.label, PLOT_ROWS_PER_CLASS)
    )
    report = build_report(
        accumulator, scorer.refs, thresholds, label_scorer.real_accuracy, bool(image_columns), real, head, gen.features
    )
    for name, counts in delivery.per_class().items():
        report["per_class"].setdefault(name, {"rows": 0}).update(counts)
    report |= {
        "generator": option or sources[0].gen.kind,
        "rounds": delivery.rounds,
        "short": delivery.short(),
        "keeps_real_rows": any(s.gen.keeps_real_rows for s in sources),
    }
    write_report(report, out)
    return {"rows": rows, "accepted_rows": kept["synthetic"], "report": report, "provenance": provenance}


def no_rows(gen: Synthesizer, real: pd.DataFrame) -> pd.DataFrame:
    """synthetic.parquet's columns without a row, for an option that adds none (class weights)."""
    scores = {"label_fidelity": "float32", "follows_label": "bool", "realism": "float32", "authenticity": "float32"}
    scores |= {"quality_score": "float32", "accepted": "bool", "source": "str"}
    return real[gen.columns].head(0).assign(**{c: pd.Series(dtype=t) for c, t in scores.items()})


def make_plots(data: DataRef, out: Path, report: dict[str, Any]) -> list[Path]:
    """Sample grids and accepted/rejected rows (images) or per-column distributions (tables),
    score histograms and per-class bars."""
    real, label, folder = data.real(), data.label, out / "plots"
    made: list[Path] = []
    gate: GateResult | None = report.get("gate")
    if gate is not None and gate.options:
        chosen = gate.recommendation.method if gate.recommendation is not None else None
        made.append(plots.gate_options(gate.options, chosen, gate.judge, folder / "gate_options.png"))
    synthetic = head_per_class(out / "synthetic.parquet", label, PLOT_ROWS_PER_CLASS)
    if synthetic.empty:
        return made
    if data.image_column:
        made.append(plots.image_grid(real, synthetic, data.image_column, label, folder / "samples_grid.png"))
        made.append(plots.accepted_rejected(synthetic, data.image_column, label, folder / "accepted_rejected.png"))
        for i, (name, group) in enumerate(synthetic.groupby(synthetic[label].astype(str), sort=True)):
            made.append(plots.class_samples(group, data.image_column, folder / f"samples_class_{i}.png", name=name))
    else:
        shapes = report["overall"].get("column_shape_by_column")
        # real rows of the classes that got rows: --balance-to asks only for the small ones
        given = [c for c in data.counts if c in set(synthetic[label].astype(str))]
        same = real[real[label].astype(str).isin(given)]
        path = folder / "columns.png"
        made.append(plots.column_distributions(same, synthetic, data.features, path, shapes, given, len(data.counts)))
    thresholds = {k: v for k, v in report["thresholds"].items() if isinstance(v, (int, float))}
    made.append(plots.score_histograms(synthetic, thresholds, folder / "scores.png"))
    made.append(plots.class_bars(report["per_class"], folder / "quality_per_class.png"))
    return made


def validate(config: RunConfig) -> Validated:
    """Every check a run makes before its first side effect, without writing anything: the CLI
    calls it before Prefect and MLflow start, so bad input fails in seconds. Returns the real
    rows, their count per class and the synthetic rows asked for per class."""
    _check_settings(config)
    real = load_real(config.data, seed=config.seed)
    generator_class(config).check(real.modality, real.unlabelled)
    _check_judge(config, real.modality)
    names = ClassIndex.fit(real.frame[real.label]).names  # the model's class order
    if real.modality == "table":
        check_table_fits(len(real.frame), len(real.features), len(names))
    found = real.frame[real.label].astype(str).value_counts()
    counts = {name: int(found[name]) for name in names}
    s = config.sample
    return real, counts, plan_counts(names, counts, s.per_class, s.balance_to, s.classes)


def _check_judge(config: RunConfig, modality: str) -> None:
    if config.quality.judge == "cnn" and modality != "image":
        raise ConfigError(
            f"--judge cnn is a classifier of images, and this data is a {modality}",
            "pass --judge logistic, forest or boosting (the classifier you will train)",
        )


def _check_settings(config: RunConfig) -> None:
    if trained_kind(config) != "cvae" and config.sample.strategy != "prior":
        raise ConfigError(f"--strategy {config.sample.strategy} is a CVAE strategy", "drop it or use --generator cvae")
    if config.train.device == "cuda":
        pick_device("cuda")  # refuses at once when no GPU is visible
    if config.out_dir and Path(config.out_dir).exists() and not Path(config.out_dir).is_dir():
        raise ConfigError(f"--out {config.out_dir!r} is a file", "pass a folder (it is created, or replaced whole)")
