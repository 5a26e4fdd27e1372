"""Does the CVAE's classifier head learn from unlabelled rows (M2), and at which weight?

For each data set, k (labelled rows per class), data seed and classifier weight: train the
CVAE on the k labelled rows per class, with and without the rest of the data set (minus a
fixed test set) as unlabelled rows, and report the accuracy of the model's own classifier
head q(y|x) on the test rows. This is the measurement behind ModelConfig.classifier_weight's
default of 50 with unlabelled rows (docs/architecture.md, "Unlabelled rows").

    .venv/bin/python benchmarks/semi_supervised.py                          # digits, k = 10, weights 1 and 50

Tiny settings (a test runs this):

    .venv/bin/python benchmarks/semi_supervised.py --datasets iris --k 4 --weights 1 --train-arg target_steps=20 --json /tmp/s.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._results import machine, publish, settings  # noqa: E402
from benchmarks._splits import LowResourceSplit  # noqa: E402
from pipeline.config import ModelConfig, TrainConfig  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.train import train_cvae  # noqa: E402


def run_one(
    dataset: str, k: int, seed: int, weight: float, unlabelled: bool, train_cfg: TrainConfig, test_rows: int
) -> dict:
    split = LowResourceSplit.make(dataset, k, seed, test_rows)
    train, test, pool = split.train, split.test, split.pool
    started = time.perf_counter()
    result = train_cvae(
        split.codec.encode(train[split.full.features]),
        split.y(train),
        split.codec,
        len(split.classes),
        ModelConfig(classifier_weight=weight),
        train_cfg,
        seed=seed,
        unlabelled=split.codec.encode(pool[split.full.features]) if unlabelled and len(pool) else None,
    )
    with torch.no_grad():
        predicted = result.model.eval().classifier(split.x(test)).argmax(1)
    accuracy = float((predicted == split.y(test)).float().mean())
    row = {
        "dataset": dataset,
        "k": k,
        "seed": seed,
        "classifier_weight": weight,
        "unlabelled_rows": len(pool) if unlabelled else 0,
        "test_rows": len(test),
        "classifier_accuracy": accuracy,
        "train_seconds": time.perf_counter() - started,
    }
    print(
        f"  {dataset} k={k} seed={seed} weight={weight:g} unlabelled={row['unlabelled_rows']}: head accuracy {accuracy:.3f} "
        f"({row['train_seconds']:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| data set | k | seed | classifier weight | unlabelled rows | head accuracy on test rows | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['k']} | {r['seed']} | {r['classifier_weight']:g} | {r['unlabelled_rows']} "
            f"| {r['classifier_accuracy']:.3f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    parser.add_argument("--k", nargs="+", type=int, default=[10])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--weights", nargs="+", type=float, default=[1.0, 50.0])
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--train-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "semi_supervised.json"))
    args = parser.parse_args(argv)
    configure_threads(1)
    train_cfg = settings(TrainConfig, args.train_arg)
    rows = [
        run_one(d, k, seed, w, unl, train_cfg, args.test_rows)
        for d in args.datasets
        for k in args.k
        for seed in range(args.seeds)
        for w in args.weights
        for unl in (False, True)
    ]
    results = {
        "benchmark": "semi_supervised",
        "command": " ".join(["python", "benchmarks/semi_supervised.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "rows": rows,
    }
    return publish(results, markdown(rows), args.json)


if __name__ == "__main__":
    main()
