"""The embedded job end to end: one Prefect ephemeral server and one MLflow SQLite per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.config import DataSpec, ModelConfig, QualityConfig, RunConfig, SampleConfig, TrainConfig
from pipeline.errors import DataError
from pipeline.io import read_provenance

pytestmark = pytest.mark.flow

FAST = TrainConfig(epochs=4, batch_size=32)


def _config(source: str, out: Path, **data) -> RunConfig:
    return RunConfig(
        data=DataSpec(source=source, **data),
        model=ModelConfig(latent_dim=4, hidden=[64, 32]),
        train=FAST,
        sample=SampleConfig(per_class=6),
        quality=QualityConfig(folds=2, repeats=1, class_scores=0, fold_steps=20, classifier_steps=20),
        seed=11,
        out_dir=str(out),
        generator="cvae",  # the tests of the default (auto) name it
    )


@pytest.fixture(scope="session")
def prefect_server():
    """One ephemeral Prefect server for the session, stopped cleanly at the end."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def flow(prefect_server):
    from flows.augment import augment_flow

    return augment_flow


@pytest.fixture(scope="module")
def digits_run(flow, tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    return flow(_config("digits", out, real_per_class=5)), out


def test_image_run_writes_scored_pngs_and_augmented(digits_run):
    summary, out = digits_run
    synthetic = pd.read_parquet(out / "synthetic.parquet")
    assert synthetic["image"][0]["bytes"].startswith(b"\x89PNG")
    assert {"label_fidelity", "follows_label", "accepted"} <= set(synthetic.columns)
    assert synthetic["label_fidelity"].between(0, 1).all()
    augmented = pd.read_parquet(out / "augmented.parquet")
    assert (~augmented["is_synthetic"]).sum() == 50
    assert augmented["is_synthetic"].sum() == synthetic["accepted"].sum() == summary["accepted_rows"]
    report = json.loads((out / "quality_report.json").read_text())
    for name, entry in report["per_class"].items():  # counts as asked, or the shortfall said
        assert entry["requested"] == 6 and entry["delivered"] == min(6, entry["delivered"])
        assert (synthetic["label"].astype(str) == name).sum() == entry["generated"]
        assert (name in summary["short"]) == (entry["delivered"] < 6)
    gate = report["gate"]
    assert gate["synthetic_rows"] == augmented["is_synthetic"].sum() and gate["metric"] == "macro_f1"
    assert gate["decision"] in ("promote", "keep", "not enough evidence") and gate["eval_rows"] == 50
    assert "affine" in gate["baselines"] and gate["verdict"].endswith(".")
    assert gate == summary["gate"].to_json() and "**Promotion of the" in (out / "quality_report.md").read_text()
    assert not list(out.parent.glob(f".{out.name}.*"))  # no staging folder left beside the outputs
    for plot in ("loss_curves.png", "samples_grid.png", "samples_class_3.png", "accepted_rejected.png", "scores.png"):
        assert (out / "plots" / plot).stat().st_size > 1000


def test_provenance_and_registry(digits_run, artifacts_root):
    summary, out = digits_run
    meta = read_provenance(out / "synthetic.parquet")
    assert meta["mlflow_run_id"] == summary["mlflow"]["run_id"] and meta["seed"] == 11
    assert meta["class_names"] == [str(i) for i in range(10)] and len(meta["source_data_hash"]) == 64
    assert meta["prefect_flow_run_id"] and meta["model_uri"].startswith("models:/augment-digits/")
    from mlflow import MlflowClient

    client = MlflowClient(summary["mlflow"]["tracking_uri"])
    version = client.get_model_version_by_alias("augment-digits", "candidate")
    assert str(version.version) == meta["model_version"] and version.run_id == meta["mlflow_run_id"]
    run = client.get_run(meta["mlflow_run_id"])
    assert run.info.status == "FINISHED" and "active_units" in run.data.metrics and run.data.params["seed"] == "11"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
    assert steps and steps[-1] == 3 and steps == sorted(set(steps))  # one per validation, the last at epoch 4
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/samples_grid.png" in artifacts
    assert run.data.tags["gate.decision"] == summary["gate"].decision and "gate.gain" in run.data.metrics
    saved = {a.path for a in client.list_artifacts(run.info.run_id, "synthesizer")}
    assert saved == {"synthesizer/spec.json", "synthesizer/weights.safetensors", "synthesizer/manifest.json"}
    model_files = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert not any(p.endswith(".pkl") for p in model_files)
    aliases = client.get_registered_model("augment-digits").aliases
    assert ("champion" in aliases) == summary["gate"].promoted


def test_table_run_keeps_schema_and_is_deterministic(flow, tmp_path):
    first = flow(_config("penguins", tmp_path / "a", real_per_class=10))
    fresh = _config("penguins", tmp_path / "b", real_per_class=10)
    again = flow(fresh.model_copy(update={"train": fresh.train.model_copy(update={"reuse": False})}))
    assert "reused_from_run" not in again["train"]  # trained anew, and still the same rows
    real = pd.read_parquet(tmp_path / "a" / "augmented.parquet")
    a = pd.read_parquet(first["synthetic"])
    b = pd.read_parquet(again["synthetic"])
    pd.testing.assert_frame_equal(a, b)
    assert read_provenance(first["synthetic"])["mlflow_run_id"] != read_provenance(again["synthetic"])["mlflow_run_id"]
    from palmerpenguins import load_penguins

    source = load_penguins()
    assert list(a.columns[: len(source.columns)]) == list(source.columns)
    assert a["year"].dtype == "int64" and isinstance(a["island"].dtype, pd.CategoricalDtype)
    assert set(a["island"].dropna()) <= set(source["island"].dropna())
    added = ["is_synthetic", "source", "sample_weight"]
    assert real.dtypes.drop(added).to_dict() == a.dtypes[real.columns.drop(added)].to_dict()
    assert set(real["source"]) == {"real", "cvae"} and real["sample_weight"].eq(1.0).all()
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["model"]["version"] == first["model"]["version"]
    assert int(again["model"]["version"]) == int(first["model"]["version"]) + 1
    # an unchanged job reruns cheaply: the generator comes from MLflow, the rows are the same
    cached = flow(_config("penguins", tmp_path / "c", real_per_class=10))
    assert cached["train"]["reused_from_run"] in {first["mlflow"]["run_id"], again["mlflow"]["run_id"]}
    assert not (tmp_path / "c" / "reused").exists()  # the download's folder is not left among the outputs
    pd.testing.assert_frame_equal(pd.read_parquet(cached["synthetic"]), a)
    # a run that reused training can itself be reused, and a rerun into the same folder replaces it whole
    again_cached = flow(_config("penguins", tmp_path / "c", real_per_class=10))
    assert "reused_from_run" in again_cached["train"]
    pd.testing.assert_frame_equal(pd.read_parquet(again_cached["synthetic"]), a)


def test_pseudo_label_mode_writes_the_unlabelled_rows_with_the_label_scorers_labels(flow, tmp_path):
    from palmerpenguins import load_penguins

    source = load_penguins().dropna().reset_index(drop=True)
    path = tmp_path / "penguins.parquet"
    source.to_parquet(path)
    config = _config(str(path), tmp_path / "out", label="species", real_per_class=8, unlabelled="use")
    config = config.model_copy(update={"sample": SampleConfig(per_class=20), "generator": "pseudo_label"})
    summary = flow(config)
    rows = pd.read_parquet(summary["synthetic"])
    assert summary["generator"] == "pseudo_label" and len(rows) == summary["synthetic_rows"] <= 60
    assert rows["species"].value_counts().min() >= 10  # most classes find enough sure rows
    features = [c for c in source.columns if c != "species"]
    key = lambda frame: frame[features].astype(str).agg("|".join, axis=1)  # noqa: E731
    truth = dict(zip(key(source), source["species"]))
    labelled = set(key(pd.read_parquet(tmp_path / "out" / "augmented.parquet").query("not is_synthetic")))
    found = key(rows)
    assert found.isin(truth).all() and not found.isin(labelled).any()  # real rows, none of the 24 labelled ones
    assert (found.map(truth) == rows["species"]).mean() >= 0.9  # and mostly labelled right
    gate = summary["gate"]  # the pseudo-labeller is cross-fitted like any generator
    assert gate.eval_rows == 24 and gate.gain is not None and gate.synthetic_rows == len(rows[rows["accepted"]])


def test_bad_input_fails_before_anything_is_written(flow, tmp_path, mixed_table):
    source = tmp_path / "one_class.parquet"
    mixed_table.assign(label="a").to_parquet(source)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="only one class"):
        flow(_config(str(source), out, label="label"))
    assert not out.exists()


