"""`augment run`'s flags as overrides of a RunConfig: the defaults live in pipeline/config.py
only. `--config run.json` gives the starting point; any flag given on top replaces its field.
"""

from __future__ import annotations

from typing import Any

from pipeline.checks import invalid_setting, read_config_file, split_list
from pipeline.config import RunConfig
from pipeline.errors import ConfigError

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
COUNTS = ("sample.per_class", "sample.balance_to")  # one of the two: a flag for one clears the other


def run_config(config_file: str | None, flags: dict[str, Any]) -> RunConfig:
    """The file's config (if any) with every flag that was given laid over it, validated."""
    base = read_config_file(config_file) if config_file else {}
    if flags.get("per_class") is not None and flags.get("balance_to") is not None:
        raise ConfigError(
            "both --per-class and --balance-to given", "pass exactly one of --per-class N or --balance-to N"
        )
    for flag, value in flags.items():
        if value is None:
            continue
        if flag in LISTS:
            value = split_list(value, "--" + flag)
        field = FIELDS[flag]
        if field in COUNTS:
            for other in COUNTS:
                _set(base, other, None)
        _set(base, field, value)
    if "data" not in base or "source" not in base.get("data", {}):
        raise ConfigError("no data given", "pass --data (a Parquet file or folder, an image folder or a built-in set)")
    if "sample" not in base:
        raise ConfigError("say how many synthetic rows to make", "pass --per-class N or --balance-to N")
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
