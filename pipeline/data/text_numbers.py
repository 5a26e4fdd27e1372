"""Numbers written as text: decimal commas ("1,5"), thousands separators ("1,234"), percents ("12%").

Left as text they become categories (every synthetic value a copy of a real one) or look
like an ID. A column whose every value is a number in one unambiguous format is read as
numbers, and the run says so; a column that could mean two things ("1,234": one thousand or
one point two) or mixes formats is refused with how to convert it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from pipeline.errors import DataError, cut

# comma = thousands separator, dot = decimal mark ("1,234.5"); dot = thousands, comma = decimal ("1.234,5")
_US = re.compile(r"^[+-]?([1-9]\d{0,2}(,\d{3})+|\d+)(\.\d+)?$")
_EU = re.compile(r"^[+-]?([1-9]\d{0,2}(\.\d{3})+|\d+)(,\d+)?$")
_NUMBERISH = re.compile(r"^[+-]?[\d.,]*\d[\d.,]*\s?%?$")
MOSTLY = 0.8  # share of distinct values that must look like numbers for a mixed column to be named


@dataclass(frozen=True)
class Reading:
    """How a column's text is read as numbers."""

    thousands: str | None  # separator removed
    decimal: str  # mark turned into "."
    percent: bool  # value / 100
    words: str  # for the console


def numbers_in_text(
    frame: pd.DataFrame, columns: list[str], where: str, decimal_comma: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """`frame` with every text column of `columns` that holds numbers read as numbers, and one
    note per converted column; DataError for a column that holds numbers no single way.
    `decimal_comma`: the file separates its fields with ';', as where a comma is the decimal
    mark, so "1,234" is read as 1.234 rather than refused as ambiguous."""
    notes: list[str] = []
    found: dict[str, tuple[list[str], str]] = {}  # reading's words -> (columns, one example)
    for column in columns:
        series = frame[column]
        if not (pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype)):
            continue
        values = series.dropna()
        if values.empty or not all(isinstance(v, str) for v in values):
            continue
        texts = [str(t) for t in pd.unique(values.str.strip())]
        reading = _reading(texts, column, where, decimal_comma)
        if reading is None:
            continue
        frame = frame.assign(**{column: _convert(series, reading)})
        example = next(t for t in texts if "," in t or "%" in t)
        found.setdefault(reading.words, ([], f"{example!r} -> {_convert(pd.Series([example]), reading).tolist()[0]!r}"))
        found[reading.words][0].append(column)
    for words, (names, example) in found.items():  # one note per way of reading, naming every column
        shown = ", ".join(repr(cut(c, 40)) for c in names[:12]) + (
            f", ... ({len(names)} in all)" if len(names) > 12 else ""
        )
        plural = "s" if len(names) > 1 else ""
        notes.append(
            f"{where}: column{plural} {shown} hold{'' if plural else 's'} numbers written as text; read them as "
            f"numbers ({words}: {example})"
        )
    return frame, notes


def _reading(texts: list[str], column: str, where: str, decimal_comma: bool) -> Reading | None:
    """The one way to read these texts as numbers; None when they are not numbers with separators."""
    numberish = [t for t in texts if _NUMBERISH.match(t)]
    marked = [t for t in numberish if "," in t or "%" in t]
    if not marked:
        return None  # plain text, or plain digits the user chose to keep as text (codes)
    name = cut(column, 60)
    if len(numberish) < len(texts):
        if len(numberish) >= MOSTLY * len(texts):
            others = [t for t in texts if not _NUMBERISH.match(t)]
            raise DataError(
                f"{where}: column {name!r} holds numbers written as text ({cut(marked[:3], 80)}) and other "
                f"values ({cut(others[:3], 80)})",
                "leave missing numbers empty and write the rest as plain numbers (e.g. 1234.5), "
                f"or pass --columns without {name!r}",
            )
        return None
    percent = [t.endswith("%") for t in texts]
    if any(percent) and not all(percent):
        raise DataError(
            f"{where}: column {name!r} mixes percentages and plain numbers (e.g. "
            f"{cut([t for t in texts if t.endswith('%')][:2] + [t for t in texts if not t.endswith('%')][:2], 100)})",
            "write every value the same way (all as percentages, or all as plain numbers)",
        )
    bodies = [t.rstrip("%").strip() for t in texts]
    us = all(_US.match(b) for b in bodies)
    eu = all(_EU.match(b) for b in bodies)
    pct = " out of 100" if all(percent) else ""
    if us and eu and decimal_comma:
        us = False  # ambiguous alone; a ';'-separated file writes decimals with a comma
    if us and eu and any("," in b for b in bodies):
        raise DataError(
            f"{where}: column {name!r} holds numbers written as text whose comma may be a decimal mark or a "
            f"thousands separator (e.g. {cut([b for b in bodies if ',' in b][:3], 80)})",
            f"convert the column before augmenting, e.g. pandas: df[{name!r}].str.replace(',', '') for thousands, "
            f".str.replace(',', '.') for a decimal comma, then .astype(float); or pass --columns without {name!r}",
        )
    if us:
        words = "',' as thousands separator" if any("," in b for b in bodies) else "plain numbers"
        return Reading(",", ".", all(percent), words + pct)
    if eu:
        words = "',' as decimal mark" + (", '.' as thousands separator" if any("." in b for b in bodies) else "")
        return Reading(".", ",", all(percent), words + pct)
    raise DataError(
        f"{where}: column {name!r} holds numbers written as text in more than one format "
        f"(e.g. {cut([b for b in bodies if not _US.match(b)][:2] + [b for b in bodies if not _EU.match(b)][:2], 100)})",
        "write every number the same way, best as plain numbers (1234.5), or pass --columns without it",
    )


def _convert(series: pd.Series, reading: Reading) -> pd.Series:
    def plain(value: object) -> str | None:
        if pd.isna(value):
            return None
        text = str(value).strip().rstrip("%").strip()
        text = text.replace(reading.thousands, "") if reading.thousands else text
        return text.replace(reading.decimal, ".")

    text = [plain(v) for v in series]
    numbers = pd.Series(pd.to_numeric(pd.Series(text, dtype="object"), errors="raise"), index=series.index)
    numbers = numbers.astype("float64").rename(series.name)
    if reading.percent:
        return numbers / 100.0
    whole = not any("." in t for t in text if t is not None)
    if whole:
        return numbers.astype("Int64" if numbers.isna().any() else "int64")
    return numbers
