"""The stages of one `augment run`, as plain functions: the Prefect flow only wires them.

    stage_data -> (train: pipeline/reuse.py) -> evaluate_gate -> synthesize -> make_plots

Stages hand each other paths and small typed records, never tensors or frames, so the same
stages run in one process or on workers of a real stack.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from pipeline import plots
from pipeline.config import QualityConfig, RunConfig, SampleConfig, TrainConfig
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.data.sources import RealData, frame_hash, load_real
from pipeline.deliver import Delivery, deliver
from pipeline.errors import ConfigError
from pipeline.io import head_per_class, write_augmented, write_frames
from pipeline.quality.fidelity import LabelJudge, SampleScorer
from pipeline.quality.gate import PRODUCT, Task, cross_fit, decide
from pipeline.quality.report import QualityAccumulator, build_report, write_report
from pipeline.runtime import pick_device
from pipeline.synthesizers import AffineSynthesizer, CVAESynthesizer, SMOTESynthesizer, Synthesizer
from pipeline.synthesizers.base import plan_counts
from pipeline.synthesizers.baselines import PseudoLabelSynthesizer
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


def stage_data(config: RunConfig, work: Path) -> DataRef:
    """Load and validate everything a run needs before any side effect elsewhere, and stage
    the rows as Parquet for the later stages."""
    real, counts, requested = validate(config)
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


def generator_class(config: RunConfig) -> type[Synthesizer]:
    from pipeline.synthesizers import KINDS

    return KINDS[config.generator]


def make_generator(config: RunConfig, hooks: TrainHooks | None = None, train: TrainConfig | None = None) -> Synthesizer:
    """The run's generator, unfitted, as its config says."""
    if config.generator == "cvae":
        s = config.sample
        return CVAESynthesizer(
            seed=config.seed,
            strategy=s.strategy,
            temperature=s.temperature,
            output_noise=s.output_noise,
            model=config.model,
            train=train or config.train,
            hooks=hooks,
        )
    if config.generator == "pseudo_label":
        return PseudoLabelSynthesizer(seed=config.seed, confidence=config.sample.pseudo_label_confidence)
    return generator_class(config)(seed=config.seed)


def evaluate_gate(config: RunConfig, data: DataRef) -> dict[str, Any]:
    """The gate section of the report: the product and the cheap baseline, cross-fitted."""
    if not config.quality.evaluate:
        return decide("the gate is turned off (quality.evaluate = false)", config.quality)
    real = data.real()
    fold_train = config.train.model_copy(
        update={"target_steps": min(config.train.target_steps, config.quality.fold_steps)}
    )
    factories = {PRODUCT: lambda: make_generator(config, train=fold_train)}
    if config.quality.baselines:
        baseline = SMOTESynthesizer if data.modality == "table" else AffineSynthesizer
        if baseline.kind != config.generator:
            factories[baseline.kind] = lambda: baseline(seed=config.seed)
    pool = data.unlabelled()  # the classifiers' codec sees every value a generator may write
    features = real[data.features] if pool is None else pd.concat([real[data.features], pool])
    codec = fit_codec(features, data.image_column)
    task = Task(
        real,
        data.label,
        data.features,
        codec,
        ClassIndex.fit(real[data.label]),
        data.requested,
        config.quality,
        config.seed,
        config.sample.max_rounds,
        pool,
    )
    return decide(cross_fit(task, factories), config.quality, config.seed)


def synthesize(
    config: RunConfig, data: DataRef, generator_folder: str, out: Path, provenance: dict[str, Any]
) -> dict[str, Any]:
    """The run's rows: see synthesize_rows."""
    gen = Synthesizer.load(generator_folder)
    return synthesize_rows(
        gen, data.real(), data.requested, config.quality, config.sample, config.seed, out, provenance
    )


