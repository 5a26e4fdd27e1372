"""The gate's result as types: what pipeline/quality/gate.py decide() found, and what the run
adds once it has shipped a training set.

Every reader (the report, the console, the MLflow record, the plots, the Python API) reads the
attributes. quality_report.json's `gate` section is a pinned contract (its keys and their order:
tests/test_gate_result.py), and GateResult.to_json() is the one place it is written. A gate that
measured nothing (a class too small to hold out, the gate turned off) writes fewer keys, in an
order of its own: `measured` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline.catalog import REAL_ONLY

if TYPE_CHECKING:
    from pipeline.quality.promotion import Interval


@dataclass(frozen=True)
class OptionGain:
    """One training set of the menu in macro-F1 points over the real rows alone, every class
    weighing the same: measured on the user's folds (gain, paired bootstrap bounds), typical on
    similar data sets (None where no typical gains are known), and the expected gain that ranks it."""

    gain: float
    lower_bound: float
    upper_bound: float
    expected_gain: float
    typical_gain: float | None = None

    def to_json(self) -> dict[str, float]:
        out = {"gain": self.gain, "lower_bound": self.lower_bound, "upper_bound": self.upper_bound}
        if self.typical_gain is not None:
            out["typical_gain"] = self.typical_gain
        return out | {"expected_gain": self.expected_gain}


@dataclass(frozen=True)
class Recommendation:
    """The option to train on: its measured gain and bounds, why it was chosen, and the ranking
    behind it (expected and typical gains per option, the weight of this run's own measurement)."""

    method: str
    gain: float
    lower_bound: float
    upper_bound: float
    why: str
    runner_up: str | None
    expected_gains: dict[str, float]
    typical_gains: dict[str, float]
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "gain": self.gain,
            "lower_bound": self.lower_bound,
            "upper_bound": self.upper_bound,
            "why": self.why,
            "runner_up": self.runner_up,
            "expected_gains": dict(self.expected_gains),
            "typical_gains": dict(self.typical_gains),
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Promotion:
    """Whether the product's rows become `champion`: the statistic, its gain and bounds against
    the bar (`margin`), the decision with its reason, and what `champion` means. `by_metric`
    (the product's gain under every statistic) is None where nothing was measured; there the
    bounds are None and the one-sided level is not written."""

    metric: str
    gain: float | None
    lower_bound: float | None
    upper_bound: float | None
    margin: float
    decision: str
    why: str
    means: str
    summary: str
    confidence: float | None = None
    by_metric: dict[str, Interval] | None = None

    @property
    def measured(self) -> bool:
        return self.by_metric is not None

    def to_json(self) -> dict[str, Any]:
        head = {"metric": self.metric, "gain": self.gain, "lower_bound": self.lower_bound}
        head |= {"upper_bound": self.upper_bound, "margin": self.margin}
        if self.by_metric is None:
            return head | {"decision": self.decision, "why": self.why, "summary": self.summary, "means": self.means}
        return head | {
            "confidence": self.confidence,
            "decision": self.decision,
            "why": self.why,
            "means": self.means,
            "summary": self.summary,
            "by_metric": {m: iv.as_dict() for m, iv in self.by_metric.items()},
        }


@dataclass(frozen=True)
class ClassRecall:
    """A rare class's recall on held-out rows: with the real rows alone, with the product's rows
    (`augmented`), and with every other option's (`others`, by option name)."""

    real_only: float
    augmented: float
    others: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, float]:
        return {"real_only": self.real_only, "augmented": self.augmented} | self.others


@dataclass(frozen=True)
class GateResult:
    """The report's `gate` section. The gate fills everything up to `rare_class_recall`
    (pipeline/quality/gate.py); `synthetic_rows`, `shipped` and `shipped_note` are the run's,
    set with `shipping` once a training set has shipped (None: not shipped, not written)."""

    margin: float
    confidence: float
    judge: str  # the user's classifier (--judge) that measured every option
    options_weighting: str  # "classes": every class weighs the same in the options' macro-F1; "rows"
    promotion: Promotion
    reasons: tuple[str, ...]
    verdict: str
    gain: float | None = None  # the product's macro-F1 gain, every row weighing the same
    lower_bound: float | None = None
    upper_bound: float | None = None
    eval_rows: int = 0
    folds: int | None = None  # None: nothing was measured
    repeats: int | None = None
    synthetic_rows_per_fold: float | None = None
    product: str | None = None
    options: dict[str, OptionGain] = field(default_factory=dict)
    recommendation: Recommendation | None = None
    rare_class_recall: dict[str, ClassRecall] = field(default_factory=dict)
    metric: str = "macro_f1"
    synthetic_rows: int | None = None  # rows the shipped training set adds to the real ones
    shipped: str | None = None  # what augmented.parquet holds
    shipped_note: str | None = None  # that, in words, beside the advice

    @property
    def measured(self) -> bool:
        """Whether the options were measured (else `reasons` says why not)."""
        return self.folds is not None

    @property
    def decision(self) -> str:
        return self.promotion.decision

    @property
    def promoted(self) -> bool:
        return self.decision == "promote"

    @property
    def baselines(self) -> dict[str, OptionGain]:
        """The options other than the product and the real rows alone, which the product is measured beside."""
        return {m: o for m, o in self.options.items() if m not in (self.product, REAL_ONLY)}

    def shipping(self, shipped: str, synthetic_rows: int, note: str | None = None) -> GateResult:
        """This result with what the run shipped: the option (or generator) and the rows it adds."""
        return replace(self, shipped=shipped, synthetic_rows=synthetic_rows, shipped_note=note)

    def to_json(self) -> dict[str, Any]:
        """quality_report.json's `gate` section, key for key as the gate has written it."""
        keys = HEAD + (MEASURED if self.measured else UNMEASURED)
        keys += tuple(k for k in SHIPPED if getattr(self, k) is not None)
        out = {k: _plain(getattr(self, k)) for k in keys}
        if "baselines" in out:  # written as the gain and its lower bound alone
            out["baselines"] = {m: {"gain": o.gain, "lower_bound": o.lower_bound} for m, o in self.baselines.items()}
        return out


HEAD = ("metric", "margin", "confidence", "judge", "options_weighting")
MEASURED = (
    "decision",
    "promoted",
    "promotion",
    "gain",
    "lower_bound",
    "upper_bound",
    "eval_rows",
    "folds",
    "repeats",
    "synthetic_rows_per_fold",
    "product",
    "options",
    "recommendation",
    "baselines",
    "rare_class_recall",
    "reasons",
    "verdict",
)
UNMEASURED = (
    "decision",
    "promoted",
    "gain",
    "lower_bound",
    "eval_rows",
    "options",
    "recommendation",
    "promotion",
    "baselines",
    "reasons",
    "verdict",
)
SHIPPED = ("synthetic_rows", "shipped", "shipped_note")


def _plain(value: Any) -> Any:
    """A field as JSON: a record through its to_json, dicts and tuples element by element."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
