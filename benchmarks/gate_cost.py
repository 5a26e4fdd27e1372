"""What the gate costs on one table: pipeline.job.evaluate_gate's wall seconds, in its own process.

Run it from two checkouts in turn to compare versions side by side (the code on PYTHONPATH is
what is timed), e.g. 0.4.1 against 0.5:

    for i in 1 2 3; do for d in ../augment-0.4.1 .; do
        (cd $d && PYTHONPATH=. OMP_NUM_THREADS=1 ../augment/.venv/bin/python ../augment/benchmarks/gate_cost.py wine 10)
    done; done
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(source: str, real_per_class: int, per_class: int = 200) -> dict:
    from pipeline import __version__, job
    from pipeline.config import RunConfig

    torch.set_num_threads(1)
    config = RunConfig.model_validate(
        {"data": {"source": source, "real_per_class": real_per_class}, "sample": {"per_class": per_class}, "seed": 0}
    )
    with tempfile.TemporaryDirectory() as work:
        data = job.stage_data(config, Path(work))
        start = time.perf_counter()
        gate = job.evaluate_gate(config, data)
        seconds = time.perf_counter() - start
    measured = len(gate.options) or len(gate.baselines) + 2
    return {
        "version": __version__,
        "data": source,
        "k": real_per_class,
        "gate_s": round(seconds, 2),
        "options": measured,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
