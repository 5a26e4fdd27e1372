"""Label following: does a generated sample look like the class it was generated for?

For each data set and seed:

1. take k real rows per class (``DataSpec(source, real_per_class=k)`` + ``load_real``),
2. train the CVAE on them with ``pipeline.train.train_cvae`` (ModelConfig/TrainConfig defaults
   unless overridden by the flags below),
3. generate ``--per-class`` samples per class with ``pipeline.generate.generate_frames`` from an
   in-memory ``GeneratorBundle``, and encode them back (``codec.encode(frame).x``, PNG round trip
   included, as the product writes them),
4. judge them with an INDEPENDENT reference CNN (``pipeline.quality.classifier.fit_cnn``) trained
   on the real rows of the full data set that are NOT among the k-per-class training rows.
   A stratified ``--ref-holdout`` share of those other rows is kept out of the reference CNN's
   training and used to report its accuracy, so the judge can be seen to be trustworthy.

Reported per class: the share of generated samples whose reference-CNN argmax equals the
intended label, and the reference CNN's accuracy on held-out real rows of that class; plus
the overall share. With several seeds, the mean over seeds.

Run (product settings, then the "plain CVAE" baseline):

    .venv/bin/python benchmarks/label_following.py
    .venv/bin/python benchmarks/label_following.py --prior standard --label-loss-weight 0 \
        --json benchmarks/results/label_following_plain_cvae.json

Tiny settings (seconds, e.g. from a test):

    .venv/bin/python benchmarks/label_following.py --datasets digits --k 4 --per-class 5 \
        --ref-steps 20 --train-arg target_steps=20 --train-arg min_epochs=1 --no-ref-cache \
        --json /tmp/lf.json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pipeline.quality.classifier as pclassifier  # noqa: E402
from benchmarks._results import pairs, publish  # noqa: E402
from pipeline.bundle import GeneratorBundle  # noqa: E402
from pipeline.config import DataSpec, ModelConfig, TrainConfig  # noqa: E402
from pipeline.data.codec import ClassIndex, fit_codec  # noqa: E402
from pipeline.data.sources import load_real, subsample_per_class  # noqa: E402
from pipeline.generate import generate_frames  # noqa: E402
from pipeline.quality.classifier import CNNClassifier, SmallCNN, fit_cnn  # noqa: E402
from pipeline.runtime import configure_threads, pick_device  # noqa: E402
from pipeline.train import stratified_split, train_cvae  # noqa: E402


def _image_bytes(frame: pd.DataFrame, column: str | None) -> list:
    if column is None:
        return frame.astype(str).values.tolist()
    return [v["bytes"] for v in frame[column]]


def training_rows(full, spec: DataSpec, seed: int):
    """The k-per-class rows via the product's own loader, and their index in the full frame."""
    real = load_real(spec, seed=seed)
    chosen = subsample_per_class(full.frame, full.label, spec.real_per_class, seed)
    same = real.frame[real.label].tolist() == chosen[full.label].tolist() and _image_bytes(
        real.frame, real.image_column
    ) == _image_bytes(chosen.reset_index(drop=True), full.image_column)
    if not same:
        raise RuntimeError("could not locate the k-per-class training rows inside the full data set")
    return real, chosen.index


def reference_cnn(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    seed: int,
    steps: int,
    holdout: float,
    cache_dir: Path | None,
    cache_key: str,
) -> tuple[CNNClassifier, dict, float]:
    """fit_cnn on the other real rows minus a stratified held-out share; (cnn, per-class acc, overall acc)."""
    gen = torch.Generator().manual_seed(seed)
    fit_idx, hold_idx = stratified_split(y, holdout, gen)
    cache = None if cache_dir is None else cache_dir / f"refcnn-{cache_key}.pt"
    t0 = time.perf_counter()
    if cache is not None and cache.exists():
        net = SmallCNN(x.shape[1], n_classes)
        net.load_state_dict(torch.load(cache, weights_only=True))
        cnn, cached = CNNClassifier(net.eval()), True
    else:
        cnn, cached = fit_cnn(x[fit_idx], y[fit_idx], n_classes, seed=seed, steps=steps), False
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(cnn.net.state_dict(), cache)
    pred = cnn.predict_proba(x[hold_idx]).argmax(1)
    truth = y[hold_idx].numpy()
    per_class = {int(c): float((pred[truth == c] == c).mean()) for c in np.unique(truth)}
    info = {
        "fit_rows": len(fit_idx),
        "holdout_rows": len(hold_idx),
        "seconds": time.perf_counter() - t0,
        "cached": cached,
    }
    return cnn, per_class, float((pred == truth).mean()), info


