"""The advice's prior: what each option of the menu typically gains over the real rows alone on
data sets like the user's, and how much a run's own fold measurement weighs against it.

It is an artifact, advice_prior.json beside this module, rebuilt by one benchmark command
(`benchmarks/meta.py --learn`, from the meta-benchmark's cells; benchmarks/_learn.py chooses the
model by leave-data-set-out validation) and versioned with the package. The run only does
arithmetic on what its gate measured: a description of the data (`describe`: which bucket) picks
the typical gains, the smallest class's rows set the weight of the measured gains.

The artifact:

    version     int; 0 is the fallback (0.8's hand-kept averages), >= 1 learned
    tables      how many tables it learned from (None: not learned)
    shrink      {"kind": "fixed", "weight": w}: expected = w * measured + (1 - w) * typical
                {"kind": "evidence", "rows": n0}: w = m / (m + n0), m the smallest class's rows
    typical     "modality/judge" -> bucket -> option -> typical gain; bucket "all" is the fallback
    validation  what leave-data-set-out validation measured (reported, not used)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ADVICE_FILE = Path(__file__).with_name("advice_prior.json")
RARE_SHARE = 0.5  # a class is rare below this share of the largest class's rows (gate.RARE_SHARE)


def describe(counts: np.ndarray | None) -> str:
    """The bucket of a run's data for the typical gains: imbalanced when some class has fewer than
    RARE_SHARE of the largest class's rows."""
    if counts is None or not len(counts):
        return "all"
    counts = np.asarray(counts)
    return "imbalanced" if counts.min() < RARE_SHARE * counts.max() else "balanced"


@dataclass(frozen=True)
class Advice:
    version: int
    typical: dict[str, dict[str, dict[str, float]]]
    shrink: dict[str, Any]
    tables: int | None = None
    source: str = ""
    validation: dict | None = field(default=None)

    def typical_gains(self, modality: str, judge: str, counts: np.ndarray | None = None) -> dict[str, float]:
        """Each option's typical gain for this kind of data, judge and description ({} if none)."""
        buckets = self.typical.get(f"{modality}/{judge}") or {}
        return dict(buckets.get(describe(counts)) or buckets.get("all") or {})

    def weight(self, counts: np.ndarray | None = None) -> float:
        """The weight of the run's measured gain against the typical gain."""
        if self.shrink.get("kind") == "evidence":
            rows = float(np.min(counts)) if counts is not None and len(counts) else 0.0
            return rows / (rows + float(self.shrink["rows"]))
        return float(self.shrink.get("weight", 0.5))

    def overall(self) -> dict[tuple[str, str], dict[str, float]]:
        """The typical gains over every description: {(modality, judge): {option: gain}}."""
        out = {}
        for key, buckets in self.typical.items():
            modality, judge = key.split("/")
            if "all" in buckets:
                out[modality, judge] = dict(buckets["all"])
        return out

    def words(self) -> str:
        """Where the typical gains come from, for the recommendation's sentence."""
        if self.tables:
            return f"{self.tables} similar tables"
        return "the project's benchmark data sets"


def load_advice(path: Path = ADVICE_FILE) -> Advice:
    raw = json.loads(Path(path).read_text())
    return Advice(
        int(raw["version"]),
        raw["typical"],
        raw["shrink"],
        raw.get("tables"),
        raw.get("source", ""),
        raw.get("validation"),
    )
