"""The gate's sentences: what `champion` means, the verdict, what augmented.parquet holds.

The report and the console print them as they are; the numbers in them are the decision's
(pipeline/quality/gate.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.quality.menu import REAL_ONLY, Option
from pipeline.quality.promotion import WORDS

if TYPE_CHECKING:
    from pipeline.quality.result import GateResult, OptionGain, Recommendation


def meaning(product: str, metric: str, bar: float, confidence: float | None) -> str:
    """What `champion` means, in the words the report and the console print."""
    level = "" if confidence is None else f"one-sided {100 * confidence:g} % "
    return (
        f"champion means the {product} rows help: the {level}lower bound of their {WORDS[metric]} gain "
        f"over your real rows alone, on held-out real rows, must be above {bar:+g}"
    )


def verdict(options: list[Option], measured: dict[str, OptionGain], advice: Recommendation) -> str:
    """One sentence a user can follow: which training set, how sure, and the others' gains."""
    words = {o.name: o.words for o in options}
    chosen = advice.method
    others = ", ".join(f"{m} {v.gain:+.1f}" for m, v in measured.items() if m not in (chosen, REAL_ONLY))
    gain = measured[chosen].gain
    head = f"Train on {words.get(chosen, chosen)} ({chosen}"
    head += ")" if chosen == REAL_ONLY else f", {gain:+.1f} macro-F1 points over your real rows alone)"
    return f"{head}: {advice.why}." + (f" Others: {others}." if others else "")


def shipped_note(gate: GateResult, shipped: str, asked: str = "auto") -> str:
    """What augmented.parquet holds, next to the advice. `asked` is the run's --generator: under
    `auto` the file is the advice (or, where nothing was measured, menu.UNMEASURED's option)."""
    advice = gate.recommendation
    if asked == "auto" and advice is None:
        return (
            f"augmented.parquet holds {shipped}: nothing was measured here, so it is the option that "
            "measured best across the project's benchmarks."
        )
    if advice is None or advice.method == shipped:
        return f"augmented.parquet holds {shipped}" + (", the recommended training set." if advice is not None else ".")
    return (
        f"augmented.parquet holds {shipped}, as asked (--generator {asked}); the recommended training set "
        f"is {advice.method}, which --generator auto (the default) ships."
    )
