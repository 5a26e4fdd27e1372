"""Each benchmark script runs end to end on tiny settings (the numbers live in BENCHMARKS.md)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the textbook recipe, a plug-in beside the project (benchmarks/imbalance.py REFERENCE)
TEXTBOOK = Path(os.environ.get("TEXTBOOK_CVAE") or ROOT.parent / "shared" / "reference" / "textbook_cvae.py")
needs_textbook = pytest.mark.skipif(not TEXTBOOK.is_file(), reason=f"no textbook recipe at {TEXTBOOK}")


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


@pytest.mark.flow
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
    assert median["plots"] > 0 and median["synthesize"] > 0


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
            "--train-arg",
            "target_steps=20",
        ],
        tmp_path / "peers.json",
    )
    methods = {r["method"] for r in data["rows"]}
    assert methods == {"real", "smote", "product"}
    assert all(0 <= r["logreg_acc"] <= 1 and r["test_rows"] > 100 for r in data["rows"])
    product = next(t for t in data["timing"] if t["method"] == "product")
    assert product["fit_s_median"] > 0 and product["ratio_median"] == 1.0


def test_generation_throughput_tiny(tmp_path):
    data = _run(["benchmarks/generation_throughput.py", "--tiny", "--rows", "300"], tmp_path / "gt.json")
    (run,) = data["runs"]
    assert run["rows"] == 300 and run["rows_per_s"] > 0 and run["rss_peak_mib"] >= run["rss_before_mib"] > 0
    assert {"model", "png_encode", "judge", "knn", "write"} <= set(run["parts_s"])
    assert "reencode" not in run["parts_s"]  # images are scored from the pixels written, not decoded again
    assert sum(run["parts_s"].values()) <= run["stream_s"] * 1.05  # the parts do not overlap


@needs_textbook
def test_imbalance_natural_table_with_boosting(tmp_path):
    """pbc keeps its own shape (6% transplants) and its holes (a third of the rows miss a value): the natural
    split, SMOTE-NC, the textbook CVAE and the product run on it, and all three classifiers score each method."""
    out = tmp_path / "imbalance"
    methods = ["real", "class_weights", "smote", "textbook_cvae", "product-prior"]
    args = ["--datasets", "pbc", "--seeds", "1", "--methods", *methods, "--textbook-steps", "30"]
    result = subprocess.run(
        [sys.executable, "benchmarks/imbalance.py", *args, "--product-arg", "target_steps=30", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "AUGMENT_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    entry = json.loads(out.with_suffix(".json").read_text())["entries"]["pbc/natural"]
    split = entry["splits"]["0"]
    assert entry["shape"] == "natural" and split["rare"] == ["transplant"]
    assert split["train_counts"] == {"censored": 83, "dead": 58, "transplant": 9}  # 232 / 161 / 25 of 418
    assert split["test_rows"] == 216 and split["rare_test_rows"] == 16  # at most 100 per class, after training
    keys = [f"{kind}_{metric}" for kind in ("lr", "second", "boosting") for metric in ("recall", "f1")]
    for method in methods:
        scores = entry["methods"][method]["0"]
        assert all(math.isfinite(scores[k]) and 0 <= scores[k] <= 100 for k in keys), (method, scores)
    assert entry["methods"]["smote"]["0"]["extra_rows"] == 25 + 74  # every class up to the largest (83)
    assert set(entry["summary"]["best_baseline"]) == set(keys)
    assert "### pbc: natural classes" in out.with_suffix(".md").read_text()


@needs_textbook
def test_ablation_tiny(tmp_path):
    """Every variant of the ablation runs on a rare split and on a natural table, and the JSON holds a
    finite score (LR, RF and HGB) and paired Δ for each."""
    import math

    out = tmp_path / "ablation"
    args = ["--datasets", "iris", "hdma", "--rare", "5", "--seeds", "1", "--steps", "20", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "benchmarks/ablation.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.with_suffix(".json").read_text())
    sys.path.insert(0, str(ROOT))
    from benchmarks.ablation import KEYS, VARIANTS

    assert set(data["entries"]) == {"iris/rare5", "hdma/natural"}
    assert "boosting_f1" in KEYS
    for setting in data["entries"].values():
        runs = setting["methods"]
        assert set(runs) == {v.name for v in VARIANTS}
        for variant in VARIANTS:
            scores = runs[variant.name]["0"]
            assert all(math.isfinite(scores[k]) and 0 <= scores[k] <= 100 for k in KEYS), variant.name
        deltas = data["summary"][variant.name]
        assert all(math.isfinite(deltas[f"{k}_vs_{ref}"]) for k in KEYS for ref in ("default", "textbook_cvae"))
    assert all(data["summary"]["default"][f"{k}_vs_default"] == 0 for k in KEYS)
    text = out.with_suffix(".md").read_text()
    assert "| filter-quality |" in text and "### hdma, natural classes" in text


def test_advice_priors_leave_the_scored_data_set_out():
    """The replayed rules weigh the gate's gains against each option's average gain on the
    other data sets only (menu.TYPICAL_GAINS is the same average over all of them), and only where
    every option of the menu was measured."""
    from benchmarks._imbalance_report import MENU_METHODS, option_priors

    def entry(dataset: str, gain: float, with_cvae: bool = True) -> dict:
        methods = {m: {"0": {"lr_f1": 50.0 + gain * i}} for i, m in enumerate(MENU_METHODS["tables"].values())}
        if not with_cvae:
            del methods["shipped-all"]
        return {"dataset": dataset, "seeds": [0], "methods": methods}

    entries = [entry("iris", 1.0), entry("wine", 3.0), entry("hdma", 5.0, with_cvae=False)]
    both = option_priors(entries, "tables")["logistic"]
    assert both == {"class_weight": 2.0, "oversample": 4.0, "smote": 6.0, "cvae": 8.0}  # hdma: no cvae, left out
    assert option_priors(entries, "tables", exclude="wine")["logistic"]["cvae"] == 4.0
    assert option_priors(entries, "images") == {}


def test_compare_reports_names_every_difference_past_the_tolerance(tmp_path, capsys):
    """benchmarks/compare_reports.py: keys, words and booleans must match, numbers within the tolerance."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.compare_reports import main

    report = {"gate": {"decision": "promote", "promoted": True, "gain": 1.5, "options": {"cvae": {"gain": 2.0}}}}
    changed = json.loads(json.dumps(report))
    changed["gate"]["gain"] += 5e-7
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(report))
    second.write_text(json.dumps(changed))
    assert main([str(first), str(second)]) == 0
    changed["gate"] |= {"decision": "keep", "options": {"cvae": {"gain": 2.1}}, "extra": 1}
    second.write_text(json.dumps(changed))
    assert main([str(first), str(second)]) == 1
    said = capsys.readouterr().out
    assert "gate.decision: 'promote' then 'keep'" in said and "gate.options.cvae.gain: 2.0 then 2.1" in said
    assert "gate.extra: only in the second" in said
    assert main([str(first), str(second), "--tolerance", "0.2"]) == 1  # words differ at any tolerance


