"""A failed run leaves no trace beside --out: a failure injected at each stage of the augment
flow's body removes the staging folder (the tracking store's failure included, which used
to happen before the clean-up was armed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import flows.augment as augment
from pipeline.config import DataSpec, QualityConfig, RunConfig, SampleConfig
from pipeline.quality.gate import unmeasured

STAGES = ["tracker", "train", "evaluate", "synthesize", "write_report", "make_plots", "commit"]


class _Tracker:
    run_id = None

    def __init__(self, *args, **kwargs) -> None:
        pass

    def start(self, *args, **kwargs) -> None:
        pass

    def log_params(self, *args, **kwargs) -> None:
        pass

    def finish(self, *args, **kwargs) -> None:
        pass


class Injected(RuntimeError):
    """The failure put into one stage."""


@pytest.mark.parametrize("stage", STAGES)
def test_a_failure_at_any_stage_leaves_no_staging_folder(stage, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise Injected(stage)

    stubs = {
        "tracker": ("Tracker", _Tracker),
        "train": ("train", lambda *a, **k: {}),
        "evaluate": ("evaluate", lambda *a, **k: unmeasured("stubbed", QualityConfig(), "logistic")),
        "synthesize": (
            "synthesize",
            lambda *a, **k: {"accepted_rows": 0, "report": {}, "shipped_rows": 0, "shipped": None},
        ),
        "write_report": ("write_report", lambda *a, **k: None),
        "make_plots": ("make_plots", lambda *a, **k: []),
        "commit": ("_commit", lambda *a, **k: {}),
    }
    for name, (attr, stub) in stubs.items():
        monkeypatch.setattr(augment, attr, fail if name == stage else stub)
    for attr in ("create_markdown_artifact", "report_markdown"):
        monkeypatch.setattr(augment, attr, lambda *a, **k: {})
    for attr in ("log_outcome", "provenance"):
        monkeypatch.setattr(augment.run_record, attr, lambda *a, **k: {})
    monkeypatch.setattr(augment.job, "shipped_option", lambda *a, **k: None)
    monkeypatch.setattr(augment, "shipped_note", lambda *a, **k: "")
    config = RunConfig(data=DataSpec(source="iris"), sample=SampleConfig(per_class=2))
    data = SimpleNamespace(name="iris", hash="h", modality="table", counts={"a": 2})
    parent = tmp_path / "parent"
    out = parent / "out"
    with pytest.raises(Injected):
        timed = augment.run_record.Stopwatch()
        augment._run(config, data, out, tmp_path / "home", tmp_path / "work", False, 0.0, timed)
    assert sorted(p.name for p in parent.iterdir()) == [], f"left beside --out after a failure in {stage}"
    assert not Path(out).exists()
