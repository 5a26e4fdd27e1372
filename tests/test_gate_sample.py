"""Past quality.gate_rows real rows the gate measures on a stratified sample, and says so."""

from __future__ import annotations

import pandas as pd

from pipeline import job
from pipeline.config import RunConfig
from pipeline.quality.crossfit import class_shares, gate_sample


def test_class_shares_keep_small_classes_whole_and_fill_the_budget():
    assert class_shares({"a": 1000, "b": 30, "c": 500}, 300) == {"a": 135, "b": 30, "c": 135}
    assert class_shares({"a": 10, "b": 20}, 100) == {"a": 10, "b": 20}
    assert class_shares({"a": 7, "b": 8, "c": 9}, 10) == {"a": 3, "b": 3, "c": 4}  # the whole budget, never over


def test_the_sample_is_stratified_seeded_and_in_the_data_order():
    frame = pd.DataFrame({"x": range(1000), "y": ["a"] * 900 + ["b"] * 100})
    one = gate_sample(frame, "y", 200, seed=3)
    assert one["y"].value_counts().to_dict() == {"a": 100, "b": 100}
    assert one["x"].is_monotonic_increasing and one.equals(gate_sample(frame, "y", 200, seed=3))
    assert not one.equals(gate_sample(frame, "y", 200, seed=4))
    assert gate_sample(frame, "y", None, 0) is frame and gate_sample(frame, "y", 1000, 0) is frame


def test_a_gate_past_its_rows_measures_a_sample_and_says_so(tmp_path):
    config = RunConfig.model_validate(
        {
            "data": {"source": "iris"},  # 150 rows
            "sample": {"per_class": 10},
            "train": {"target_steps": 30, "min_epochs": 1, "max_epochs": 30},
            "quality": {
                "gate_rows": 100,
                "folds": 2,
                "repeats": 1,
                "class_scores": 0,
                "baselines": False,
                "workers": 1,
            },
            "seed": 0,
        }
    )
    data = job.stage_data(config, tmp_path)
    task, _, _ = job.gate_task(config, data)
    assert len(task.real) == 100 and set(task.counts.values()) == {7}  # 33-34 of 50 rows a class: 10 -> 7
    gate = job.evaluate_gate(config, data)
    assert gate.eval_rows == 100 and "stratified sample of 100 of your 150 real rows" in gate.reasons[-1]