def test_generate_from_the_registry_in_a_new_process(digits_run, tmp_path):
    summary, _ = digits_run
    env = dict(os.environ)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "generate",
            "--model",
            "models:/augment-digits@candidate",
            "--per-class",
            "3",
            "--classes",
            "1,7",
            "--out",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    frame = pd.read_parquet(tmp_path / "synthetic.parquet")
    assert frame["label"].tolist() == [1, 1, 1, 7, 7, 7]
    meta = json.loads(pq.read_schema(tmp_path / "synthetic.parquet").metadata[b"augment"])
    assert meta["model_version"] == summary["model"]["version"]
    # the registry model reproduces the run's own samples for the same seed and classes
    run_rows = pd.read_parquet(summary["synthetic"])
    same = run_rows[run_rows["label"] == 1]["image"].iloc[0]["bytes"]
    assert isinstance(same, bytes)


def test_class_names_are_data_not_markup(flow, tmp_path):
    """Labels that look like terminal markup, TeX or HTML are valid class names: the run
    succeeds and every renderer shows them as written."""
    from palmerpenguins import load_penguins

    source = load_penguins().dropna().reset_index(drop=True)
    odd = {"Adelie": "[/x]", "Chinstrap": "$\\frac{$", "Gentoo": "<script>x</script>"}
    source["species"] = source["species"].map(odd).astype("str")
    path = tmp_path / "odd.parquet"
    source.to_parquet(path)
    summary = flow(_config(str(path), tmp_path / "out", label="species", real_per_class=8))
    assert set(summary["per_class"]) == set(odd.values())
    report = (tmp_path / "out" / "quality_report.md").read_text()
    assert "<script>" not in report and "&lt;script&gt;x&lt;/script&gt;" in report
    assert set(pd.read_parquet(summary["synthetic"])["species"]) <= set(odd.values())


