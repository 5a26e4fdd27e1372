"""The end-to-end augment flow: load -> train -> register -> generate + score -> write.

Tasks hand each other paths and small records, never tensors or frames, so the same flow
runs in one process (embedded) or on workers against a real stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.settings import artifacts_root
from pipeline import __version__, plots
from pipeline.bundle import GeneratorBundle
from pipeline.config import QualityConfig, RunConfig
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.data.sources import frame_hash, load_real
from pipeline.errors import ConfigError
from pipeline.generate import check_mode_fits_data, generate_frames, plan_counts
from pipeline.io import head_per_class, write_augmented, write_frames
from pipeline.quality.downstream import GainResult, gate
from pipeline.quality.evaluate import holdout_gain
from pipeline.quality.fidelity import LabelJudge, SampleScorer, score_frames
from pipeline.quality.pseudo_labels import CONFIDENCE, pseudo_label_frames
from pipeline.quality.report import QualityAccumulator, build_report, report_markdown, write_report
from pipeline.runtime import configure_threads
from pipeline.tracking import Tracker, default_tracking_uri
from pipeline.train import train_cvae

PLOT_ROWS_PER_CLASS = 2000  # plenty for a histogram; keeps plotting flat in the output size


def default_out_dir(name: str) -> Path:
    return artifacts_root() / "runs" / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def model_name_for(data_name: str) -> str:
    return "augment-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", data_name).strip("-")


@task(name="load-data")
def load_data(config: RunConfig, work: str) -> dict[str, Any]:
    """Validate the real rows and stage them as Parquet for the later tasks."""
    real = load_real(config.data, seed=config.seed)
    check_mode_fits_data(
        config.sample.mode, bool(real.image_column), real.name, 0 if real.unlabelled is None else len(real.unlabelled)
    )
    path = Path(work) / "real.parquet"
    image_columns = [real.image_column] if real.image_column else []
    write_frames(path, [real.frame], {"stage": "real"}, image_columns)
    data_hash, unlabelled_path = frame_hash(real.frame), None
    if real.unlabelled is not None:
        unlabelled_path = Path(work) / "unlabelled.parquet"
        write_frames(unlabelled_path, [real.unlabelled], {"stage": "unlabelled"}, image_columns)
        data_hash = hashlib.sha256(f"{data_hash}+{frame_hash(real.unlabelled)}".encode()).hexdigest()
    return {
        "path": str(path),
        "hash": data_hash,
        "name": real.name,
        "label": real.label,
        "features": real.features,
        "image_column": real.image_column,
        "modality": real.modality,
        "counts": {str(k): int(v) for k, v in real.frame[real.label].value_counts().sort_index().items()},
        "unlabelled_path": str(unlabelled_path) if unlabelled_path else None,
        "unlabelled_rows": 0 if real.unlabelled is None else len(real.unlabelled),
    }


def _unlabelled(data: dict[str, Any]) -> pd.DataFrame | None:
    return pd.read_parquet(data["unlabelled_path"]) if data.get("unlabelled_path") else None


def _encode(frame: pd.DataFrame, data: dict[str, Any], unlabelled: pd.DataFrame | None = None):
    """Codec (fit on labelled and unlabelled rows alike), classes, and the encoded rows."""
    features = frame[data["features"]] if unlabelled is None else pd.concat([frame[data["features"]], unlabelled])
    codec = fit_codec(features, data["image_column"])
    classes = ClassIndex.fit(frame[data["label"]])
    return codec, classes, codec.encode(frame[data["features"]]), classes.encode(frame[data["label"]])


TRAIN_KEY_TAG = "augment.train_key"  # data hash + model/train config + seed
TRAINED_TAG = "augment.trained"  # "true" once the generator bundle is logged
CHECKPOINT_TAG = "augment.checkpoint_epoch"
RESUMED_BY_TAG = "augment.resumed_by"
STATE_ARTIFACT = "checkpoints/train-state.pt"
BUNDLE_ARTIFACT = "checkpoints/generator.pt"
TRAIN_INFO_ARTIFACT = "checkpoints/train.json"


def trains_on_unlabelled(config: RunConfig) -> bool:
    """Unlabelled rows train the CVAE (M2), except in mode pseudo_label: there they become
    the output rows themselves, and M2 training (up to 8x slower) would buy nothing written."""
    return config.sample.mode != "pseudo_label"


def train_key(config: RunConfig, data_hash: str) -> str:
    """What determines the trained weights: a finished run with this key can be reused."""
    payload = {
        "data": data_hash,
        "seed": config.seed,
        "model": config.model.model_dump(mode="json"),
        "train": config.train.model_dump(mode="json", exclude={"reuse", "threads", "checkpoint_every"}),
    }
    if not trains_on_unlabelled(config):
        payload["unlabelled_in_training"] = False
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _reuse_finished(tracker: Tracker, key: str, run_id: str, out: str) -> dict[str, Any] | None:
    """A finished training of the same data + config in MLflow: fetch its bundle instead of training."""
    for run in tracker.runs_with_tag(TRAIN_KEY_TAG, key):
        if run.info.run_id == run_id or run.data.tags.get(TRAINED_TAG) != "true":
            continue
        bundle = tracker.download(run.info.run_id, BUNDLE_ARTIFACT, Path(out) / "model")
        info = json.loads(tracker.download(run.info.run_id, TRAIN_INFO_ARTIFACT, Path(out) / "model").read_text())
        tracker.log_artifact(bundle, "checkpoints")
        tracker.set_tags({TRAINED_TAG: "true", "augment.reused_from_run": run.info.run_id})
        return info | {"bundle": str(bundle), "reused_from_run": run.info.run_id}
    return None


def _fetch_checkpoint(tracker: Tracker, key: str, run_id: str, path: Path) -> str:
    """Resume point for a retried job: a local checkpoint, else the newest one shipped to MLflow
    by an unfinished run of the same key (possibly on another worker). Returns "local", that
    run's id, or "" if there is none. Runs whose checkpoint is taken over, and earlier attempts
    of this same flow run, are closed as KILLED: their process is gone."""
    flow_run_id = tracker.client.get_run(run_id).data.tags.get("prefect_flow_run_id", "")
    source = "local" if path.exists() else ""
    for run in tracker.runs_with_tag(TRAIN_KEY_TAG, key):
        tags = run.data.tags
        if (
            run.info.run_id == run_id
            or CHECKPOINT_TAG not in tags
            or tags.get(TRAINED_TAG) == "true"
            or RESUMED_BY_TAG in tags
        ):
            continue
        if not source:
            fetched = tracker.download(run.info.run_id, STATE_ARTIFACT, path.parent / "download")
            os.replace(fetched, path)
            source = run.info.run_id
        elif not (flow_run_id and tags.get("prefect_flow_run_id") == flow_run_id):
            continue
        tracker.client.set_tag(run.info.run_id, RESUMED_BY_TAG, run_id)  # one job takes each checkpoint over
        if run.info.status == "RUNNING":
            tracker.client.set_terminated(run.info.run_id, "KILLED")
    return source


@task(name="train-cvae", retries=2, retry_delay_seconds=5)
def train(
    config: RunConfig, data: dict[str, Any], run_id: str, work: str, out: str, tracking_uri: str, progress: bool
) -> dict[str, Any]:
    """Fit the CVAE, logging every epoch to MLflow and shipping checkpoints there.

    A rerun of an unchanged job reuses the finished generator; a retried one resumes from the
    last checkpoint in MLflow, so any worker can pick it up.
    """
    logger = get_run_logger()
    tracker = Tracker(tracking_uri, config.experiment)
    tracker.run_id = run_id
    key = train_key(config, data["hash"])
    if config.train.reuse and (reused := _reuse_finished(tracker, key, run_id, out)):
        logger.info("reusing the generator trained in MLflow run %s (same data and config)", reused["reused_from_run"])
        return reused
    frame, unlabelled = pd.read_parquet(data["path"]), _unlabelled(data)
    codec, classes, encoded, y = _encode(frame, data, unlabelled)
    checkpoint = Path(work) / key / "train-state.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    resumed_from = _fetch_checkpoint(tracker, key, run_id, checkpoint)

    def ship(path: Path, epoch: int) -> None:
        tracker.flush()
        tracker.log_artifact(path, "checkpoints")
        tracker.set_tags({CHECKPOINT_TAG: epoch})

    logger.info(
        "training on %d rows (and %d unlabelled), %d classes, input %s",
        len(frame),
        data.get("unlabelled_rows", 0) if trains_on_unlabelled(config) else 0,
        len(classes),
        tuple(codec.input_shape),
    )
    result = train_cvae(
        encoded,
        y,
        codec,
        len(classes),
        config.model,
        config.train,
        seed=config.seed,
        on_epoch=lambda epoch, m: tracker.metrics(m, step=epoch),
        checkpoint_path=checkpoint,
        progress=progress,
        on_checkpoint=ship,
        unlabelled=None if unlabelled is None or not trains_on_unlabelled(config) else codec.encode(unlabelled),
    )
    if result.resumed_from_epoch:
        logger.info("resumed from the checkpoint after epoch %d (%s)", result.resumed_from_epoch, resumed_from)
        tracker.set_tags(
            {"augment.resumed_from_epoch": result.resumed_from_epoch, "augment.resumed_from_run": resumed_from}
        )
    tracker.metrics(
        {"train_samples_per_s": result.samples_per_s, "train_seconds": result.seconds, "best_epoch": result.best_epoch}
    )
    tracker.flush()
    bundle = GeneratorBundle(
        result.model,
        codec,
        classes,
        data["label"],
        data["counts"],
        {"data_hash": data["hash"], "data_name": data["name"], "seed": config.seed, "version": __version__},
        columns=list(frame.columns),
    )
    bundle_path = bundle.save(Path(out) / "model" / "generator.pt")
    curves = plots.loss_curves(result.history, Path(out) / "plots" / "loss_curves.png")
    tracker.log_artifact(curves, "plots")
    logger.info(
        "trained %d epochs (best %d) at %.0f samples/s on %s",
        result.epochs_run,
        result.best_epoch + 1,
        result.samples_per_s,
        result.device,
    )
    info = {
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch + 1,
        "stopped_early": result.stopped_early,
        "samples_per_s": result.samples_per_s,
        "seconds": result.seconds,
        "device": result.device,
        "arch": result.model.shape.arch,
        "resumed_from_epoch": result.resumed_from_epoch,
    }
    info_path = Path(out) / "model" / "train.json"
    info_path.write_text(json.dumps(info, indent=2))
    tracker.log_artifact(bundle_path, "checkpoints")
    tracker.log_artifact(info_path, "checkpoints")
    tracker.set_tags({TRAINED_TAG: "true"})
    return info | {"bundle": str(bundle_path)}


@task(name="register-model")
def register(bundle_path: str, run_id: str, name: str, experiment: str, tracking_uri: str) -> dict[str, str]:
    tracker = Tracker(tracking_uri, experiment)
    tracker.run_id = run_id
    version, uri = tracker.register_bundle(bundle_path, name, aliases=("candidate",))
    return {"name": name, "version": version, "uri": uri, "alias_uri": f"models:/{name}@candidate"}


@task(name="evaluate-gain")
def evaluate_gain(config: RunConfig, data: dict[str, Any], bundle_path: str) -> dict[str, Any]:
    """Train an evaluation generator without a held-out part of the real rows, then compare
    classifiers on real-only vs real + accepted synthetic rows on that part."""
    if not config.quality.evaluate:
        return {"skipped": "evaluation turned off (quality.evaluate = false)"}
    result = holdout_gain(
        GeneratorBundle.load(bundle_path),
        pd.read_parquet(data["path"]),
        config.model,
        config.train,
        config.quality,
        config.seed,
        config.sample.temperature,
        config.sample.mode,
        _unlabelled(data),
        config.sample.pseudo_label_confidence,
    )
    return {"skipped": result} if isinstance(result, str) else {"gain": result.to_dict()}


def synthesize(
    bundle: GeneratorBundle,
    real: pd.DataFrame,
    counts: dict[str, int],
    config_seed: int,
    temperature: float,
    batch_rows: int,
    out: Path,
    provenance: dict[str, Any],
    quality: QualityConfig = QualityConfig(),
    mode: str = "prior",
    unlabelled: pd.DataFrame | None = None,
    pseudo_label_confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Generate (or, in mode pseudo_label, label the unlabelled rows), score against a judge
    fit on the real rows, write synthetic.parquet."""
    features = [c for c in real.columns if c != bundle.label]
    codec, classes = bundle.codec, bundle.classes
    real_x, real_y = codec.encode(real[features]).x, classes.encode(real[bundle.label])
    judge = LabelJudge.fit(real_x, real_y, classes.names, seed=config_seed)
    scorer = SampleScorer(judge, real_x, real_y, quality.realism_quantile, quality.copy_quantile)
    image_columns = [codec.column] if codec.modality == "image" else []
    thresholds = {
        "realism": scorer.thresholds.realism,
        "authenticity": scorer.thresholds.authenticity,
        "baseline_quantiles": scorer.quantiles,
    }
    provenance = provenance | {"thresholds": thresholds}
    accumulator = QualityAccumulator(classes.names)
    if mode == "pseudo_label":
        if unlabelled is None:
            raise ConfigError(
                "sampling mode 'pseudo_label' labels unlabelled rows, and this run has none",
                "pass --unlabelled use (rows with an empty label, or those --real-per-class leaves out)",
            )
        frames = pseudo_label_frames(
            unlabelled,
            features,
            bundle.label,
            codec,
            classes,
            judge,
            counts,
            config_seed,
            pseudo_label_confidence,
            batch_rows,
            bundle.columns,
        )
    else:
        frames = generate_frames(bundle, counts, config_seed, temperature, batch_rows, mode)
    path = out / "synthetic.parquet"
    rows = write_frames(
        path, score_frames(frames, codec, classes, bundle.label, scorer, accumulator), provenance, image_columns
    )
    synth_head = None if image_columns else head_per_class(path, bundle.label, PLOT_ROWS_PER_CLASS)
    report = build_report(
        accumulator, scorer.refs, thresholds, judge.real_accuracy, bool(image_columns), real, synth_head, features
    )
    if mode == "pseudo_label":  # the report must not read high label fidelity as the generator's merit
        report["rows_from"] = (
            f"the run's unlabelled rows, labelled by the judge (mode pseudo_label, confidence >= "
            f"{pseudo_label_confidence:g}); label fidelity is high by construction, the downstream gain is what counts"
        )
    json_path, md_path = write_report(report, out)
    return {"path": str(path), "rows": rows, "report": report, "report_files": [str(json_path), str(md_path)]}


