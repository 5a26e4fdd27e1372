"""Numbers written as text: decimal commas ("1,5", "1,5E3"), thousands separators ("1,234", "1.299"
where the decimal mark is a comma, "1 234,56", "1'234"), percents ("12%"), one currency symbol
("$1.50", "4,00 €") and accounting negatives ("(1.5)" for -1.5).

Left as text they become categories (every synthetic value a copy of a real one) or look
like an ID. A column whose every value is a number in one unambiguous format is read as
numbers, and the run says so; a column that could mean two things ("1,234": one thousand or
one point two, with nothing in the file to say which) or mixes formats is refused with how to
convert it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from pipeline.errors import DataError, cut

# comma = thousands separator, dot = decimal mark ("1,234.5"); dot = thousands, comma = decimal ("1.234,5")
_US = re.compile(r"^[+-]?([1-9]\d{0,2}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?$")
_EU = re.compile(r"^[+-]?([1-9]\d{0,2}(\.\d{3})+|\d+)(,\d+)?([eE][+-]?\d+)?$")
_NUMBERISH = re.compile(r"^[+-]?[\d.,]*\d[\d.,]*([eE][+-]?\d+)?\s?%?$")
# "1 234,5" and the Swiss "1'234.5": spaces or apostrophes as thousands separators
_GAPS = re.compile(r"(?<=\d)[ \u00a0\u202f'\u2019](?=\d{3}(?!\d))")
CURRENCIES = "$\u20ac\u00a3\u00a5\u20b9"  # $ EUR GBP JPY INR, written before or after the number
_PARENS = re.compile(r"^\((.*)\)$")  # "(1.5)": an accounting negative
MOSTLY = 0.8  # share of distinct values that must look like numbers for a mixed column to be named


@dataclass(frozen=True)
class Reading:
    """How a column's text is read as numbers."""

    thousands: str | None  # separator removed
    decimal: str  # mark turned into "."
    percent: bool  # value / 100
    words: str  # for the console
    gaps: bool = False  # spaces (or apostrophes) between groups of three digits removed too
    currency: str | None = None  # the one currency symbol removed


def _bare(text: str) -> tuple[str, str | None, bool]:
    """(the number without a currency symbol or accounting parentheses, the symbol, whether it
    was in parentheses): "(\u20ac 1,5)" -> ("-1,5", "\u20ac", True)."""
    text = text.strip()
    parens = _PARENS.match(text)
    text = parens.group(1).strip() if parens else text
    symbol = None
    sign = text[:1] if text[:1] in "+-" and text[1:2] in CURRENCIES else ""
    text = text[len(sign) :]
    if text[:1] and text[:1] in CURRENCIES:
        symbol, text = text[0], sign + text[1:].strip()
    elif text[-1:] and text[-1:] in CURRENCIES:
        symbol, text = text[-1], text[:-1].strip()
    else:
        text = sign + text
    if parens and not text.startswith(("-", "+")):
        text = "-" + text
    return text, symbol, bool(parens)


