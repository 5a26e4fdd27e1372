"""Train the run's generator, or reuse a finished training, or resume an interrupted one.

- Reuse: a finished run in MLflow with the same training key (data hash, generator and
  training settings, seed) already holds the saved generator; it is downloaded, verified
  and logged to this run too, so this run can itself be reused later.
- Resume: a retried job (any worker) continues from the newest checkpoint an unfinished
  run of the same key shipped to MLflow. Checkpoints hold tensors and plain values only and
  load with weights_only=True.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config import RunConfig
from pipeline.job import DataRef, make_generator, trained_kind
from pipeline.synthesizers.base import Synthesizer
from pipeline.synthesizers.registry import load_synthesizer
from pipeline.synthesizers.storage import manifest_digest
from pipeline.tracking import SYNTHESIZER_ARTIFACT, Tracker
from pipeline.train import TrainHooks

TRAIN_KEY_TAG = "augment.train_key"
TRAINED_TAG = "augment.trained"  # "true" once the generator folder is logged
DIGEST_TAG = "augment.synthesizer_sha256"
CHECKPOINT_TAG = "augment.checkpoint_epoch"
RESUMED_BY_TAG = "augment.resumed_by"
STATE_ARTIFACT = "checkpoints/train-state.pt"


def train_key(config: RunConfig, data_hash: str) -> str:
    """What determines the trained weights: a finished run with this key can be reused."""
    payload = {
        "augment": __version__,  # a new version may train differently: never reuse across versions
        "data": data_hash,
        "seed": config.seed,
        "generator": trained_kind(config),
        "model": config.model.model_dump(mode="json"),
        "sample": config.sample.model_dump(
            mode="json", include={"strategy", "temperature", "output_noise", "pseudo_label_confidence"}
        ),
        "train": config.train.model_dump(mode="json", exclude={"reuse", "threads", "checkpoint_every", "device"}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def train_or_reuse(
    config: RunConfig, data: DataRef, tracker: Tracker, work: Path, folder: Path, progress: bool = False
) -> dict[str, Any]:
    """Leave the fitted generator in `folder`, logged to the tracker's run; return what happened."""
    key = train_key(config, data.hash)
    if config.train.reuse and (reused := _reuse_finished(tracker, key, folder)):
        return reused
    checkpoint = work / "train-state.pt"
    resumed_from = _fetch_checkpoint(tracker, key, checkpoint)

    def ship(path: Path, epoch: int) -> None:
        tracker.flush()
        tracker.log_artifact(path, "checkpoints")
        tracker.set_tags({CHECKPOINT_TAG: epoch})

    hooks = TrainHooks(lambda epoch, m: tracker.metrics(m, step=epoch), checkpoint, ship, progress)
    gen = make_generator(config, hooks=hooks).fit(data.real(), label=data.label, unlabelled=data.unlabelled())
    gen.save(folder)
    info = _train_info(gen)
    if info.get("resumed_from_epoch"):
        tracker.set_tags(
            {"augment.resumed_from_epoch": info["resumed_from_epoch"], "augment.resumed_from_run": resumed_from}
        )
    tracker.metrics({k: v for k, v in info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    _log_trained(tracker, folder, info)
    return info


def _train_info(gen: Synthesizer) -> dict[str, Any]:
    result = getattr(gen, "result", None)
    if result is None:
        return {"generator": gen.kind}
    return {
        "generator": gen.kind,
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch + 1,
        "stopped_early": result.stopped_early,
        "samples_per_s": result.samples_per_s,
        "seconds": result.seconds,
        "device": result.device,
        "arch": result.model.shape.arch,
        "resumed_from_epoch": result.resumed_from_epoch,
        "history": result.history,
    }


def _log_trained(tracker: Tracker, folder: Path, info: dict[str, Any]) -> None:
    tracker.flush()
    tracker.log_artifacts(folder, SYNTHESIZER_ARTIFACT)
    summary = {k: v for k, v in info.items() if k != "history"}
    tracker.log_dict(summary, "checkpoints/train.json")
    tracker.set_tags({TRAINED_TAG: "true", DIGEST_TAG: manifest_digest(folder)})


def _reuse_finished(tracker: Tracker, key: str, folder: Path) -> dict[str, Any] | None:
    """A finished, verified training of the same key: its generator instead of training."""
    for run in tracker.runs_with_tag(TRAIN_KEY_TAG, key):
        tags = run.data.tags
        if run.info.run_id == tracker.run_id or tags.get(TRAINED_TAG) != "true" or not tags.get(DIGEST_TAG):
            continue
        download = folder.parent / "reused"
        try:  # the download's folder goes in any case: no empty `reused/` among the run's outputs
            fetched = tracker.download(run.info.run_id, SYNTHESIZER_ARTIFACT, download)
            load_synthesizer(fetched, expected_digest=tags[DIGEST_TAG])  # refuses anything tampered with
            os.replace(fetched, folder)
        finally:
            shutil.rmtree(download, ignore_errors=True)
        info = {"reused_from_run": run.info.run_id, "generator": json.loads((folder / "spec.json").read_text())["kind"]}
        _log_trained(tracker, folder, info)
        tracker.set_tags({"augment.reused_from_run": run.info.run_id})
        return info
    return None


def _fetch_checkpoint(tracker: Tracker, key: str, path: Path) -> str:
    """Resume point for a retried job: a local checkpoint, else the newest one an unfinished
    run of the same key shipped to MLflow (possibly from another worker). Returns "local",
    that run's id, or "". Runs whose checkpoint is taken over, and earlier attempts of this
    same flow run, are closed as KILLED: their process is gone."""
    flow_run_id = tracker.client.get_run(tracker.run_id).data.tags.get("prefect_flow_run_id", "")
    source = "local" if path.exists() else ""
    for run in tracker.runs_with_tag(TRAIN_KEY_TAG, key):
        tags = run.data.tags
        if (
            run.info.run_id == tracker.run_id
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
        tracker.client.set_tag(run.info.run_id, RESUMED_BY_TAG, tracker.run_id)  # one job takes each over
        if run.info.status == "RUNNING":
            tracker.client.set_terminated(run.info.run_id, "KILLED")
    return source
