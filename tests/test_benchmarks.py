"""Each benchmark script runs end to end on tiny settings (the numbers live in BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], out: Path) -> dict:
    result = subprocess.run([sys.executable, *args, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_train_throughput_tiny(tmp_path):
    data = _run(["benchmarks/train_throughput.py", "--datasets", "digits", "--epochs-digits", "1", "--repeats", "1",
                 "--shipped-repeats", "0", "--limit", "256"], tmp_path / "tp.json")
    digits = data["datasets"][0]
    assert digits["product_runs"][0]["samples_per_s"] > 0 and digits["bare_runs"][0]["samples_per_s"] > 0


def test_label_following_tiny(tmp_path):
    data = _run(["benchmarks/label_following.py", "--datasets", "digits", "--k", "4", "--per-class", "5", "--ref-steps", "20",
                 "--train-arg", "target_steps=20", "--train-arg", "min_epochs=1", "--no-ref-cache"], tmp_path / "lf.json")
    assert 0.0 <= data["datasets"][0]["follows_label_overall"] <= 1.0


def test_downstream_tiny(tmp_path):
    data = _run(["benchmarks/downstream.py", "--datasets", "iris", "--k", "4", "--seeds", "1", "--train-arg", "target_steps=20",
                 "--quality-arg", "seeds=1"], tmp_path / "d.json")
    row = data["rows"][0]
    assert row["dataset"] == "iris" and 0 <= row["real_only"] <= 1 and 0 <= row["product"] <= 1


def test_generation_throughput_tiny(tmp_path):
    data = _run(["benchmarks/generation_throughput.py", "--tiny", "--table-rows", "300", "--image-rows", "60"], tmp_path / "gt.json")
    assert [d["modality"] for d in data["datasets"]] == ["table", "image"]
    for d in data["datasets"]:
        assert [r["stage"] for r in d["runs"]] == ["generate", "generate+score", "synthesize"]
        for r in d["runs"]:
            assert r["rows"] == r["rows_requested"] and r["rows_per_s"] > 0 and r["rss_peak_mib"] >= r["rss_before_mib"] > 0
        assert d["runs"][-1]["write_s"] > 0 and d["runs"][-1]["file_mib"] > 0


def test_end_to_end_tiny(tmp_path):
    data = _run(["benchmarks/end_to_end.py", "--datasets", "iris", "--per-class", "5", "--arg", "train.target_steps=20",
                 "--arg", "quality.evaluate=false"], tmp_path / "e2e.json")
    median = data["rows"][0]["median"]
    assert median["wall_s"] > median["flow_s"] > median["train"] > 0 and median["overhead_s"] > 0
    assert median["plots"] > 0 and median["generate_and_score"] > 0


def test_downstream_tiny_with_variations(tmp_path):
    data = _run(["benchmarks/downstream.py", "--datasets", "iris", "--k", "4", "--seeds", "1", "--train-arg", "target_steps=20",
                 "--quality-arg", "seeds=1", "--mode", "variations", "--temperature", "2"], tmp_path / "d.json")
    assert data["sample"] == {"mode": "variations", "temperature": 2.0} and 0 <= data["rows"][0]["product"] <= 1


def test_sampling_screen_tiny(tmp_path):
    data = _run(["benchmarks/sampling_screen.py", "--dataset", "iris", "--k", "4", "--train-arg", "target_steps=20"], tmp_path / "s.json")
    assert {(r["mode"], r["temperature"]) for r in data["rows"]} >= {("prior", 1.0), ("variations", 1.0), ("interpolate", 1.0)}
    assert all(0 <= r["accepted"] <= r["generated"] == 36 for r in data["rows"])