def test_auto_ships_the_recommended_training_set(flow, tmp_path):
    """`--generator auto`: the CVAE is trained and registered, and augmented.parquet is the
    training set the gate recommends: its rows, sources and weights as the menu says."""
    from pipeline.quality.menu import OPTIONS

    base = _config("wine", tmp_path / "auto", real_per_class=8)
    config = base.model_copy(update={"generator": "auto", "sample": SampleConfig(balance_to=12)})
    summary = flow(config)
    gate = summary["gate"]
    advice, options = gate.recommendation, gate.options
    assert gate.judge == "logistic" and gate.metric == "macro_f1" and gate.product == "cvae"
    assert set(options) == {"real_only", "class_weight", "oversample", "smote", "cvae"}
    chosen, bounds = options[advice.method], ("gain", "lower_bound", "upper_bound")
    assert [getattr(advice, k) for k in bounds] == [getattr(chosen, k) for k in bounds]
    assert gate.shipped == advice.method and summary["model"]["version"]
    shipped = pd.read_parquet(summary["augmented"])
    option = OPTIONS[advice.method]
    assert set(shipped.loc[shipped["is_synthetic"], "source"]) == set(option.sources)
    assert (shipped["sample_weight"] != 1.0).any() == option.balanced
    report = (tmp_path / "auto" / "quality_report.md").read_text()
    assert "| option | measured on your folds | interval | typical on similar data | expected |" in report
    assert (tmp_path / "auto" / "plots" / "gate_options.png").exists()
    assert read_provenance(summary["augmented"])["shipped_option"] == advice.method
    synthetic = pd.read_parquet(summary["synthetic"])  # the CVAE's rows as asked, whatever ships
    assert set(synthetic["source"]) == {"cvae"} and {"quality_score", "accepted"} <= set(synthetic.columns)
    asked = {c: 12 - n for c, n in summary["real_counts"].items() if n < 12}
    assert synthetic.loc[synthetic["accepted"], "cultivar"].astype(str).value_counts().to_dict() == asked
    assert gate.synthetic_rows == int(shipped["is_synthetic"].sum())
    assert "rerun" not in gate.shipped_note and "recommended" in gate.shipped_note


def test_a_csv_table_runs_exactly_as_its_parquet_twin(flow, tmp_path):
    """Same rows for the same seed, each trained anew: a CSV file is read as its Parquet twin."""
    from palmerpenguins import load_penguins

    source = load_penguins().dropna().reset_index(drop=True)  # floats, integers, text; CSV says them exactly
    source.to_csv(tmp_path / "penguins.csv", index=False)
    source.to_parquet(tmp_path / "penguins.parquet")
    rows = {}
    for kind in ("csv", "parquet"):
        config = _config(str(tmp_path / f"penguins.{kind}"), tmp_path / kind, label="species", real_per_class=8)
        config = config.model_copy(
            update={
                "train": config.train.model_copy(update={"reuse": False}),
                "quality": config.quality.model_copy(update={"evaluate": False}),
            }
        )
        summary = flow(config)
        assert "reused_from_run" not in summary["train"]
        rows[kind] = pd.read_parquet(summary["synthetic"])
    pd.testing.assert_frame_equal(rows["csv"], rows["parquet"])
    assert len(rows["csv"]) >= 18


def test_the_products_errors_reach_the_terminal_without_a_traceback(prefect_server):
    """Prefect prints a failing flow's traceback on the console; for the product's own errors
    the CLI's filter keeps it off (the run's log keeps it), for anything else it stays."""
    import io
    import logging

    from prefect import flow as prefect_flow
    from prefect import task
    from prefect.logging.handlers import PrefectConsoleHandler

    from flows.console import HideProductErrors, hide_product_tracebacks

    @task
    def refuse(kind: str) -> None:
        raise DataError("the rows are wrong", "fix them") if kind == "product" else ValueError("a bug")

    @prefect_flow
    def job(kind: str) -> None:
        refuse(kind)

    console = next(h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler))
    before, printed = console.console.file, {}
    hide_product_tracebacks()
    try:
        for kind, error in (("product", DataError), ("bug", ValueError)):
            console.console.file = io.StringIO()
            with pytest.raises(error):
                job(kind)
            printed[kind] = console.console.file.getvalue()
    finally:
        console.console.file = before
        for handler in logging.getLogger().handlers:
            for f in [f for f in handler.filters if isinstance(f, HideProductErrors)]:
                handler.removeFilter(f)
    assert "Beginning flow run" in printed["product"]
    assert "Traceback" not in printed["product"] and "the rows are wrong" not in printed["product"]
    assert "Traceback" in printed["bug"] and "a bug" in printed["bug"]
