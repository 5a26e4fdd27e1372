"""Each benchmark script runs end to end on tiny settings (the numbers live in BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, *args, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_train_throughput_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/train_throughput.py",
            "--datasets",
            "digits",
            "--epochs-digits",
            "1",
            "--repeats",
            "1",
            "--shipped-repeats",
            "0",
            "--limit",
            "256",
        ],
        tmp_path / "tp.json",
    )
    digits = data["datasets"][0]
    assert digits["product_runs"][0]["samples_per_s"] > 0 and digits["bare_runs"][0]["samples_per_s"] > 0


def test_label_following_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/label_following.py",
            "--datasets",
            "digits",
            "--k",
            "4",
            "--per-class",
            "5",
            "--ref-steps",
            "20",
            "--train-arg",
            "target_steps=20",
            "--train-arg",
            "min_epochs=1",
            "--no-ref-cache",
        ],
        tmp_path / "lf.json",
    )
    assert 0.0 <= data["datasets"][0]["follows_label_overall"] <= 1.0


def test_downstream_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/downstream.py",
            "--datasets",
            "iris",
            "--k",
            "4",
            "--seeds",
            "1",
            "--train-arg",
            "target_steps=20",
            "--quality-arg",
            "seeds=1",
            "--unfiltered",
        ],
        tmp_path / "d.json",
    )
    row = data["rows"][0]
    assert row["dataset"] == "iris" and 0 <= row["real_only"] <= 1 and 0 <= row["product"] <= 1
    assert 0 <= row["product_unfiltered"] <= 1 and 0 <= row["product_f1"] <= 1 and row["accepted"] <= row["generated"]


def test_generation_throughput_tiny(tmp_path):
    data = _run(
        ["benchmarks/generation_throughput.py", "--tiny", "--table-rows", "300", "--image-rows", "60"],
        tmp_path / "gt.json",
    )
    assert [d["modality"] for d in data["datasets"]] == ["table", "image"]
    for d in data["datasets"]:
        assert [r["stage"] for r in d["runs"]] == ["generate", "generate+score", "synthesize"]
        for r in d["runs"]:
            assert (
                r["rows"] == r["rows_requested"]
                and r["rows_per_s"] > 0
                and r["rss_peak_mib"] >= r["rss_before_mib"] > 0
            )
        assert d["runs"][-1]["write_s"] > 0 and d["runs"][-1]["file_mib"] > 0


def test_end_to_end_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/end_to_end.py",
            "--datasets",
            "iris",
            "--per-class",
            "5",
            "--arg",
            "train.target_steps=20",
            "--arg",
            "quality.evaluate=false",
        ],
        tmp_path / "e2e.json",
    )
    median = data["rows"][0]["median"]
    assert median["wall_s"] > median["flow_s"] > median["train"] > 0 and median["overhead_s"] > 0
    assert median["plots"] > 0 and median["generate_and_score"] > 0


def test_downstream_tiny_with_variations(tmp_path):
    data = _run(
        [
            "benchmarks/downstream.py",
            "--datasets",
            "iris",
            "--k",
            "4",
            "--seeds",
            "1",
            "--train-arg",
            "target_steps=20",
            "--quality-arg",
            "seeds=1",
            "--mode",
            "variations",
            "--temperature",
            "2",
        ],
        tmp_path / "d.json",
    )
    assert data["sample"] == {"mode": "variations", "temperature": 2.0} and 0 <= data["rows"][0]["product"] <= 1


def test_downstream_tiny_with_pseudo_labels(tmp_path):
    data = _run(
        [
            "benchmarks/downstream.py",
            "--datasets",
            "wine",
            "--k",
            "4",
            "--seeds",
            "1",
            "--test-rows",
            "60",
            "--quality-arg",
            "seeds=1",
            "--mode",
            "pseudo_label",
            "--unlabelled",
            "10",
        ],
        tmp_path / "d.json",
    )
    row = data["rows"][0]
    assert (
        row["unlabelled_rows"] == 30 and 0 < row["generated"] <= 36 and 0 <= row["product"] <= 1
    )  # 12 asked per class


def test_sampling_screen_tiny(tmp_path):
    data = _run(
        ["benchmarks/sampling_screen.py", "--dataset", "iris", "--k", "4", "--train-arg", "target_steps=20"],
        tmp_path / "s.json",
    )
    assert {(r["mode"], r["temperature"]) for r in data["rows"]} >= {
        ("prior", 1.0),
        ("variations", 1.0),
        ("interpolate", 1.0),
    }
    assert all(0 <= r["accepted"] <= r["generated"] == 36 for r in data["rows"])


def test_peers_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/peers.py",
            "--datasets",
            "iris",
            "--k",
            "4",
            "--seeds",
            "1",
            "--methods",
            "real",
            "smote",
            "product",
            "product_unfiltered",
            "--ratio",
            "2",
            "--train-arg",
            "target_steps=20",
        ],
        tmp_path / "p.json",
    )
    rows = {r["method"]: r for r in data["rows"]}
    assert set(rows) == {"real", "smote", "product", "product_unfiltered"}
    for r in rows.values():
        assert r["real_rows"] == 12 and r["test_rows"] == 138
        assert all(0 <= r[f"{clf}_{m}"] <= 1 for clf in ("logreg", "forest") for m in ("acc", "f1"))
    smote, product, unfiltered = rows["smote"], rows["product"], rows["product_unfiltered"]
    assert smote["synthetic_per_class"] == {"setosa": 8, "versicolor": 8, "virginica": 8} and smote["fit_s"] > 0
    assert (
        unfiltered["synthetic_rows"] == product["generated"] == 24
        and 0 <= product["accepted"] == product["synthetic_rows"] <= 24
    )
    assert product["fit_s"] > 0 and product["sample_s"] > 0 and product["time_ratio_to_product"] == 1.0
    assert smote["time_ratio_to_product"] > 0
    summary = {e["method"]: e for e in data["summary"]}
    assert summary["smote"]["logreg_acc_diff"] == pytest.approx(smote["logreg_acc"] - rows["real"]["logreg_acc"])
    assert [t["method"] for t in data["timing"]] == ["smote", "product", "product_unfiltered"]


def test_peers_tiny_gaussian_copula(tmp_path):
    pytest.importorskip("sdv")
    data = _run(
        ["benchmarks/peers.py", "--datasets", "penguins", "--k", "4", "--seeds", "1", "--methods", "gaussian_copula"],
        tmp_path / "p.json",
    )
    copula = next(r for r in data["rows"] if r["method"] == "gaussian_copula")
    assert [r["method"] for r in data["rows"]] == ["real", "gaussian_copula"]
    assert copula["synthetic_per_class"] == {"Adelie": 4, "Chinstrap": 4, "Gentoo": 4}
    assert (
        copula["fit_s"] > 0
        and copula["sample_s"] > 0
        and 0 <= copula["forest_acc"] <= 1
        and "time_ratio_to_product" not in copula
    )


def test_semi_supervised_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/semi_supervised.py",
            "--datasets",
            "iris",
            "--k",
            "4",
            "--weights",
            "1",
            "--test-rows",
            "30",
            "--train-arg",
            "target_steps=20",
        ],
        tmp_path / "s.json",
    )
    without, with_unlabelled = data["rows"]
    assert without["unlabelled_rows"] == 0 and with_unlabelled["unlabelled_rows"] == 150 - 12 - 30
    assert all(0 <= r["classifier_accuracy"] <= 1 and r["test_rows"] == 30 for r in data["rows"])


def test_pixel_sharpness_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/pixel_sharpness.py",
            "--dataset",
            "digits",
            "--k",
            "4",
            "--seeds",
            "1",
            "--sharpness",
            "1",
            "3",
            "--train-arg",
            "target_steps=20",
            "--quality-arg",
            "seeds=1",
            "--quality-arg",
            "classifier_steps=20",
        ],
        tmp_path / "ps.json",
    )
    assert [r["sharpness"] for r in data["rows"]] == [1.0, 3.0]
    assert all(0 <= r["accepted"] <= r["generated"] == 120 and -1 <= r["product_vs_base"] <= 1 for r in data["rows"])


def test_extra_rows_tiny(tmp_path):
    data = _run(
        [
            "benchmarks/extra_rows.py",
            "--dataset",
            "digits",
            "--k",
            "4",
            "--seeds",
            "1",
            "--train-arg",
            "target_steps=20",
            "--quality-arg",
            "seeds=1",
            "--quality-arg",
            "classifier_steps=20",
        ],
        tmp_path / "er.json",
    )
    rows = {r["source"]: r for r in data["rows"]}
    assert list(rows) == ["real", "pseudo", "pseudo_spread", "prior", "warp"]
    assert rows["real"]["added"] == rows["pseudo"]["added"] == 120  # 3 per real row, 10 classes
    assert rows["pseudo_spread"]["added"] <= 120
    assert rows["real"]["label_precision"] == 1.0
    assert all(0 <= rows[s]["label_precision"] <= 1 for s in ("pseudo", "pseudo_spread"))
    assert all(
        0 <= r["added"] <= 120 and -1 <= r["gain"] <= 1 and -1 <= r["gain_with_classic"] <= 1 for r in rows.values()
    )
