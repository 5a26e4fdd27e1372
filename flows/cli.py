"""`augment`: run the whole job, generate from the registry, list the built-in data sets.

Prefect and MLflow are imported only inside the commands that need them (each costs
seconds), after the environment for quiet offline runs is in place.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from flows import cli_config
from pipeline.config import RunConfig

if TYPE_CHECKING:
    from pipeline.quality.result import GateResult, OptionGain

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Class-conditional synthetic data for small labelled data sets."
)
console = Console(stderr=True, soft_wrap=True)  # long paths and messages stay on one line


def _fail(exc: Exception) -> NoReturn:
    """A clear message and exit 2 for what the user can fix; anything else is a bug: re-raised."""
    from pydantic import ValidationError
    from rich.markup import escape

    from pipeline.errors import AugmentError, cut, disk_full

    exc = disk_full(exc) or exc
    if isinstance(exc, AugmentError):
        console.print(f"[bold red]error:[/] {escape(cut(exc.problem, 2000))}")
        if exc.fix:
            console.print(f"[yellow]fix:[/] {escape(cut(exc.fix, 1000))}")
        raise typer.Exit(2)
    if isinstance(exc, ValidationError):
        from pipeline.checks import invalid_setting

        _fail(invalid_setting(exc, {f"{k}": f"--{k.replace('_', '-')}" for k in ("per_class", "balance_to")}))
    raise exc


@contextmanager
def _claimed(out: Optional[str], inputs: list[str], command: str) -> Iterator[None]:
    """This command's --out checked and held (pipeline/outputs.py), and the command marked as
    running in its artifacts home (`augment server stop` waits for it), while the block runs."""
    from pathlib import Path

    from flows.activity import running
    from flows.settings import artifacts_root
    from pipeline.outputs import claim_out

    root = artifacts_root()
    existing = [i for i in inputs if i and Path(i).expanduser().exists()]
    with running(root, [command] + (["--out", out] if out else [])):
        if out is None:
            yield
            return
        with claim_out(out, existing, root):
            yield


def _notes(notes: list[str]) -> None:
    """What the run decided for the user without being asked (e.g. text read as numbers)."""
    for note in notes:
        console.print(f"[yellow]note:[/] {escape_text(note)}")


@app.command(cls=cli_config.RunCommand)
def run(
    data: cli_config.Data = None,
    label: cli_config.Label = None,
    per_class: cli_config.PerClass = None,
    balance_to: cli_config.BalanceTo = None,
    classes: cli_config.Classes = None,
    columns: cli_config.Columns = None,
    real_per_class: cli_config.RealPerClass = None,
    unlabelled: cli_config.Unlabelled = None,
    image_paths: cli_config.ImagePaths = None,
    generator: cli_config.Generator = None,
    judge: cli_config.Judge = None,
    strategy: cli_config.Strategy = None,
    accept: cli_config.Accept = None,
    gate: cli_config.Gate = None,
    out: cli_config.Out = None,
    seed: cli_config.Seed = None,
    epochs: cli_config.Epochs = None,
    arch: cli_config.Arch = None,
    latent_dim: cli_config.LatentDim = None,
    beta: cli_config.Beta = None,
    prior: cli_config.Prior = None,
    temperature: cli_config.Temperature = None,
    device: cli_config.Device = None,
    threads: cli_config.Threads = None,
    workers: cli_config.Workers = None,
    model_name: cli_config.ModelName = None,
    config_file: cli_config.ConfigFile = None,
    as_json: cli_config.AsJson = False,
) -> None:
    """Train a generator on DATA, measure it, register it, and write synthetic + augmented Parquet."""
    flags = {k: v for k, v in locals().items() if k not in ("config_file", "as_json")}
    summary = _run_job(config_file, flags)
    if as_json:
        from pipeline.run_record import summary_json

        print(json.dumps(summary_json(summary), default=str))
    _print_run_summary(summary)


def _run_job(config_file: str | None, flags: dict[str, Any]) -> dict[str, Any]:
    """The run's summary. The environment, the flags and the data are checked first, so bad
    input fails in seconds, before any server starts or file is written; every failure goes
    to _fail (a clear message, or re-raised)."""
    from flows.settings import configure_environment

    try:
        configure_environment()  # the environment is checked first: a bad variable is one message
        from flows.handoff import handed
        from pipeline.job import validate

        config = cli_config.run_config(config_file, flags)
        validated = validate(config)  # bad input fails here, in seconds, before any server starts or file is written
        with _claimed(config.out_dir, [config.data.source], "run"):  # a refused --out: before any work
            with handed("validated", config.model_dump_json(), validated):  # the flow's load-data takes it
                return _run_flow(config, validated[0].notes)
    except Exception as exc:  # noqa: BLE001 - turned into a clear message or re-raised
        _fail(exc)


def _run_flow(config: RunConfig, notes: list[str]) -> dict[str, Any]:
    """The augment flow on the home's Prefect server, once the tracking store and the servers
    pass their checks; its summary, with the command's log file."""
    from flows.settings import artifacts_root, check_servers
    from pipeline.checks import check_tracking_store, tracking_uri_for

    check_tracking_store(tracking_uri_for(artifacts_root()))
    check_servers()
    _notes(notes)
    source = escape_text(config.data.source)
    console.print(f"[bold]augment[/] {source}: data ok; starting Prefect and MLflow ...")
    from flows.local_server import api_for_run

    with api_for_run(artifacts_root()) as server_ready:
        from flows.augment import augment_flow
        from flows.console import hide_product_tracebacks
        from flows.run_log import run_log

        server_ready()
        hide_product_tracebacks()
        with run_log(artifacts_root(), "run") as log:
            # bars live on a terminal; elsewhere each is printed once, where its step ended
            return augment_flow(config, progress=True) | {"log": str(log)}


