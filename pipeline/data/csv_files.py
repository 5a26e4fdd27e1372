"""CSV files and folders of CSV files as tables, typed by what the file says.

Read with pyarrow and turned into pandas exactly as a Parquet file is (`Table.to_pandas`),
so a CSV file and its Parquet twin give the same frame, dtypes included. Where a text file
says more than a type guess would keep, the text wins, and each such decision is one note
naming its columns:

- the label column is read as the text written: `01` stays `01`, `NA` is a class; only an
  empty field is a row without a label;
- a feature column of whole numbers written with leading zeros (`007`) is kept as text codes;
- the unnamed first column `df.to_csv()` writes (the row index) is dropped;
- the file's decimal mark, where its numbers show it (`0,5`; `2.25`), decides what a
  separator means in the columns that alone could be read two ways (`1.299`, `1,234`);
- the encoding is found from the bytes (pipeline/data/text_files.py);
- spaces around a header name are dropped (`x, y, label` names `y` and `label`);
- comment lines starting with `#` above the header are skipped;
- an unnamed last column that is empty on every line (a delimiter ending every line) is dropped;
- a column written as Excel formulas `="001"` is read as the text inside;
- a gzip-compressed file is unpacked whatever its name.

Every error names the file it is about.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from pipeline.data.text_files import decode, header_names, other_kind, sniff_delimiter
from pipeline.errors import DataError, cut

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
MISSING = frozenset(pcsv.ConvertOptions().null_values)  # what Arrow (and pandas) read as missing
_INDEX_NAME = re.compile(r"^(Unnamed: 0)?$")  # pandas' name for it when read back and written again
_CODE = re.compile(r"^0\d+$")
_WHOLE = re.compile(r"^\d+$")
_LABEL_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_GAPS = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3}\b)")  # "1 234,5": spaces as thousands separators
# a decimal mark shown by the number itself: "0,5", "12,25", "1.234,5" (comma); "0.5", "1,234.5", "1.5e3" (point)
_COMMA_DECIMAL = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+),\d+$")
_POINT_DECIMAL = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)\.\d+([eE][+-]?\d+)?$")
_COMMA_GROUPS = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+$")  # "1,234": thousands or a decimal comma
_POINT_GROUPS = re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+$")  # "1.299": thousands or a decimal point
_EXCEL_TEXT = re.compile(r'^="(.*)"$', re.DOTALL)  # Excel's way to keep "001" from becoming 1


@dataclass
class TextTable:
    """A text table read as a frame, with what the reading decided."""

    frame: pd.DataFrame
    decimal: str | None  # the decimal mark the file's own numbers show ("," or "."), None when they do not
    delimiter: str | None  # the one delimiter of its files
    notes: list[str] = field(default_factory=list)


@dataclass
class _Parsed:
    file: Path
    text: pa.Table  # every field as the text written
    typed: pa.Table  # Arrow's types, the label as text
    delimiter: str


def is_csv(path: Path) -> bool:
    return path.name.lower().endswith(CSV_SUFFIXES)


def csv_files(folder: Path) -> list[Path]:
    """The CSV files under `folder`, hidden ones (".x.csv", "_x.csv", in ".cache/") left out
    as Arrow leaves them out of a Parquet folder."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and is_csv(p) and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )


