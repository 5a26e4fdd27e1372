"""The gate's typed result: quality_report.json's `gate` section is a pinned contract, so
GateResult.to_json() must write the keys, their order and the values the gate wrote as a dict;
and the readers (report, console, MLflow record, summary) take the typed result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.quality.gate import decide
from pipeline.quality.report import report_markdown, write_report
from pipeline.quality.result import GateResult
from pipeline.run_record import log_outcome, summary_json
from tests.test_gate import Q, _evidence

MEASURED = [
    "metric",
    "margin",
    "confidence",
    "judge",
    "options_weighting",
    "decision",
    "promoted",
    "promotion",
    "gain",
    "lower_bound",
    "upper_bound",
    "eval_rows",
    "folds",
    "repeats",
    "synthetic_rows_per_fold",
    "product",
    "options",
    "recommendation",
    "baselines",
    "rare_class_recall",
    "reasons",
    "verdict",
]
UNMEASURED = [
    "metric",
    "margin",
    "confidence",
    "judge",
    "options_weighting",
    "decision",
    "promoted",
    "gain",
    "lower_bound",
    "eval_rows",
    "options",
    "recommendation",
    "promotion",
    "baselines",
    "reasons",
    "verdict",
]
SHIPPED = ["synthetic_rows", "shipped", "shipped_note"]


def _measured() -> GateResult:
    truth = np.repeat(np.arange(3), [60, 60, 12])  # class 2 is rare: its recall is reported
    return decide(_evidence(truth, 0.70, 0.76, seed=5, class_weight=0.79, smote=0.8), Q, judge="boosting")


def test_a_measured_gate_writes_the_pinned_keys_in_their_order():
    gate = _measured()
    written = gate.to_json()
    assert list(written) == MEASURED
    assert json.loads(json.dumps(written)) == written  # plain JSON: no tuples, no records left
    promotion = ["metric", "gain", "lower_bound", "upper_bound", "margin", "confidence", "decision", "why"]
    assert list(written["promotion"]) == promotion + ["means", "summary", "by_metric"]
    assert list(written["options"]["smote"]) == ["gain", "lower_bound", "upper_bound", "typical_gain", "expected_gain"]
    advice = ["method", "gain", "lower_bound", "upper_bound", "why", "runner_up", "expected_gains", "typical_gains"]
    assert list(written["recommendation"]) == advice + ["weight"]
    baselines = {m: {"gain": o.gain, "lower_bound": o.lower_bound} for m, o in gate.baselines.items()}
    assert written["baselines"] == baselines and set(baselines) == {"class_weight", "smote"}
    assert list(written["rare_class_recall"]["2"]) == ["real_only", "augmented", "class_weight", "smote"]
    assert written["decision"] == gate.promotion.decision and written["promoted"] == (gate.decision == "promote")
    assert written["options"]["smote"]["gain"] == gate.options["smote"].gain
    assert written["reasons"] == list(gate.reasons)


def test_an_unmeasured_gate_writes_fewer_keys_and_what_shipped_comes_last():
    gate = decide("a class has fewer than 2 real rows", Q)
    written = gate.to_json()
    assert not gate.measured and list(written) == UNMEASURED
    assert written["gain"] is None and written["options"] == {} and written["recommendation"] is None
    promotion = ["metric", "gain", "lower_bound", "upper_bound", "margin", "decision", "why", "summary", "means"]
    assert list(written["promotion"]) == promotion and written["promotion"]["margin"] == Q.promotion_margin
    shipped = gate.shipping("class_weight", 0, "augmented.parquet holds class_weight.")
    assert list(shipped.to_json()) == UNMEASURED + SHIPPED and gate.shipped is None  # the original is unchanged
    assert list(_measured().shipping("smote", 12).to_json()) == MEASURED + SHIPPED[:2]  # no note: not written


class _Tracker:
    """What log_outcome sends to MLflow, kept."""

    def __init__(self) -> None:
        self.numbers: dict = {}
        self.tags: dict = {}

    def log_artifacts(self, *args) -> None:
        pass

    def log_artifact(self, *args) -> None:
        pass

    def metrics(self, numbers: dict) -> None:
        self.numbers |= numbers

    def set_tags(self, tags: dict) -> None:
        self.tags |= tags


def test_the_readers_take_the_typed_result(tmp_path: Path):
    gate = _measured().shipping("smote", 12, "augmented.parquet holds smote, the recommended training set.")
    report = {"overall": {"rows": 0}, "per_class": {}, "thresholds": {}, "gate": gate}
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["gate"] == gate.to_json()
    text = md_path.read_text()
    assert text == report_markdown(report) and "| smote |" in text and "12 synthetic rows shipped" in text
    assert "**Promotion of the cvae rows" in text and "rare class 2: recall" in text
    tracker = _Tracker()
    log_outcome(tracker, tmp_path, report)
    assert tracker.numbers["gate.gain"] == gate.gain and tracker.numbers["gate.promoted"] == float(gate.promoted)
    assert tracker.numbers["gate.promotion.lower_bound"] == gate.promotion.lower_bound
    assert tracker.tags == {"gate.decision": gate.decision, "gate.verdict": gate.verdict}
    assert summary_json({"out_dir": "x", "gate": gate}) == {"out_dir": "x", "gate": gate.to_json()}
    unmeasured = decide("the gate is turned off", Q).shipping("class_weight", 0, "note")
    tracker = _Tracker()
    log_outcome(tracker, tmp_path, report | {"gate": unmeasured})
    assert "gate.gain" not in tracker.numbers and tracker.tags["gate.decision"] == "not enough evidence"
    assert "No synthetic rows" in report_markdown(report | {"gate": unmeasured})