def escape_text(text: object) -> str:
    from rich.markup import escape

    return escape(str(text))


def _print_run_summary(s: dict) -> None:
    """What a user reads after a run: rows per class as asked and delivered, the gate's
    verdict in one sentence, and where everything went. User text is escaped."""
    e, g = escape_text, s["gate"]
    if s["per_class"]:
        console.print(class_table(s))
    else:
        console.print(f"no synthetic rows: the shipped training set ({e(g.shipped)}) adds none")
    for cls, missing in s["short"].items():
        st = s["per_class"][cls]
        console.print(
            f"[yellow]class {e(cls)}: delivered {st['delivered']} of {st['requested']}[/] "
            f"({missing} short after {st['generated']} generated rows failed or ran out)"
        )
    th = s["thresholds"]
    console.print(
        f"shipped rows: {s['accepted_rows']} of {s['synthetic_rows']} generated (accept = {th['accept']}; "
        f"realism >= {th['realism']:.2f}, authenticity > {th['authenticity']:.2f}, from real-vs-real)"
    )
    shipped = s["generator"] if g.shipped is None else g.shipped
    console.print(
        f"outputs:   {e(s['out_dir'])}\n  {e(s['synthetic'])}\n  {e(s['augmented'])} "
        f"(train on this: {sum(s['real_counts'].values())} real rows + {g.synthetic_rows or 0} "
        f"rows of {e(shipped)})\n  {e(s['quality_report'][1])}"
    )
    console.print(f"MLflow:    run {s['mlflow']['run_id']} at {e(s['mlflow']['tracking_uri'])}")
    if s.get("log"):
        console.print(f"log:       {e(s['log'])} (Prefect's and MLflow's own messages)")
    champion = f", also models:/{s['model']['name']}@champion" if g.promoted else ""
    console.print(f"model:     {e(s['model']['alias_uri'])} (version {s['model']['version']}){e(champion)}")
    t = s["train"]
    trained = (
        f"reused from run {t['reused_from_run']}"
        if "reused_from_run" in t
        else f"{t['epochs']} epochs on {t['device']} ({t['arch']}), {t['samples_per_s']:.0f} samples/s"
        if "epochs" in t
        else t["generator"]
    )
    console.print(f"training:  {trained}; total {s['seconds']:.1f} s")
    _print_gate(g)


def class_table(s: dict) -> Table:
    """Rows per class as asked and delivered, with their scores. Light borders and headers that
    wrap between words keep it within 80 columns; a long class name wraps, no word is cut."""
    from rich import box

    e = escape_text
    title = f"synthetic.parquet: rows per class ({e(s.get('synthetic_generator', s['generator']))})"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("class", overflow="fold", min_width=5)
    for col in ("real", "asked", "delivered", "generated", "follows\nlabel", "fidelity", "DCR/NN"):
        table.add_column(col, justify="right", no_wrap=True)
    for cls, st in s["per_class"].items():
        cells = [st.get("requested", 0), st.get("delivered", 0), st.get("rows", 0)]
        scores = (
            [f"{st['follows_label']:.0%}", f"{st['label_fidelity']:.2f}", f"{st['dcr_relative_median']:.2f}"]
            if st.get("rows")
            else ["-", "-", "-"]
        )
        table.add_row(e(cls), str(s["real_counts"].get(cls, 0)), *map(str, cells), *scores)
    return table


