"""Where the gate's time goes, and what workers buy: pipeline.job's gate on one case, in its own process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_time.py wine6 --workers 1 --parts
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_time.py digits10 --workers 2

Cases: `wine6` is scikit-learn's wine with its third cultivar cut to its first 6 rows (136 rows,
59/71/6; the logistic judge); `digits10` is the demo's data (`augment run --data digits
--real-per-class 10 --per-class 50 --seed 0`: 100 images, the CNN judge). With --parts (one
worker only) the fold generators, the rows drawn and the judges are timed apart and counted.
Prints one JSON line: wall seconds of the gate, the recommendation and every option's gain (to
check that a change of workers or a cut leaves the answer as it was).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

CASES = {
    "wine6": {"per_class": 50, "label": "cultivar"},
    "digits10": {"per_class": 50, "source": "digits", "real_per_class": 10, "label": None},
}


def wine6(folder: Path) -> str:
    """wine with its third cultivar cut to 6 rows, as Parquet."""
    from pipeline.data.builtin import load_wine

    frame, label = load_wine()
    rare = frame[label].astype(str) == sorted(frame[label].astype(str).unique())[-1]
    keep = ~rare | (rare.cumsum() <= 6)
    path = folder / "wine6.parquet"
    frame[keep].reset_index(drop=True).to_parquet(path)
    return str(path)


def run(case: str, workers: int, parts: bool, seed: int) -> dict:
    import torch

    from pipeline import job
    from pipeline.config import RunConfig
    from pipeline.quality import crossfit, gate

    torch.set_num_threads(1)
    spec = CASES[case]
    with tempfile.TemporaryDirectory() as work:
        data = {"source": spec.get("source") or wine6(Path(work)), "real_per_class": spec.get("real_per_class")}
        data["label"] = spec["label"]
        config = RunConfig.model_validate(
            {
                "data": data,
                "sample": {"per_class": spec["per_class"]},
                "seed": seed,
                "quality": {"workers": workers},
            }
        )
        ref = job.stage_data(config, Path(work))
        seconds, counts = defaultdict(float), defaultdict(int)
        if parts:
            _time_parts(crossfit, gate, seconds, counts)
        start = time.perf_counter()
        section = job.evaluate_gate(config, ref)
        wall = time.perf_counter() - start
    out = {
        "case": case,
        "workers": workers,
        "seed": seed,
        "gate_s": round(wall, 2),
        "repeats": section.repeats,
        "folds": section.folds,
        "recommendation": section.recommendation.method if section.recommendation is not None else None,
        "gains": {m: v.gain for m, v in section.options.items()},
        "promotion": section.decision,
    }
    if parts:
        out["parts_s"] = {k: round(v, 2) for k, v in seconds.items()}
        out["counts"] = dict(counts)
    return out


def _time_parts(crossfit, gate, seconds: dict, counts: dict) -> None:
    """Wrap the gate's parts (in-process, one worker) with timers and counters."""

    def timed(name, fn, key=None):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                label = name if key is None else f"{name}: {key(*args, **kwargs)}"
                seconds[label] += time.perf_counter() - start
                counts[label] += 1

        return wrapper

    crossfit._fit_fold_generator = timed(
        "fold generators", crossfit._fit_fold_generator, key=lambda task, factory, *a, **k: factory().kind
    )
    crossfit._generated_rows = timed("rows drawn", crossfit._generated_rows, key=lambda task, kind, *a, **k: kind)
    crossfit.fit_judge = timed("judge fits", crossfit.fit_judge, key=lambda kind, *a, **k: kind)
    gate.option_scores = timed("bootstrap (option_scores)", gate.option_scores)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", action="store_true", help="time the parts apart (one worker)")
    args = parser.parse_args()
    print(json.dumps(run(args.case, args.workers, args.parts, args.seed)))
