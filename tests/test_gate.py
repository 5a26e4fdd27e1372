"""The gate's arithmetic on constructed cases: rows that hurt are refused, rows that help
are promoted, too little data gets "not enough evidence"; and its verdict names the winner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import QualityConfig
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.quality.gate import Evidence, Task, cross_fit, decide, fold_count, macro_f1, rule, verdict
from pipeline.synthesizers import SMOTESynthesizer

Q = QualityConfig()


def _evidence(truth: np.ndarray, real_right: float, product_right: float, seed: int = 0, repeats: int = 2) -> Evidence:
    """Predictions right with the given shares (each repeat drawn anew), wrong otherwise."""
    rng = np.random.default_rng(seed)
    k = int(truth.max()) + 1

    def preds(share: float) -> list[np.ndarray]:
        out = []
        for _ in range(repeats):
            right = rng.random(len(truth)) < share
            out.append(np.where(right, truth, (truth + 1) % k))
        return out

    ev = Evidence(truth, [str(c) for c in range(k)], folds=5)
    ev.predictions = {"real": preds(real_right), "product": preds(product_right)}
    ev.synthetic_rows = {"product": [10] * 5}
    return ev


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert macro_f1(truth, pred, 4) == pytest.approx(f1_score(truth, pred, average="macro"))


def test_rows_that_hurt_are_refused():
    truth = np.repeat(np.arange(3), 100)
    gate = decide(_evidence(truth, 0.9, 0.75), Q)
    assert gate["decision"] == "keep" and not gate["promoted"] and gate["gain"] < -10
    assert gate["upper_bound"] < 0 and "Train on your real rows alone" in gate["verdict"]


def test_rows_that_help_are_promoted():
    truth = np.repeat(np.arange(3), 100)
    gate = decide(_evidence(truth, 0.75, 0.9), Q)
    assert gate["decision"] == "promote" and gate["promoted"] and gate["lower_bound"] > -Q.margin
    assert gate["eval_rows"] == 600 and "Use the product's rows" in gate["verdict"]


def test_too_little_data_is_not_enough_evidence():
    truth = np.repeat(np.arange(3), 4)  # 12 rows: one more right, two others wrong
    wrong = lambda rows: np.where(np.isin(np.arange(12), rows), (truth + 1) % 3, truth)  # noqa: E731
    ev = Evidence(truth, ["0", "1", "2"], {"real": [wrong([0, 4, 8])], "product": [wrong([1, 2])]}, {"product": [6]}, 3)
    gate = decide(ev, Q)
    assert gate["decision"] == "not enough evidence" and not gate["promoted"]
    assert gate["lower_bound"] < -Q.margin < 0 < gate["gain"]
    assert decide("a class has fewer than 2 real rows", Q)["decision"] == "not enough evidence"
    assert fold_count(np.array([0, 0, 0, 1]), 5) == 0 and fold_count(np.array([0, 0, 0, 1, 1]), 5) == 2


def test_small_evaluations_must_show_a_gain_not_only_no_loss():
    # 150 rows: one row moves macro-F1 by about 0.7 points, so a loss of 0.5 is invisible
    assert rule(0.3, -0.2, 1.0, 150, 0.5)[0] == "not enough evidence"
    assert rule(0.3, -0.2, 1.0, 250, 0.5)[0] == "promote"
    assert rule(2.0, 0.4, 3.0, 150, 0.5)[0] == "promote"
    assert rule(0.0, 0.0, 0.0, 500, 0.5) == ("not enough evidence", "the rows changed no held-out prediction")
    assert rule(-1.0, -3.0, 0.5, 500, 0.5)[0] == "keep"


def test_verdict_names_a_better_baseline():
    measured = {"product": (0.5, -2.0, 3.0), "smote": (3.0, 0.5, 5.0)}
    assert verdict(measured, 0.5).startswith("Use the smote baseline instead")


def test_cross_fit_scores_every_row_once_per_repeat(mixed_table):
    real = mixed_table  # one row with a missing `visits`: most folds' generators never saw one
    features = [c for c in real.columns if c != "label"]
    classes = ClassIndex.fit(real["label"])
    task = Task(
        real,
        "label",
        features,
        fit_codec(real[features], None),
        classes,
        {"a": 4, "b": 4},
        QualityConfig(folds=3, repeats=2, accept="all"),
        seed=0,
    )
    evidence = cross_fit(task, {"product": lambda: SMOTESynthesizer(seed=0)})
    assert evidence.folds == 3 and len(evidence.predictions["real"]) == 2
    assert all(len(p) == len(real) for p in evidence.predictions["product"])
    rows = evidence.synthetic_rows["product"]  # the shipped counts, or fewer where near-copies were refused
    assert len(rows) == 6 and max(rows) == 8 and min(rows) > 0
    assert isinstance(decide(evidence, task.quality)["gain"], float)


def test_cross_fit_refuses_a_class_with_one_row(mixed_table):
    real = pd.concat([mixed_table.dropna(), mixed_table.dropna().head(1).assign(label="c")], ignore_index=True)
    features = [c for c in real.columns if c != "label"]
    task = Task(real, "label", features, fit_codec(real[features], None), ClassIndex.fit(real["label"]), {}, Q, 0)
    assert "fewer than 2 real rows" in cross_fit(task, {})
