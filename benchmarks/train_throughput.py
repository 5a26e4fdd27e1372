"""Training throughput: the product's training loop versus a bare PyTorch loop of the same network.

What is compared (same process, same data, same network, same per-step work):

- product: ``pipeline.train.train_cvae`` with the default ModelConfig/TrainConfig (the
  label loss, free bits and classic augmentation exactly as the augment flow uses them), a
  fixed number of epochs and ``val_fraction=0``. Its own ``result.samples_per_s``
  (samples seen / wall seconds of the epoch loop) is reported.
  Note: with ``val_fraction=0`` train_cvae does *not* skip evaluation; it evaluates on the
  whole training set after every epoch, inside the timed loop. For the overhead comparison
  ``pipeline.train.evaluate`` is therefore replaced in this process (the module is not edited)
  by a stub, so the per-epoch validation/active-units evaluation is EXCLUDED from "product".
  The row "product as shipped" keeps the real evaluation (one forward pass over all training
  rows per epoch) to show what it costs.
- bare: the same CVAE built with ``pipeline.train.build_model`` and a minimal loop:
  preloaded tensors, ``torch.randperm`` batches, ``random_affine`` on each image batch when
  the config turns classic augmentation on,
  the same linear KL warm-up, ``model.loss(...)`` (label loss included), Adam step.

Product and bare runs alternate (the order flips every repeat); the median samples/s of
each and the ratio product/bare (target >= 0.9) are reported. Torch uses 1 thread.

Run (defaults, about 4 minutes on a 2-core CPU box):

    .venv/bin/python benchmarks/train_throughput.py

Tiny settings (a few seconds, e.g. from a test):

    .venv/bin/python benchmarks/train_throughput.py --datasets digits --epochs-digits 1 \
        --repeats 1 --shipped-repeats 0 --limit 256 --json /tmp/tp.json
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pipeline.train as ptrain  # noqa: E402
from benchmarks._results import publish  # noqa: E402
from pipeline.config import DataSpec, ModelConfig, TrainConfig  # noqa: E402
from pipeline.data.codec import ClassIndex, fit_codec  # noqa: E402
from pipeline.data.sources import load_real  # noqa: E402
from pipeline.runtime import configure_threads, pick_device, seed_everything  # noqa: E402
from pipeline.transforms import random_affine  # noqa: E402

TARGET_RATIO = 0.9


def machine_info() -> dict:
    return {
        "cores": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(pick_device("auto")),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }


def load_dataset(name: str, limit: int | None, seed: int = 0):
    """Full real data (real_per_class=None), encoded once; optionally only the first `limit` rows."""
    real = load_real(DataSpec(source=name, real_per_class=None), seed=seed)
    frame = real.frame if limit is None else real.frame.iloc[:limit].reset_index(drop=True)
    codec = fit_codec(frame[real.features], real.image_column)
    classes = ClassIndex.fit(frame[real.label])
    encoded = codec.encode(frame[real.features])
    y = classes.encode(frame[real.label])
    return codec, classes, encoded, y


def _no_evaluation(model, x, y, mask, beta, batch: int = 1024) -> dict[str, float]:
    return {"val_loss": 0.0, "val_recon": 0.0, "val_kl": 0.0, "active_units": 0.0}


@contextlib.contextmanager
def evaluation_excluded():
    """Replace pipeline.train.evaluate in this process only; restores it afterwards."""
    original = ptrain.evaluate
    ptrain.evaluate = _no_evaluation
    try:
        yield
    finally:
        ptrain.evaluate = original


def run_product(encoded, y, codec, n_classes, model_cfg, train_cfg, seed, with_eval: bool) -> dict:
    ctx = contextlib.nullcontext() if with_eval else evaluation_excluded()
    t0, c0 = time.perf_counter(), time.thread_time()
    with ctx:
        result = ptrain.train_cvae(encoded, y, codec, n_classes, model_cfg, train_cfg, seed=seed)
    call_cpu, call_wall = time.thread_time() - c0, time.perf_counter() - t0
    seen = round(result.samples_per_s * result.seconds)
    return {
        "samples_per_s": result.samples_per_s,
        "seconds": result.seconds,
        "samples": seen,
        "epochs": result.epochs_run,
        "call_wall_s": call_wall,
        "call_cpu_s": call_cpu,
        "samples_per_cpu_s": seen / call_cpu if call_cpu > 0 else float("nan"),
        "device": result.device,
    }


def run_bare(
    encoded, y, codec, n_classes, model_cfg: ModelConfig, train_cfg: TrainConfig, seed: int, epochs: int
) -> dict:
    """The same network and per-step work in the smallest loop PyTorch allows."""
    c0, w0 = time.thread_time(), time.perf_counter()
    configure_threads(train_cfg.threads)
    seed_everything(seed)
    device = pick_device(train_cfg.device)
    gen = torch.Generator().manual_seed(seed)
    x, yy = encoded.x.to(device), y.to(device)
    m = None if encoded.mask is None else encoded.mask.to(device)
    model = ptrain.build_model(codec, n_classes, model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    n, bs = len(x), train_cfg.batch_size
    steps_per_epoch = max(1, math.ceil(n / bs))
    warmup_steps = max(1, int(train_cfg.kl_warmup_for(model.modality) * epochs * steps_per_epoch))
    augment = train_cfg.classic_augment and x.dim() == 4
    step = seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            xb, yb = x[idx], yy[idx]
            if augment:
                xb = random_affine(xb, gen)
            beta = model_cfg.beta * min(1.0, step / warmup_steps)
            loss = model.loss(xb, yb, None if m is None else m[idx], beta)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(idx)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    call_cpu, call_wall = time.thread_time() - c0, time.perf_counter() - w0
    return {
        "samples_per_s": seen / seconds,
        "seconds": seconds,
        "samples": seen,
        "epochs": epochs,
        "call_wall_s": call_wall,
        "call_cpu_s": call_cpu,
        "samples_per_cpu_s": seen / call_cpu if call_cpu > 0 else float("nan"),
        "device": str(device),
    }


def bench_dataset(name: str, epochs: int, repeats: int, shipped_repeats: int, limit: int | None, seed: int) -> dict:
    codec, classes, encoded, y = load_dataset(name, limit, seed)
    model_cfg = ModelConfig()  # product defaults
    train_cfg = TrainConfig(epochs=epochs, val_fraction=0.0, threads=1)
    k = len(classes)
    product, bare, shipped = [], [], []
    # untimed warm-up of both loops on a small slice, so the first timed run pays no one-off costs
    w = min(len(y), 4 * train_cfg.batch_size)
    warm_enc = type(encoded)(encoded.x[:w], None if encoded.mask is None else encoded.mask[:w])
    run_product(warm_enc, y[:w], codec, k, model_cfg, train_cfg.model_copy(update={"epochs": 1}), seed, with_eval=False)
    run_bare(warm_enc, y[:w], codec, k, model_cfg, train_cfg, seed, 1)
    for r in range(repeats):
        order = ("product", "bare") if r % 2 == 0 else ("bare", "product")
        for which in order:
            if which == "product":
                product.append(run_product(encoded, y, codec, k, model_cfg, train_cfg, seed, with_eval=False))
            else:
                bare.append(run_bare(encoded, y, codec, k, model_cfg, train_cfg, seed, epochs))
            print(
                f"  {name} repeat {r + 1}/{repeats} {which}: "
                f"{(product if which == 'product' else bare)[-1]['samples_per_s']:.0f} samples/s",
                file=sys.stderr,
            )
    for r in range(shipped_repeats):
        shipped.append(run_product(encoded, y, codec, k, model_cfg, train_cfg, seed, with_eval=True))
        print(
            f"  {name} product as shipped {r + 1}/{shipped_repeats}: {shipped[-1]['samples_per_s']:.0f} samples/s",
            file=sys.stderr,
        )
    med_p = statistics.median(p["samples_per_s"] for p in product)
    med_b = statistics.median(b["samples_per_s"] for b in bare)
    out = {
        "dataset": name,
        "rows": len(y),
        "input_shape": list(codec.input_shape),
        "arch": ptrain.resolve_arch(model_cfg.arch, tuple(codec.input_shape)),
        "epochs": epochs,
        "batch_size": train_cfg.batch_size,
        "steps_per_epoch": math.ceil(len(y) / train_cfg.batch_size),
        "product_runs": product,
        "bare_runs": bare,
        "shipped_runs": shipped,
        "product_median_samples_per_s": med_p,
        "bare_median_samples_per_s": med_b,
        "ratio_product_over_bare": med_p / med_b if med_b else float("nan"),
        "product_median_samples_per_cpu_s": statistics.median(p["samples_per_cpu_s"] for p in product),
        "bare_median_samples_per_cpu_s": statistics.median(b["samples_per_cpu_s"] for b in bare),
    }
    out["ratio_cpu_product_over_bare"] = out["product_median_samples_per_cpu_s"] / out["bare_median_samples_per_cpu_s"]
    if shipped:
        med_s = statistics.median(s["samples_per_s"] for s in shipped)
        out["shipped_median_samples_per_s"] = med_s
        out["ratio_shipped_over_bare"] = med_s / med_b if med_b else float("nan")
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cores']} cores, load average (1 min) {m['load_avg_1min']} at start / "
        f"{results['load_avg_1min_end']} at end, "
        f"torch {m['torch']}, device {m['device']}, torch threads {results['settings']['threads']}",
        "",
        'Per-epoch validation/active-units evaluation is EXCLUDED from "product" '
        "(pipeline.train.evaluate stubbed in-process); "
        '"product as shipped" keeps it (val_fraction=0 makes train_cvae evaluate on all training rows every epoch). '
        f"Median of {results['settings']['repeats']} alternating repeats; target product/bare >= {TARGET_RATIO}. "
        "samples/s = samples seen / wall seconds of the epoch loop (train_cvae's own samples_per_s for the product); "
        "the CPU column divides by the thread's CPU seconds of the whole call instead "
        "(less sensitive to other load on the box).",
        "",
        "| data set | rows | arch | epochs | product samples/s | bare samples/s | product / bare | target met "
        "| product / bare (CPU time) | product as shipped samples/s | shipped / bare |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in results["datasets"]:
        ratio = d["ratio_product_over_bare"]
        shipped = d.get("shipped_median_samples_per_s")
        shipped_txt = f"{shipped:.0f}" if shipped is not None else "-"
        sratio = f"{d['ratio_shipped_over_bare']:.3f}" if shipped is not None else "-"
        lines.append(
            f"| {d['dataset']} | {d['rows']} | {d['arch']} | {d['epochs']} | {d['product_median_samples_per_s']:.0f} | "
            f"{d['bare_median_samples_per_s']:.0f} | {ratio:.3f} | {'yes' if ratio >= TARGET_RATIO else 'NO'} "
            f"| {d['ratio_cpu_product_over_bare']:.3f} | {shipped_txt} | {sratio} |"
        )
    lines += [
        "",
        "Individual runs (samples/s):",
        "",
        "| data set | product runs | bare runs | as shipped runs |",
        "|---|---|---|---|",
    ]
    for d in results["datasets"]:
        fmt = lambda runs: ", ".join(f"{r['samples_per_s']:.0f}" for r in runs) or "-"  # noqa: E731
        lines.append(
            f"| {d['dataset']} | {fmt(d['product_runs'])} | {fmt(d['bare_runs'])} | {fmt(d['shipped_runs'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist"], choices=["digits", "mnist"])
    p.add_argument("--epochs-digits", type=int, default=30, help="epochs per run on digits (default 30)")
    p.add_argument("--epochs-mnist", type=int, default=2, help="epochs per run on mnist (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="alternating product/bare pairs (default 3)")
    p.add_argument(
        "--shipped-repeats",
        type=int,
        default=1,
        help="runs of the product with its evaluation kept (default 1; 0 skips)",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows (tiny runs for tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    args = p.parse_args(argv)

    configure_threads(1)
    results = {
        "benchmark": "train_throughput",
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "settings": {
            "repeats": args.repeats,
            "shipped_repeats": args.shipped_repeats,
            "limit": args.limit,
            "seed": args.seed,
            "threads": 1,
            "val_fraction": 0.0,
            "evaluation": "excluded from product (stubbed); kept in product-as-shipped",
            "model_config": ModelConfig().model_dump(),
            "train_config": TrainConfig(val_fraction=0.0, threads=1).model_dump(),
        },
        "target_ratio": TARGET_RATIO,
        "datasets": [],
    }
    started = time.perf_counter()
    for name in args.datasets:
        epochs = args.epochs_digits if name == "digits" else args.epochs_mnist
        results["datasets"].append(
            bench_dataset(name, epochs, args.repeats, args.shipped_repeats, args.limit, args.seed)
        )
    results["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    results["total_seconds"] = time.perf_counter() - started
    return publish(results, markdown(results), args.json)


if __name__ == "__main__":
    main()