def run_one(
    dataset: str, full, seed: int, args, model_cfg: ModelConfig, train_cfg: TrainConfig, cache_dir: Path | None
) -> dict:
    spec = DataSpec(source=dataset, real_per_class=args.k)
    real, train_index = training_rows(full, spec, seed)
    features, label = real.features, real.label
    codec = fit_codec(real.frame[features], real.image_column)
    classes = ClassIndex.fit(real.frame[label])
    encoded, y = codec.encode(real.frame[features]), classes.encode(real.frame[label])

    t0 = time.perf_counter()
    result = train_cvae(encoded, y, codec, len(classes), model_cfg, train_cfg, seed=seed)
    train_s = time.perf_counter() - t0
    real_counts = {str(k): int(v) for k, v in real.frame[label].value_counts().sort_index().items()}
    bundle = GeneratorBundle(result.model, codec, classes, label, real_counts, {})

    t0 = time.perf_counter()
    xs, ys = [], []
    for frame in generate_frames(
        bundle, {c: args.per_class for c in classes.names}, seed, temperature=args.temperature
    ):
        xs.append(codec.encode(frame[features]).x)
        ys.append(classes.encode(frame[label]))
    x_gen, y_gen = torch.cat(xs), torch.cat(ys)
    gen_s = time.perf_counter() - t0

    other = full.frame.drop(index=train_index)
    x_other, y_other = codec.encode(other[features]).x, classes.encode(other[label])
    src = hashlib.sha256(Path(pclassifier.__file__).read_bytes()).hexdigest()[:12]
    rows = hashlib.sha256(np.asarray(sorted(train_index)).tobytes()).hexdigest()[:12]
    key = f"{dataset}-k{args.k}-seed{seed}-steps{args.ref_steps}-hold{args.ref_holdout}-{rows}-{src}"
    cnn, ref_per_class, ref_acc, ref_info = reference_cnn(
        x_other, y_other, len(classes), seed, args.ref_steps, args.ref_holdout, cache_dir, key
    )

    pred = cnn.predict_proba(x_gen).argmax(1)
    intended = y_gen.numpy()
    follows = {classes.names[c]: float((pred[intended == c] == c).mean()) for c in np.unique(intended)}
    return {
        "seed": seed,
        "train_rows": len(y),
        "other_rows": len(other),
        "cvae": {
            "arch": result.model.shape.arch,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch + 1,
            "stopped_early": result.stopped_early,
            "train_seconds": train_s,
            "samples_per_s": result.samples_per_s,
        },
        "generated": int(len(intended)),
        "generate_seconds": gen_s,
        "follows_label_per_class": follows,
        "follows_label_overall": float((pred == intended).mean()),
        "reference": {
            "heldout_accuracy_per_class": {classes.names[c]: a for c, a in ref_per_class.items()},
            "heldout_accuracy": ref_acc,
            "steps": args.ref_steps,
            **ref_info,
        },
    }


def summarise(dataset: str, runs: list[dict]) -> dict:
    names = list(runs[0]["follows_label_per_class"])
    mean = lambda vals: float(statistics.fmean(vals))  # noqa: E731
    return {
        "dataset": dataset,
        "seeds": [r["seed"] for r in runs],
        "arch": runs[0]["cvae"]["arch"],
        "train_rows": runs[0]["train_rows"],
        "other_rows": runs[0]["other_rows"],
        "per_class": {
            c: {
                "follows_label": mean([r["follows_label_per_class"][c] for r in runs]),
                "reference_heldout_accuracy": mean([r["reference"]["heldout_accuracy_per_class"][c] for r in runs]),
            }
            for c in names
        },
        "follows_label_overall": mean([r["follows_label_overall"] for r in runs]),
        "follows_label_overall_per_seed": [r["follows_label_overall"] for r in runs],
        "reference_heldout_accuracy": mean([r["reference"]["heldout_accuracy"] for r in runs]),
        "runs": runs,
    }