def synthesize_rows(
    gen: Synthesizer,
    real: pd.DataFrame,
    requested: dict[str, int],
    quality: QualityConfig,
    sample: SampleConfig,
    seed: int,
    out: Path,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Generate, score and keep rows until each class has its count; write synthetic.parquet,
    augmented.parquet and the quality report (without the gate) into `out`."""
    real_x, real_y = gen.codec.encode(real[gen.features]).x, gen.classes.encode(real[gen.label])
    judge = LabelJudge.fit(real_x, real_y, gen.classes.names, seed=seed)
    q = quality
    accept = q.accept_rule(gen.codec.modality)
    scorer = SampleScorer(judge, real_x, real_y, q.realism_quantile, q.copy_quantile, accept)
    thresholds = {
        "realism": scorer.thresholds.realism,
        "authenticity": scorer.thresholds.authenticity,
        "baseline_quantiles": scorer.quantiles,
        "accept": accept,
    }
    provenance = provenance | {"thresholds": thresholds}
    accumulator, delivery = QualityAccumulator(gen.classes.names), Delivery(dict(requested))
    image_columns = [gen.codec.column] if gen.codec.modality == "image" else []
    frames = deliver(gen, requested, scorer, seed, sample.max_rounds, sample.batch_rows, accumulator, delivery)
    rows = write_frames(out / "synthetic.parquet", frames, provenance, image_columns)
    kept = write_augmented(out / "augmented.parquet", real, out / "synthetic.parquet", provenance, image_columns)
    head = None if image_columns else head_per_class(out / "synthetic.parquet", gen.label, PLOT_ROWS_PER_CLASS)
    report = build_report(
        accumulator, scorer.refs, thresholds, judge.real_accuracy, bool(image_columns), real, head, gen.features
    )
    for name, counts in delivery.per_class().items():
        report["per_class"].setdefault(name, {"rows": 0}).update(counts)
    report |= {
        "generator": gen.kind,
        "rounds": delivery.rounds,
        "short": delivery.short(),
        "keeps_real_rows": gen.keeps_real_rows,
    }
    write_report(report, out)
    return {"rows": rows, "accepted_rows": kept["synthetic"], "report": report, "provenance": provenance}


def make_plots(data: DataRef, out: Path, report: dict[str, Any]) -> list[Path]:
    """Sample grids and accepted/rejected rows (images) or per-column distributions (tables),
    score histograms and per-class bars."""
    real, label, folder = data.real(), data.label, out / "plots"
    synthetic = head_per_class(out / "synthetic.parquet", label, PLOT_ROWS_PER_CLASS)
    if synthetic.empty:
        return []
    made: list[Path] = []
    if data.image_column:
        made.append(plots.image_grid(real, synthetic, data.image_column, label, folder / "samples_grid.png"))
        made.append(plots.accepted_rejected(synthetic, data.image_column, label, folder / "accepted_rejected.png"))
        for i, (_, group) in enumerate(synthetic.groupby(synthetic[label].astype(str), sort=True)):
            made.append(plots.class_samples(group, data.image_column, folder / f"samples_class_{i}.png"))
    else:
        shapes = report["overall"].get("column_shape_by_column")
        made.append(plots.column_distributions(real, synthetic, data.features, folder / "columns.png", shapes))
    thresholds = {k: v for k, v in report["thresholds"].items() if isinstance(v, (int, float))}
    made.append(plots.score_histograms(synthetic, thresholds, folder / "scores.png"))
    made.append(plots.class_bars(report["per_class"], folder / "quality_per_class.png"))
    return made


def validate(config: RunConfig) -> tuple[RealData, dict[str, int], dict[str, int]]:
    """Every check a run makes before its first side effect, without writing anything: the CLI
    calls it before Prefect and MLflow start, so bad input fails in seconds. Returns the real
    rows, their count per class and the synthetic rows asked for per class."""
    _check_settings(config)
    real = load_real(config.data, seed=config.seed)
    generator_class(config).check(real.modality, real.unlabelled)
    names = ClassIndex.fit(real.frame[real.label]).names  # the model's class order
    found = real.frame[real.label].astype(str).value_counts()
    counts = {name: int(found[name]) for name in names}
    s = config.sample
    return real, counts, plan_counts(names, counts, s.per_class, s.balance_to, s.classes)


def _check_settings(config: RunConfig) -> None:
    if config.generator != "cvae" and config.sample.strategy != "prior":
        raise ConfigError(f"--strategy {config.sample.strategy} is a CVAE strategy", "drop it or use --generator cvae")
    if config.train.device == "cuda":
        pick_device("cuda")  # refuses at once when no GPU is visible
    if config.out_dir and Path(config.out_dir).exists() and not Path(config.out_dir).is_dir():
        raise ConfigError(f"--out {config.out_dir!r} is a file", "pass a folder (it is created, or replaced whole)")
