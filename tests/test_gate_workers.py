"""The gate's numbers do not depend on how many processes fit its folds (pipeline/quality/parallel.py)."""

from __future__ import annotations

import json

import pytest

from pipeline import job
from pipeline.config import RunConfig
from pipeline.quality.parallel import Workers, default_workers


def _gate(tmp_path, workers: int) -> dict:
    """The gate section of a small iris run (6 rows per class, the CVAE as product, tiny training)."""
    config = RunConfig.model_validate(
        {
            "data": {"source": "iris", "real_per_class": 6},
            "sample": {"per_class": 8},
            "train": {"target_steps": 40, "min_epochs": 2, "max_epochs": 40},
            "quality": {"workers": workers, "folds": 3, "repeats": 1, "class_scores": 0},
            "seed": 3,
        }
    )
    work = tmp_path / f"w{workers}"
    work.mkdir()
    return job.evaluate_gate(config, job.stage_data(config, work))


def test_one_and_two_workers_give_the_same_gate(tmp_path):
    one, two = _gate(tmp_path, 1), _gate(tmp_path, 2)
    assert one.options and set(one.options) == {"real_only", "class_weight", "oversample", "smote", "cvae"}
    same = json.dumps(one.to_json(), sort_keys=True) == json.dumps(two.to_json(), sort_keys=True)
    assert same  # every number, bit for bit


def _square(state, job):
    return state * job * job


def _fail_on_three(state, job):
    if job == 3:
        raise ValueError("three")
    return job


def test_workers_return_results_in_the_jobs_order():
    done = []
    with Workers(2, 10) as pool:
        assert pool.map(_square, range(7), done=lambda: done.append(1)) == [10 * j * j for j in range(7)]
        with pytest.raises(ValueError, match="three"):
            pool.map(_fail_on_three, range(6))
    assert len(done) == 7 and default_workers() >= 1


def test_unpicklable_state_runs_in_this_process():
    pool = Workers(2, lambda: 1)  # a lambda cannot cross to another process
    assert pool.map(lambda state, job: state() + job, [1, 2]) == [2, 3] and pool.workers == 1


def test_the_default_is_augment_workers_else_the_cores(monkeypatch):
    import os

    monkeypatch.setenv("AUGMENT_WORKERS", "3")
    assert default_workers() == 3 and Workers(None, 0).workers == 3
    monkeypatch.delenv("AUGMENT_WORKERS")
    assert default_workers() == len(os.sched_getaffinity(0))