def markdown(results: dict) -> str:
    m, s = results["machine"], results["settings"]
    mc = s["model_config"]
    lines = [
        f"Machine: {m['cores']} cores, load average (1 min) {m['load_avg_1min']} at start / {results['load_avg_1min_end']} at end, "
        f"torch {m['torch']}, device {m['device']}, torch threads {m['torch_threads']}",
        "",
        f"Model: arch={mc['arch']}, prior={mc['prior']}, label_loss_weight={mc['label_loss_weight']}, latent_dim={mc['latent_dim']}, beta={mc['beta']}"
        + (f"; train overrides {s['train_overrides']}" if s["train_overrides"] else "; TrainConfig defaults")
        + f". k={s['k']} real rows per class, {s['per_class']} generated per class, seeds {s['seeds']}, "
        f"reference CNN fit_cnn steps={s['ref_steps']} on the other real rows ({s['ref_holdout']:.0%} held out for its accuracy).",
    ]
    for d in results["datasets"]:
        run0 = d["runs"][0]
        lines += [
            "",
            f"**{d['dataset']}** ({d['arch']}, {d['train_rows']} training rows; reference CNN on {run0['reference']['fit_rows']} other rows, "
            f"checked on {run0['reference']['holdout_rows']}; CVAE {run0['cvae']['epochs_run']} epochs in {run0['cvae']['train_seconds']:.0f} s"
            + (" (stopped early)" if run0["cvae"]["stopped_early"] else "")
            + ")",
            "",
            "| class | follows label | reference CNN held-out accuracy |",
            "|---|---|---|",
        ]
        for c, v in d["per_class"].items():
            lines.append(f"| {c} | {v['follows_label']:.1%} | {v['reference_heldout_accuracy']:.1%} |")
        seeds_txt = (
            ""
            if len(d["seeds"]) == 1
            else " (per seed: " + ", ".join(f"{v:.1%}" for v in d["follows_label_overall_per_seed"]) + ")"
        )
        lines.append(
            f"| **overall** | **{d['follows_label_overall']:.1%}**{seeds_txt} | {d['reference_heldout_accuracy']:.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "digits"], choices=["mnist", "digits"])
    p.add_argument("--k", type=int, default=10, help="real training rows per class (default 10)")
    p.add_argument("--per-class", type=int, default=100, help="generated samples per class (default 100)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds 0..N-1; results are the mean (default 1)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--ref-steps", type=int, default=1500, help="fit_cnn steps of the reference CNN (default 1500)")
    p.add_argument(
        "--ref-holdout", type=float, default=0.2, help="share of the other rows held out to check the reference CNN"
    )
    p.add_argument(
        "--ref-cache",
        default=str(ROOT / "benchmarks" / "results" / "cache"),
        help="folder to reuse reference CNNs between runs (keyed by data, k, seed, steps, rows, classifier source)",
    )
    p.add_argument("--no-ref-cache", action="store_true")
    g = p.add_argument_group("ModelConfig overrides (ablations)")
    g.add_argument("--arch", choices=["auto", "mlp", "conv"])
    g.add_argument("--prior", choices=["standard", "learned"])
    g.add_argument("--label-loss-weight", type=float)
    g.add_argument("--latent-dim", type=int)
    g.add_argument("--beta", type=float)
    g.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="any other ModelConfig field")
    p.add_argument(
        "--train-arg", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig field, e.g. target_steps=200"
    )
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "label_following.json"))
    args = p.parse_args(argv)

    overrides = {
        k: v
        for k, v in {
            "arch": args.arch,
            "prior": args.prior,
            "label_loss_weight": args.label_loss_weight,
            "latent_dim": args.latent_dim,
            "beta": args.beta,
        }.items()
        if v is not None
    }
    overrides |= pairs(args.model_arg)
    model_cfg = ModelConfig(**overrides)
    train_overrides = pairs(args.train_arg)
    train_cfg = TrainConfig(**train_overrides)
    cache_dir = None if args.no_ref_cache else Path(args.ref_cache)

    configure_threads(train_cfg.threads)
    results = {
        "benchmark": "label_following",
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "cores": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(pick_device(train_cfg.device)),
            "torch_threads": torch.get_num_threads(),
        },
        "settings": {
            "k": args.k,
            "per_class": args.per_class,
            "seeds": list(range(args.seeds)),
            "temperature": args.temperature,
            "ref_steps": args.ref_steps,
            "ref_holdout": args.ref_holdout,
            "model_overrides": overrides,
            "train_overrides": train_overrides,
            "model_config": model_cfg.model_dump(),
            "train_config": train_cfg.model_dump(),
        },
        "datasets": [],
    }
    started = time.perf_counter()
    for dataset in args.datasets:
        full = load_real(DataSpec(source=dataset))
        runs = []
        for seed in range(args.seeds):
            runs.append(run_one(dataset, full, seed, args, model_cfg, train_cfg, cache_dir))
            r = runs[-1]
            print(
                f"  {dataset} seed {seed}: follows {r['follows_label_overall']:.1%}, reference acc {r['reference']['heldout_accuracy']:.1%}, "
                f"cvae {r['cvae']['train_seconds']:.0f} s, reference {r['reference']['seconds']:.0f} s",
                file=sys.stderr,
            )
        results["datasets"].append(summarise(dataset, runs))
    results["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    results["total_seconds"] = time.perf_counter() - started
    return publish(results, markdown(results), args.json)


if __name__ == "__main__":
    main()