@task(name="generate-and-score")
def generate_and_score(
    bundle_path: str, data: dict[str, Any], config: RunConfig, out: str, provenance: dict[str, Any]
) -> dict[str, Any]:
    bundle = GeneratorBundle.load(bundle_path)
    real = pd.read_parquet(data["path"])
    counts = plan_counts(bundle, config.sample)
    return synthesize(
        bundle,
        real,
        counts,
        config.seed,
        config.sample.temperature,
        config.sample.batch_rows,
        Path(out),
        provenance,
        config.quality,
        config.sample.mode,
        _unlabelled(data),
        config.sample.pseudo_label_confidence,
    )


@task(name="write-augmented")
def augmented(data: dict[str, Any], synthetic_path: str, out: str, provenance: dict[str, Any]) -> dict[str, Any]:
    real = pd.read_parquet(data["path"])
    image_columns = [data["image_column"]] if data["image_column"] else []
    counts = write_augmented(Path(out) / "augmented.parquet", real, synthetic_path, provenance, image_columns)
    return {"path": str(Path(out) / "augmented.parquet"), **counts}


@task(name="plots")
def make_plots(
    data: dict[str, Any],
    synthetic_path: str,
    out: str,
    run_id: str,
    experiment: str,
    tracking_uri: str,
    report: dict[str, Any],
) -> list[str]:
    """Sample grids and accepted/rejected rows (images) or per-column distributions (tables),
    score histograms and per-class bars, logged to the run."""
    real = pd.read_parquet(data["path"])
    label, folder = data["label"], Path(out) / "plots"
    synthetic = head_per_class(synthetic_path, label, PLOT_ROWS_PER_CLASS)
    made: list[Path] = []
    if data["image_column"]:
        made.append(plots.image_grid(real, synthetic, data["image_column"], label, folder / "samples_grid.png"))
        made.append(plots.accepted_rejected(synthetic, data["image_column"], label, folder / "accepted_rejected.png"))
        for cls, group in synthetic.groupby(synthetic[label].astype(str), sort=True):
            made.append(plots.class_samples(group, data["image_column"], folder / f"samples_class_{_slug(cls)}.png"))
    else:
        made.append(plots.column_distributions(real, synthetic, data["features"], folder / "columns.png"))
    thresholds = {k: v for k, v in report["thresholds"].items() if isinstance(v, (int, float))}
    made.append(plots.score_histograms(synthetic, thresholds, folder / "scores.png"))
    made.append(plots.class_bars(report["per_class"], folder / "quality_per_class.png"))
    tracker = Tracker(tracking_uri, experiment)
    tracker.run_id = run_id
    for path in made:
        tracker.log_artifact(path, "plots")
    return [str(p) for p in made]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40]


