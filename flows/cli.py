"""`augment`: run the whole job, generate from the registry, list the built-in data sets.

Prefect and MLflow are imported only inside the commands that need them (each costs
seconds), after the environment for quiet offline runs is in place.
"""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Class-conditional synthetic data for small labelled data sets."
)
console = Console(stderr=True)


def _split(text: Optional[str]) -> Optional[list[str]]:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _fail(exc: Exception) -> None:
    from pydantic import ValidationError

    from pipeline.errors import AugmentError

    if isinstance(exc, AugmentError):
        console.print(f"[bold red]error:[/] {exc.problem}")
        if exc.fix:
            console.print(f"[yellow]fix:[/] {exc.fix}")
        raise typer.Exit(2)
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            console.print(f"[bold red]error:[/] {where}: {err['msg']}")
        raise typer.Exit(2)
    raise exc


@app.command()
def run(
    data: str = typer.Option(
        ...,
        "--data",
        help="Parquet file/folder, image folder, or built-in: digits, mnist, iris, wine, breast_cancer, penguins",
    ),
    label: Optional[str] = typer.Option(None, "--label", help="label column (built-ins know theirs)"),
    per_class: Optional[int] = typer.Option(None, "--per-class", help="synthetic rows to make for each class"),
    balance_to: Optional[int] = typer.Option(None, "--balance-to", help="bring every class up to N rows"),
    classes: Optional[str] = typer.Option(None, "--classes", help="comma-separated classes to generate (default: all)"),
    columns: Optional[str] = typer.Option(
        None, "--columns", help="comma-separated feature columns (default: all but the label)"
    ),
    real_per_class: Optional[int] = typer.Option(
        None, "--real-per-class", help="use only K real rows per class (low-resource experiments)"
    ),
    unlabelled: str = typer.Option(
        "error",
        "--unlabelled",
        help="rows without a label: error, drop, or use (train on them semi-supervised; "
        "with --real-per-class the rows left out join them)",
    ),
    out: Optional[str] = typer.Option(
        None, "--out", help="output folder (default: a new folder under artifacts/runs/)"
    ),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="training epochs (default: sized to the data)"),
    arch: str = typer.Option("auto", "--arch", help="auto, mlp or conv"),
    latent_dim: int = typer.Option(16, "--latent-dim"),
    beta: float = typer.Option(1.0, "--beta"),
    prior: str = typer.Option("learned", "--prior", help="learned (per-class mean) or standard"),
    temperature: float = typer.Option(1.0, "--temperature", help="latent noise scale when sampling"),
    mode: str = typer.Option(
        "prior",
        "--mode",
        help="prior (class prior), variations (near real rows), interpolate (between two real rows), warp (images: real images bent to new samples' shapes) or pseudo_label (your unlabelled rows, labelled; needs --unlabelled use)",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default 1)"),
    model_name: Optional[str] = typer.Option(None, "--model-name", help="registry name (default augment-<data>)"),
    config_file: Optional[str] = typer.Option(
        None, "--config", help="JSON file with a full RunConfig; flags above are ignored"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON on stdout"),
) -> None:
    """Train a CVAE on DATA, register it, and write synthetic + augmented Parquet."""
    from flows.settings import configure_environment

    configure_environment()
    try:
        from pipeline.config import DataSpec, ModelConfig, RunConfig, SampleConfig, TrainConfig

        if config_file:
            config = RunConfig.model_validate_json(open(config_file).read())
        else:
            config = RunConfig(
                data=DataSpec(
                    source=data,
                    label=label,
                    columns=_split(columns),
                    real_per_class=real_per_class,
                    unlabelled=unlabelled,
                ),
                model=ModelConfig(arch=arch, latent_dim=latent_dim, beta=beta, prior=prior),
                train=TrainConfig(epochs=epochs, device=device, threads=threads),
                sample=SampleConfig(
                    per_class=per_class,
                    balance_to=balance_to,
                    classes=_split(classes),
                    temperature=temperature,
                    mode=mode,
                ),
                seed=seed,
                out_dir=out,
                model_name=model_name,
            )
        from pipeline.data.sources import load_real
        from pipeline.generate import check_mode_fits_data

        real = load_real(config.data, seed=config.seed)  # bad input fails here, in a second, before any server starts
        check_mode_fits_data(
            config.sample.mode,
            bool(real.image_column),
            real.name,
            0 if real.unlabelled is None else len(real.unlabelled),
        )
        console.print(f"[bold]augment[/] {config.data.source}: data ok; starting Prefect and MLflow ...")
        from flows.augment import augment_flow

        summary = augment_flow(config, progress=sys.stderr.isatty())
    except Exception as exc:  # noqa: BLE001 - turned into a clear message or re-raised
        _fail(exc)
        return
    if as_json:
        print(json.dumps(summary, default=str))
    _print_run_summary(summary)


