"""`augment run`'s flags: what each is (its name and help line, for flows/cli.py) and how it
overrides a RunConfig. The defaults live in pipeline/config.py only (the help lines quote
them); `--config run.json` gives the starting point; any flag given on top replaces its field.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperOption

from pipeline import catalog
from pipeline.checks import invalid_setting, read_config_file, split_list
from pipeline.config import RunConfig
from pipeline.errors import ConfigError


def _default(dotted: str, words: str = "") -> str:
    """'(default: VALUE)' of a RunConfig field as pipeline/config.py sets it, for --help."""
    model, *parents, leaf = [RunConfig, *dotted.split(".")]
    for name in parents:
        model = model.model_fields[name].annotation
    value = model.model_fields[leaf].default
    shown = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    return f"(default: {shown}{words}; a --config file may set it)"


class RunCommand(TyperCommand):
    """`augment run`, whose --generator help is read from the catalog as the help is printed: a
    generator registered after this module was imported is listed too."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if param.name == "generator" and isinstance(param, TyperOption):
                param.help = generator_help()
        return params


# the flags of `augment run`, in the order of its parameters (flows/cli.py)
Data = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        help="Parquet or CSV file/folder (.csv, .tsv, .csv.gz), image folder, or built-in: digits, mnist, iris, "
        "wine, breast_cancer, penguins",
    ),
]
Label = Annotated[Optional[str], typer.Option("--label", help="label column (built-ins know theirs)")]
PerClass = Annotated[Optional[int], typer.Option("--per-class", help="synthetic rows to deliver for each class")]
BalanceTo = Annotated[Optional[int], typer.Option("--balance-to", help="bring each class below N up to N rows")]
Classes = Annotated[Optional[str], typer.Option("--classes", help="comma-separated classes to generate (default: all)")]
Columns = Annotated[Optional[str], typer.Option("--columns", help="comma-separated feature columns (default: all)")]
RealPerClass = Annotated[Optional[int], typer.Option("--real-per-class", help="use only K real rows per class")]
Unlabelled = Annotated[
    Optional[str],
    typer.Option(
        "--unlabelled", help="rows without a label: error, drop, or use (--generator pseudo_label labels them)"
    ),
]
ImagePaths = Annotated[
    Optional[bool],
    typer.Option("--image-paths", help="read images stored only as a path (files under the data's folder)"),
]


def generator_help() -> str:
    """--generator's help: the generators registered in pipeline/catalog.py, then auto."""
    auto = "or auto (train the CVAE, ship the training set the gate recommends) " + _default("generator")
    return f"{catalog.generator_help()}, {auto}"


Generator = Annotated[Optional[str], typer.Option("--generator", help=generator_help())]
Judge = Annotated[
    Optional[str],
    typer.Option(
        "--judge",
        help="the classifier you will train, which the gate measures every option with: "
        "logistic, forest, boosting or cnn (images) "
        + _default("quality.judge", ": logistic for tables, cnn for images"),
    ),
]
Strategy = Annotated[
    Optional[str], typer.Option("--strategy", help="CVAE sampling: prior or transfer " + _default("sample.strategy"))
]
Accept = Annotated[
    Optional[str],
    typer.Option(
        "--accept",
        help="rows that ship: auto, quality, label or all "
        + _default("quality.accept", ": all for tables, quality for images"),
    ),
]
Gate = Annotated[
    Optional[bool],
    typer.Option("--gate/--no-gate", help="measure the gain before promoting " + _default("quality.evaluate")),
]
Out = Annotated[Optional[str], typer.Option("--out", help="output folder (default: artifacts/runs/<data>-<time>/)")]
Seed = Annotated[
    Optional[int], typer.Option("--seed", help="same seed, data and config: same rows on the CPU " + _default("seed"))
]
Epochs = Annotated[Optional[int], typer.Option("--epochs", help="training epochs (default: sized to the data)")]
Arch = Annotated[
    Optional[str],
    typer.Option("--arch", help="auto, mlp or conv " + _default("model.arch", ": conv for images of 16 px or more")),
]
LatentDim = Annotated[
    Optional[int], typer.Option("--latent-dim", help="latent units of the CVAE " + _default("model.latent_dim"))
]
Beta = Annotated[Optional[float], typer.Option("--beta", help="weight of the KL term " + _default("model.beta"))]
Prior = Annotated[
    Optional[str], typer.Option("--prior", help="standard or learned (per-class mean) " + _default("model.prior"))
]
Temperature = Annotated[
    Optional[float],
    typer.Option("--temperature", help="latent noise scale when sampling " + _default("sample.temperature")),
]
Device = Annotated[Optional[str], typer.Option("--device", help="auto, cpu or cuda " + _default("train.device"))]
Threads = Annotated[Optional[int], typer.Option("--threads", help="torch CPU threads (default 1)")]
Workers = Annotated[
    Optional[int],
    typer.Option("--workers", help="processes for the gate's fits (default: the cores this process may use)"),
]
ModelName = Annotated[Optional[str], typer.Option("--model-name", help="registry name (default augment-<data>)")]
ConfigFile = Annotated[Optional[str], typer.Option("--config", help="JSON RunConfig; flags given override it")]
AsJson = Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")]


# flag name (as the run command's parameter) -> dotted field of RunConfig
FIELDS = {
    "data": "data.source",
    "label": "data.label",
    "columns": "data.columns",
    "real_per_class": "data.real_per_class",
    "unlabelled": "data.unlabelled",
    "image_paths": "data.image_paths",
    "per_class": "sample.per_class",
    "balance_to": "sample.balance_to",
    "classes": "sample.classes",
    "strategy": "sample.strategy",
    "temperature": "sample.temperature",
    "epochs": "train.epochs",
    "device": "train.device",
    "threads": "train.threads",
    "workers": "quality.workers",
    "arch": "model.arch",
    "latent_dim": "model.latent_dim",
    "beta": "model.beta",
    "prior": "model.prior",
    "accept": "quality.accept",
    "gate": "quality.evaluate",
    "judge": "quality.judge",
    "generator": "generator",
    "seed": "seed",
    "out": "out_dir",
    "model_name": "model_name",
}
LISTS = {"columns", "classes"}
COUNTS = ("sample.per_class", "sample.balance_to")  # a flag for either replaces the config file's count


def run_config(config_file: str | None, flags: dict[str, Any]) -> RunConfig:
    """The file's config (if any) with every flag that was given laid over it, validated."""
    base = read_config_file(config_file) if config_file else {}
    if flags.get("per_class") is not None or flags.get("balance_to") is not None:
        for field in COUNTS:
            _set(base, field, None)
    for flag, value in flags.items():
        if value is None:
            continue
        if flag in LISTS:
            value = split_list(value, "--" + flag)
        _set(base, FIELDS[flag], value)
    if "data" not in base or "source" not in base.get("data", {}):
        raise ConfigError("no data given", "pass --data (a Parquet file or folder, an image folder or a built-in set)")
    base.setdefault("sample", {})  # no count at all: SampleConfig says how to give one (checks.one_count)
    from pydantic import ValidationError

    try:
        return RunConfig.model_validate(base)
    except ValidationError as exc:  # named by the flag given, else by the config file's field
        given = {FIELDS[f]: "--" + f.replace("_", "-") for f, v in flags.items() if v is not None and f in FIELDS}
        raise invalid_setting(exc, given) from None


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config field {key!r} must be an object", "see pipeline/config.py for the shape")
        tree = node
    tree[leaf] = value