def read_csv(path: Path, label: str | None = None, sniffed: bool = False) -> TextTable:
    """One CSV file (or every CSV file of a folder, which must share their columns) as a frame.
    `label`: the column read as text, as written. `sniffed`: the file's name does not say it is
    a table (x.txt, x.dat), so its content must: a delimiter that splits every line alike."""
    files = csv_files(path) if path.is_dir() else [path]
    notes: list[str] = []
    parsed = [_parse(f, label, sniffed, notes) for f in files]
    text = _concat([(p.text, p.file) for p in parsed])
    frame = _concat([(p.typed, p.file) for p in parsed]).to_pandas()
    written = text.to_pandas()
    where = cut(str(path), 160)
    frame = _drop_index(frame, written, label, where, notes)
    if label in frame.columns:
        frame[label] = _label_as_written(written[label], label, where, notes)
    features = [c for c in frame.columns if c != label]
    for column in features:
        written, frame = _excel_text(column, written, frame, where, notes)
    codes = [c for c in features if _is_codes(written[c])]
    for column in codes:
        frame[column] = _masked(written[column])
        example = next(v for v in written[column] if _CODE.match(v))
        notes.append(
            f"{where}: column {cut(column, 60)!r} holds whole numbers written with leading zeros "
            f"(e.g. {example!r}); kept as text codes (categories), not read as numbers"
        )
    numeric = [c for c in features if c not in codes]
    decimal = _decimal_mark([v for c in numeric for v in written[c] if v not in MISSING])
    if decimal == ",":  # "1.299" is 1299 in a file whose decimals are written "0,5"
        for column in numeric:
            if (
                pd.api.types.is_float_dtype(frame[column].dtype)
                and written[column].str.contains(".", regex=False).any()
            ):
                frame[column] = _masked(written[column])  # read again as text, with the file's mark
    _note_missing_words(frame, written, [c for c in features if c not in codes], where, notes)
    delimiters = {p.delimiter for p in parsed}
    return TextTable(frame, decimal, delimiters.pop() if len(delimiters) == 1 else None, notes)


def _parse(path: Path, label: str | None, sniffed: bool, notes: list[str]) -> _Parsed:
    shown = cut(str(path), 160)
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            raw = stream.read()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read {shown!r}: {cut(str(exc), 200)}", "check the file") from None
    if raw.startswith(b"\x1f\x8b"):  # gzip whatever the name says (x.csv.gz is unpacked by Arrow already)
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{shown!r} is gzip-compressed but cannot be unpacked: {exc}", "check the file") from None
        notes.append(f"{shown}: the file is gzip-compressed; unpacked and read as a text table")
    if not raw.strip():
        raise DataError(f"cannot read {shown!r}: the file is empty", "give a table with a header row and rows")
    if sniffed and (kind := other_kind(raw)):
        raise DataError(f"{shown!r} is {kind[0]}", kind[1] + ", or give a Parquet or CSV file")
    decoded = decode(raw, shown)
    if decoded.noted:
        notes.append(f"{shown}: read as {decoded.encoding} text (it is not UTF-8)")
    content = _skip_comments(decoded.text, shown, notes)
    delimiter = sniff_delimiter(content)
    if sniffed and not delimiter.consistent:
        raise DataError(
            f"{shown!r} is neither a Parquet file nor a delimited text table "
            "(no , ; tab or | splits its first lines into the same number of fields)",
            "give a Parquet file, or a CSV file with a header row and the same number of fields on every line",
        )
    if sniffed:
        notes.append(f"{shown}: read as a delimited text table ({delimiter.char!r} between fields)")
    names = header_names(content, delimiter.char)
    if len([line for line in content.splitlines() if line.strip()]) < 2:
        raise DataError(f"{shown}: the table is empty: the file has a header row and no rows", "give a table with rows")
    trailing = len(names) > 2 and not names[-1].strip()  # "x,y,label," on every line: an empty last column
    stripped = [n.strip() for n in names]
    _check_names(names[:-1] if trailing else names, shown, stripped[:-1] if trailing else stripped)
    data = content.encode("utf-8")
    text = _arrow(
        data,
        delimiter.char,
        shown,
        pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    labelled = {names[stripped.index(label)]: pa.string()} if label in stripped else {}
    typed = _arrow(data, delimiter.char, shown, pcsv.ConvertOptions(column_types=labelled, strings_can_be_null=True))
    if trailing:
        if any(text.column(len(names) - 1).to_pylist()):
            _check_names(names, shown, stripped)  # a last column with values needs a name
        text, typed = text.remove_column(text.num_columns - 1), typed.remove_column(typed.num_columns - 1)
        names, stripped = names[:-1], stripped[:-1]
        notes.append(f"{shown}: every line ends with {delimiter.char!r}; the empty last column is dropped")
    if stripped != names:
        text, typed = text.rename_columns(stripped), typed.rename_columns(stripped)
        padded = [n for n in names if n != n.strip()]
        notes.append(f"{shown}: spaces around column names {cut(padded, 120)} dropped")
    _refuse_repeated_header(text, names, shown)
    if typed.num_columns < 2:
        raise DataError(
            f"{shown!r} has {typed.num_columns} column(s) when read with {delimiter.char!r} between fields",
            "a table needs a label column and at least one feature column, separated by , ; tab or |",
        )
    return _Parsed(path, text, typed, delimiter.char)


def _arrow(data: bytes, delimiter: str, shown: str, convert: pcsv.ConvertOptions) -> pa.Table:
    try:
        return pcsv.read_csv(
            io.BytesIO(data),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=convert,
        )
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read {shown!r} as CSV: {cut(str(exc), 300)}",
            "check the file: one header row, the same number of fields on every line",
        ) from None


