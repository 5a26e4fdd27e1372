"""Downstream usefulness: real-only vs classic augmentation vs this product, on a fixed real test set.

For each data set, k (real rows per class) and seed: k rows per class are the training
rows; every other real row of the built-in set (at most --test-rows, stratified) is the
test set the generator never sees. The product trains its CVAE on the k rows, generates and
scores synthetic rows against them, keeps the accepted ones, chooses the number of
synthetic rows per real row and their weight on a validation split of the k rows, and
trains the downstream classifier (small CNN for images, logistic regression for tables) on
real + synthetic. Reported: test accuracy (mean over classifier seeds) of real-only,
classic augmentation (random affine views, images only), product, product + classic, and
the paired difference to real-only.

    .venv/bin/python benchmarks/downstream.py                                   # tables + digits
    .venv/bin/python benchmarks/downstream.py --datasets mnist --k 5 10 20      # slower (conv CVAE)

Tiny settings (a test runs this):

    .venv/bin/python benchmarks/downstream.py --datasets iris --k 4 --seeds 1 --train-arg target_steps=20 --json /tmp/d.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._results import machine, publish, settings  # noqa: E402
from benchmarks._splits import LowResourceSplit  # noqa: E402
from pipeline.bundle import GeneratorBundle  # noqa: E402
from pipeline.config import ModelConfig, QualityConfig, TrainConfig  # noqa: E402
from pipeline.data.sources import subsample_per_class  # noqa: E402
from pipeline.generate import generate_frames  # noqa: E402
from pipeline.quality.downstream import downstream_gain  # noqa: E402
from pipeline.quality.evaluate import accepted_rows  # noqa: E402
from pipeline.quality.fidelity import LabelJudge, SampleScorer  # noqa: E402
from pipeline.quality.pseudo_labels import pseudo_label_frames  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.train import train_cvae  # noqa: E402

TABLES = ["iris", "wine", "breast_cancer", "penguins"]


def run_one(
    dataset: str,
    k: int,
    seed: int,
    args,
    train_cfg: TrainConfig,
    quality: QualityConfig,
    model_cfg: ModelConfig = ModelConfig(),
) -> dict:
    split = LowResourceSplit.make(dataset, k, seed, args.test_rows)
    full, codec, classes, train = split.full, split.codec, split.classes, split.train
    x, y = split.x(train), split.y(train)
    tx, ty = split.x(split.test), split.y(split.test)
    t0 = time.perf_counter()
    # --unlabelled N: up to N rows per class of the rest (not the test rows) join training without their labels (M2)
    pool, unlabelled = split.pool, None
    if args.unlabelled:
        pool = subsample_per_class(pool, full.label, args.unlabelled, seed) if len(pool) else pool
        unlabelled = codec.encode(pool[full.features])
    judge = LabelJudge.fit(x, y, classes.names, seed=seed)
    scorer = SampleScorer(judge, x, y, quality.realism_quantile, quality.copy_quantile)
    want = {c: int(round(max(quality.ratios) * k)) for c in classes.names}
    if args.mode == "pseudo_label":  # the pool rows themselves, labelled by the judge: no generator to train
        if unlabelled is None:
            raise SystemExit("--mode pseudo_label needs --unlabelled N")

        def rows():
            return pseudo_label_frames(pool, full.features, full.label, codec, classes, judge, want, seed + 1)

        sx, sy, generated = accepted_rows(rows(), codec, classes, full.label, scorer)
    else:
        result = train_cvae(
            codec.encode(train[full.features]),
            y,
            codec,
            len(classes),
            model_cfg,
            train_cfg,
            seed=seed,
            unlabelled=unlabelled,
        )
        bundle = GeneratorBundle(result.model, codec, classes, full.label, {}, {}, list(train.columns))

        def rows():
            return generate_frames(bundle, want, seed + 1, args.temperature, mode=args.mode)

        sx, sy, generated = accepted_rows(rows(), codec, classes, full.label, scorer)
    generator_seconds = time.perf_counter() - t0
    plain = downstream_gain(x, y, sx, sy, tx, ty, classes.names, quality, seed=seed, classic=False)
    row = {
        "dataset": dataset,
        "k": k,
        "seed": seed,
        "test_rows": len(tx),
        "unlabelled_rows": 0 if unlabelled is None else len(unlabelled.x),
        "accepted": len(sx),
        "generated": generated,
        "generator_seconds": generator_seconds,
        "real_only": statistics.fmean(plain.real_only),
        "product": statistics.fmean(plain.augmented),
        "ratio": plain.ratio,
        "weight": plain.weight,
        "real_only_f1": statistics.fmean(plain.real_only_f1),
        "product_f1": statistics.fmean(plain.augmented_f1),
    }
    if args.unfiltered:  # the same generated rows, all of them: what the quality filter changes
        ux, uy, _ = accepted_rows(rows(), codec, classes, full.label, None)
        every = downstream_gain(x, y, ux, uy, tx, ty, classes.names, quality, seed=seed, classic=False)
        row |= {
            "product_unfiltered": statistics.fmean(every.augmented),
            "product_unfiltered_f1": statistics.fmean(every.augmented_f1),
        }
    if x.dim() == 4:
        classic = downstream_gain(x, y, sx, sy, tx, ty, classes.names, quality, seed=seed, classic=True)
        row |= {
            "classic": statistics.fmean(classic.real_only),
            "product_classic": statistics.fmean(classic.augmented),
            "classic_f1": statistics.fmean(classic.real_only_f1),
            "product_classic_f1": statistics.fmean(classic.augmented_f1),
        }
    print(
        f"  {dataset} k={k} seed={seed}: real {row['real_only']:.3f} product {row['product']:.3f}"
        + (f" classic {row['classic']:.3f} both {row['product_classic']:.3f}" if "classic" in row else "")
        + f" (accepted {len(sx)}/{generated}, {generator_seconds:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    return row


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for key in sorted({(r["dataset"], r["k"]) for r in rows}, key=lambda t: (t[0], t[1])):
        group = [r for r in rows if (r["dataset"], r["k"]) == key]
        entry = {"dataset": key[0], "k": key[1], "seeds": len(group)}
        for method in (
            "real_only",
            "classic",
            "product",
            "product_classic",
            "product_unfiltered",
            "real_only_f1",
            "classic_f1",
            "product_f1",
            "product_classic_f1",
            "product_unfiltered_f1",
        ):
            values = [r[method] for r in group if method in r]
            if values:
                entry[method] = statistics.fmean(values)
                entry[f"{method}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
                base = "real_only_f1" if method.endswith("_f1") else "real_only"
                entry[f"{method}_diff"] = statistics.fmean(r[method] - r[base] for r in group if method in r)
        out.append(entry)
    return out


def markdown(summary: list[dict]) -> str:
    lines = []
    fmt = lambda e, m: f"{e[m]:.3f} ± {e[m + '_std']:.3f}" if m in e else "-"  # noqa: E731
    for title, suffix in (("accuracy", ""), ("macro-F1", "_f1")):
        lines += [
            f"{title}:",
            "",
            "| data set | k | seeds | real only | classic | product | product + classic | product unfiltered "
            "| product - real |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for e in summary:
            if f"product{suffix}" not in e:
                continue
            lines.append(
                f"| {e['dataset']} | {e['k']} | {e['seeds']} | {fmt(e, 'real_only' + suffix)} | {fmt(e, 'classic' + suffix)} "
                f"| {fmt(e, 'product' + suffix)} | {fmt(e, 'product_classic' + suffix)} "
                f"| {fmt(e, 'product_unfiltered' + suffix)} | {e['product' + suffix + '_diff']:+.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", *TABLES])
    parser.add_argument(
        "--k", nargs="+", type=int, default=None, help="default: 5 10 20 for images, 5 10 25 for tables"
    )
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="data seeds are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--unfiltered", action="store_true", help="also measure every generated row, unfiltered")
    parser.add_argument(
        "--mode",
        default="prior",
        choices=["prior", "variations", "interpolate", "warp", "pseudo_label"],
        help="sampling mode",
    )
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--train-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--quality-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--unlabelled",
        type=int,
        default=0,
        metavar="N",
        help="also train the CVAE on up to N unlabelled rows per class of the rows outside train and test (M2)",
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "downstream.json"))
    args = parser.parse_args(argv)
    configure_threads(1)
    train_cfg = settings(TrainConfig, args.train_arg)
    quality = settings(QualityConfig, args.quality_arg)
    model_cfg = settings(ModelConfig, args.model_arg)
    started, rows = time.perf_counter(), []
    for dataset in args.datasets:
        ks = args.k or ([5, 10, 20] if dataset in ("digits", "mnist") else [5, 10, 25])
        for k in ks:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                rows.append(run_one(dataset, k, seed, args, train_cfg, quality, model_cfg))
    summary = summarise(rows)
    results = {
        "benchmark": "downstream",
        "command": " ".join(["python", "benchmarks/downstream.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "quality_config": quality.model_dump(),
        "model_config": model_cfg.model_dump(),
        "unlabelled_per_class": args.unlabelled,
        "sample": {"mode": args.mode, "temperature": args.temperature},
        "rows": rows,
        "summary": summary,
        "total_seconds": time.perf_counter() - started,
    }
    return publish(results, markdown(summary), args.json)


if __name__ == "__main__":
    main()