def numbers_in_text(
    frame: pd.DataFrame, columns: list[str], where: str, decimal: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """`frame` with every text column of `columns` that holds numbers read as numbers, and one
    note per way of reading (naming its columns); DataError for a column that holds numbers no single way.
    `decimal`: the decimal mark of the file the column comes from ("," or "."), as its other
    numbers show it: with ",", "1,234" is 1.234 and "1.299" is 1299; with ".", "1,234" is 1234."""
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
        reading = _reading(texts, column, where, decimal)
        if reading is None:
            continue
        frame = frame.assign(**{column: _convert(series, reading)})
        example = next(t for t in texts if _marked(t, decimal) or any(_bare(t)[1:]))
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


def _marked(text: str, decimal: str | None) -> bool:
    """Whether the text has what makes it more than plain digits: a separator or a percent."""
    return "," in text or "%" in text or bool(_GAPS.search(text)) or (decimal == "," and "." in text)


def _reading(texts: list[str], column: str, where: str, decimal: str | None) -> Reading | None:
    """The one way to read these texts as numbers; None when they are not numbers with separators."""
    bare = [_bare(t) for t in texts]
    symbols = sorted({b[1] for b in bare if b[1]})
    parens = any(b[2] for b in bare)
    if parens and all(b[2] for b in bare):
        return None  # "(1)", "(2)": list markers as likely as negatives
    gaps = any(_GAPS.search(b[0]) for b in bare)
    plain = [_GAPS.sub("", b[0]) for b in bare]
    numberish = [t for t in plain if _NUMBERISH.match(t)]
    marked = [t for t, b, p in zip(texts, bare, plain) if _NUMBERISH.match(p) and (_marked(t, decimal) or b[1] or b[2])]
    if not marked:
        return None  # plain text, or plain digits the user chose to keep as text (codes)
    name = cut(column, 60)
    if len(symbols) > 1 and len(numberish) == len(texts):
        raise DataError(
            f"{where}: column {name!r} holds amounts in more than one currency ({', '.join(symbols)})",
            f"convert the amounts to one currency and write them as plain numbers, or pass --columns without {name!r}",
        )
    if len(numberish) < len(texts):
        if len(numberish) >= MOSTLY * len(texts):
            others = [t for t, p in zip(texts, plain) if not _NUMBERISH.match(p)]
            raise DataError(
                f"{where}: column {name!r} holds numbers written as text ({cut(marked[:3], 80)}) and other "
                f"values ({cut(others[:3], 80)})",
                "leave missing numbers empty and write the rest as plain numbers (e.g. 1234.5), "
                f"or pass --columns without {name!r}",
            )
        return None
    percent = [t.endswith("%") for t in plain]
    if any(percent) and not all(percent):
        raise DataError(
            f"{where}: column {name!r} mixes percentages and plain numbers (e.g. "
            f"{cut([t for t in texts if t.endswith('%')][:2] + [t for t in texts if not t.endswith('%')][:2], 100)})",
            "write every value the same way (all as percentages, or all as plain numbers)",
        )
    bodies = [t.rstrip("%").strip() for t in plain]
    us = all(_US.match(b) for b in bodies)
    eu = all(_EU.match(b) for b in bodies)
    pct = " out of 100" if all(percent) else ""
    if us and eu and decimal == ",":
        us = False  # ambiguous alone; the file writes its decimals with a comma
    if us and eu and decimal == ".":
        eu = False  # ambiguous alone; the file writes its decimals with a point
    if us and eu and any("," in b for b in bodies):
        raise DataError(
            f"{where}: column {name!r} holds numbers written as text whose comma may be a decimal mark or a "
            f"thousands separator (e.g. {cut([b for b in bodies if ',' in b][:3], 80)}), and no other number "
            "of the file shows which",
            f"convert the column before augmenting, e.g. pandas: df[{name!r}].str.replace(',', '') for thousands, "
            f".str.replace(',', '.') for a decimal comma, then .astype(float); or pass --columns without {name!r}",
        )
    if us or eu:
        group, mark = (",", ".") if us else (".", ",")
        words = [f"{symbols[0]!r} removed"] if symbols else []
        words += ["(x) as -x"] if parens else []
        seps = sorted({"'" if g in "'\u2019" else " " for b in bare for g in _GAPS.findall(b[0])})
        words += [f"{' and '.join(map(repr, seps))} as thousands separator"] if gaps else []
        words += [f"{group!r} as thousands separator"] if any(group in b for b in bodies) else []
        words += [f"{mark!r} as decimal mark"] if any(mark in b for b in bodies) else []
        said = ", ".join(words or ["plain numbers"]) + pct
        return Reading(group, mark, all(percent), said, gaps, symbols[0] if symbols else None)
    raise DataError(
        f"{where}: column {name!r} holds numbers written as text in more than one format "
        f"(e.g. {cut([b for b in bodies if not _US.match(b)][:2] + [b for b in bodies if not _EU.match(b)][:2], 100)})",
        "write every number the same way, best as plain numbers (1234.5), or pass --columns without it",
    )


def _convert(series: pd.Series, reading: Reading) -> pd.Series:
    def plain(value: object) -> str | None:
        if pd.isna(value):
            return None
        text = _bare(str(value))[0] if reading.currency or "(" in str(value) else str(value).strip()
        text = text.rstrip("%").strip()
        text = _GAPS.sub("", text) if reading.gaps else text
        text = text.replace(reading.thousands, "") if reading.thousands else text
        return text.replace(reading.decimal, ".")

    text = [plain(v) for v in series]
    numbers = pd.Series(pd.to_numeric(pd.Series(text, dtype="object"), errors="raise"), index=series.index)
    numbers = numbers.astype("float64").rename(series.name)
    if reading.percent:
        return numbers / 100.0
    whole = not any("." in t or "e" in t.lower() for t in text if t is not None)
    if whole:
        return numbers.astype("Int64" if numbers.isna().any() else "int64")
    return numbers
