"""What a whole run costs as the data grows: wall seconds and peak memory of `augment run`
(the gate on) against rows, columns, classes and images, with 1 and 2 gate workers.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cost_curves.py                 # every point, both worker counts
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cost_curves.py --axis rows --workers 2
    .venv/bin/python benchmarks/cost_curves.py --report                          # the table from what was measured
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cost_curves.py --probe 200000 50   # the run's own process

Each point is one `augment run` command in a fresh process (AUGMENT_RUNNER=0), on one artifacts
home whose local Prefect server a first small run has started, so a point pays what a second
run of a home pays: the imports and its own work. Tables are scikit-learn's make_classification
(balanced classes, 10 informative columns at most), 20 synthetic rows asked per class. Memory is
the peak of the summed proportional set size (PSS) of the command and its child processes
(the gate's workers), sampled every 0.5 s. Results append to benchmarks/results/cost_curves.jsonl (a point
already there is skipped: a stopped run resumes); --report writes cost_curves.md beside it.
--probe ROWS COLUMNS measures the run's own process on a large table (3 classes, `--no-gate
--epochs 1`: loading, one epoch, scoring, writing) and appends to cost_curves_probe.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "cost_curves.jsonl"
AUGMENT = str(Path(sys.executable).with_name("augment"))

# axis -> points; a point is the data's shape (tables) or the images taken per class
AXES: dict[str, list[dict]] = {
    "rows": [{"rows": n, "columns": 10, "classes": 3} for n in (100, 1_000, 5_000, 20_000, 50_000)],
    "columns": [{"rows": 1_000, "columns": d, "classes": 3} for d in (5, 20, 50, 200)],
    "classes": [{"rows": 40 * k, "columns": 10, "classes": k} for k in (2, 10, 30, 50)],
    "images": [{"images": "digits", "per_class": n} for n in (10, 50, 170)] + [{"images": "mnist", "per_class": 10}],
}


def point_key(axis: str, point: dict, workers: int) -> str:
    return json.dumps({"axis": axis, "workers": workers, **point}, sort_keys=True)


def make_table(point: dict, folder: Path) -> Path:
    """A balanced table of the point's shape, as CSV with a string label column `y`."""
    import pandas as pd
    from sklearn.datasets import make_classification

    informative = min(point["columns"], 10)
    x, y = make_classification(
        n_samples=point["rows"],
        n_features=point["columns"],
        n_informative=informative,
        n_redundant=0,
        n_classes=point["classes"],
        n_clusters_per_class=1,
        random_state=0,
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["y"] = [f"c{v}" for v in y]
    path = folder / f"table_{point['rows']}x{point['columns']}x{point['classes']}.csv"
    frame.to_csv(path, index=False)
    return path


def command_for(point: dict, folder: Path, workers: int, out: Path) -> list[str]:
    common = ["--per-class", "20", "--seed", "0", "--workers", str(workers), "--out", str(out)]
    if "images" in point:
        return [AUGMENT, "run", "--data", point["images"], "--real-per-class", str(point["per_class"]), *common]
    return [AUGMENT, "run", "--data", str(make_table(point, folder)), "--label", "y", *common]


def tree_memory(process: psutil.Process) -> int:
    """Proportional set size (PSS: a page shared by n processes counts 1/n in each) of a
    process and its descendants, in bytes: their memory together, each page counted once.
    Summed resident sizes would count the pages the gate's forked workers share with their
    parent once per process (1.3 GB too many with two workers). Gone processes count 0."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            pass
    return total


def measure(cmd: list[str], env: dict[str, str], log: Path) -> dict:
    """Wall seconds, peak summed memory (MB) and exit code of one command."""
    start = time.perf_counter()
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
        watched = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, tree_memory(watched))
            except psutil.Error:
                pass
            time.sleep(0.5)
    return {"seconds": round(time.perf_counter() - start, 1), "peak_mb": round(peak / 2**20), "rc": proc.returncode}


def warm_home(env: dict[str, str], folder: Path) -> None:
    """One small run, so the home's local Prefect server is up before the first point."""
    point = {"rows": 60, "columns": 5, "classes": 2}
    cmd = command_for(point, folder, 1, folder / "warm") + ["--no-gate"]
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=True)