@flow(name="augment", log_prints=True)
def augment_flow(config: RunConfig, progress: bool = False) -> dict[str, Any]:
    """Train a CVAE on the real rows and write scored synthetic and augmented Parquet."""
    started = time.perf_counter()
    configure_threads(config.train.threads)
    root = artifacts_root()
    tracking_uri = default_tracking_uri(root)
    work = _work_dir(config)
    timings: dict[str, float] = {}
    with _timed(timings, "load_data"):
        data = load_data(config, work)
    out = Path(config.out_dir) if config.out_dir else default_out_dir(data["name"])
    out.mkdir(parents=True, exist_ok=True)
    name = config.model_name or model_name_for(data["name"])
    with _timed(timings, "mlflow_start"):
        tracker = Tracker(tracking_uri, config.experiment, artifact_root=root / "mlflow-artifacts")
        run_id = tracker.start(
            f"{data['name']}-seed{config.seed}",
            tags={
                "data_hash": data["hash"],
                "modality": data["modality"],
                "prefect_flow_run_id": str(flow_run.id or ""),
                TRAIN_KEY_TAG: train_key(config, data["hash"]),
            },
        )
    try:
        tracker.log_params(
            config.flat_params()
            | {
                "data.name": data["name"],
                "data.rows": sum(data["counts"].values()),
                "data.unlabelled_rows": data["unlabelled_rows"],
            }
        )
        with _timed(timings, "train"):
            trained = train(config, data, run_id, work, str(out), tracking_uri, progress)
        with _timed(timings, "register"):
            model = register(trained["bundle"], run_id, name, config.experiment, tracking_uri)
        provenance = {
            "mlflow_run_id": run_id,
            "mlflow_tracking_uri": tracking_uri,
            "model_uri": model["uri"],
            "model_name": name,
            "model_version": model["version"],
            "prefect_flow_run_id": str(flow_run.id or ""),
            "seed": config.seed,
            "config": config.model_dump(mode="json"),
            "source_data_hash": data["hash"],
            "class_names": list(data["counts"]),
            "label": data["label"],
            "package_version": __version__,
        }
        with _timed(timings, "evaluate_gain"):
            evaluation = evaluate_gain(config, data, trained["bundle"])
        with _timed(timings, "generate_and_score"):
            synth = generate_and_score(trained["bundle"], data, config, str(out), provenance)
        gain = (
            GainResult(**{k: evaluation["gain"][k] for k in GainResult.__dataclass_fields__})
            if "gain" in evaluation
            else None
        )
        decision = gate(gain, synth["report"]["per_class"], evaluation.get("skipped"))
        if decision["promoted"]:
            tracker.set_alias(name, "champion", model["version"])
        synth["report"] |= {"gate": decision} | ({"downstream": evaluation["gain"]} if gain else {})
        write_report(synth["report"], out)
        tracker.set_tags(
            {"gate.decision": decision["decision"], "gate.reasons": " | ".join(decision["reasons"])[:5000]}
        )
        if gain:
            tracker.metrics(
                {
                    "gate.gain": gain.mean_gain,
                    "gate.noise": gain.noise,
                    "gate.real_only_accuracy": evaluation["gain"]["real_only_mean"],
                    "gate.augmented_accuracy": evaluation["gain"]["augmented_mean"],
                    "gate.promoted": float(decision["promoted"]),
                }
            )
        provenance["thresholds"] = synth["report"]["thresholds"]
        with _timed(timings, "write_augmented"):
            aug = augmented(data, synth["path"], str(out), provenance)
        with _timed(timings, "plots"):
            made = make_plots(data, synth["path"], str(out), run_id, config.experiment, tracking_uri, synth["report"])
        overall = synth["report"]["overall"]
        tracker.metrics(
            {f"quality.{k}": v for k, v in overall.items() if isinstance(v, (int, float))}
            | {f"quality.follows_label.{_slug(c)}": v["follows_label"] for c, v in synth["report"]["per_class"].items()}
        )
        for path in synth["report_files"]:
            tracker.log_artifact(path, "quality")
        summary = {
            "out_dir": str(out),
            "synthetic": synth["path"],
            "augmented": aug["path"],
            "plots": made,
            "quality_report": synth["report_files"],
            "mlflow": {"tracking_uri": tracking_uri, "run_id": run_id, "experiment": config.experiment},
            "model": model,
            "train": trained,
            "real_counts": data["counts"],
            "unlabelled_rows": data["unlabelled_rows"],
            "sample_mode": config.sample.mode,
            "synthetic_rows": synth["rows"],
            "accepted_rows": aug["synthetic"],
            "label_follow_share": overall["follows_label"],
            "judge_real_accuracy": overall["judge_real_accuracy"],
            "per_class": synth["report"]["per_class"],
            "thresholds": synth["report"]["thresholds"],
            "gate": decision,
            "downstream": evaluation.get("gain"),
            "seconds": time.perf_counter() - started,
            "timings": timings,
        }
        tracker.metrics({f"time.{k}": v for k, v in timings.items()} | {"time.flow": summary["seconds"]})
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        tracker.log_artifact(out / "summary.json")
        publish_artifacts(summary, synth["report"])
        tracker.finish("FINISHED")
        shutil.rmtree(work, ignore_errors=True)
        return summary
    except BaseException:
        try:
            tracker.finish("FAILED")
        except Exception:  # the tracking server may be what failed; keep the original error
            pass
        raise


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Wall seconds of one stage, for summary.json and the run's time.* metrics."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - start, 3)


def _work_dir(config: RunConfig) -> str:
    """Scratch space (staged data, training checkpoint) keyed by the config, so a retry resumes."""
    key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
    path = artifacts_root() / "work" / key
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def publish_artifacts(summary: dict[str, Any], report: dict[str, Any]) -> None:
    """The run's summary and quality report as Prefect artifacts (markdown + a table)."""
    head = [
        f"- outputs `{summary['out_dir']}`",
        f"- model `{summary['model']['alias_uri']}` (version {summary['model']['version']})",
        f"- MLflow run `{summary['mlflow']['run_id']}`",
        "",
    ]
    create_markdown_artifact(
        markdown="\n".join(head) + report_markdown(report, "augment quality report"),
        key="augment-quality-report",
        description="per-class quality of the synthetic rows",
    )
    rows = [
        {"class": c} | {k: (round(v, 4) if isinstance(v, float) else v) for k, v in e.items()}
        for c, e in report["per_class"].items()
    ]
    create_table_artifact(table=rows, key="augment-quality-table", description="per-class quality scores")
