"""The whole job as two Python calls, for a notebook: no Prefect, no server, no MLflow.

    result = pipeline.advise(frame, label="species", judge="forest", balance_to=100)
    result.recommendation.method, result.options["smote"].gain, result.training_set
    scored = pipeline.score_rows(real, synthetic, label="species")

`advise` runs the stages `augment run` runs (pipeline/job.py: validate, train the CVAE, the
gate, the rows of the recommended option), in a temporary folder, and hands back frames and
typed records instead of files and a registered model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from pipeline.checks import invalid_setting
from pipeline.config import DataSpec, ModelConfig, QualityConfig, RunConfig, SampleConfig, TrainConfig
from pipeline.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pipeline.quality.result import GateResult


@dataclass(frozen=True)
class OptionResult:
    """One training set the gate measured: macro-F1 points over the real rows alone, with the
    gate's paired bootstrap interval, the option's typical gain on similar data sets, and the
    expected gain the recommendation ranks by."""

    name: str
    words: str
    gain: float
    lower_bound: float
    upper_bound: float
    expected_gain: float | None = None
    typical_gain: float | None = None


@dataclass(frozen=True)
class Recommendation:
    """The option to train on, in the words the report prints."""

    method: str
    words: str  # what you train on
    why: str  # how sure, and why this one
    runner_up: str | None
    gain: float
    lower_bound: float
    upper_bound: float


@dataclass
class Advice:
    """What `advise` found. `training_set` is augmented.parquet's frame: the real rows and the
    recommended option's rows, with `is_synthetic`, `source` and `sample_weight`;
    `synthetic` the CVAE's rows as asked, scored, with `accepted`; `gate` the report's gate
    section (quality_report.json's keys)."""

    options: dict[str, OptionResult]
    recommendation: Recommendation | None
    verdict: str
    judge: str
    shipped: str
    training_set: pd.DataFrame
    synthetic: pd.DataFrame
    gate: dict[str, Any] = field(repr=False)
    report: dict[str, Any] = field(repr=False)

    def features_and_target(self, label: str) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
        """(X, y, sample_weight) of the training set: the provenance columns dropped, since
        `is_synthetic` and `source` would tell a classifier which rows are of a rare class."""
        frame = self.training_set
        return frame.drop(columns=[label, *PROVENANCE]), frame[label], frame["sample_weight"]


PROVENANCE = ("is_synthetic", "source", "sample_weight")


def advise(
    frame: pd.DataFrame,
    label: str,
    judge: str = "auto",
    balance_to: int | None = None,
    per_class: int | None = None,
    columns: list[str] | None = None,
    seed: int = 0,
    generator: str = "auto",
    model: ModelConfig | None = None,
    train: TrainConfig | None = None,
    quality: QualityConfig | None = None,
) -> Advice:
    """Which training set to train `judge` on, measured on `frame` as `augment run` measures it.
    Without `balance_to` or `per_class`, the classes are balanced up to the largest one (or,
    already balanced, doubled). The CVAE is trained as the CLI trains it; nothing is registered."""
    from pipeline import job

    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"advise() takes a pandas DataFrame, not {type(frame).__name__}", "pass pd.DataFrame(rows)")
    per_class, balance_to = _counts(frame, label, per_class, balance_to)
    try:
        quality = QualityConfig.model_validate((quality or QualityConfig()).model_dump() | {"judge": judge})
    except ValidationError as exc:
        raise invalid_setting(exc, {"judge": "judge="}) from None
    with tempfile.TemporaryDirectory(prefix="augment-advise-") as tmp:
        work = Path(tmp)
        source = work / "rows.parquet"
        frame.to_parquet(source)
        config = RunConfig(
            data=DataSpec(source=str(source), label=label, columns=columns),
            sample=SampleConfig(per_class=per_class, balance_to=balance_to),
            model=model or ModelConfig(),
            train=train or TrainConfig(),
            quality=quality,
            generator=generator,
            seed=seed,
        )
        data = job.stage_data(config, work)
        job.make_generator(config).fit(data.real(), label=data.label, unlabelled=data.unlabelled()).save(work / "model")
        gate = job.evaluate_gate(config, data)
        option = job.shipped_option(config, data, gate)
        out = work / "out"
        out.mkdir()
        synth = job.synthesize(config, data, str(work / "model"), out, {}, option)
        training_set = pd.read_parquet(out / "augmented.parquet")
        synthetic = pd.read_parquet(out / "synthetic.parquet")
    return _advice(gate, synth, training_set, synthetic)


def _counts(frame: pd.DataFrame, label: str, per_class: int | None, balance_to: int | None) -> tuple:
    """(per_class, balance_to) as asked, or balancing up to the largest class by default."""
    if per_class is not None or balance_to is not None:
        return per_class, balance_to
    if label not in frame.columns:  # the same message as the run's
        from pipeline.checks import name_hint

        hint, fix = name_hint(label, [str(c) for c in frame.columns], "label=")
        raise DataError(f"label column {label!r} not found{hint}", fix)
    found = frame[label].dropna().astype(str).value_counts()
    if found.empty or found.min() == found.max():
        return (int(found.max()) if len(found) else 1), None
    return None, int(found.max())


def _advice(gate: GateResult, synth: dict, training_set: pd.DataFrame, synthetic: pd.DataFrame) -> Advice:
    from pipeline.quality.menu import OPTIONS

    options = {
        name: OptionResult(
            name, OPTIONS[name].words, o.gain, o.lower_bound, o.upper_bound, o.expected_gain, o.typical_gain
        )
        for name, o in gate.options.items()
    }
    recommendation = None
    if (advice := gate.recommendation) is not None:
        m, bounds = advice.method, (advice.gain, advice.lower_bound, advice.upper_bound)
        recommendation = Recommendation(m, OPTIONS[m].words, advice.why, advice.runner_up, *bounds)
    section = gate.shipping(synth["shipped"], synth["shipped_rows"]).to_json()
    return Advice(
        options=options,
        recommendation=recommendation,
        verdict=gate.verdict,
        judge=gate.judge,
        shipped=synth["shipped"],
        training_set=training_set,
        synthetic=synthetic,
        gate=section,
        report=synth["report"] | {"gate": section},
    )