def done_keys() -> set[str]:
    if not OUT.exists():
        return set()
    return {point_key(r["axis"], r["point"], r["workers"]) for r in map(json.loads, OUT.read_text().splitlines())}


def probe(rows: int, columns: int) -> None:
    """The run's own process on a large table, the gate and most training aside."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        env = os.environ | {"AUGMENT_HOME": str(folder / "home"), "AUGMENT_RUNNER": "0", "AUGMENT_THREADS": "1"}
        path = make_table({"rows": rows, "columns": columns, "classes": 3}, folder)
        cmd = [AUGMENT, "run", "--data", str(path), "--label", "y", "--per-class", "20", "--seed", "0"]
        cmd += ["--no-gate", "--epochs", "1", "--out", str(folder / "out")]
        record = {"rows": rows, "columns": columns, "file_mb": round(path.stat().st_size / 2**20)}
        record |= measure(cmd, env, folder / "log.txt")
    with open(RESULTS / "cost_curves_probe.jsonl", "a") as sink:
        sink.write(json.dumps(record) + "\n")
    print(json.dumps(record))


def run_points(axes: list[str], workers: list[int], first: int | None = None) -> None:
    done = done_keys()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        env = os.environ | {"AUGMENT_HOME": str(folder / "home"), "AUGMENT_RUNNER": "0", "AUGMENT_THREADS": "1"}
        warm_home(env, folder)
        for axis in axes:
            for point in AXES[axis][:first]:
                for w in workers:
                    if point_key(axis, point, w) in done:
                        continue
                    out = folder / f"out_{axis}_{w}_{len(done)}"
                    result = measure(command_for(point, folder, w, out), env, folder / "log.txt")
                    if result["rc"] != 0:
                        result["tail"] = (folder / "log.txt").read_text(errors="replace")[-600:]
                    record = {"axis": axis, "point": point, "workers": w, **result, "load": os.getloadavg()[0]}
                    with open(OUT, "a") as sink:
                        sink.write(json.dumps(record) + "\n")
                    done.add(point_key(axis, point, w))
                    print(json.dumps(record), flush=True)


def describe(point: dict) -> str:
    if "images" in point:
        return f"{point['images']}, {point['per_class']} per class"
    return f"{point['rows']:,} rows x {point['columns']} cols x {point['classes']} classes"


def report() -> str:
    rows = [json.loads(line) for line in OUT.read_text().splitlines()]
    lines = [
        "# Cost curves: one `augment run`, the gate on",
        "",
        "Made by benchmarks/cost_curves.py (see its docstring).",
        "",
    ]
    for axis in AXES:
        cells: dict[str, dict[int, dict]] = {describe(point): {} for point in AXES[axis]}  # the axis's order
        for r in rows:
            if r["axis"] == axis and describe(r["point"]) in cells:
                cells[describe(r["point"])][r["workers"]] = r
        cells = {name: by for name, by in cells.items() if by}
        if not cells:
            continue
        lines += [f"## {axis}", "", "| data | 1 worker: s | 1 worker: peak MB | 2 workers: s | 2 workers: peak MB |"]
        lines.append("|---|---:|---:|---:|---:|")
        for name, by in cells.items():
            row = [name]
            for w in (1, 2):
                r = by.get(w)
                if r is None:
                    row += ["-", "-"]
                    continue
                failed = "" if r["rc"] == 0 else f" (exit {r['rc']})"
                row += [f"{r['seconds']:.0f}{failed}", str(r["peak_mb"])]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--axis", choices=list(AXES), action="append", help="default: every axis")
    parser.add_argument("--workers", type=int, action="append", help="default: 1 and 2")
    parser.add_argument("--first", type=int, help="only the first N points of each axis")
    parser.add_argument("--probe", type=int, nargs=2, metavar=("ROWS", "COLUMNS"), help="a large table, no gate")
    parser.add_argument("--report", action="store_true", help="write results/cost_curves.md from the measurements")
    args = parser.parse_args()
    if args.probe:
        probe(*args.probe)
        return
    if args.report:
        (RESULTS / "cost_curves.md").write_text(report())
        print(report())
        return
    run_points(args.axis or list(AXES), args.workers or [1, 2], args.first)


if __name__ == "__main__":
    main()
