"""Generation, scoring and writing throughput, and peak memory against the number of rows.

What is measured, for a table model and an image model (each a small CVAE with the
product's default ModelConfig, trained for a few epochs: throughput of the plumbing, not
of a good model):

- ``generate``: consume ``pipeline.generate.generate_frames`` (model sampling + decoding to
  the user's schema; for images that includes PNG encoding).
- ``generate+score``: ``score_frames(generate_frames(...))`` with the judge and scorer built
  exactly as ``flows.augment.synthesize`` builds them.
- ``synthesize``: the product's real path, ``flows.augment.synthesize`` itself (judge fit,
  generate, score, write ``synthetic.parquet`` in row groups, then the quality report).
  Its stage split comes from timers wrapped in-process around the names synthesize looks up
  (``flows.augment.generate_frames``/``score_frames``/``write_frames``); no module is edited.

Rows/s (images/s) are rows divided by the *streaming* seconds (first generated batch to the
last row written); the one-off costs (judge fit before, report after) are reported apart.
Inside each stage, further in-process timers split generation into model sampling and
decoding (PNG encoding for images) and scoring into re-encoding (PNG decoding for images),
the judge's class probabilities, the judge's features, the per-class k-NN and the report
accumulator. Their overhead is two perf_counter calls per batch (per call of a wrapped
function), negligible next to a 4096-row batch.

Every setting runs in its own child process, so its peak memory is its own
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``): the RSS high-water mark before streaming
(imports, model, judge) and at the end. The full path runs at several row counts to show
that memory stays flat in the number of rows.

Run (defaults: penguins 1,000,000 rows and mnist 200,000 images; image scoring runs at
about 250 images/s on a 2-core CPU box, so the defaults take about 50 minutes there; the run
in BENCHMARKS.md stops the images at 50,000 and takes 20 minutes):

    AUGMENT_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generation_throughput.py
    AUGMENT_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generation_throughput.py \
        --image-rows 2000 20000 50000

Tiny settings (digits and a few hundred rows; about a minute, most of it child start-up):

    .venv/bin/python benchmarks/generation_throughput.py --tiny --json /tmp/gt.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = ("generate", "generate+score", "synthesize")


# --- child side: one setting, one process --------------------------------------------------


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class Probes:
    """Seconds and calls per named function, reset when streaming starts."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


class TimedIter:
    """Seconds spent inside next() of an iterator (including everything upstream of it)."""

    def __init__(self, iterable, on_first=None) -> None:
        self.it = iter(iterable)
        self.seconds = 0.0
        self.rows = 0
        self.on_first = on_first

    def __iter__(self):
        return self

    def __next__(self):
        if self.on_first is not None:
            self.on_first()
            self.on_first = None
        t0 = time.perf_counter()
        try:
            frame = next(self.it)
        finally:
            self.seconds += time.perf_counter() - t0
        self.rows += len(frame)
        return frame


def _install_probes(probes: Probes, bundle) -> None:
    """In-process wrappers only: module and class attributes of this child, nothing on disk."""
    import pipeline.data.codec as codec_mod
    import pipeline.quality.fidelity as fidelity
    import pipeline.quality.report as report_mod
    import pipeline.quality.scores as scores_mod

    codec_mod.encode_pngs = probes.wrap("png_encode", codec_mod.encode_pngs)
    bundle.model.sample = probes.wrap("model_sample", bundle.model.sample)
    bundle.codec.decode = probes.wrap("decode", bundle.codec.decode)
    if hasattr(bundle.codec, "decode_means"):  # images: the warp mode decodes pixel values
        bundle.codec.decode_means = probes.wrap("decode", bundle.codec.decode_means)
    bundle.codec.encode = probes.wrap("reencode", bundle.codec.encode)
    fidelity.LabelJudge.score = probes.wrap("judge_proba", fidelity.LabelJudge.score)
    fidelity.judge_features = probes.wrap("judge_features", fidelity.judge_features)
    scores_mod.ClassReference.score = probes.wrap("knn", scores_mod.ClassReference.score)
    report_mod.QualityAccumulator.add = probes.wrap("accumulate", report_mod.QualityAccumulator.add)


