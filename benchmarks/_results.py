"""What every benchmark shares: KEY=VALUE settings in, the table and its JSON out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

import torch
from pydantic import BaseModel

Settings = TypeVar("Settings", bound=BaseModel)


def _value(text: str):
    """A JSON value where the text is one (20, true, [1, 2]), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def pairs(items: list[str]) -> dict:
    """--train-arg style KEY=VALUE items as a dict of values."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = _value(value)
    return out


def settings(cls: type[Settings], items: list[str]) -> Settings:
    """A config (TrainConfig, QualityConfig...) from KEY=VALUE items."""
    return cls(**pairs(items))


def machine() -> dict:
    """Cores, the 1-minute load average now, and torch: what every figure is read against."""
    return {"cores": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__}


def publish(results: dict, table: str, json_path: str) -> dict:
    print(table)
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {path}")
    return results
