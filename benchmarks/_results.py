"""Shared ending of every benchmark: print the table, write the JSON beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


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