def _counts(class_names: list[str], rows: int) -> dict[str, int]:
    k = len(class_names)
    return {c: rows // k + (1 if i < rows % k else 0) for i, c in enumerate(class_names)}


def run_child(spec: dict) -> dict:
    import pandas as pd

    from pipeline.bundle import GeneratorBundle
    from pipeline.config import QualityConfig
    from pipeline.generate import generate_frames
    from pipeline.quality.fidelity import LabelJudge, SampleScorer, score_frames
    from pipeline.quality.report import QualityAccumulator
    from pipeline.runtime import configure_threads

    configure_threads(spec["threads"])
    if spec.get("judge_steps"):  # tests only: a shorter judge CNN fit (the product uses fit_cnn's default)
        import pipeline.quality.classifier as classifier

        classifier.fit_cnn = functools.partial(classifier.fit_cnn, steps=spec["judge_steps"])
    stage, rows, seed, batch_rows = spec["stage"], spec["rows"], spec["seed"], spec["batch_rows"]
    bundle = GeneratorBundle.load(spec["bundle"])
    real = pd.read_parquet(spec["real"])
    counts = _counts(bundle.classes.names, rows)
    probes = Probes()
    _install_probes(probes, bundle)
    out = Path(spec["out"])
    mark: dict[str, float] = {}

    def streaming_starts() -> None:
        probes.reset()
        mark["rss_before_mib"] = _max_rss_mib()
        mark["t_stream"] = time.perf_counter()

    t_call = time.perf_counter()
    result: dict = {"stage": stage, "rows_requested": rows}
    if stage == "generate":
        gen = TimedIter(
            generate_frames(bundle, counts, seed, 1.0, batch_rows, mode=spec.get("mode", "prior")),
            on_first=streaming_starts,
        )
        for _ in gen:
            pass
        t_end = time.perf_counter()
        result |= {"rows": gen.rows, "generate_s": gen.seconds, "score_s": 0.0, "write_s": 0.0}
    elif stage == "generate+score":
        # the judge and scorer exactly as flows.augment.synthesize builds them
        quality = QualityConfig()
        features = [c for c in real.columns if c != bundle.label]
        codec, classes = bundle.codec, bundle.classes
        real_x, real_y = codec.encode(real[features]).x, classes.encode(real[bundle.label])
        judge = LabelJudge.fit(real_x, real_y, classes.names, seed=seed)
        scorer = SampleScorer(judge, real_x, real_y, quality.realism_quantile, quality.copy_quantile)
        accumulator = QualityAccumulator(classes.names)
        gen = TimedIter(
            generate_frames(bundle, counts, seed, 1.0, batch_rows, mode=spec.get("mode", "prior")),
            on_first=streaming_starts,
        )
        scored = TimedIter(score_frames(gen, codec, classes, bundle.label, scorer, accumulator))
        for _ in scored:
            pass
        t_end = time.perf_counter()
        result |= {
            "rows": scored.rows,
            "generate_s": gen.seconds,
            "score_s": scored.seconds - gen.seconds,
            "write_s": 0.0,
            "setup_s": mark["t_stream"] - t_call,
        }
    elif stage == "synthesize":
        import flows.augment as fa

        timers: dict[str, TimedIter] = {}
        orig_gen, orig_score, orig_write = fa.generate_frames, fa.score_frames, fa.write_frames
        write_window: dict[str, float] = {}
        frozen: dict[str, dict] = {}

        def gen_frames(*args, **kwargs):
            timers["gen"] = TimedIter(orig_gen(*args, **kwargs), on_first=streaming_starts)
            return timers["gen"]

        def sc_frames(frames, *args, **kwargs):
            timers["score"] = TimedIter(orig_score(frames, *args, **kwargs))
            return timers["score"]

        def wr_frames(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig_write(*args, **kwargs)
            finally:
                write_window["seconds"] = time.perf_counter() - t0
                write_window["end"] = time.perf_counter()
                mark["rss_after_stream_mib"] = _max_rss_mib()
                frozen.update(seconds=dict(probes.seconds), calls=dict(probes.calls))  # the report after also runs k-NN

        fa.generate_frames, fa.score_frames, fa.write_frames = gen_frames, sc_frames, wr_frames
        summary = fa.synthesize(
            bundle, real, counts, seed, 1.0, batch_rows, out, {"benchmark": "generation_throughput"}
        )
        t_done = time.perf_counter()
        t_end = write_window["end"]
        gen_s, score_iter_s = timers["gen"].seconds, timers["score"].seconds
        result |= {
            "rows": summary["rows"],
            "generate_s": gen_s,
            "score_s": score_iter_s - gen_s,
            "write_s": write_window["seconds"] - score_iter_s,
            "setup_s": mark["t_stream"] - t_call,
            "report_s": t_done - t_end,
            "call_s": t_done - t_call,
            "file_mib": Path(summary["path"]).stat().st_size / 2**20,
            "accepted_share": summary["report"]["overall"]["accepted_share"],
        }
    else:
        raise ValueError(stage)
    result["stream_s"] = t_end - mark["t_stream"]
    result["rows_per_s"] = result["rows"] / result["stream_s"]
    result["rss_before_mib"] = mark["rss_before_mib"]
    result["rss_peak_mib"] = _max_rss_mib()
    if "rss_after_stream_mib" in mark:
        result["rss_after_stream_mib"] = mark["rss_after_stream_mib"]
    result["probes_s"] = dict(probes.seconds) if stage != "synthesize" else frozen["seconds"]
    result["probe_calls"] = dict(probes.calls) if stage != "synthesize" else frozen["calls"]
    return result


# --- parent side: set up, run the children, tabulate ----------------------------------------


def machine_info() -> dict:
    import torch

    from pipeline.runtime import pick_device

    return {
        "cores": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(pick_device("auto")),
        "cpu": platform.processor() or platform.machine(),
    }


def prepare(name: str, epochs: int, real_per_class: int | None, seed: int, folder: Path) -> dict:
    """Real rows staged as Parquet (like the flow's load-data task) and a small trained CVAE bundle."""
    from pipeline.bundle import GeneratorBundle
    from pipeline.config import DataSpec, ModelConfig, TrainConfig
    from pipeline.data.codec import ClassIndex, fit_codec
    from pipeline.data.sources import load_real
    from pipeline.io import write_frames
    from pipeline.train import train_cvae

    t0 = time.perf_counter()
    real = load_real(DataSpec(source=name, real_per_class=real_per_class), seed=seed)
    real_path = folder / f"{name}-real.parquet"
    write_frames(real_path, [real.frame], {"stage": "real"})
    codec = fit_codec(real.frame[real.features], real.image_column)
    classes = ClassIndex.fit(real.frame[real.label])
    result = train_cvae(
        codec.encode(real.frame[real.features]),
        classes.encode(real.frame[real.label]),
        codec,
        len(classes),
        ModelConfig(),
        TrainConfig(epochs=epochs, val_fraction=0.0, threads=1),
        seed=seed,
    )
    counts = {str(k): int(v) for k, v in real.frame[real.label].value_counts().sort_index().items()}
    bundle = GeneratorBundle(
        result.model,
        codec,
        classes,
        real.label,
        counts,
        {"data_name": name, "seed": seed},
        columns=list(real.frame.columns),
    )
    bundle_path = bundle.save(folder / f"{name}-generator.pt")
    return {
        "dataset": name,
        "modality": real.modality,
        "real_rows": len(real.frame),
        "classes": len(classes),
        "columns": list(real.frame.columns),
        "input_shape": list(codec.input_shape),
        "arch": result.model.shape.arch,
        "epochs": epochs,
        "train_seconds": result.seconds,
        "prepare_seconds": time.perf_counter() - t0,
        "bundle": str(bundle_path),
        "real": str(real_path),
    }


def launch(spec: dict, folder: Path, threads: int, timeout: int) -> dict:
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = os.environ | {
        "AUGMENT_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {spec['stage']} {spec['rows']} failed:\n{proc.stderr[-4000:]}")
    return json.loads((folder / "result.json").read_text())


def bench_modality(name: str, epochs: int, sizes: list[int], args, folder: Path) -> dict:
    info = prepare(name, epochs, args.real_per_class, args.seed, folder)
    unit = "images" if info["modality"] == "image" else "rows"
    print(
        f"{name}: {info['real_rows']} real {unit}, {info['arch']} CVAE trained {epochs} epochs in {info['train_seconds']:.1f} s"
        f" (set-up {info['prepare_seconds']:.1f} s)",
        file=sys.stderr,
    )
    largest = max(sizes)
    plan = (
        [(s, largest) for s in args.stages if s != "synthesize"] + [("synthesize", n) for n in sorted(sizes)]
        if "synthesize" in args.stages
        else [(s, largest) for s in args.stages]
    )
    runs = []
    for stage, rows in plan:
        work = folder / f"{name}-{stage.replace('+', '_')}-{rows}"
        work.mkdir()
        spec = {
            "stage": stage,
            "rows": rows,
            "seed": args.seed,
            "mode": args.mode,
            "judge_steps": args.judge_steps,
            "batch_rows": args.batch_rows,
            "threads": args.threads,
            "bundle": info["bundle"],
            "real": info["real"],
            "out": str(work / "out"),
            "result": str(work / "result.json"),
        }
        t0 = time.perf_counter()
        r = launch(spec, work, args.threads, args.child_timeout)
        r["child_wall_s"] = time.perf_counter() - t0
        runs.append(r)
        for f in (work / "out").glob("*"):
            f.unlink()
        print(
            f"  {stage:15s} {rows:>9d} {unit}: {r['rows_per_s']:9.0f} {unit}/s, stream {r['stream_s']:.1f} s, "
            f"peak RSS {r['rss_peak_mib']:.0f} MiB (before streaming {r['rss_before_mib']:.0f}), child {r['child_wall_s']:.0f} s",
            file=sys.stderr,
        )
    return info | {"unit": unit, "sizes": sizes, "runs": runs}


def _split(r: dict) -> str:
    total = r["generate_s"] + r["score_s"] + r["write_s"]
    parts = [
        f"{k} {r[k + '_s']:.1f} s ({100 * r[k + '_s'] / total:.0f} %)"
        for k in ("generate", "score", "write")
        if r[k + "_s"] > 0
    ]
    return ", ".join(parts)


PROBE_LABELS = {
    "model_sample": "model.sample (decoder forward)",
    "decode": "codec.decode (to the user's schema)",
    "png_encode": "  of which PNG encoding (encode_pngs)",
    "reencode": "codec.encode of the generated rows (PNG decoding for images)",
    "judge_proba": "judge class probabilities",
    "judge_features": "judge features (CNN embedding again for images)",
    "knn": "per-class k-NN (realism, authenticity)",
    "accumulate": "report accumulator",
}


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cores']} cores ({m['cpu']}), load average (1 min) {m['load_avg_1min']} at start / "
        f"{results['load_avg_1min_end']} at end, torch {m['torch']} on {m['device']}, {results['settings']['threads']} torch thread(s), "
        f"batch_rows {results['settings']['batch_rows']}. Total {results['total_seconds'] / 60:.1f} min.",
        "",
    ]
    for d in results["datasets"]:
        u = d["unit"]
        lines += [
            f"**{d['dataset']}** ({d['real_rows']} real {u}, {d['classes']} classes, input {d['input_shape']}, "
            f"{d['arch']} CVAE, {d['epochs']} epochs)",
            "",
            f"| stage | {u} | streaming s | {u}/s | split (generate / score / write) | one-off s (judge fit; report) | peak RSS MiB | RSS before streaming MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        largest = max(d["sizes"])
        for r in d["runs"]:
            if r["rows_requested"] != largest:
                continue
            once = (
                "-"
                if "setup_s" not in r
                else f"{r['setup_s']:.1f}" + (f"; {r['report_s']:.1f}" if "report_s" in r else "")
            )
            lines.append(
                f"| {r['stage']} | {r['rows']:,} | {r['stream_s']:.1f} | {r['rows_per_s']:,.0f} | {_split(r)} | {once} | "
                f"{r['rss_peak_mib']:.0f} | {r['rss_before_mib']:.0f} |"
            )
        full = [r for r in d["runs"] if r["stage"] == "synthesize"]
        if full:
            lines += [
                "",
                f"Memory of the full path (`synthesize`) against the number of {u}:",
                "",
                f"| {u} | {u}/s | peak RSS MiB | RSS before streaming MiB | growth while streaming MiB | synthetic.parquet MiB |",
                "|---|---|---|---|---|---|",
            ]
            for r in full:
                lines.append(
                    f"| {r['rows']:,} | {r['rows_per_s']:,.0f} | {r['rss_peak_mib']:.0f} | {r['rss_before_mib']:.0f} | "
                    f"{r.get('rss_after_stream_mib', r['rss_peak_mib']) - r['rss_before_mib']:.0f} | {r['file_mib']:.1f} |"
                )
            r = full[-1]
            lines += [
                "",
                f"Where the streaming time of `synthesize` ({r['rows']:,} {u}, {r['stream_s']:.1f} s) goes:",
                "",
                "| part | s | share of streaming |",
                "|---|---|---|",
            ]
            for key, label in PROBE_LABELS.items():
                if key in r["probes_s"]:
                    lines.append(
                        f"| {label} | {r['probes_s'][key]:.1f} | {100 * r['probes_s'][key] / r['stream_s']:.0f} % |"
                    )
            lines.append(
                f"| Parquet writing (from_pandas, cast, zstd, row groups) | {r['write_s']:.1f} | {100 * r['write_s'] / r['stream_s']:.0f} % |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--table-data", default="penguins", choices=["penguins", "breast_cancer", "iris", "wine"])
    p.add_argument("--image-data", default="mnist", choices=["mnist", "digits"])
    p.add_argument("--modalities", nargs="+", default=["table", "image"], choices=["table", "image"])
    p.add_argument(
        "--table-rows",
        nargs="+",
        type=int,
        default=None,
        help="row counts of the full path (default 10000 100000 1000000); the largest also runs the generate and generate+score stages",
    )
    p.add_argument("--image-rows", nargs="+", type=int, default=None, help="image counts (default 2000 20000 200000)")
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    p.add_argument("--epochs-table", type=int, default=20)
    p.add_argument("--epochs-image", type=int, default=2)
    p.add_argument(
        "--real-per-class",
        type=int,
        default=None,
        help="real rows per class (default: all; the judge and k-NN use them)",
    )
    p.add_argument("--batch-rows", type=int, default=4096, help="rows per batch and row group (SampleConfig's default)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--mode",
        default="prior",
        choices=["prior", "variations", "interpolate", "warp"],
        help="sampling mode of the generate and generate+score stages (synthesize uses prior)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--judge-steps",
        type=int,
        default=None,
        help="steps of the image judge's CNN fit (default: the product's; set only to make tests fast)",
    )
    p.add_argument("--child-timeout", type=int, default=3600)
    p.add_argument("--tiny", action="store_true", help="digits, a few hundred rows, 1 epoch: seconds, for tests")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "generation_throughput.json"))
    args = p.parse_args(argv)

    if args.child:
        spec = json.loads(Path(args.child).read_text())
        Path(spec["result"]).write_text(json.dumps(run_child(spec)))
        return {}

    if args.tiny:
        args.image_data = "digits"
        args.table_rows, args.image_rows = args.table_rows or [300, 900], args.image_rows or [60, 180]
        args.epochs_table, args.epochs_image, args.batch_rows = 1, 1, 128
        args.real_per_class = args.real_per_class or 20
        args.judge_steps = args.judge_steps or 20

    args.table_rows = args.table_rows or [10_000, 100_000, 1_000_000]
    args.image_rows = args.image_rows or [2_000, 20_000, 200_000]

    from benchmarks._results import publish
    from pipeline.runtime import configure_threads

    configure_threads(args.threads)
    results = {
        "benchmark": "generation_throughput",
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "settings": {
            "threads": args.threads,
            "batch_rows": args.batch_rows,
            "seed": args.seed,
            "temperature": 1.0,
            "mode": args.mode,
            "real_per_class": args.real_per_class,
            "judge_steps": args.judge_steps or "product default",
            "stages": args.stages,
            "tiny": args.tiny,
            "memory": "ru_maxrss of a child process per setting",
            "rates": "rows / streaming seconds",
        },
        "datasets": [],
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gen-throughput-") as tmp:
        for modality in args.modalities:
            name = args.table_data if modality == "table" else args.image_data
            epochs = args.epochs_table if modality == "table" else args.epochs_image
            sizes = args.table_rows if modality == "table" else args.image_rows
            folder = Path(tmp) / modality
            folder.mkdir()
            results["datasets"].append(bench_modality(name, epochs, sizes, args, folder))
    results["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    results["total_seconds"] = time.perf_counter() - started
    return publish(results, markdown(results), args.json)


if __name__ == "__main__":
    main()
