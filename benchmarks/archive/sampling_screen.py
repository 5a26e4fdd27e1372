"""Quick screen of sampling settings: one CVAE per (k, seed), many modes and temperatures.

Cheaper than benchmarks/downstream.py, and noisier: one classifier seed, no validation
choice of ratio and weight. For each setting, 3k rows per class are generated and scored;
the downstream classifier (small CNN without augmentation for images, logistic regression
for tables) is fit on real + the first r*k accepted rows per class (r = 1, 3) at weight w
(0.5, 1), and on real + all generated rows unfiltered (r = 3, w = 1). Reported: test
accuracy minus real-only; for images also classic minus real-only, and product + classic
(r = 1, w = 1) minus classic. The test set is the one benchmarks/downstream.py uses.

    .venv/bin/python benchmarks/sampling_screen.py --dataset digits --k 5 10 20
    .venv/bin/python benchmarks/sampling_screen.py --dataset iris --k 4 --train-arg target_steps=20 --json /tmp/s.json  # tiny
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._results import publish  # noqa: E402
from pipeline.bundle import GeneratorBundle  # noqa: E402
from pipeline.config import DataSpec, ModelConfig, TrainConfig  # noqa: E402
from pipeline.data.codec import ClassIndex, fit_codec  # noqa: E402
from pipeline.data.sources import load_real, subsample_per_class  # noqa: E402
from pipeline.generate import generate_frames  # noqa: E402
from pipeline.quality.classifier import fit_cnn, fit_table_classifier  # noqa: E402
from pipeline.quality.evaluate import accepted_samples  # noqa: E402
from pipeline.quality.fidelity import LabelJudge, SampleScorer  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.train import train_cvae  # noqa: E402

SETTINGS = [
    ("prior", 1.0),
    ("variations", 1.0),
    ("variations", 2.0),
    ("variations", 3.0),
    ("variations", 5.0),
    ("interpolate", 1.0),
]


def screen(dataset: str, k: int, seed: int, settings: list[tuple[str, float]], train_cfg: TrainConfig) -> list[dict]:
    full = load_real(DataSpec(source=dataset))
    codec = fit_codec(full.frame[full.features], full.image_column)
    classes = ClassIndex.fit(full.frame[full.label])
    n_classes = len(classes)
    train = subsample_per_class(full.frame, full.label, k, seed)
    test = subsample_per_class(full.frame.drop(index=train.index), full.label, max(1, 1000 // n_classes), seed)
    x, y = codec.encode(train[full.features]).x, classes.encode(train[full.label])
    tx, ty = codec.encode(test[full.features]).x, classes.encode(test[full.label])
    result = train_cvae(codec.encode(train[full.features]), y, codec, n_classes, ModelConfig(), train_cfg, seed=seed)
    bundle = GeneratorBundle(result.model, codec, classes, full.label, {}, {}, list(train.columns))
    scorer = SampleScorer(LabelJudge.fit(x, y, classes.names, seed=seed), x, y, 0.05, 0.01)

    def acc(xx, yy, w=None, augment=False) -> float:
        if xx.dim() == 4:
            clf = fit_cnn(xx, yy, n_classes, seed=seed, steps=300, weight=w, augment=augment)
        else:
            clf = fit_table_classifier(xx, yy, n_classes, seed=seed, weight=w)
        return float((clf.predict_proba(tx).argmax(1) == ty.numpy()).mean())

    def plus(sx, sy, weight, augment=False) -> float:
        w = torch.cat([torch.ones(len(x)), torch.full((len(sx),), weight)])
        return acc(torch.cat([x, sx]), torch.cat([y, sy]), w, augment)

    base = acc(x, y)
    base_classic = acc(x, y, augment=True) if x.dim() == 4 else None
    rows = []
    want = {c: 3 * k for c in classes.names}
    for mode, temperature in settings:
        sx, sy, _ = accepted_samples(bundle, scorer, want, seed + 1, temperature, mode=mode)
        every = pd.concat(generate_frames(bundle, want, seed + 1, temperature, mode=mode))
        ax, ay = codec.encode(every[full.features]).x, classes.encode(every[full.label])
        row = {
            "dataset": dataset,
            "k": k,
            "seed": seed,
            "mode": mode,
            "temperature": temperature,
            "accepted": len(sx),
            "generated": len(ax),
            "real_only": base,
        }
        for ratio in (1, 3):
            idx = torch.cat([torch.nonzero(sy == c).flatten()[: ratio * k] for c in range(n_classes)])
            for weight in (0.5, 1.0):
                row[f"r{ratio}_w{weight}"] = plus(sx[idx], sy[idx], weight) - base
        row["unfiltered_r3_w1.0"] = plus(ax, ay, 1.0) - base
        if base_classic is not None:
            idx = torch.cat([torch.nonzero(sy == c).flatten()[:k] for c in range(n_classes)])
            row["classic"] = base_classic - base
            row["both_r1_w1.0"] = plus(sx[idx], sy[idx], 1.0, augment=True) - base_classic
        print(
            json.dumps({a: round(b, 3) if isinstance(b, float) else b for a, b in row.items()}),
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    keys = [key for key in rows[0] if key.startswith(("r1", "r3", "unfiltered", "classic", "both"))] if rows else []
    lines = ["| k | seed | mode | temperature | accepted | " + " | ".join(keys) + " |", "|---" * (5 + len(keys)) + "|"]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['seed']} | {r['mode']} | {r['temperature']:g} | {r['accepted']}/{r['generated']} | "
            + " | ".join(f"{r[key]:+.3f}" for key in keys)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--k", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--train-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "sampling_screen.json"))
    args = parser.parse_args(argv)
    configure_threads(1)
    train_cfg = TrainConfig(**{key: json.loads(value) for key, value in (a.split("=", 1) for a in args.train_arg)})
    rows = [r for k in args.k for seed in range(args.seeds) for r in screen(args.dataset, k, seed, SETTINGS, train_cfg)]
    results = {
        "benchmark": "sampling_screen",
        "command": " ".join(["python", "benchmarks/sampling_screen.py", *(argv or sys.argv[1:])]),
        "settings": SETTINGS,
        "rows": rows,
    }
    return publish(results, markdown(rows), args.json)


if __name__ == "__main__":
    main()