def _check_names(names: list[str], shown: str, stripped: list[str] | None = None) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{shown!r} has repeated column names {cut(repeated, 200)}", "give every column its own name")
    stripped = stripped or names
    alike = sorted({n for n in stripped if n and stripped.count(n) > 1})
    if alike:
        spellings = [names[i] for i, n in enumerate(stripped) if n == alike[0]]
        raise DataError(
            f"{shown!r}: column names {cut(spellings, 120)} differ only in spaces around them",
            "give every column its own name",
        )
    unnamed = [i + 1 for i, n in enumerate(names) if not n.strip() and i > 0]
    if unnamed:
        raise DataError(
            f"{shown!r}: column(s) {cut(unnamed, 60)} of the header have no name",
            "name every column in the header row (only a first column of row numbers may go unnamed)",
        )


def _skip_comments(text: str, shown: str, notes: list[str]) -> str:
    """The text without the comment lines (starting with `#`) some exports write above the
    header, when they are not the header itself: they split into fewer fields than the line after."""
    lines = text.splitlines(keepends=True)
    count = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    if count == 0 or count == len(lines):
        return text
    rest = "".join(lines[count:])
    delimiter = sniff_delimiter(rest)
    if not delimiter.consistent or len(header_names(lines[0], delimiter.char)) >= len(
        header_names(rest, delimiter.char)
    ):
        return text
    notes.append(f"{shown}: {count} comment line(s) starting with '#' above the header skipped")
    return rest


def _refuse_repeated_header(text: pa.Table, names: list[str], shown: str) -> None:
    """A row that repeats the header: files joined with their headers. Read as a row it would
    make every column text and add a class named like the label."""
    columns = [text.column(i).to_pylist() for i in range(text.num_columns)]
    for row, values in enumerate(zip(*columns)):
        if list(values) == names:
            raise DataError(
                f"{shown!r}: data row {row + 1} repeats the header row (files joined with their headers?)",
                "remove the repeated header lines, or pass the files as one folder",
            )


