"""Checkpoints shipped to MLflow let a retried job resume on another machine (no Prefect needed)."""

from __future__ import annotations

import os

import pytest
import torch

from pipeline.reuse import CHECKPOINT_TAG, TRAIN_KEY_TAG, _fetch_checkpoint
from pipeline.tracking import Tracker, default_tracking_uri

pytestmark = pytest.mark.tracking


def test_retried_job_fetches_the_checkpoint_of_the_dead_run(tmp_path):
    tracker = Tracker(default_tracking_uri(tmp_path / "home"), "resume", artifact_root=tmp_path / "home" / "artifacts")
    dead = tracker.start("dead", tags={TRAIN_KEY_TAG: "k1"})
    state = tmp_path / "worker-a" / "train-state.pt"
    state.parent.mkdir()
    torch.save({"epoch": 24, "weights": torch.arange(5)}, state)
    tracker.log_artifact(state, "checkpoints")
    tracker.set_tags({CHECKPOINT_TAG: 25})
    other = tracker.start("other-job", tags={TRAIN_KEY_TAG: "k2"})
    retry = tracker.start("retry", tags={TRAIN_KEY_TAG: "k1"})

    local = tmp_path / "worker-b" / "train-state.pt"
    local.parent.mkdir()
    tracker.run_id = retry
    assert _fetch_checkpoint(tracker, "k1", local) == dead
    assert torch.equal(torch.load(local, weights_only=True)["weights"], torch.arange(5))
    assert tracker.client.get_run(dead).info.status == "KILLED"
    assert tracker.client.get_run(other).info.status == "RUNNING"
    # nothing to resume for another key; an existing local checkpoint wins
    tracker.run_id = other
    assert _fetch_checkpoint(tracker, "k2", tmp_path / "worker-c" / "s.pt") == ""
    tracker.run_id = retry
    assert _fetch_checkpoint(tracker, "k1", local) == "local"
    # a checkpoint taken over once is not handed to a second job
    tracker.start("later", tags={TRAIN_KEY_TAG: "k1"})
    (tmp_path / "d").mkdir()
    assert _fetch_checkpoint(tracker, "k1", tmp_path / "d" / "s.pt") == ""


def test_unreachable_server_is_one_clear_error(tmp_path, monkeypatch):

    from pipeline.errors import TrackingError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    before = os.environ.get("MLFLOW_TRACKING_URI")
    with pytest.raises(TrackingError) as err:
        Tracker("http://127.0.0.1:9", "x")  # nothing listens on the discard port
    assert "cannot be reached" in err.value.problem and "stack-up" in err.value.fix
    # the dead server does not become the default of later runs in this process
    assert os.environ.get("MLFLOW_TRACKING_URI") == before
