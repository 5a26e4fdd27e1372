"""What a command checks before its flow is not done again inside it (flows/handoff.py):
`augment run` validates its data once, `augment generate` loads its model once."""

from __future__ import annotations

import contextlib

import pytest

from flows import handoff


def test_a_run_validates_its_data_once(tmp_path, monkeypatch):
    import flows.augment as augment
    import flows.cli as cli
    import pipeline.job as job

    calls = []
    validate = job.validate
    monkeypatch.setattr(job, "validate", lambda config: calls.append(config) or validate(config))
    staged = []

    def first_step_of_the_flow(config, notes):  # the flow's load-data step, as the flow runs it
        staged.append(augment.load_data.fn(config, tmp_path / "work"))
        return {}

    monkeypatch.setattr(cli, "_run_flow", first_step_of_the_flow)
    (tmp_path / "work").mkdir()
    cli._run_job(None, {"data": "iris", "per_class": 3, "real_per_class": 10, "out": str(tmp_path / "out")})
    assert len(calls) == 1  # by the CLI, before the flow; the flow's step took its answer
    assert staged[0].counts == {"setosa": 10, "versicolor": 10, "virginica": 10} and staged[0].requested["setosa"] == 3
    assert not handoff._kept  # nothing left for a later flow
    augment.load_data.fn(calls[0], tmp_path / "work")  # a flow started otherwise validates for itself
    assert len(calls) == 2


def test_what_is_handed_goes_only_to_the_same_inputs_and_only_once():
    with handoff.handed("validated", "a", 1):
        assert handoff.take("validated", "b") is None
        assert handoff.take("validated", "a") == 1
        assert handoff.take("validated", "a") is None
    with handoff.handed("validated", "a", 1):
        pass
    assert handoff.take("validated", "a") is None  # not after the block


def test_generate_loads_the_model_once(tmp_path, monkeypatch):
    import flows.generate as generate
    import flows.local_server as local_server
    import pipeline.tracking as tracking
    from flows.cli import app
    from flows.settings import artifacts_root
    from pipeline.config import QualityConfig
    from pipeline.data.builtin import load_iris
    from pipeline.synthesizers.baselines import OversampleSynthesizer

    frame, label = load_iris()
    fitted = OversampleSynthesizer(seed=0).fit(frame, label=label)
    loads = []

    def load_registered(uri, tracking_uri, dst):
        loads.append(uri)
        return fitted, {"model_uri": uri, "run_id": "r", "model_version": "1"}

    def flow(model_uri, sample, seed=0, out_dir=None):  # the flow's task, without a Prefect server
        uri = tracking.default_tracking_uri(artifacts_root())
        result = generate.generate_from_registry.fn(model_uri, sample, seed, tmp_path, uri, None, QualityConfig())
        return result | {"path": str(tmp_path / "synthetic.parquet")}

    monkeypatch.setattr(tracking, "load_registered", load_registered)
    monkeypatch.setattr(generate, "load_registered", load_registered)
    monkeypatch.setattr(generate, "generate_flow", flow)
    monkeypatch.setattr(local_server, "api_for_run", lambda root: contextlib.nullcontext(lambda: None))
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["generate", "--model", "models:/augment-iris@candidate", "--per-class", "2"])
    assert result.exit_code == 0, result.output
    assert loads == ["models:/augment-iris@candidate"]  # by the CLI's check; the flow's task took it
    assert "wrote 6 rows" in result.output and not handoff._kept


@pytest.fixture(autouse=True)
def _nothing_kept():
    yield
    handoff._kept.clear()
