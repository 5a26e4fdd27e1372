"""A fresh probe of odd input a new user meets: text tables as spreadsheets and scripts write
them (padded headers, comment lines, a delimiter ending every line, Excel's ="001", money and
accounting negatives, gzip under a .csv name, a header repeated mid-file), Parquet types at their
edges, image folders of other PNG kinds or laid out as splits, flags and config files written
by hand, and the environment a run meets (no HOME, no usable TMPDIR, the C locale, a read-only
current folder).

A case is either read as meant, with a note where a decision was made (what was read is
asserted), or refused in-process with exit code 2, `error:` naming the problem and a `fix:`
line, before any side effect. Environment cases run the real command in a subprocess.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from test_bad_input_more import _assert_clear_error, _image_folder, _invoke, _parquet, _png, _text

from pipeline.config import DataSpec
from pipeline.data.sources import load_real

RUN = ["run", "--per-class", "3", "--no-gate", "--epochs", "2"]
TEXT = "x,y,label\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n"
Setup = Callable[[Path], list[str]]


def _table(path: Callable[[Path], str], label: str = "label", *extra: str) -> Setup:
    return lambda t: RUN + ["--data", path(t), "--label", label, *extra]


def _csv(text: str | bytes, name: str = "data.csv") -> Setup:
    return _table(lambda t: _text(t, text, name))


def _frame(**columns) -> Callable[[Path], str]:
    return lambda t: _parquet(t, pd.DataFrame(columns))


def _config(text: str) -> Setup:
    return lambda t: ["run", "--config", _text(t, text, "run.json")]


def _splits(t: Path) -> str:
    for split in ("train", "test"):
        for cls in "ab":
            for i in range(3):
                _text(t, _png(), f"images/{split}/{cls}/{i}.png")
    return str(t / "images")


def _one_class(t: Path) -> str:
    for i in range(3):
        _text(t, _png(), f"images/a/{i}.png")
    return str(t / "images")


CONFIG = '"data": {"source": "iris"}, "sample": {"per_class": 2}'

REFUSED: dict[str, tuple[Setup, str]] = {
    # text tables
    "header names alike but for spaces": (_csv("x, x,label\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n"), "differ only in spaces"),
    "a header-only file without a newline": (_csv("x,y,label"), "the file has a header row and no rows"),
    "a label column that is all empty": (_csv("x,y,label\n1,2,\n2,3,\n3,4,\n4,5,\n"), "label column 'label' has no"),
    "a class of only spaces": (_csv("x,y,label\n1,2, \n2,3, \n3,4,b\n4,5,b\n"), "class name(s) of only spaces"),
    "classes 1 and 1.0": (_csv("x,y,label\n1,2,1.0\n2,3,1.0\n3,4,1\n4,5,1\n"), "one number written two ways"),
    "a delimiter ending the data lines only": (_csv("x,y,label\n1,2,a,\n2,3,a,\n3,4,b,\n4,5,b,\n"), "Expected 3"),
    "an unnamed last column with values": (_csv("x,y,label,\n1,2,a,7\n2,3,a,8\n3,4,b,9\n4,5,b,1\n"), "[4] of the"),
    "a field of two million digits": (_csv("x,y,label\n1," + "9" * 2_000_000 + ",a\n2,3,a\n3,4,b\n4,5,b\n"), "too"),
    "percent and plain numbers in a CSV": (_csv("x,y,label\n12%,2,a\n13,3,a\n14%,4,b\n15,5,b\n"), "mixes percentages"),
    "inf written in a CSV": (_csv("x,y,label\n1,inf,a\n2,3,a\n3,-inf,b\n4,5,b\n"), "column 'y' has 2 value(s)"),
    "the header repeated mid-file": (
        _csv("x,y,label\n1,2,a\n2,3,a\nx,y,label\n3,4,b\n4,5,b\n"),
        "data row 3 repeats the header row",
    ),
    "two currencies in a column": (_csv("x,y,label\n$1.5,2,a\n€2.5,3,a\n$3,4,b\n€4,5,b\n"), "more than one currency"),
    "a folder with one binary file": (
        _table(lambda t: (_text(t, TEXT, "parts/a.csv"), _text(t, b"\x00\x01\x02binary", "parts/b.csv"))[0][:-6]),
        "b.csv' holds NUL bytes",
    ),
    "a broken .csv.gz": (_csv(gzip.compress(TEXT.encode())[:20], "data.csv.gz"), "cannot read"),
    "a label named in another case": (
        _table(lambda t: _text(t, TEXT, "data.csv"), "Label"),
        "(names are case-sensitive)",
    ),
    "an empty --label": (_table(lambda t: _text(t, TEXT, "data.csv"), ""), "no label column given"),
    # Parquet
    "a label of nulls": (
        _table(lambda t: _parquet(t, pa.table({"x": [1.0] * 4, "label": pa.nulls(4, pa.string())}))),
        "has no",
    ),
    "a zero-row file": (
        _table(_frame(x=pd.Series([], dtype=float), label=pd.Series([], dtype=str))),
        "the table is empty",
    ),
    "a nullable integer label with a gap": (
        _table(_frame(x=[1.0, 2, 3, 4, 5], label=pd.array([1, 1, 2, 2, None], dtype="Int64"))),
        "1 row(s) have no label",
    ),
    "a timestamp column with a time zone": (
        _table(_frame(x=[1.0, 2, 3, 4], t=pd.date_range("2024", periods=4, tz="UTC"), label=list("aabb"))),
        "column 't' has type datetime64",
    ),
    "a map column": (
        _table(
            lambda t: _parquet(
                t,
                pa.table(
                    {
                        "x": [1.0, 2, 3, 4],
                        "m": pa.array([[("k", 1)]] * 4, pa.map_(pa.string(), pa.int64())),
                        "label": list("aabb"),
                    }
                ),
            )
        ),
        "column 'm' holds nested values",
    ),
    # image folders
    "an image folder of one class": (lambda t: RUN + ["--data", _one_class(t)], "only one class ('a')"),
    "split folders read as classes": (lambda t: RUN + ["--data", _splits(t)], "they look like splits"),
    # flags
    "a known and an unknown class": (lambda t: RUN + ["--data", "iris", "--classes", "setosa,rose"], "['rose']"),
    "a column named twice": (
        _table(lambda t: _text(t, TEXT, "data.csv"), "label", "--columns", "x,x"),
        "more than once",
    ),
    "only the label as --columns": (
        _table(lambda t: _text(t, TEXT, "data.csv"), "label", "--columns", "label"),
        "no feature columns besides the label",
    ),
    "--real-per-class 1": (lambda t: RUN + ["--data", "iris", "--real-per-class", "1"], "greater than or equal to 2"),
    "--out the data file": (
        lambda t: RUN + ["--data", _text(t, TEXT, "data.csv"), "--label", "label", "--out", str(t / "data.csv")],
        "is a file",
    ),
    # config files
    "a config with comments": (_config("{\n  // my run\n  " + CONFIG + "}"), "JSON has no comments"),
    "a config with a trailing comma": (_config("{" + CONFIG + ",}"), "JSON allows no trailing comma"),
    "a config in YAML": (_config("data:\n  source: iris\nsample:\n  per_class: 2\n"), "it looks like YAML"),
    "an empty config": (_config(""), "run.json' is empty"),
    "a config with a key twice": (_config("{" + CONFIG + ', "seed": 1, "seed": 2}'), "['seed'] given twice"),
    "a config count of 2.5": (_config('{"data": {"source": "iris"}, "sample": {"per_class": 2.5}}'), "whole number"),
    "a config that is a folder": (lambda t: ["run", "--config", str(t)], "Is a directory"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_odd_input_is_refused_with_a_fix_before_any_side_effect(case, tmp_path, monkeypatch):
    setup, expected = REFUSED[case]
    import flows.local_server

    monkeypatch.setattr(flows.local_server, "api_for_run", lambda *a, **k: pytest.fail("reached the flow"))
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    data.mkdir()
    args = setup(data)
    before = sorted(data.rglob("*"))
    out = tmp_path / "out"
    code, output = _invoke(args + ([] if "--out" in args else ["--out", str(out)]))
    _assert_clear_error(code, output, expected)
    assert "fix:" in output
    assert not out.exists() and not list(tmp_path.glob(".out*")) and sorted(data.rglob("*")) == before


def _png_of(mode: str) -> bytes:
    rng = np.random.default_rng(0)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (8, 8), dtype=np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), "RGB").convert("P")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _images(t: Path, png: bytes) -> str:
    for cls in "ab":
        for i in range(3):
            _text(t, png, f"images/{cls}/{i}.png")
    return str(t / "images")


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _link(t: Path, target: str, name: str) -> str:
    (t / name).symlink_to(Path(target).resolve())
    return str(t / name)


def _column(name: str, values: list, dtype: str | None = None) -> Callable:
    def check(real):
        got = real.frame[name]
        assert got.tolist() == values, got.tolist()
        assert dtype is None or str(got.dtype) == dtype, got.dtype

    return check


def _classes(*names) -> Callable:
    def check(real):
        assert sorted(map(str, real.frame[real.label].unique())) == sorted(names)
        assert sorted(map(str, real.frame[real.label].value_counts().index)) == sorted(names)

    return check


def _columns(*names) -> Callable:
    return lambda real: (list(real.frame.columns) == list(names)) or pytest.fail(str(list(real.frame.columns)))


# source, label, check on what was read, the note's words ("" for none)
READ: dict[str, tuple[Callable[[Path], str], str | None, Callable, str]] = {
    "a delimiter ending every line": (
        lambda t: _text(t, "x,y,label,\n1,2,a,\n2,3,a,\n3,4,b,\n4,5,b,\n", "d.csv"),
        "label",
        _columns("x", "y", "label"),
        "the empty last column is dropped",
    ),
    "classes True and False": (
        lambda t: _text(t, "x,y,label\n1,2,True\n2,3,True\n3,4,False\n4,5,False\n", "d.csv"),
        "label",
        _column("label", ["True", "True", "False", "False"]),
        "",
    ),
    "mixed line endings": (
        lambda t: _text(t, "x,y,label\r\n1,2,a\n2,3,a\r\n3,4,b\r4,5,b\n", "d.csv"),
        "label",
        _column("y", [2, 3, 4, 5], "int64"),
        "",
    ),
    "quoted numbers": (
        lambda t: _text(t, 'x,y,label\n"1","2",a\n"2","3",a\n"3","4",b\n"4","5",b\n', "d.csv"),
        "label",
        _column("x", [1, 2, 3, 4], "int64"),
        "",
    ),
    "quoted numbers with spaces": (
        lambda t: _text(t, 'x,y,label\n" 1 ",2,a\n" 2 ",3,a\n" 3 ",4,b\n" 4 ",5,b\n', "d.csv"),
        "label",
        _column("x", [1, 2, 3, 4], "int64"),
        "",
    ),
    'Excel\'s ="001"': (
        lambda t: _text(t, 'x,y,label\n="001",2,a\n="002",3,a\n="003",4,b\n="004",5,b\n', "d.csv"),
        "label",
        _column("x", ["001", "002", "003", "004"]),
        "written as Excel formulas",
    ),
    'Excel\'s ="12" around numbers': (
        lambda t: _text(t, 'x,y,label\n="12",2,a\n="13",3,a\n="14",4,b\n="15",5,b\n', "d.csv"),
        "label",
        _column("x", [12, 13, 14, 15], "int64"),
        "written as Excel formulas",
    ),
    "exponents with a decimal comma": (
        lambda t: _text(t, "x;y;label\n1,5E3;2;a\n2,5E3;3;a\n3,5E-2;4;b\n4,1E2;5;b\n", "d.csv"),
        "label",
        _column("x", [1500.0, 2500.0, 0.035, 410.0], "float64"),
        "',' as decimal mark",
    ),
    "negatives in parentheses": (
        lambda t: _text(t, "x,y,label\n(1.5),2,a\n2.5,3,a\n(3.5),4,b\n4.5,5,b\n", "d.csv"),
        "label",
        _column("x", [-1.5, 2.5, -3.5, 4.5], "float64"),
        "(x) as -x",
    ),
    "dollar amounts": (
        lambda t: _text(t, "x,y,label\n$1.50,2,a\n$2.50,3,a\n-$3.25,4,b\n$4.00,5,b\n", "d.csv"),
        "label",
        _column("x", [1.5, 2.5, -3.25, 4.0], "float64"),
        "'$' removed",
    ),
    "euro amounts after the number": (
        lambda t: _text(t, "x;y;label\n1,50 €;2;a\n2,50 €;3;a\n3,25 €;4;b\n4,00 €;5;b\n", "d.csv"),
        "label",
        _column("x", [1.5, 2.5, 3.25, 4.0], "float64"),
        "'€' removed, ',' as decimal mark",
    ),
    "Swiss thousands": (
        lambda t: _text(t, "x,y,label\n1'234.5,2,a\n2'500,3,a\n3'000,4,b\n4'100,5,b\n", "d.csv"),
        "label",
        _column("x", [1234.5, 2500.0, 3000.0, 4100.0], "float64"),
        '"\'" as thousands separator',
    ),
    "list markers in parentheses stay text": (
        lambda t: _text(t, "x,y,label\n(1),2,a\n(2),3,a\n(1),4,b\n(2),5,b\n", "d.csv"),
        "label",
        _column("x", ["(1)", "(2)", "(1)", "(2)"]),
        "",
    ),
    "a UTF-8 mark before a quoted header": (
        lambda t: _text(t, b'\xef\xbb\xbf"x","y","label"\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n', "d.csv"),
        "label",
        _columns("x", "y", "label"),
        "",
    ),
    "a comment line above the header": (
        lambda t: _text(t, "# exported 2024-01-01\n# by hand\nx,y,label\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n", "d.csv"),
        "label",
        _column("x", [1, 2, 3, 4], "int64"),
        "2 comment line(s)",
    ),
    "a header that starts with #": (
        lambda t: _text(t, "#,y,label\n1,2,a\n2,3,a\n3,4,b\n4,5,b\n", "d.csv"),
        "label",
        _columns("#", "y", "label"),
        "",
    ),
    "a symlinked file": (
        lambda t: _link(t, _text(t, TEXT, "real/d.csv"), "link.csv"),
        "label",
        _column("x", [1, 2, 3, 4]),
        "",
    ),
    "a path with spaces and accents": (
        lambda t: _text(t, TEXT, "my dätä/fïle ø.csv"),
        "label",
        _column("x", [1, 2, 3, 4]),
        "",
    ),
    "a .csv.gz file": (
        lambda t: _text(t, gzip.compress(TEXT.encode()), "d.csv.gz"),
        "label",
        _column("x", [1, 2, 3, 4]),
        "",
    ),
    "gzip named .csv": (
        lambda t: _text(t, gzip.compress(TEXT.encode()), "d.csv"),
        "label",
        _column("x", [1, 2, 3, 4]),
        "gzip-compressed; unpacked",
    ),
    "a TSV with padded header names": (
        lambda t: _text(t, " x \t y \t label \n1\t2\ta\n2\t3\ta\n3\t4\tb\n4\t5\tb\n", "d.tsv"),
        "label",
        _columns("x", "y", "label"),
        "spaces around column names",
    ),
    "blank lines between rows": (
        lambda t: _text(t, "x,y,label\n\n1,2,a\n\n2,3,a\n3,4,b\n\n4,5,b\n\n\n", "d.csv"),
        "label",
        _column("x", [1, 2, 3, 4]),
        "",
    ),
    "a dictionary-encoded label": (
        lambda t: _parquet(t, pa.table({"x": [1.0, 2, 3, 4], "label": pa.array(list("aabb")).dictionary_encode()})),
        "label",
        _classes("a", "b"),
        "",
    ),
    "a category label with unused levels": (
        _frame(x=[1.0, 2, 3, 4], label=pd.Categorical(list("aabb"), categories=list("abc"))),
        "label",
        _classes("a", "b"),
        "",
    ),
    "a category feature with unused levels": (
        _frame(x=[1.0, 2, 3, 4], f=pd.Categorical(list("pqpq"), categories=list("pqr")), label=list("aabb")),
        "label",
        _column("f", list("pqpq")),
        "",
    ),
    "int8 extremes": (
        _frame(x=np.array([-128, 127, -128, 127], dtype=np.int8), label=list("aabb")),
        "label",
        _column("x", [-128, 127, -128, 127], "int8"),
        "",
    ),
    "uint64 extremes": (
        _frame(x=np.array([0, 2**64 - 1, 1, 2**64 - 2], dtype=np.uint64), label=list("aabb")),
        "label",
        _column("x", [0, 2**64 - 1, 1, 2**64 - 2], "uint64"),
        "",
    ),
    "columns label and Label": (
        _frame(x=[1.0, 2, 3, 4], Label=[1.0, 2, 3, 4], label=list("aabb")),
        "label",
        lambda real: real.features == ["x", "Label"] or pytest.fail(str(real.features)),
        "",
    ),
    "a file of 40 row groups": (
        lambda t: (
            pq.write_table(
                pa.table({"x": list(range(40)), "label": ["a", "b"] * 20}), t / "d.parquet", row_group_size=1
            )
            or str(t / "d.parquet")
        ),
        "label",
        lambda real: real.frame["x"].tolist() == list(range(40)) or pytest.fail("rows"),
        "",
    ),
    "a boolean label": (
        _frame(x=[1.0, 2, 3, 4], label=[True, True, False, False]),
        "label",
        _classes("True", "False"),
        "",
    ),
    "a float label": (_frame(x=[1.0, 2, 3, 4], label=[1.0, 1.0, 2.5, 2.5]), "label", _classes("1.0", "2.5"), ""),
    "a float16 column": (
        lambda t: _parquet(t, pa.table({"x": pa.array(np.array([1, 2, 3, 4], np.float16)), "label": list("aabb")})),
        "label",
        _column("x", [1.0, 2.0, 3.0, 4.0]),
        "",
    ),
    "Parquet named .csv": (
        lambda t: _parquet(t, pd.DataFrame({"x": [1.0, 2, 3, 4], "label": list("aabb")}), "d.csv"),
        "label",
        _column("x", [1.0, 2.0, 3.0, 4.0], "float64"),
        "",
    ),
    "--columns with the label in it": (
        lambda t: _text(t, TEXT, "d.csv"),
        "label",
        lambda real: real.features == ["x"] or pytest.fail(str(real.features)),
        "",
    ),
    # image folders
    "palette PNGs": (
        lambda t: _images(t, _png_of("P")),
        None,
        lambda real: _decoded(real).shape == (8, 8, 3) or pytest.fail("shape"),
        "",
    ),
    "16-bit PNGs": (
        lambda t: _images(t, _png_of("I;16")),
        None,
        lambda real: _decoded(real).shape == (8, 8) or pytest.fail("shape"),
        "",
    ),
    "grey and RGB palette images mixed": (
        lambda t: _image_folder(t, {"a/p.png": _png_of("P"), "b/p.png": _png_of("P")}),
        None,
        _classes("a", "b"),
        "",
    ),
    "images one folder deeper in a class": (
        lambda t: _image_folder(t, {"a/sub/0.png": _png(), "b/sub/deeper/1.png": _png()}),
        None,
        lambda real: real.frame["label"].value_counts().to_dict() == {"a": 4, "b": 4} or pytest.fail("counts"),
        "",
    ),
    "a symlinked image folder": (
        lambda t: _link(t, _image_folder(t), "linked"),
        None,
        _classes("a", "b"),
        "",
    ),
    "a JPEG named .png": (lambda t: _image_folder(t, {"a/j.png": _jpeg()}), None, _classes("a", "b"), ""),
}


def _decoded(real) -> np.ndarray:
    from pipeline.data.images import decode_image

    return decode_image(real.frame["image"].iloc[0], "test")


@pytest.mark.parametrize("case", list(READ))
def test_odd_input_is_read_as_meant(case, tmp_path):
    source, label, check, words = READ[case]
    columns = ["x", "label"] if case == "--columns with the label in it" else None
    real = load_real(DataSpec(source=source(tmp_path), label=label, columns=columns))
    check(real)
    said = " ".join(real.notes)
    assert (words in said) if words else real.notes == [], real.notes


def _validated(args: list[str]):
    from flows.cli_config import run_config
    from pipeline.job import validate

    flags = dict.fromkeys(
        ["data", "label", "columns", "real_per_class", "per_class", "balance_to", "classes", "gate", "epochs"]
    )
    for flag, value in zip(args[::2], args[1::2]):
        flags[flag.lstrip("-").replace("-", "_")] = value
    config = run_config(flags.pop("config", None), flags)
    return config, validate(config)


def _check_config(t: Path, text: str) -> list[str]:
    return ["--config", _text(t, text, "run.json")]


FLAGS: dict[str, tuple[Callable[[Path], list[str]], Callable]] = {
    "--classes with spaces after commas": (
        lambda t: ["--data", "iris", "--per-class", 2, "--classes", "setosa, versicolor"],
        lambda config, v: list(v[2]) == ["setosa", "versicolor"],
    ),
    "--classes naming one class twice": (
        lambda t: ["--data", "iris", "--per-class", 2, "--classes", "setosa,setosa"],
        lambda config, v: v[2] == {"setosa": 2},
    ),
    "--real-per-class above the class size": (
        lambda t: ["--data", "iris", "--per-class", 2, "--real-per-class", 1000],
        lambda config, v: v[1] == {"setosa": 50, "versicolor": 50, "virginica": 50},
    ),
    "a count written as a string": (
        lambda t: _check_config(t, '{"data": {"source": "iris"}, "sample": {"per_class": "2"}}'),
        lambda config, v: config.sample.per_class == 2,
    ),
    "a config with a byte-order mark": (
        lambda t: [
            "--config",
            _text(t, b'\xef\xbb\xbf{"data": {"source": "iris"}, "sample": {"per_class": 4}}', "r.json"),
        ],
        lambda config, v: config.sample.per_class == 4,
    ),
}


@pytest.mark.parametrize("case", list(FLAGS))
def test_flags_and_config_are_read_as_meant(case, tmp_path):
    args, check = FLAGS[case]
    config, validated = _validated(args(tmp_path))
    assert check(config, validated), validated[1:]


def _environment(t: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUGMENT_", "MLFLOW_", "PREFECT_"))}
    root = Path(__file__).resolve().parents[1]
    env.update(AUGMENT_HOME=str(t / "home"), AUGMENT_RUNNER="0", PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    return env


ENVIRONMENT: dict[str, Callable[[Path, dict[str, str]], None]] = {
    "HOME unset": lambda t, env: env.pop("HOME", None),
    "TMPDIR that does not exist": lambda t, env: env.update(TMPDIR=str(t / "no" / "tmp")),
    "LANG=C with accented class names": lambda t, env: env.update(LANG="C", LC_ALL="C"),
    "a read-only current folder": lambda t, env: (t / "cwd").chmod(0o555),
}


@pytest.mark.parametrize("case", list(ENVIRONMENT))
def test_scoring_runs_where_the_user_runs(case, tmp_path):
    """`augment score` reads both tables and writes its report in a subprocess, as a user runs
    it: the accented class names come through, nothing is written outside --out."""
    env = _environment(tmp_path)
    here = tmp_path / "cwd"
    here.mkdir()
    real = _text(
        tmp_path, "x,y,label\n1,2,café\n2,3,café\n3,4,naïve\n4,5,naïve\n1.5,2.5,café\n3.5,4.5,naïve\n", "r.csv"
    )
    synthetic = _text(tmp_path, "x,y,label\n1.1,2,café\n3.2,4,naïve\n", "s.csv")
    ENVIRONMENT[case](tmp_path, env)
    out = tmp_path / "scored"
    args = ["score", "--real", real, "--synthetic", synthetic, "--label", "label", "--out", str(out)]
    code = "from flows.cli import app; app()"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=here, env=env, capture_output=True, text=True, timeout=300
    )
    here.chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "scored 2 rows" in done.stderr
    scored = pd.read_parquet(out / "scored.parquet")
    assert sorted(scored["label"].unique()) == ["café", "naïve"]
    assert list(here.iterdir()) == []


def test_the_probe_holds_at_least_sixty_new_cases():
    assert len(REFUSED) + len(READ) + len(FLAGS) + len(ENVIRONMENT) >= 60


def test_the_json_hint_is_only_added_to_invalid_json(tmp_path):
    from pipeline.checks import read_config_file

    path = _text(tmp_path, json.dumps({"data": {"source": "a, ]"}, "note": "// not a comment"}), "run.json")
    assert read_config_file(path)["note"] == "// not a comment"
