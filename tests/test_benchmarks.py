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


def test_downstream_tiny_with_variations(tmp_path):
    data = _run(["benchmarks/downstream.py", "--datasets", "iris", "--k", "4", "--seeds", "1", "--train-arg", "target_steps=20",
                 "--quality-arg", "seeds=1", "--mode", "variations", "--temperature", "2"], tmp_path / "d.json")
    assert data["sample"] == {"mode": "variations", "temperature": 2.0} and 0 <= data["rows"][0]["product"] <= 1


def test_sampling_screen_tiny(tmp_path):
    data = _run(["benchmarks/sampling_screen.py", "--dataset", "iris", "--k", "4", "--train-arg", "target_steps=20"], tmp_path / "s.json")
    assert {(r["mode"], r["temperature"]) for r in data["rows"]} >= {("prior", 1.0), ("variations", 1.0), ("interpolate", 1.0)}
    assert all(0 <= r["accepted"] <= r["generated"] == 36 for r in data["rows"])
