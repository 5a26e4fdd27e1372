"""Generation + scoring + writing throughput of images (or table rows), and memory against size.

What is timed is the product's own path, `pipeline.job.synthesize_rows`: a fitted generator
makes N rows, the label scorer and the per-class k-NN score every row, and synthetic.parquet and
augmented.parquet are written in row groups, then the quality report. The generator is a
CVAE trained briefly on the real rows (throughput of the plumbing, not of a good model).

Each row count runs in its own child process, so its peak memory is its own
(ru_maxrss): the high-water mark before streaming (imports, model, label scorer) and at the end.
Rates are rows / streaming seconds (first generated batch to the last row written); the
label scorer's fit before and the report after are reported apart. In-process timers around the
parts (two perf_counter calls per batch) split the streaming time.

    .venv/bin/python benchmarks/generation_throughput.py --data mnist --rows 50000 200000
    .venv/bin/python benchmarks/generation_throughput.py --tiny      # digits, seconds, for tests
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PARTS = {
    "model": "model sampling (decoder forward)",
    "png_encode": "PNG encoding",
    "reencode": "re-encoding the rows as written (PNG decoding)",
    "judge": "label scorer (CNN forward, probabilities)",  # the key as in earlier results
    "knn": "per-class k-NN (realism, authenticity)",
    "accumulate": "report accumulator",
    "write": "Parquet writing",
}


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class Timers:
    """Seconds per named part, summed over calls; wraps attributes of this process only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed)