def _print_run_summary(s: dict) -> None:
    table = Table(title="synthetic rows per class")
    for col in ("class", "real", "generated", "follows label", "accepted", "fidelity", "density", "DCR/NN"):
        table.add_column(col, justify="right" if col != "class" else "left")
    for cls, stats in s["per_class"].items():
        table.add_row(
            cls,
            str(s["real_counts"].get(cls, 0)),
            str(stats["rows"]),
            f"{stats['follows_label']:.0%}",
            f"{stats['accepted_share']:.0%}",
            f"{stats['label_fidelity']:.2f}",
            f"{stats['density']:.2f}",
            f"{stats['dcr_relative_median']:.2f}",
        )
    console.print(table)
    if s.get("unlabelled_rows") and s.get("sample_mode") == "pseudo_label":
        console.print(
            f"the rows above are {s['synthetic_rows']} of your {s['unlabelled_rows']} unlabelled rows, labelled by the judge "
            "(a class gets fewer than asked when fewer rows are sure to be that class)"
        )
    elif s.get("unlabelled_rows"):
        console.print(
            f"the model also learned from {s['unlabelled_rows']} unlabelled rows (semi-supervised); "
            "--mode pseudo_label writes those rows themselves, labelled, which measured better (BENCHMARKS.md)"
        )
    console.print(
        f"label-following share [bold]{s['label_follow_share']:.1%}[/] (judge accuracy on held-out real rows {s['judge_real_accuracy']:.1%})"
    )
    th = s["thresholds"]
    console.print(
        f"accepted synthetic rows: {s['accepted_rows']} of {s['synthetic_rows']} "
        f"(follows label, realism >= {th['realism']:.2f}, authenticity > {th['authenticity']:.2f}; thresholds from real-vs-real)"
    )
    g, d = s["gate"], s.get("downstream")
    if d:
        console.print(
            f"downstream: real only {d['real_only_mean']:.1%} -> real + synthetic {d['augmented_mean']:.1%} "
            f"({d['mean_gain']:+.1%} ± {d['noise']:.1%}) on {d['eval_rows']} held-out real rows"
        )
    colour = "green" if g["promoted"] else "yellow"
    console.print(f"[bold {colour}]gate: {g['decision']}[/]: " + "; ".join(g["reasons"]))
    console.print(f"outputs:   {s['out_dir']}\n  {s['synthetic']}\n  {s['augmented']}\n  {s['quality_report'][1]}")
    console.print(f"MLflow:    run {s['mlflow']['run_id']} at {s['mlflow']['tracking_uri']}")
    console.print(
        f"model:     {s['model']['alias_uri']} (version {s['model']['version']})"
        + (f", also models:/{s['model']['name']}@champion" if g["promoted"] else "")
    )
    t = s["train"]
    console.print(
        f"training:  {t['epochs']} epochs on {t['device']} ({t['arch']}), {t['samples_per_s']:.0f} samples/s; total {s['seconds']:.1f} s"
    )


@app.command()
def generate(
    model: str = typer.Option(..., "--model", help="models:/<name>@<alias> or models:/<name>/<version>"),
    per_class: Optional[int] = typer.Option(None, "--per-class"),
    balance_to: Optional[int] = typer.Option(None, "--balance-to"),
    classes: Optional[str] = typer.Option(None, "--classes"),
    temperature: float = typer.Option(1.0, "--temperature"),
    mode: str = typer.Option(
        "prior",
        "--mode",
        help="prior, variations, interpolate or warp (all but prior need a model trained by this version)",
    ),
    out: Optional[str] = typer.Option(None, "--out"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sample rows from a registered model (no training data needed) into synthetic.parquet."""
    from flows.settings import configure_environment

    configure_environment()
    try:
        from pipeline.config import SampleConfig

        sample = SampleConfig(
            per_class=per_class, balance_to=balance_to, classes=_split(classes), temperature=temperature, mode=mode
        )
        from flows.generate import generate_flow

        result = generate_flow(model, sample, seed=seed, out_dir=out)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    if as_json:
        print(json.dumps(result, default=str))
    console.print(
        f"wrote {result['rows']} rows to {result['path']} from {model} (version {result.get('model_version', '?')})"
    )
    console.print("per class: " + ", ".join(f"{c}: {n}" for c, n in result["counts"].items()))


@app.command()
def score(
    real: str = typer.Option(..., "--real", help="Parquet file (or folder / built-in) with the real rows"),
    synthetic: str = typer.Option(..., "--synthetic", help="Parquet file with synthetic rows (any tool's)"),
    label: str = typer.Option(..., "--label", help="label column, present in both"),
    out: Optional[str] = typer.Option(
        None, "--out", help="folder for scored.parquet and the report (default: beside --synthetic)"
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Score every synthetic row against the real rows and write the quality report."""
    from pathlib import Path

    try:
        from pipeline.quality.score_file import score_file

        result = score_file(real, synthetic, label, out or str(Path(synthetic).parent / "scored"), seed=seed)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    o = result["report"]["overall"]
    console.print(
        f"scored {o['rows']} rows: accepted {o['accepted_share']:.1%}, follows label {o['follows_label']:.1%}, "
        f"precision {o['precision']:.2f}, coverage {o['coverage']:.2f}"
    )
    console.print(f"wrote {result['scored']} and {Path(result['scored']).parent / 'quality_report.md'}")


@app.command()
def datasets() -> None:
    """List the built-in data sets (shipped inside installed packages, no download)."""
    from pipeline.data.builtin import BUILTINS

    for name, loader in BUILTINS.items():
        print(f"{name:14s} {(loader.__doc__ or '').strip().splitlines()[0] if loader.__doc__ else ''}")


if __name__ == "__main__":
    app()
