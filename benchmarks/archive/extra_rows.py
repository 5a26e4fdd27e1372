"""What are extra labelled rows worth to the downstream classifier? The ceiling for augmentation.

Every usefulness benchmark adds rows to k real rows per class and measures the change on a
fixed real test set. This one adds the same number of rows per class from four sources,
so the product's rows can be read against what better rows would buy:

- `real`: more real rows of the pool (neither training nor test), with their true labels:
  the ceiling, what collecting more data would give;
- `pseudo`: the pool rows the label judge (fit on the k rows) is most confident about, with
  the judge's labels: self-training on unlabelled rows, the rows a confidence filter keeps;
- `pseudo_spread`: random pool rows among those the judge gives at least 0.9 to one label,
  with that label: less typical rows than `pseudo`, at some cost in label precision;
- `prior`, `warp`: the product's accepted rows in those two sampling modes.

The number of added rows per real row and their weight are fixed (`--ratio`, weight 1) so
the sources differ only in their rows. Downstream classifier and seeds as in downstream.py.

    .venv/bin/python benchmarks/extra_rows.py                                    # mnist, k = 5 10 20, seed 0

Tiny settings (a test runs this):

    .venv/bin/python benchmarks/extra_rows.py --dataset digits --k 4 --seeds 1 --train-arg target_steps=20 \\
        --quality-arg seeds=1 --quality-arg classifier_steps=20 --json /tmp/er.json
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
from pipeline.bundle import GeneratorBundle  # noqa: E402
from pipeline.config import ModelConfig, QualityConfig, TrainConfig  # noqa: E402
from pipeline.quality.downstream import downstream_gain  # noqa: E402
from pipeline.quality.evaluate import accepted_samples  # noqa: E402
from pipeline.quality.fidelity import LabelJudge, SampleScorer  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.train import train_cvae  # noqa: E402

SOURCES = ("real", "pseudo", "pseudo_spread", "prior", "warp")
SPREAD_CONFIDENCE = 0.9


def _first_per_class(y: torch.Tensor, n: int, order: torch.Tensor, classes: int) -> torch.Tensor:
    """Indices of the first n rows of each class, in `order`."""
    return torch.cat([order[y[order] == c][:n] for c in range(classes)])


def run_one(args, k: int, seed: int, train_cfg: TrainConfig, quality: QualityConfig) -> list[dict]:
    split = LowResourceSplit.make(args.dataset, k, seed, args.test_rows)
    classes = len(split.classes)
    x, y = split.x(split.train), split.y(split.train)
    tx, ty = split.x(split.test), split.y(split.test)
    px, py = split.x(split.pool), split.y(split.pool)
    n = int(round(args.ratio * k))
    judge = LabelJudge.fit(x, y, split.classes.names, seed=seed)
    added: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    gen = torch.Generator().manual_seed(seed)
    real = _first_per_class(py, n, torch.randperm(len(py), generator=gen), classes)
    added["real"] = px[real], py[real]
    confidence, guess = torch.as_tensor(judge.classifier.predict_proba(px)).max(1)
    pseudo = _first_per_class(guess, n, confidence.argsort(descending=True), classes)
    added["pseudo"] = px[pseudo], guess[pseudo]
    sure = torch.nonzero(confidence >= SPREAD_CONFIDENCE).flatten()
    spread = _first_per_class(guess, n, sure[torch.randperm(len(sure), generator=gen)], classes)
    added["pseudo_spread"] = px[spread], guess[spread]
    precision = {
        "real": 1.0,
        "pseudo": float((guess[pseudo] == py[pseudo]).float().mean()) if len(pseudo) else float("nan"),
        "pseudo_spread": float((guess[spread] == py[spread]).float().mean()) if len(spread) else float("nan"),
    }
    modes = [m for m in (("prior", "warp") if x.dim() == 4 else ("prior",)) if m in args.sources]
    started = time.perf_counter()
    if modes:  # the product: train once, sample in each mode, keep the accepted rows
        result = train_cvae(
            split.codec.encode(split.train[split.full.features]),
            y,
            split.codec,
            classes,
            ModelConfig(),
            train_cfg,
            seed=seed,
        )
        bundle = GeneratorBundle(
            result.model, split.codec, split.classes, split.full.label, {}, {}, list(split.train.columns)
        )
        scorer = SampleScorer(judge, x, y, quality.realism_quantile, quality.copy_quantile)
        for mode in modes:
            added[mode] = accepted_samples(bundle, scorer, {c: n for c in split.classes.names}, seed + 1, mode=mode)[:2]
    train_seconds = time.perf_counter() - started
    fixed = quality.model_copy(update={"ratios": [args.ratio], "weights": [1.0]})
    rows = []
    for source, (sx, sy) in added.items():
        if source not in args.sources:
            continue
        row = {
            "dataset": args.dataset,
            "k": k,
            "seed": seed,
            "source": source,
            "added": len(sx),
            "label_precision": precision.get(source),
            "train_seconds": train_seconds,
        }
        for classic in (False, True) if x.dim() == 4 else (False,):
            gain = downstream_gain(x, y, sx, sy, tx, ty, split.classes.names, fixed, seed=seed, classic=classic)
            row["classic_base" if classic else "real_only"] = statistics.fmean(gain.real_only)
            row["gain_with_classic" if classic else "gain"] = gain.mean_gain
        print(
            f"  {args.dataset} k={k} seed={seed} {source:6s} +{len(sx)} rows: {row['gain']:+.3f}"
            + (f", with classic {row['gain_with_classic']:+.3f}" if "gain_with_classic" in row else ""),
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| data set | k | seed | added rows from | rows | label precision | gain vs real only | gain vs classic (+ classic) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        precision = "-" if r["label_precision"] is None else f"{r['label_precision']:.3f}"
        classic = f"{r['gain_with_classic']:+.3f}" if "gain_with_classic" in r else "-"
        lines.append(
            f"| {r['dataset']} | {r['k']} | {r['seed']} | {r['source']} | {r['added']} | {precision} | {r['gain']:+.3f} | {classic} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--k", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    parser.add_argument("--ratio", type=float, default=3.0, help="added rows per real row")
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--train-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--quality-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "extra_rows.json"))
    args = parser.parse_args(argv)
    configure_threads(1)
    train_cfg = settings(TrainConfig, args.train_arg)
    quality = settings(QualityConfig, args.quality_arg)
    rows = [
        row
        for k in args.k
        for seed in range(args.first_seed, args.first_seed + args.seeds)
        for row in run_one(args, k, seed, train_cfg, quality)
    ]
    results = {
        "benchmark": "extra_rows",
        "command": " ".join(["python", "benchmarks/extra_rows.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "rows": rows,
    }
    return publish(results, markdown(rows), args.json)


if __name__ == "__main__":
    main()
