"""The augment flow: Prefect wiring of pipeline/job.py's stages, nothing more.

    load-data -> train (or reuse / resume) -> gate -> synthesize -> plots -> report logged
              -> commit: register, model version into the files, aliases, outputs in place
              -> MLflow run FINISHED

Outputs are written into a fresh staging folder beside `--out` and moved into place at the
end; nothing is registered or aliased before then. A failed or interrupted run (its own
error, Ctrl-C, SIGTERM) leaves the registry, its aliases and the previous outputs as they
were, and its MLflow run FAILED or KILLED.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from flows import handoff, run_log
from flows.settings import artifacts_root
from pipeline import job, plots, run_record
from pipeline.config import RunConfig
from pipeline.errors import cut
from pipeline.io import update_provenance
from pipeline.job import DataRef
from pipeline.outputs import check_out, claim_out, publish, staging_folder
from pipeline.processes import interruptions_kept, raise_if_interrupted, signals_deferred
from pipeline.quality.report import report_markdown, write_report
from pipeline.quality.result import GateResult
from pipeline.quality.wording import shipped_note
from pipeline.reuse import TRAIN_KEY_TAG, train_key, train_or_reuse
from pipeline.runtime import configure_threads
from pipeline.tracking import Tracker, default_tracking_uri


def default_out_dir(name: str) -> Path:
    return artifacts_root() / "runs" / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def model_name_for(data_name: str) -> str:
    return "augment-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", data_name).strip("-")


@task(name="load-data")
def load_data(config: RunConfig, work: Path) -> DataRef:
    # the data as `augment run` validated it before the flow (flows/handoff.py), else validated here
    return job.stage_data(config, work, handoff.take("validated", config.model_dump_json()))


@task(name="train", retries=2, retry_delay_seconds=5)
def train(config: RunConfig, data: DataRef, tracker: Tracker, work: Path, folder: Path, progress: bool) -> dict:
    info = train_or_reuse(config, data, tracker, work, folder, progress)
    get_run_logger().info("generator %s: %s", info["generator"], trained_words(info))
    return info


def trained_words(info: dict[str, Any]) -> str:
    """One line about the training, in words (the numbers are MLflow metrics)."""
    if "reused_from_run" in info:
        return f"reused from MLflow run {info['reused_from_run']}"
    if "epochs" not in info:
        return "fit (no training steps)"
    return f"{info['epochs']} epochs in {info['seconds']:.1f} s on {info['device']} (best epoch {info['best_epoch']})"


@task(name="register-model")
def register(tracker: Tracker, folder: Path, name: str) -> dict[str, str]:
    version, uri = tracker.register_synthesizer(folder, name)
    return {"name": name, "version": version, "uri": uri, "alias_uri": f"models:/{name}@candidate"}


@task(name="gate")
def evaluate(config: RunConfig, data: DataRef, progress: bool) -> GateResult:
    return job.evaluate_gate(config, data, progress)


@task(name="synthesize")
def synthesize(
    config: RunConfig, data: DataRef, folder: Path, stage: Path, provenance: dict, option: str | None
) -> dict[str, Any]:
    return job.synthesize(config, data, str(folder), stage, provenance, option)


@task(name="plots")
def make_plots(data: DataRef, stage: Path, report: dict, history: list[dict] | None) -> list[Path]:
    made = job.make_plots(data, stage, report)
    return made + ([plots.loss_curves(history, stage / "plots" / "loss_curves.png")] if history else [])


@flow(name="augment", log_prints=True)
def augment_flow(config: RunConfig, progress: bool = False) -> dict[str, Any]:
    """Train a generator on the real rows and write scored synthetic and augmented Parquet."""
    started, timed = time.perf_counter(), run_record.Stopwatch()
    configure_threads(config.train.threads)
    root = artifacts_root()
    inputs = [config.data.source] if Path(config.data.source).expanduser().exists() else []
    if config.out_dir:  # checked (and claimed) before the data is read; the CLI did so already
        check_out(config.out_dir, inputs, root)
    work = root / "work" / f"{flow_run.id or uuid.uuid4().hex}"
    work.mkdir(parents=True, exist_ok=True)
    with interruptions_kept():
        with timed("load_data"):
            data = load_data(config, work)
        with claim_out(config.out_dir or default_out_dir(data.name), inputs, root) as out:
            return _run(config, data, out, root, work, progress, started, timed)


def _run(
    config: RunConfig,
    data: DataRef,
    out: Path,
    root: Path,
    work: Path,
    progress: bool,
    started: float,
    timed: run_record.Stopwatch,
) -> dict[str, Any]:
    """Everything after loading: the outputs are staged, and registered, aliased and moved
    into place together only once all of them are written (`_commit`)."""
    stage, name = staging_folder(out), config.model_name or model_name_for(data.name)
    tracker: Tracker | None = None
    try:  # from here on every failure removes the staging folder, the tracking store's included
        tracker = Tracker(default_tracking_uri(root), config.experiment, artifact_root=root / "mlflow-artifacts")
        with signals_deferred():  # an interruption here would leave a RUNNING run no one finishes
            tracker.start(
                f"{data.name}-seed{config.seed}",
                tags={
                    "data_hash": data.hash,
                    "modality": data.modality,
                    "prefect_flow_run_id": str(flow_run.id or ""),
                    TRAIN_KEY_TAG: train_key(config, data.hash),
                },
            )
        tracker.log_params(config.flat_params() | {"data.name": data.name, "data.rows": sum(data.counts.values())})
        with timed("train"):
            trained = train(config, data, tracker, work, stage / "model", progress)
        with timed("gate"):
            gate = evaluate(config, data, progress)
        pending = {"name": name, "version": "", "uri": "", "alias_uri": f"models:/{name}@candidate"}
        option = job.shipped_option(config, data, gate)
        with timed("synthesize"):
            flow_run_id = str(flow_run.id or "")
            provenance = run_record.provenance(config, data, tracker, pending, flow_run_id) | {"shipped_option": option}
            synth = synthesize(config, data, stage / "model", stage, provenance, option)
        note = shipped_note(gate, synth["shipped"], config.generator)
        report = synth["report"] | {"gate": gate.shipping(synth["shipped"], synth["shipped_rows"], note)}
        write_report(report, stage)
        with timed("plots"):
            made = make_plots(data, stage, report, trained.get("history"))
        run_record.log_outcome(tracker, stage, report)
        create_markdown_artifact(
            markdown=report_markdown(report, "augment quality report"),
            key="augment-quality-report",
            description="quality and gate of the synthetic rows",
        )

        def summarise(model: dict[str, str]) -> dict[str, Any]:
            summary = run_record.run_summary(config, data, out, tracker, model, trained, synth, report, made, started)
            return summary | {"timings": timed.seconds}

        with timed("commit"), signals_deferred():
            summary = _commit(tracker, stage, out, name, report["gate"].promoted, summarise)
            _log_the_log(tracker)
            tracker.finish("FINISHED")
        shutil.rmtree(work, ignore_errors=True)
        return summary
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        try:
            if tracker is not None and tracker.run_id is not None:
                run_record.record_failure(tracker, exc)
                _log_the_log(tracker)
                tracker.finish("KILLED" if _interrupted(exc) else "FAILED")
        except Exception as lost:  # the tracking server may be what failed; keep the original error
            print(
                f"augment: could not mark the MLflow run {tracker and tracker.run_id} as ended: {cut(str(lost), 300)}"
            )
        raise


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM, also when it reached us wrapped: a KeyboardInterrupt that lands inside
    Prefect's task engine can come back as the task's crash (an Exception) with it as cause."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if not isinstance(exc, Exception) or type(exc).__name__ in ("TerminationSignal", "CrashedRun"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _commit(
    tracker: Tracker, stage: Path, out: Path, name: str, promoted: bool, summarise: Callable[[dict], dict]
) -> dict[str, Any]:
    """Register the model, write its version into the staged files, move the aliases and put
    the outputs in place, all or nothing: a failure on the way puts the registry back as it
    was and leaves the previous outputs alone (the caller holds Ctrl-C and SIGTERM back)."""
    raise_if_interrupted()
    before = tracker.registry_state(name)
    try:
        model = register(tracker, stage / "model", name)
        for file in ("synthetic.parquet", "augmented.parquet"):
            update_provenance(stage / file, {"model_uri": model["uri"], "model_version": model["version"]})
        summary = summarise(model)
        (stage / "summary.json").write_text(json.dumps(run_record.summary_json(summary), indent=2, default=str))
        tracker.set_alias(name, "candidate", model["version"])
        if promoted:
            tracker.set_alias(name, "champion", model["version"])
        publish(stage, out)
    except BaseException:
        try:
            tracker.undo_registration(name, before)
        except Exception as undo:  # noqa: BLE001 - the first error is the one to report
            print(f"could not undo the registration of {name}: {undo}")
        raise
    return summary


def _log_the_log(tracker: Tracker) -> None:
    """The command's log file so far (flows/run_log.py: the housekeeping kept off the console),
    on the MLflow run under logs/; nothing when the flow runs without one (tests, a deployment)."""
    path = run_log.current()
    if path is not None and path.exists():
        tracker.log_artifact(path, "logs")
