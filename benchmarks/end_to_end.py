"""End-to-end `augment run` wall time per built-in data set, broken down by stage.

Each run is a fresh `augment run` command on the embedded default (the home's local Prefect
server, MLflow on SQLite), as a user would start it. The stages come from the run's
summary.json (`timings`, wall seconds measured inside the flow); "fixed overhead" is the
command's wall time minus the flow's own time: Python and library imports (none where the
warm runner serves it), the local server's start, flow-run bookkeeping.

With `--runner on` (default) the first run leaves the home's warm runner behind and every
later run waits, untimed, until it is ready, as a user's next command a little later finds
it; `--runner off` sets AUGMENT_RUNNER=0: every run imports everything itself.

    .venv/bin/python benchmarks/end_to_end.py                       # every built-in, k = 10
    .venv/bin/python benchmarks/end_to_end.py --datasets digits iris --repeats 3

Tiny settings (a test): --datasets iris --per-class 5 --arg train.target_steps=20 --arg quality.evaluate=false
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["load_data", "train", "register", "gate", "synthesize", "plots"]


def _wait_for_runner(home: Path, timeout: float = 120.0) -> None:
    """Until the warm runner a previous run left is ready (nothing to wait for before the first)."""
    from flows import runner_state

    deadline = time.monotonic() + timeout
    while (state := runner_state.status(home)) is not None and not state["ready"] and time.monotonic() < deadline:
        time.sleep(0.5)


def run_once(
    dataset: str, k: int, per_class: int, seed: int, extra: list[str], home: Path, runner: bool = True
) -> dict:
    out = home / "runs" / f"{dataset}-{seed}-{time.monotonic_ns()}"
    config = _config(dataset, k, per_class, seed, extra, out)
    cfg_path = home / f"{dataset}.json"
    cfg_path.write_text(json.dumps(config))
    env = os.environ | {
        "AUGMENT_HOME": str(home),
        "AUGMENT_THREADS": os.environ.get("AUGMENT_THREADS", "1"),
        "AUGMENT_RUNNER": "1" if runner else "0",
    }
    if runner:
        _wait_for_runner(home)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "augment"), "run", "--data", dataset, "--config", str(cfg_path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{dataset}: augment run failed\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"wall_s": wall, "flow_s": summary["seconds"], "overhead_s": wall - summary["seconds"], **summary["timings"]}


def _config(dataset: str, k: int, per_class: int, seed: int, extra: list[str], out: Path) -> dict:
    """A full RunConfig as JSON: `augment run --config` takes everything from it."""
    config: dict = {
        "data": {"source": dataset, "real_per_class": k},
        "sample": {"per_class": per_class},
        "seed": seed,
        "out_dir": str(out),
        "train": {"reuse": False},
    }
    for item in extra:
        key, _, value = item.partition("=")
        section, _, field = key.partition(".")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        config.setdefault(section, {})[field] = parsed
    return config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["digits", "iris", "wine", "breast_cancer", "penguins", "mnist"]
    )
    parser.add_argument("--k", type=int, default=10, help="real rows per class")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--arg", action="append", default=[], metavar="SECTION.KEY=VALUE", help="e.g. quality.evaluate=false"
    )
    parser.add_argument("--runner", choices=["on", "off"], default="on", help="the warm runner (AUGMENT_RUNNER)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "end_to_end.json"))
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="augment-e2e-") as tmp:
        home = Path(tmp)
        try:  # the first run starts the home's local Prefect server, the later ones reuse it
            for dataset in args.datasets:
                runs = [
                    run_once(dataset, args.k, args.per_class, seed, args.arg, home, args.runner == "on")
                    for seed in range(args.repeats)
                ]
                median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                rows.append(
                    {"dataset": dataset, "k": args.k, "per_class": args.per_class, "runs": runs, "median": median}
                )
                print(f"{dataset}: {median['wall_s']:.1f} s", file=sys.stderr)
        finally:
            from flows import local_server, runner_state

            runner_state.stop(home)
            local_server.stop(home)
    head = "| data set | wall | fixed overhead | " + " | ".join(STAGES) + " |"
    lines = [head, "|" + "---|" * (len(STAGES) + 3)]
    for row in rows:
        m = row["median"]
        lines.append(
            f"| {row['dataset']} | {m['wall_s']:.1f} | {m['overhead_s']:.1f} | "
            + " | ".join(f"{m.get(s, 0):.1f}" for s in STAGES)
            + " |"
        )
    results = {
        "machine": {"cores": os.cpu_count(), "load_before": os.getloadavg()[0]},
        "settings": vars(args),
        "rows": rows,
    }
    return publish(results, "\n".join(lines), args.json)


if __name__ == "__main__":
    main()
