"""CSV files and folders of CSV files as tables.

Read with pyarrow and turned into pandas exactly as a Parquet file is (`Table.to_pandas`),
so a CSV file and its Parquet twin give the same frame, dtypes included. Every error names
the file it is about.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from pipeline.errors import DataError, cut

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
DELIMITERS = (",", ";", "\t", "|")


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


def read_csv(path: Path) -> pd.DataFrame:
    """One CSV file (or every CSV file of a folder, which must share their columns) as a frame."""
    files = csv_files(path) if path.is_dir() else [path]
    delimiters = {_sniff_delimiter(f) for f in files}
    table = _concat([(_read_table(f), f) for f in files])
    frame = table.to_pandas()
    frame.attrs["csv_delimiter"] = delimiters.pop() if len(delimiters) == 1 else None
    return frame


def _read_table(path: Path) -> pa.Table:
    shown = cut(str(path), 160)
    delimiter = _sniff_delimiter(path)
    try:
        table = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(strings_can_be_null=True),
        )
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read {shown!r} as CSV: {cut(str(exc), 300)}",
            "check the file: one header row, the same number of fields on every line, UTF-8 text",
        ) from None
    repeated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if repeated:
        raise DataError(f"{shown!r} has repeated column names {cut(repeated, 200)}", "give every column its own name")
    if table.num_columns < 2:
        raise DataError(
            f"{shown!r} has {table.num_columns} column(s) when read with {delimiter!r} between fields",
            "a table needs a label column and at least one feature column, separated by , ; tab or |",
        )
    return table


def _sniff_delimiter(path: Path) -> str:
    """The delimiter the header line uses most (`,` when it uses none): European CSV files,
    the ones with decimal commas, separate fields with `;`."""
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(65536).decode("utf-8", errors="replace")
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read {cut(str(path), 160)!r}: {cut(str(exc), 200)}", "check the file") from None
    header = head.splitlines()[0] if head else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


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
