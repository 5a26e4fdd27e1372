"""What one run writes down about itself: provenance, summary, stage times, its MLflow record.

The flow (flows/augment.py) only wires the stages; what it records is plain Python on plain
values, here: the provenance stamped into the Parquet files, summary.json (also what
`augment run --json` prints), the wall seconds per stage, and the report, numbers and any
failure on the run's MLflow run.
"""

from __future__ import annotations

import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pipeline import __version__
from pipeline.config import RunConfig
from pipeline.errors import cut
from pipeline.job import DataRef
from pipeline.processes import raise_if_interrupted
from pipeline.quality.result import GateResult
from pipeline.tracking import Tracker


class Stopwatch:
    """Wall seconds per stage, for summary.json and benchmarks/end_to_end.py; a stage does not
    start while a Ctrl-C or SIGTERM that a finalizer swallowed is pending (raised instead)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        raise_if_interrupted()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.perf_counter() - start, 3)


def provenance(
    config: RunConfig, data: DataRef, tracker: Tracker, model: dict[str, str], flow_run_id: str
) -> dict[str, Any]:
    """What synthetic.parquet and augmented.parquet say of where they come from (pipeline/io.py
    writes it into their metadata): the MLflow run and model, the Prefect flow run, the settings."""
    return {
        "mlflow_run_id": tracker.run_id,
        "mlflow_tracking_uri": tracker.tracking_uri,
        "model_uri": model["uri"],
        "model_name": model["name"],
        "model_version": model["version"],
        "prefect_flow_run_id": flow_run_id,
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "source_data_hash": data.hash,
        "class_names": list(data.counts),
        "label": data.label,
        "package_version": __version__,
    }


def run_summary(
    config: RunConfig,
    data: DataRef,
    out: Path,
    tracker: Tracker,
    model: dict[str, str],
    trained: dict[str, Any],
    synth: dict[str, Any],
    report: dict[str, Any],
    made: list[Path],
    started: float,
) -> dict[str, Any]:
    """summary.json and `augment run --json`: where the outputs are, what was trained, what shipped."""
    return {
        "out_dir": str(out),
        "synthetic": str(out / "synthetic.parquet"),
        "augmented": str(out / "augmented.parquet"),
        "quality_report": [str(out / "quality_report.json"), str(out / "quality_report.md")],
        "plots": [str(out / "plots" / p.name) for p in made],
        "mlflow": {"tracking_uri": tracker.tracking_uri, "run_id": tracker.run_id, "experiment": config.experiment},
        "model": model,
        "train": {k: v for k, v in trained.items() if k != "history"},
        "real_counts": data.counts,
        "unlabelled_rows": data.unlabelled_rows,
        "generator": config.generator,
        "synthetic_generator": report["generator"],
        "strategy": config.sample.strategy,
        "synthetic_rows": synth["rows"],
        "accepted_rows": synth["accepted_rows"],
        "per_class": report["per_class"],
        "overall": report["overall"],
        "thresholds": report["thresholds"],
        "short": report["short"],
        "gate": report["gate"],
        "seconds": time.perf_counter() - started,
    }


def log_outcome(tracker: Tracker, stage: Path, report: dict[str, Any]) -> None:
    """The run's report, plots and numbers, logged from the staging folder before the commit:
    a run that fails after this is FAILED in MLflow with what it measured."""
    gate: GateResult = report["gate"]
    tracker.log_artifacts(stage / "plots", "plots") if (stage / "plots").exists() else None
    for file in ("quality_report.json", "quality_report.md"):
        tracker.log_artifact(stage / file, "quality")
    overall = {f"quality.{k}": v for k, v in report["overall"].items() if isinstance(v, (int, float))}
    bounds = {"gain": gate.gain, "lower_bound": gate.lower_bound}
    numbers = {f"gate.{k}": v for k, v in bounds.items() if v is not None}
    promotion = {"gain": gate.promotion.gain, "lower_bound": gate.promotion.lower_bound}
    numbers |= {f"gate.promotion.{k}": v for k, v in promotion.items() if v is not None}
    tracker.metrics(overall | numbers | {"gate.promoted": float(gate.promoted)})
    tracker.set_tags({"gate.decision": gate.decision, "gate.verdict": gate.verdict[:5000]})


def summary_json(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as JSON (summary.json, `augment run --json`): the gate through its to_json."""
    gate: GateResult | None = summary.get("gate")
    return summary if gate is None else summary | {"gate": gate.to_json()}


def record_failure(tracker: Tracker, exc: BaseException) -> None:
    """The error on the MLflow run (tag) and its traceback as an artifact: the terminal shows the
    product's own errors without one (flows/console.py), an operator finds it here."""
    tracker.set_tags({"error": cut(f"{type(exc).__name__}: {exc}", 5000)})
    tracker.client.log_text(tracker.run_id, traceback.format_exc(), "error/traceback.txt")
