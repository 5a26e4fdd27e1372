"""Bad input a new user meets when a file says more than its type: text tables in other
encodings or under other names, unnamed columns, Parquet types the model cannot hold, image
folders with tiny images, empty or look-alike class folders.

Every case runs in-process, before any flow or server: exit code 2, a message that starts
with "error:" and names the problem, no traceback, and no output folder created.
"""

from __future__ import annotations

import datetime
import unicodedata
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pytest
from test_bad_input_more import RUN, _assert_clear_error, _image_folder, _invoke, _parquet, _png, _text

Setup = Callable[[Path], list[str]]


def _table_run(path: Callable[[Path], str]) -> Setup:
    return lambda t: RUN + ["--data", path(t), "--label", "label"]


TEXT = "x,y,label\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n"
E_ONE, E_TWO = unicodedata.normalize("NFC", "\xe9"), unicodedata.normalize("NFD", "\xe9")


def _typed(column: pa.Array) -> Callable[[Path], str]:
    """A Parquet file of a number column, the label and `column` (6 rows)."""
    return lambda t: _parquet(t, pa.table({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "label": ["a", "b"] * 3, "z": column}))


def _look_alike_folders(t: Path) -> str:
    root = Path(_image_folder(t))
    for name in (E_ONE, E_TWO):
        for i in range(3):
            (root / name).mkdir(exist_ok=True)
            (root / name / f"{i}.png").write_bytes(_png())
    return str(root)


CASES: dict[str, tuple[Setup, str]] = {
    # encodings
    "CSV in UTF-32": (_table_run(lambda t: _text(t, TEXT.encode("utf-32"), "data.csv")), "data.csv' is UTF-32 text"),
    "CSV mixing UTF-8 and latin-1": (
        _table_run(lambda t: _text(t, "x,y,label\n1,2,\xe9\n".encode() + "2,3,\xe9\n".encode("latin-1"), "data.csv")),
        "mixes UTF-8 text with bytes that are not UTF-8 (byte 0xe9 on line 3)",
    ),
    "CSV with a UTF-8 mark and latin-1 bytes": (
        _table_run(lambda t: _text(t, b"\xef\xbb\xbf" + "x,y,label\n1,2,\xe9\n".encode("latin-1"), "data.csv")),
        "starts with a UTF-8 byte-order mark but is not valid utf-8-sig",
    ),
    "CSV with NUL bytes": (
        _table_run(lambda t: _text(t, b"x,y,label\n1,2,a\x00\x00\x00\x01\n", "data.csv")),
        "holds NUL bytes: it is a binary file",
    ),
    # other names, other contents
    "a .txt file of prose": (
        _table_run(lambda t: _text(t, "Dear team,\nhere is the data you asked for.\n", "notes.txt")),
        "notes.txt' is neither a Parquet file nor a delimited text table",
    ),
    "a .txt file of JSON": (_table_run(lambda t: _text(t, '[{"x": 1}]', "rows.txt")), "rows.txt' is JSON"),
    "an Excel workbook": (
        _table_run(lambda t: _text(t, b"PK\x03\x04" + bytes(60), "data.xlsx")),
        "data.xlsx' is a zip archive (an Excel .xlsx workbook is one)",
    ),
    "an old Excel file": (
        _table_run(lambda t: _text(t, b"\xd0\xcf\x11\xe0" + bytes(60), "data.xls")),
        "an old Excel (.xls) or Office file",
    ),
    "an empty .dat file": (_table_run(lambda t: _text(t, "", "data.dat")), "data.dat': the file is empty"),
    # columns without a name
    "an unnamed column in the middle": (
        _table_run(lambda t: _text(t, "x,,label\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n", "data.csv")),
        "column(s) [2] of the header have no name",
    ),
    "an unnamed first column that repeats": (
        _table_run(lambda t: _text(t, ",x,label\n1,1,a\n1,2,a\n2,3,b\n2,4,b\n", "data.csv")),
        "the first column has no name and repeats values",
    ),
    # numbers whose separator nothing in the file explains
    "a comma in a file of whole numbers": (
        _table_run(lambda t: _text(t, 'x,y,label\n"1,234",1,a\n"2,500",2,a\n"3,000",3,b\n"4,100",4,b\n', "d.csv")),
        "and no other number of the file shows which",
    ),
    "spaces and two decimal marks": (
        _table_run(lambda t: _text(t, "x;label\n1 234,5;a\n2 500.5;a\n3 000,5;b\n4 100,5;b\n", "data.csv")),
        "in more than one format",
    ),
    # Parquet types that are neither numbers nor categories
    "a time-of-day column": (
        _table_run(_typed(pa.array([datetime.time(9, 30), datetime.time(17, 0)] * 3))),
        "column 'z' holds times of day, which cannot be generated",
    ),
    "a date column": (
        _table_run(_typed(pa.array([datetime.date(2024, 1, d) for d in range(1, 7)]))),
        "column 'z' holds dates, which cannot be generated",
    ),
    "a raw bytes column": (
        _table_run(_typed(pa.array([b"\x00\x01", b"\x02"] * 3))),
        "column 'z' holds raw bytes (a binary column)",
    ),
    "a duration column": (
        _table_run(_typed(pa.array([datetime.timedelta(seconds=s) for s in range(6)]))),
        "column 'z' has type timedelta64",
    ),
    # image folders
    "images of 1x1 pixels": (
        lambda t: (
            RUN
            + ["--data", str(Path(_image_folder(t, {f"{c}/{i}.png": _png(size=1) for c in "ab" for i in range(3)})))]
        ),
        "image 'a/0.png' is 1x1 pixels; images of at least 8x8 pixels are needed",
    ),
    "images of 4x4 pixels": (
        lambda t: (
            RUN
            + ["--data", str(Path(_image_folder(t, {f"{c}/{i}.png": _png(size=4) for c in "ab" for i in range(3)})))]
        ),
        "is 4x4 pixels",
    ),
    "an empty class folder": (
        lambda t: RUN + ["--data", _image_folder(t, {"c": None})],
        "class folder(s) ['c'] hold no image files",
    ),
    "a class folder of hidden files only": (
        lambda t: RUN + ["--data", _image_folder(t, {"c/._0.png": b"\x00\x05\x16\x07", "c/.DS_Store": b"x"})],
        "class folder(s) ['c'] hold no image files",
    ),
    "class folders that differ only in normalisation": (
        lambda t: RUN + ["--data", _look_alike_folders(t)],
        "differ only in Unicode normalisation",
    ),
    "CSV classes that differ only in normalisation": (
        _table_run(lambda t: _text(t, f"x,label\n1,{E_ONE}\n2,{E_ONE}\n3,{E_TWO}\n4,{E_TWO}\n", "data.csv")),
        "classes in column 'label'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error_before_any_flow(case, tmp_path, monkeypatch):
    setup, expected = CASES[case]
    import flows.local_server

    def no_flow(*args, **kwargs):
        raise AssertionError("the input passed every check and reached the flow")

    monkeypatch.setattr(flows.local_server, "api_for_run", no_flow)
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "out"
    code, output = _invoke(setup(data) + ["--out", str(out)])
    _assert_clear_error(code, output, expected)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
