"""What the Dask engine costs the gate against the local process pool, on a small table.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/engine.py --repeats 2

Starts a two-worker distributed.LocalCluster (separate processes, one thread each) in a child
process, then runs `augment run` on benchmarks/gate_time.py's wine6 case (scikit-learn's wine
with its third cultivar cut to 6 rows: 136 rows, the logistic judge) with `--workers 2`,
alternately on the local process pool and with AUGMENT_DASK_ADDRESS pointing at the cluster,
`--repeats` times each. One artifacts home for all runs, and a first run without the gate (not
counted) that starts the local Prefect server and trains the generator: the runs after it
reuse the trained model, so they differ only in where the gate's fits run. The warm runner is
off (AUGMENT_RUNNER=0): every run is a fresh process, as a different engine would be anyway.

Then, in this process, what the engine itself costs: starting two local workers (or connecting
to the cluster), sending them the table and running 100 jobs that do nothing, `--repeats`
times each.

Prints one JSON line per run (the gate's wall seconds from summary.json, the whole command's,
and any console line with an error, a warning or Dask's own logging: there should be none)
and a last line that says whether every run's gate numbers were the same.
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

ROOT = Path(__file__).resolve().parents[1]
AUGMENT = Path(sys.executable).with_name("augment")
CLUSTER = """
import logging, sys
from distributed import LocalCluster
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as c:
    print(c.scheduler_address, flush=True)
    sys.stdin.read()  # until the benchmark closes it
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)  # a slow worker exit is killed: no news
"""
GATE_KEYS = ("options", "recommendation", "decision", "gain", "lower_bound", "promotion")
NOISE = ("Traceback", "ERROR", "WARNING", "distributed.")  # none of these belongs on a successful run's console


def run(home: Path, data: str, out: Path, engine: str | None, gate: bool = True) -> dict:
    """One `augment run` in its own process; its summary and the command's wall seconds."""
    env = os.environ | {"AUGMENT_HOME": str(home), "AUGMENT_RUNNER": "0", "OMP_NUM_THREADS": "1"}
    env.pop("AUGMENT_DASK_ADDRESS", None)
    if engine:
        env["AUGMENT_DASK_ADDRESS"] = engine
    args = [str(AUGMENT), "run", "--data", data, "--label", "cultivar", "--per-class", "50", "--seed", "0"]
    args += ["--workers", "2", "--out", str(out), "--gate" if gate else "--no-gate"]
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"augment run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    noisy = [line for line in (done.stdout + done.stderr).splitlines() if any(w in line for w in NOISE)]
    return {"summary": json.loads((out / "summary.json").read_text()), "command_s": round(wall, 1), "noisy": noisy}


def dispatch(data: str, engine: str | None, jobs: int = 100) -> float:
    """Seconds to start the engine's workers (or connect), send them the table once and run
    `jobs` jobs that do nothing: what the engine itself costs, without the fits."""
    import operator

    import pandas as pd

    from pipeline.quality.parallel import Workers

    frame = pd.read_parquet(data)
    start = time.perf_counter()
    with Workers(2, frame, address=engine) as pool:
        pool.map(operator.is_, range(jobs))
    return round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each engine (alternating)")
    parser.add_argument("--dispatch-only", action="store_true", help="only the 100 empty jobs, no `augment run`")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gate_time import wine6

    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"DASK_LOGGING__DISTRIBUTED": "warning", "OMP_NUM_THREADS": "1"},
    )
    try:
        address = cluster.stdout.readline().strip()
        if not address:
            raise SystemExit("the LocalCluster did not start")
        with tempfile.TemporaryDirectory(prefix="engine-bench-") as folder:
            work = Path(folder)
            data = wine6(work)
            gates = []
            if not args.dispatch_only:
                run(work / "home", data, work / "warm-up", None, gate=False)
            for repeat in range(0 if args.dispatch_only else args.repeats):
                for name, engine in (("local processes", None), ("dask LocalCluster", address)):
                    result = run(work / "home", data, work / f"{repeat}-{bool(engine)}", engine)
                    summary = result["summary"]
                    gates.append({k: summary["gate"].get(k) for k in GATE_KEYS})
                    line = {
                        "engine": name,
                        "repeat": repeat + 1,
                        "gate_s": summary["timings"]["gate"],
                        "command_s": result["command_s"],
                        "train": "reused" if "reused_from_run" in summary["train"] else "trained",
                        "console_noise": result["noisy"][:3],
                    }
                    print(json.dumps(line), flush=True)
            for repeat in range(args.repeats):
                for name, engine in (("local processes", None), ("dask LocalCluster", address)):
                    line = {"engine": name, "repeat": repeat + 1, "dispatch_100_empty_jobs_s": dispatch(data, engine)}
                    print(json.dumps(line), flush=True)
            same = all(json.dumps(g, sort_keys=True) == json.dumps(gates[0], sort_keys=True) for g in gates)
            print(json.dumps({"same_gate_numbers": same, "runs": len(gates)}))
    finally:
        if cluster.stdin:
            cluster.stdin.close()
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()


if __name__ == "__main__":
    main()