def _print_gate(g: GateResult) -> None:
    """The gate last, where the eye lands: the promotion (its own statistic, on its own line), rare
    classes, then which training set to use, every option in one metric (macro-F1, every class
    weighing the same): measured on the user's folds, typical on similar data sets, expected."""
    e = escape_text
    colour = "green" if g.promoted else "yellow"
    summary = g.promotion.summary or "; ".join(g.reasons)
    whose = e(g.product or "")
    console.print(f"[bold {colour}]gate: {g.decision}[/] (promotion of the {whose} rows): " + e(summary))
    for cls, r in g.rare_class_recall.items():
        console.print(
            f"  rare class {e(cls)}: recall {r.real_only:.0%} on real rows alone, "
            f"{r.augmented:.0%} with the {e(g.product or 'synthetic')} rows"
        )
    advice, options = g.recommendation, g.options
    if advice is not None:
        console.print(
            f"options (macro-F1 points over real rows alone, every class weighing the same, judge {g.judge}):"
            " measured on your folds / typical on similar data sets / expected (ranks them)"
        )
        for m in sorted(options, key=lambda n: -options[n].expected_gain):
            mark = "  <- recommended" if m == advice.method else ""
            console.print("  " + e(f"{m:18s} {option_cells(options[m])}{mark}"))
        line = f"recommended: {advice.method} measured {advice.gain:+.1f} [{advice.lower_bound:+.1f}, "
        line += f"{advice.upper_bound:+.1f}]"
        if advice.runner_up:
            line += f"; runner-up: {advice.runner_up} measured {options[advice.runner_up].gain:+.1f}"
        console.print(f"[bold]{e(line)}[/]")
        if g.shipped_note:
            console.print(e(g.shipped_note))
    console.print(f"[bold]{e(g.verdict)}[/]")


def option_cells(o: OptionGain) -> str:
    """'+x.y / +x.y / +x.y': an option's measured, typical and expected gain ('-' where absent)."""
    cells = [o.gain, o.typical_gain, o.expected_gain]
    return " / ".join("-" if v is None else f"{v:+.1f}" for v in cells)


