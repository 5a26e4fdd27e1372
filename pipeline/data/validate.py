"""Label checks that every source passes before anything is trained or written."""

from __future__ import annotations

import pandas as pd

from pipeline.errors import DataError

MIN_ROWS_PER_CLASS = 2


def validate_frame(frame: pd.DataFrame, label: str, where: str) -> None:
    """Reject data a class-conditional generator cannot learn from, naming the fix."""
    if len(frame) == 0:
        raise DataError(f"{where}: the table is empty", "give a source with at least two labelled rows per class")
    labels = frame[label]
    missing = labels.isna()
    if missing.any():
        rows = frame.index[missing].tolist()
        shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
        raise DataError(
            f"{where}: {len(rows)} row(s) have no label in column {label!r} (rows {shown})",
            "fill in their labels, leave them out (--unlabelled drop), or let the model learn the data's "
            "shape from them too (--unlabelled use)",
        )
    counts = labels.value_counts(sort=False)
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else None
        raise DataError(
            f"{where}: only one class ({only!r}) in column {label!r}",
            "a class-conditional generator needs at least two classes; check --label",
        )
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if len(small):
        named = ", ".join(f"{k!r} ({v} row)" for k, v in small.items())
        raise DataError(
            f"{where}: class(es) with fewer than {MIN_ROWS_PER_CLASS} rows: {named}",
            "add rows to those classes or drop them; one row cannot be learned or validated",
        )