def _excel_text(
    column: str, written: pd.DataFrame, frame: pd.DataFrame, where: str, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A column written as Excel formulas `="001"` (to keep leading zeros) read as the text inside:
    whole numbers with leading zeros stay codes, numbers become numbers, the rest text."""
    values = written[column][~written[column].isin(MISSING)]
    if not len(values) or not values.str.match(_EXCEL_TEXT).all():
        return written, frame
    inner = written[column].str.replace(_EXCEL_TEXT, r"\1", regex=True)
    written = written.assign(**{column: inner})
    numbers = pd.to_numeric(_masked(inner), errors="coerce")
    if not _is_codes(inner) and numbers.notna().sum() == (~inner.isin(MISSING)).sum():
        frame[column] = numbers
    else:
        frame[column] = _masked(inner)
    notes.append(
        f"{where}: column {cut(column, 60)!r} is written as Excel formulas (e.g. {values.iloc[0]!r}); "
        "read as the text inside"
    )
    return written, frame


def _drop_index(
    frame: pd.DataFrame, written: pd.DataFrame, label: str | None, where: str, notes: list[str]
) -> pd.DataFrame:
    """The unnamed first column `df.to_csv()` writes holds the row index: modelled as a feature
    it carries the row order, which often follows the label. Dropped with a note; an unnamed
    first column that is not one value per row is refused (it is not an index, and has no name)."""
    first = str(frame.columns[0])
    if first == label or not _INDEX_NAME.match(first):
        return frame
    values = written[first]
    if values.is_unique and not values.isin(MISSING).any():
        rows = f"{', '.join(values.head(3))}, ..." if len(values) > 3 else ", ".join(values)
        notes.append(
            f"{where}: the first column has no name and one value per row ({rows}): the row index "
            "pandas writes without index=False; dropped, not modelled"
        )
        return frame.drop(columns=[first])
    raise DataError(
        f"{where}: the first column has no name and repeats values, so it is not a row index",
        "name it in the header row, or remove it",
    )


def _label_as_written(written: pd.Series, label: str, where: str, notes: list[str]) -> pd.Series:
    """Class names are text: no number parsing (`01` and `1` are two classes, as written) and no
    missing-value words (`NA` is a class); an empty field is a row without a label."""
    values = _masked(written, missing={""})
    present = values.dropna()
    words = sorted(set(present) & MISSING)
    if words:
        notes.append(
            f"{where}: label column {cut(label, 60)!r} holds {cut(words, 80)}: read as class name(s), "
            "not as missing; leave the field empty for a row without a label"
        )
    if len(present) and present.map(lambda v: bool(_LABEL_NUMBER.match(v))).all():
        shown = cut(list(pd.unique(present))[:3], 80)
        notes.append(
            f"{where}: label column {cut(label, 60)!r} holds numbers ({shown}); read as class names, as written"
        )
    return values


def _is_codes(written: pd.Series) -> bool:
    values = written[~written.isin(MISSING)]
    return bool(len(values)) and values.map(lambda v: bool(_WHOLE.match(v))).all() and values.str.match(_CODE).any()


def _masked(written: pd.Series, missing: frozenset[str] | set[str] = MISSING) -> pd.Series:
    return written.where(~written.isin(missing)).astype("str")


def _decimal_mark(values: list[str]) -> str | None:
    """ "," or "." when some of the file's numbers show their decimal mark and none shows the
    other; None when none shows one or they disagree (then each column alone decides)."""
    comma = point = False
    for value in values:
        text = _GAPS.sub("", value.strip().rstrip("%").strip())
        comma = comma or bool(_COMMA_DECIMAL.match(text) and not _COMMA_GROUPS.match(text))
        point = point or bool(_POINT_DECIMAL.match(text) and not _POINT_GROUPS.match(text))
        if comma and point:
            return None
    return "," if comma else "." if point else None


def _note_missing_words(
    frame: pd.DataFrame, written: pd.DataFrame, columns: list[str], where: str, notes: list[str]
) -> None:
    """A text column whose `NA` or `null` became missing values: said, since in a column of
    words it may have been a value (a region, a name)."""
    for column in columns:
        if not pd.api.types.is_string_dtype(frame[column].dtype):
            continue
        words = sorted(set(written[column]) & (MISSING - {""}))
        if words:
            count = int(written[column].isin(MISSING - {""}).sum())
            notes.append(
                f"{where}: column {cut(column, 60)!r}: {cut(words, 80)} read as missing values ({count} row(s))"
            )


def _concat(tables: list[tuple[pa.Table, Path]]) -> pa.Table:
    """One table from a folder's files: same column names in the same order; column types are
    widened where one file's numbers are whole and another's are not (int -> float)."""
    first, first_file = tables[0]
    for table, file in tables[1:]:
        if table.column_names != first.column_names:
            a, b = set(first.column_names), set(table.column_names)
            diff = f"columns {cut(sorted(a ^ b), 200)} differ" if a != b else "the column order differs"
            raise DataError(
                f"the CSV files of the folder do not share one header: {first_file.name} and {file.name} ({diff})",
                "write every file with the same columns in the same order, or pass one file",
            )
    try:
        return pa.concat_tables([t for t, _ in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        for table, file in tables[1:]:
            for name in first.column_names:
                a, b = first.schema.field(name).type, table.schema.field(name).type
                if a != b:
                    raise DataError(
                        f"the CSV files of the folder disagree on column {cut(name, 60)!r}: "
                        f"{a} in {first_file.name}, {b} in {file.name}",
                        "make the column hold the same kind of values in every file",
                    ) from None
        raise