def child(spec: dict) -> dict:
    """One row count: load the saved generator and the real rows, run synthesize_rows, time it."""
    import pandas as pd

    import pipeline.data.codec as codec_mod
    import pipeline.io as io_mod
    import pipeline.job as job
    import pipeline.quality.fidelity as fidelity
    import pipeline.quality.report as report_mod
    import pipeline.quality.scores as scores_mod
    from pipeline.config import QualityConfig, SampleConfig
    from pipeline.runtime import configure_threads
    from pipeline.synthesizers.registry import load_synthesizer

    configure_threads(spec["threads"])
    gen = load_synthesizer(spec["generator"])
    real = pd.read_parquet(spec["real"])
    names = gen.classes.names
    k, n = len(names), spec["rows"]
    counts = {c: n // k + (1 if i < n % k else 0) for i, c in enumerate(names)}
    timers, marks = Timers(), {}
    timers.wrap(codec_mod, "encode_pngs", "png_encode")
    timers.wrap(type(gen.codec), "encode", "reencode")
    timers.wrap(fidelity.LabelScorer, "score_with_features", "judge")
    timers.wrap(scores_mod.ClassReference, "score", "knn")
    timers.wrap(report_mod.QualityAccumulator, "add", "accumulate")
    timers.wrap(io_mod.ParquetStreamWriter, "write", "write")
    if getattr(gen, "model", None) is not None:
        timers.wrap(gen.model, "sample", "model")
        timers.wrap(gen.model, "sample_posterior", "model")
    original = type(gen).sample_written

    def sample_written(self, *args, **kwargs):
        timers.seconds.clear()  # the label scorer's fit and the real-vs-real baseline come before
        marks["rss_before"], marks["start"] = _max_rss_mib(), time.perf_counter()
        yield from original(self, *args, **kwargs)
        marks["rss_streamed"] = _max_rss_mib()

    type(gen).sample_written = sample_written
    original_augmented = job.write_augmented

    def write_augmented(*args, **kwargs):
        marks["streamed"] = time.perf_counter()
        marks["parts"] = dict(timers.seconds)
        return original_augmented(*args, **kwargs)

    job.write_augmented = write_augmented
    out = Path(spec["out"])
    t0 = time.perf_counter()
    summary = job.synthesize_rows(
        gen,
        real,
        counts,
        QualityConfig(accept="all"),
        SampleConfig(per_class=1, batch_rows=spec["batch_rows"]),
        spec["seed"],
        out,
        {},
    )
    t_end = time.perf_counter()
    stream_s = marks["streamed"] - marks["start"]
    return {
        "rows": summary["rows"],
        "accepted_rows": summary["accepted_rows"],
        "stream_s": stream_s,
        "rows_per_s": summary["rows"] / stream_s,
        "before_stream_s": marks["start"] - t0,
        "after_stream_s": t_end - marks["streamed"],
        "parts_s": marks["parts"],
        "rss_before_mib": marks["rss_before"],
        "rss_streamed_mib": marks["rss_streamed"],
        "rss_peak_mib": _max_rss_mib(),
        "synthetic_mib": (out / "synthetic.parquet").stat().st_size / 2**20,
    }


def prepare(data: str, real_per_class: int, epochs: int, seed: int, folder: Path) -> dict:
    """The real rows as Parquet and a briefly trained CVAE saved in the product's format."""
    from pipeline.config import DataSpec, TrainConfig
    from pipeline.data.sources import load_real
    from pipeline.synthesizers.cvae import CVAESynthesizer

    real = load_real(DataSpec(source=data, real_per_class=real_per_class), seed=seed)
    real.frame.to_parquet(folder / "real.parquet")
    t0 = time.perf_counter()
    gen = CVAESynthesizer(seed=seed, train=TrainConfig(epochs=epochs, threads=1)).fit(real.frame, label=real.label)
    fit_s = time.perf_counter() - t0
    gen.save(folder / "generator")
    return {"data": data, "modality": real.modality, "real_rows": len(real.frame), "fit_s": fit_s}


def launch(spec: dict, folder: Path) -> dict:
    path = folder / f"spec-{spec['rows']}.json"
    path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child for {spec['rows']} rows failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    s, unit = results["settings"], "images" if results["prepared"]["modality"] == "image" else "rows"
    lines = [
        f"{s['data']}: {results['prepared']['real_rows']} real {unit}, {s['threads']} thread(s), "
        f"batches of {s['batch_rows']}",
        "",
        f"| {unit} | {unit}/s | streaming s | label scorer fit and baseline s | report s | peak RSS MiB | "
        f"RSS growth while streaming MiB | synthetic.parquet MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['rows']:,} | {r['rows_per_s']:,.0f} | {r['stream_s']:.1f} | {r['before_stream_s']:.1f} | "
            f"{r['after_stream_s']:.1f} | {r['rss_peak_mib']:.0f} | "
            f"{r['rss_streamed_mib'] - r['rss_before_mib']:.0f} | "
            f"{r['synthetic_mib']:.1f} |"
        )
    last = results["runs"][-1]
    lines += [
        "",
        f"Where the streaming time of {last['rows']:,} {unit} goes:",
        "",
        "| part | s | share |",
        "|---|---|---|",
    ]
    for key, label in PARTS.items():
        if key in last["parts_s"]:
            sec = last["parts_s"][key]
            lines.append(f"| {label} | {sec:.2f} | {100 * sec / last['stream_s']:.0f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--data", default="mnist")
    p.add_argument("--rows", nargs="+", type=int, default=None, help="row counts (default 50000 200000)")
    p.add_argument("--real-per-class", type=int, default=10)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-rows", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="digits, 300 and 900 rows (or --rows), for tests")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "generation_throughput.json"))
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(Path(args.child).read_text()))))
        return {}
    if args.tiny:
        args.data, args.epochs, args.batch_rows = "digits", 2, 256
    args.rows = args.rows or ([300, 900] if args.tiny else [50_000, 200_000])

    from benchmarks._results import machine, publish

    with tempfile.TemporaryDirectory(prefix="gen-throughput-") as tmp:
        folder = Path(tmp)
        prepared = prepare(args.data, args.real_per_class, args.epochs, args.seed, folder)
        runs = []
        for rows in args.rows:
            spec = {
                "generator": str(folder / "generator"),
                "real": str(folder / "real.parquet"),
                "rows": rows,
                "threads": args.threads,
                "batch_rows": args.batch_rows,
                "seed": args.seed,
                "out": str(folder / f"out-{rows}"),
            }
            runs.append(launch(spec, folder))
            print(f"{rows:,} rows: {runs[-1]['rows_per_s']:,.0f}/s", file=sys.stderr)
    results = {
        "benchmark": "generation_throughput",
        "command": "python benchmarks/generation_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "json")},
        "prepared": prepared,
        "runs": runs,
    }
    publish(results, markdown(results), args.json)
    return results


if __name__ == "__main__":
    main()