def test_calibration_replays_the_promotion_level_on_the_stored_parts():
    """benchmarks/gate_calibration.py's level table decides each cell again from its stored gain
    and noise at every level, as the gate does (promotion.Interval.bounds_at)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.gate_calibration import LEVELS, level_rows

    def cell(gain: float, true_f1: float) -> dict:
        brier = {"gain": gain, "row_se": 1.0, "repeat_sd": 0.0}
        return {"gate": {"promotion": {"by_metric": {"brier": brier}}}, "true": {"gain": true_f1}}

    # a gain of 1.2 standard errors clears the 87.5 % bound (z 1.15), not the 90 % one (z 1.28)
    rows = {r["one-sided level"].split()[0]: r for r in level_rows([cell(1.2, 2.0), cell(3.0, -1.0), cell(-1.0, 5.0)])}
    assert set(rows) == {f"{level:g}" for level in LEVELS}
    assert rows["0.875"]["true (true macro-F1 >= +1)"] == "1/2 (0.50)" and rows["0.9"]["promoted"] == "1/3"
    assert rows["0.875"]["false (true macro-F1 < 0)"] == rows["0.95"]["false (true macro-F1 < 0)"] == "1/1 (1.00)"


def test_meta_benchmark_writes_one_cell_per_run_and_skips_it_next_time(tmp_path):
    """One table, one shape, one seed without the CVAE: every option's held-out macro-F1 per judge,
    what the run saw (description and the gate's fold gains per judge), and a rerun that skips it."""
    args = [sys.executable, "benchmarks/meta.py", "--quick", "--tables", "iris", "--shapes", "rare"]
    args += ["--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0 and "0 failed" in first.stdout, first.stdout[-2000:] + first.stderr[-2000:]
    cell = json.loads((tmp_path / "iris__rare__s0.json").read_text())
    options = {"real_only", "class_weight", "oversample", "smote", "class_weight_half", "oversample_half", "smote_half"}
    assert set(cell["heldout_f1"]) == options and not cell["held_out"]
    assert all(set(v) == {"logistic", "forest", "boosting"} for v in cell["heldout_f1"].values())
    seen = cell["seen"]
    assert seen["smallest_class"] == 10 and seen["classes"] == 3 and seen["columns"] == {"numeric": 4}
    assert set(seen["gate"]) == {"logistic", "forest", "boosting"}
    menu = {"real_only", "class_weight", "oversample", "smote"}  # the half-way ones: on the test rows only
    assert set(seen["gate"]["forest"]["options"]) == menu and seen["gate"]["forest"]["eval_rows"] > 0
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert "1 done before, 0 to run" in again.stdout


def test_the_textbook_recipe_is_skipped_and_said_so_where_it_is_not_there(monkeypatch, tmp_path):
    """Where ../shared is not beside the project, the reference method reports why it did not run."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import imbalance

    monkeypatch.setattr(imbalance, "REFERENCE", tmp_path / "missing.py")
    data = imbalance.load_data("iris")
    extra = imbalance.textbook_cvae(imbalance.make_split(data, 0, 5), {})
    assert extra.skipped and "no reference recipe at" in extra.skipped and "TEXTBOOK_CVAE" in extra.skipped
