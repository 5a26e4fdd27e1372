"""Shared ending of every benchmark: print the table, write the JSON beside it."""

from __future__ import annotations

import json
from pathlib import Path


def publish(results: dict, table: str, json_path: str) -> dict:
    print(table)
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {path}")
    return results
