"""Label checks that every source passes before anything is trained or written."""

from __future__ import annotations

import unicodedata

import pandas as pd

from pipeline.errors import DataError, cut

MIN_ROWS_PER_CLASS = 2


def validate_frame(frame: pd.DataFrame, label: str, where: str) -> None:
    """Reject data a class-conditional generator cannot learn from, naming the fix."""
    if len(frame) == 0:
        raise DataError(f"{where}: the table is empty", "give a source with at least two labelled rows per class")
    labels = frame[label]
    _refuse_unhashable(labels, label, where)
    missing = labels.isna()
    if missing.all():
        raise DataError(
            f"{where}: label column {cut(label, 60)!r} has no values: every row's label is missing",
            "check --label: it must name the column that holds each row's class",
        )
    if missing.any():
        rows = frame.index[missing].tolist()
        shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
        raise DataError(
            f"{where}: {len(rows)} row(s) have no label in column {label!r} (rows {shown})",
            "fill in their labels, leave them out (--unlabelled drop), or let the model learn the data's "
            "shape from them too (--unlabelled use)",
        )
    refuse_look_alike_names(
        [v for v in labels.unique() if isinstance(v, str)], f"{where}: classes in column {cut(label, 60)!r}"
    )
    _refuse_unclear_names(labels, label, where)
    counts = labels.value_counts(sort=False)
    counts = counts[counts > 0]  # a categorical label's levels that no row has are not classes
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


def _refuse_unhashable(labels: pd.Series, label: str, where: str) -> None:
    """A label is a class name: a list, array or struct (dict) cannot name a class, and pandas
    fails on it with "unhashable type" deep inside counting."""
    if not pd.api.types.is_object_dtype(labels.dtype):
        return
    for row, value in labels.items():
        try:
            hash(value)
        except TypeError:
            kind = "a struct" if isinstance(value, dict) else "a list" if hasattr(value, "__len__") else "a value"
            raise DataError(
                f"{where}: label column {cut(label, 60)!r} holds {kind} (row {row}: {cut(repr(value), 60)}), "
                "not a class name",
                "pass --label with a column of text, numbers or booleans, one class name per row",
            ) from None


def refuse_look_alike_names(names: list[str], what: str) -> None:
    """Two names that differ only in Unicode normalisation ("é" as one character or as e and
    an accent; macOS writes the second) print the same: as two classes they would be a silent split."""
    seen: dict[str, str] = {}
    for name in names:
        key = unicodedata.normalize("NFC", name)
        if key in seen and seen[key] != name:
            raise DataError(
                f"{what} {seen[key]!r} and {name!r} differ only in Unicode normalisation "
                f"({ascii(seen[key])} and {ascii(name)}): they print as one name",
                "rename or merge them so each class has one spelling (e.g. unicodedata.normalize('NFC', name))",
            )
        seen.setdefault(key, name)


def _refuse_unclear_names(labels: pd.Series, label: str, where: str) -> None:
    """Class names written as text that print as nothing (" ") or name one number twice ("1" and
    "1.0", as a column exported once as integers and once as floats): each would be a class of
    its own without a word."""
    names = [v for v in pd.unique(labels.dropna()) if isinstance(v, str)]
    blank = [v for v in names if not v.strip()]
    if blank:
        rows = int(labels.isin(blank).sum())
        raise DataError(
            f"{where}: label column {cut(label, 60)!r} holds class name(s) of only spaces "
            f"({cut(blank, 60)}, {rows} row(s))",
            "name the class, or leave the field empty for a row without a label (then pass --unlabelled drop or use)",
        )
    numbers: dict[float, str] = {}
    for name in names:
        try:
            value = float(name)
        except ValueError:
            continue
        other = numbers.setdefault(value, name)
        if other != name and ("." in other or "." in name):
            raise DataError(
                f"{where}: label column {cut(label, 60)!r} holds {other!r} and {name!r}, one number written two ways: "
                "they would be two classes",
                "write each class one way (e.g. all as whole numbers) before augmenting",
            )