@app.command()
def generate(
    model: str = typer.Option(..., "--model", help="models:/<name>@<alias> or models:/<name>/<version>"),
    per_class: Optional[int] = typer.Option(None, "--per-class"),
    balance_to: Optional[int] = typer.Option(None, "--balance-to"),
    classes: Optional[str] = typer.Option(None, "--classes"),
    out: Optional[str] = typer.Option(None, "--out"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sample rows from a registered model (no training data needed) into synthetic.parquet."""
    from flows.settings import configure_environment

    try:
        configure_environment()
        from flows.settings import artifacts_root, check_servers
        from pipeline.checks import check_seed, split_list, tracking_uri_for
        from pipeline.config import SampleConfig, parse_model_uri

        check_seed(seed)
        sample = SampleConfig(per_class=per_class, balance_to=balance_to, classes=split_list(classes, "--classes"))
        parse_model_uri(model)
        with _claimed(out, [], "generate"):
            check_servers()
            # the model, its version, files and classes: refused here, not from inside the flow,
            # which takes the model loaded here (flows/handoff.py) instead of loading it again
            from flows.handoff import handed
            from pipeline.tracking import check_registered

            tracking_uri = tracking_uri_for(artifacts_root())
            loaded = check_registered(model, tracking_uri, sample, seed)
            from flows.local_server import api_for_run

            with api_for_run(artifacts_root()) as server_ready:
                from flows.console import hide_product_tracebacks
                from flows.generate import generate_flow
                from flows.run_log import run_log

                server_ready()
                hide_product_tracebacks()
                with run_log(artifacts_root(), "generate"), handed("registered", f"{model} {tracking_uri}", loaded):
                    result = generate_flow(model, sample, seed=seed, out_dir=out)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    if as_json:
        print(json.dumps(result, default=str))
    version = result.get("model_version", "?")
    console.print(
        f"wrote {result['rows']} rows to {escape_text(result['path'])} from {escape_text(model)} (version {version})"
    )
    console.print("per class: " + escape_text(", ".join(f"{c}: {n}" for c, n in result["counts"].items())))


@app.command()
def score(
    real: str = typer.Option(..., "--real", help="Parquet or CSV file (or folder / built-in) with the real rows"),
    synthetic: str = typer.Option(..., "--synthetic", help="Parquet or CSV file with synthetic rows (any tool's)"),
    label: str = typer.Option(..., "--label", help="label column, present in both"),
    out: Optional[str] = typer.Option(
        None, "--out", help="folder for scored.parquet and the report (default: beside --synthetic)"
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Score every synthetic row against the real rows and write the quality report."""
    from pathlib import Path

    try:
        from flows.settings import artifacts_root, check_environment
        from pipeline.checks import check_seed
        from pipeline.quality.score_file import score_file

        check_environment()
        check_seed(seed)
        out = out or str(Path(synthetic).parent / "scored")
        result = score_file(real, synthetic, label, out, seed=seed, home=artifacts_root())
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    o = result["report"]["overall"]
    console.print(
        f"scored {o['rows']} rows: accepted {o['accepted_share']:.1%}, follows label {o['follows_label']:.1%}, "
        f"precision {o['precision']:.2f}, coverage {o['coverage']:.2f}"
    )
    console.print(f"wrote {result['scored']} and {Path(result['scored']).parent / 'quality_report.md'}")


server_app = typer.Typer(
    help="What runs in the background between runs (embedded default only): the local Prefect server "
    "and the warm runner."
)
app.add_typer(server_app, name="server")


@server_app.command("status")
def server_status() -> None:
    """Show the local Prefect server and the warm runner of this artifacts home, if they run."""
    from flows import local_server, runner_state
    from flows.settings import artifacts_root

    root = artifacts_root()
    server = local_server.status(root)
    _print_background("local Prefect server", server, root, server and server["url"])
    _print_background("warm runner", runner_state.status(root), root)


def _print_background(what: str, state: dict | None, root: object, where: str | None = None) -> None:
    """One line about a background process of this home: its PID, whether it is ready, how
    long it has been idle and when it stops by itself."""
    if state is None:
        console.print(f"no {what} runs for " + escape_text(root))
        return
    console.print(
        f"{what}: pid {state['pid']}, {escape_text(where) + ', ' if where else ''}"
        f"{'ready' if state['ready'] else 'starting'}, idle {state['idle_seconds']} s "
        f"(stops by itself after {state['stops_after_idle_seconds']} s idle)"
    )


@server_app.command("stop")
def server_stop(
    force: bool = typer.Option(False, "--force", help="interrupt the runs of this home first (as Ctrl-C would)"),
) -> None:
    """Stop the local Prefect server and the warm runner of this artifacts home; refused while a
    run of the home is in progress, unless --force interrupts it first."""
    from flows import activity, local_server, runner_state
    from flows.settings import artifacts_root
    from pipeline.errors import AugmentError

    root = artifacts_root()
    busy = activity.in_progress(root)
    if busy and not force:
        _fail(
            AugmentError(
                "a run of this artifacts home is in progress: " + "; ".join(map(activity.describe, busy)),
                "wait until it ends, or `augment server stop --force` to interrupt it first (it stops as after "
                "Ctrl-C: nothing registered, the previous outputs kept)",
            )
        )
    if busy:
        _interrupt(root, busy)
    stopped = runner_state.stop(root)  # first: a runner that is starting would start the server again
    console.print(
        "stopped the local Prefect server" if local_server.stop(root) else "no local Prefect server was running"
    )
    console.print("stopped the warm runner" if stopped else "no warm runner was running")


def _interrupt(root: object, busy: list[dict], patience: float = 60.0) -> None:
    """Ctrl-C to each run of the home, then SIGTERM to any still running after `patience` s."""
    import os
    import signal
    import time

    from flows import activity

    for signum in (signal.SIGINT, signal.SIGTERM):
        for entry in busy:
            console.print(f"interrupting {escape_text(activity.describe(entry))}")
            try:
                os.kill(entry["pid"], signum)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + patience
        while (busy := activity.in_progress(root)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not busy:
            return


@app.command()
def datasets() -> None:
    """List the built-in data sets (shipped inside installed packages, no download)."""
    from pipeline.data.builtin import BUILTINS

    for name, loader in BUILTINS.items():
        print(f"{name:14s} {(loader.__doc__ or '').strip().splitlines()[0] if loader.__doc__ else ''}")


if __name__ == "__main__":
    app()
