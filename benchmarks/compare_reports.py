"""Two runs' quality_report.json, compared: the same keys, the same decisions and
recommendation, every number within a tolerance (a refactor must leave a run's report as it was).

    .venv/bin/python benchmarks/compare_reports.py before/quality_report.json after/quality_report.json
    .venv/bin/python benchmarks/compare_reports.py a.json b.json --tolerance 1e-4

Numbers (not booleans) may differ by at most the tolerance (absolute, default 1e-6); every
other value (words, booleans, nulls) must be equal. Prints each difference by its dotted key
and exits 1 if there is any, 0 (with one line saying so) if there is none.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

# the answers of the gate, named first when they differ
DECISIONS = ("gate.decision", "gate.promoted", "gate.promotion.decision", "gate.recommendation.method", "gate.shipped")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def differences(before: Any, after: Any, tolerance: float, key: str = "") -> list[str]:
    """Every difference between two JSON values, one line each, by dotted key."""
    where = key or "(the report)"
    if isinstance(before, dict) and isinstance(after, dict):
        inner = {k: f"{key}.{k}" if key else str(k) for k in (*before, *after)}
        found = [f"{inner[k]}: only in the first" for k in before if k not in after]
        found += [f"{inner[k]}: only in the second" for k in after if k not in before]
        for k in before:
            if k in after:
                found += differences(before[k], after[k], tolerance, inner[k])
        return found
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{where}: {len(before)} items, then {len(after)}"]
        found = []
        for i, (a, b) in enumerate(zip(before, after)):
            found += differences(a, b, tolerance, f"{key}[{i}]")
        return found
    if _number(before) and _number(after):
        if math.isnan(before) and math.isnan(after):
            return []
        gap = abs(before - after)
        return [] if gap <= tolerance else [f"{where}: {before!r} then {after!r} (apart by {gap:.3g})"]
    return [] if before == after and type(before) is type(after) else [f"{where}: {before!r} then {after!r}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="a quality_report.json (e.g. before a change)")
    parser.add_argument("second", type=Path, help="another quality_report.json (e.g. after it)")
    parser.add_argument("--tolerance", type=float, default=1e-6, help="largest absolute difference of a number")
    args = parser.parse_args(argv)
    before = json.loads(args.first.read_text(encoding="utf-8"))
    after = json.loads(args.second.read_text(encoding="utf-8"))
    found = differences(before, after, args.tolerance)
    if not found:
        print(f"same keys, decisions and recommendation; every number within {args.tolerance:g}")
        return 0
    first = [line for line in found if line.split(":")[0] in DECISIONS]
    for line in first + [line for line in found if line not in first]:
        print(line)
    print(f"{len(found)} difference(s), {len(first)} of them in the decisions and recommendation")
    return 1


if __name__ == "__main__":
    sys.exit(main())
