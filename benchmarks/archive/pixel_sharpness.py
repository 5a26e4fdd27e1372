"""Are blurry samples what costs the downstream CNN? Decoded pixels sharpened, then measured.

The CVAE decodes each pixel as a Bernoulli mean, sigmoid(logit): strokes come out grey
where real MNIST strokes are near-black/white. This trains the default CVAE once per data
seed on k images per class, draws the same prior samples, decodes them as
sigmoid(sharpness * logit) for each sharpness, quantises to 8 bits as PNG does, keeps
the rows the quality filter accepts, and measures the downstream gain (product vs real
only, and product + classic vs classic) on a fixed real test set, as benchmarks/downstream.py does.

    .venv/bin/python benchmarks/pixel_sharpness.py                                  # mnist, k = 10, seeds 0 and 1

Tiny settings (a test runs this):

    .venv/bin/python benchmarks/pixel_sharpness.py --dataset digits --k 4 --seeds 1 --sharpness 1 3 \
        --train-arg target_steps=20 --quality-arg seeds=1 --quality-arg classifier_steps=20 --json /tmp/ps.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._results import machine, publish, settings  # noqa: E402
from benchmarks._splits import LowResourceSplit  # noqa: E402
from pipeline.config import ModelConfig, QualityConfig, TrainConfig  # noqa: E402
from pipeline.quality.downstream import downstream_gain  # noqa: E402
from pipeline.quality.fidelity import LabelJudge, SampleScorer  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.train import train_cvae  # noqa: E402


def run_seed(args, seed: int, train_cfg: TrainConfig, quality: QualityConfig) -> list[dict]:
    split = LowResourceSplit.make(args.dataset, args.k, seed, args.test_rows)
    codec, classes = split.codec, split.classes
    x, y = split.x(split.train), split.y(split.train)
    tx, ty = split.x(split.test), split.y(split.test)
    started = time.perf_counter()
    model = train_cvae(
        codec.encode(split.train[split.full.features]), y, codec, len(classes), ModelConfig(), train_cfg, seed=seed
    ).model.eval()
    train_s = time.perf_counter() - started
    scorer = SampleScorer(
        LabelJudge.fit(x, y, classes.names, seed=seed), x, y, quality.realism_quantile, quality.copy_quantile
    )
    labels = torch.arange(len(classes)).repeat_interleave(int(round(max(quality.ratios) * args.k)))
    with torch.no_grad():
        logits = model.sample(labels, 1.0, torch.Generator().manual_seed(seed + 1))
    rows = []
    for sharpness in args.sharpness:
        images = (torch.sigmoid(logits * sharpness) * 255).round().div(255).view(-1, *x.shape[1:])
        keep = torch.from_numpy(scorer.score(images, labels)["accepted"])
        row = {
            "dataset": args.dataset,
            "k": args.k,
            "seed": seed,
            "sharpness": sharpness,
            "accepted": int(keep.sum()),
            "generated": len(keep),
            "train_seconds": train_s,
        }
        for classic, name in ((False, "product"), (True, "product_classic")):
            gain = downstream_gain(
                x, y, images[keep], labels[keep], tx, ty, classes.names, quality, seed=seed, classic=classic
            )
            row[name + "_vs_base"] = gain.mean_gain
            row["classic" if classic else "real_only"] = statistics.fmean(gain.real_only)
        print(
            f"  {args.dataset} k={args.k} seed={seed} sharpness {sharpness:g}: product - real {row['product_vs_base']:+.3f}, "
            f"product + classic - classic {row['product_classic_vs_base']:+.3f} (accepted {row['accepted']}/{row['generated']})",
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| data set | k | seed | sharpness | accepted | product - real only | product + classic - classic |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['k']} | {r['seed']} | {r['sharpness']:g} | {r['accepted']}/{r['generated']} "
            f"| {r['product_vs_base']:+.3f} | {r['product_classic_vs_base']:+.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--sharpness", nargs="+", type=float, default=[1.0, 2.0, 4.0])
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--train-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--quality-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "pixel_sharpness.json"))
    args = parser.parse_args(argv)
    configure_threads(1)
    train_cfg = settings(TrainConfig, args.train_arg)
    quality = settings(QualityConfig, args.quality_arg)
    rows = [row for seed in range(args.seeds) for row in run_seed(args, seed, train_cfg, quality)]
    results = {
        "benchmark": "pixel_sharpness",
        "command": " ".join(["python", "benchmarks/pixel_sharpness.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "rows": rows,
    }
    return publish(results, markdown(rows), args.json)


if __name__ == "__main__":
    main()
