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


def _config_run(t: Path, **fields) -> list[str]:
    import json

    config = {"data": {"source": "iris"}, "sample": {"per_class": 2}}
    for dotted, value in fields.items():
        section, _, key = dotted.rpartition("__")
        (config.setdefault(section, {}) if section else config)[key] = value
    path = t / "run.json"
    path.write_text(json.dumps(config))
    return ["run", "--config", str(path)]


IRIS = RUN + ["--data", "iris"]
SETTINGS: dict[str, tuple[Setup, str]] = {
    "per_class true": (lambda t: _config_run(t, sample__per_class=True), "sample.per_class: Value error, a number"),
    "beta true": (lambda t: _config_run(t, model__beta=True), "model.beta: Value error, a number is needed"),
    "seed false": (lambda t: _config_run(t, seed=False), "seed: Value error, a number is needed, not the boolean"),
    "max_epochs 1e12": (lambda t: _config_run(t, train__max_epochs=1e12), "train.max_epochs: Input should be less"),
    "target_steps 1e12": (lambda t: _config_run(t, train__target_steps=1e12), "train.target_steps"),
    "an empty list of widths": (lambda t: _config_run(t, model__hidden=[]), "model.hidden: List should have at least"),
    "a negative layer width": (lambda t: _config_run(t, model__hidden=[64, -3]), "model.hidden.1: Input should be"),
    "an empty channel list": (lambda t: _config_run(t, model__conv_channels=[]), "model.conv_channels"),
    "a zero channel count": (lambda t: _config_run(t, model__conv_channels=[0, 8]), "model.conv_channels.0"),
    "an empty experiment": (lambda t: _config_run(t, experiment=""), "the experiment name is empty"),
    "a blank experiment": (lambda t: _config_run(t, experiment="   "), "the experiment name is empty"),
    "an experiment over two lines": (lambda t: _config_run(t, experiment="a\nb"), "holds control characters"),
    "an experiment of 600 characters": (lambda t: _config_run(t, experiment="e" * 600), "is 600 characters"),
    "a model name with /": (lambda t: IRIS + ["--model-name", "team/model"], "holds '/': MLflow refuses"),
    "a model name with :": (lambda t: IRIS + ["--model-name", "v:1"], "holds ':'"),
    "a model name with @": (lambda t: IRIS + ["--model-name", "me@work"], "cannot address a name with '@'"),
    "an empty model name": (lambda t: IRIS + ["--model-name", ""], "the model name is empty"),
    "a model name with spaces around": (lambda t: IRIS + ["--model-name", " m "], "starts or ends with spaces"),
    "a model name that is a path": (lambda t: IRIS + ["--model-name", "a..b/../c"], "holds '/'"),
    "a model name ..": (lambda t: IRIS + ["--model-name", ".."], "reads as a path"),
    "a model name of 300 characters": (lambda t: IRIS + ["--model-name", "m" * 300], "the registry keeps 256"),
}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_bad_settings_are_one_clear_error_with_a_fix(case, tmp_path, monkeypatch):
    setup, expected = SETTINGS[case]
    import flows.local_server

    monkeypatch.setattr(flows.local_server, "api_for_run", lambda *a, **k: pytest.fail("reached the flow"))
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    code, output = _invoke(setup(tmp_path) + ["--out", str(out)])
    _assert_clear_error(code, output, expected)
    assert "fix:" in output and not out.exists()


def _under_a_file(t: Path) -> str:
    (t / "file").write_text("x")
    return str(t / "file" / "home")


ENVIRONMENT: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "AUGMENT_HOME empty": (lambda t: {"AUGMENT_HOME": ""}, "AUGMENT_HOME is set but empty"),
    "AUGMENT_HOME blank": (lambda t: {"AUGMENT_HOME": "  "}, "AUGMENT_HOME is set but empty"),
    "AUGMENT_HOME of an unknown user": (lambda t: {"AUGMENT_HOME": "~nouser-35/x"}, "names no user's home"),
    "AUGMENT_HOME a file": (lambda t: {"AUGMENT_HOME": _under_a_file(t).rsplit("/", 1)[0]}, "(AUGMENT_HOME) is a file"),
    "AUGMENT_HOME under a file": (lambda t: {"AUGMENT_HOME": _under_a_file(t)}, "lies under the file"),
    "AUGMENT_THREADS a word": (lambda t: {"AUGMENT_THREADS": "two"}, "AUGMENT_THREADS='two' is not a whole number"),
    "AUGMENT_THREADS zero": (lambda t: {"AUGMENT_THREADS": "0"}, "from 1 to 1024"),
    "AUGMENT_THREADS 1.5": (lambda t: {"AUGMENT_THREADS": "1.5"}, "AUGMENT_THREADS='1.5'"),
    "AUGMENT_WORKERS a word": (lambda t: {"AUGMENT_WORKERS": "all"}, "AUGMENT_WORKERS='all' is not a whole number"),
    "AUGMENT_SERVER_IDLE a word": (lambda t: {"AUGMENT_SERVER_IDLE": "soon"}, "AUGMENT_SERVER_IDLE='soon' is not"),
    "AUGMENT_SERVER_IDLE negative": (lambda t: {"AUGMENT_SERVER_IDLE": "-5"}, "AUGMENT_SERVER_IDLE='-5'"),
    "MLFLOW_TRACKING_URI host:port": (
        lambda t: {"MLFLOW_TRACKING_URI": "localhost:5000"},
        "is not a tracking URI MLflow can use",
    ),
    "MLFLOW_TRACKING_URI a path": (lambda t: {"MLFLOW_TRACKING_URI": "./mlruns"}, "is not a tracking URI"),
    "MLFLOW_TRACKING_URI http without host": (lambda t: {"MLFLOW_TRACKING_URI": "http://"}, "names no host"),
    "MLFLOW_TRACKING_URI sqlite without file": (lambda t: {"MLFLOW_TRACKING_URI": "sqlite://"}, "names no database"),
    "MLFLOW_TRACKING_URI a file store": (
        lambda t: {"MLFLOW_TRACKING_URI": f"file://{t}/mlruns"},
        "is a file store, which MLflow 3 refuses",
    ),
    "PREFECT_API_URL host:port": (lambda t: {"PREFECT_API_URL": "localhost:4200"}, "is not an http(s) URL"),
    "PREFECT_API_URL without /api": (lambda t: {"PREFECT_API_URL": "http://127.0.0.1:4200"}, "lacks the API path"),
    "PREFECT_API_URL empty": (lambda t: {"PREFECT_API_URL": ""}, "is not an http(s) URL"),
    "AUGMENT_DASK_ADDRESS an http URL": (
        lambda t: {"AUGMENT_DASK_ADDRESS": "http://127.0.0.1:8786"},
        "AUGMENT_DASK_ADDRESS='http://127.0.0.1:8786' is not a Dask scheduler address",
    ),
    "AUGMENT_DASK_ADDRESS without a port": (lambda t: {"AUGMENT_DASK_ADDRESS": "tcp://h"}, "is not a Dask scheduler"),
    "AUGMENT_DASK_ADDRESS nothing answers": (
        lambda t: {"AUGMENT_DASK_ADDRESS": f"127.0.0.1:{_closed_port()}"},
        "no Dask scheduler answers at AUGMENT_DASK_ADDRESS=",
    ),
}


def _closed_port() -> int:
    """A loopback port that was free a moment ago: nothing listens there."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", ["run", "generate", "score"])
@pytest.mark.parametrize("case", list(ENVIRONMENT))
def test_a_bad_environment_is_one_clear_error_before_anything(case, command, tmp_path, monkeypatch):
    """Each variable the product reads, refused by name with a fix; nothing is created, not
    even in the current folder (an empty AUGMENT_HOME used to make it the home)."""
    variables, expected = ENVIRONMENT[case]
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    for name, value in variables(tmp_path).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    args = {
        "run": IRIS,
        "generate": ["generate", "--model", "models:/m@candidate", "--per-class", "2"],
        "score": ["score", "--real", "iris", "--synthetic", str(tmp_path / "s.parquet"), "--label", "species"],
    }[command]
    code, output = _invoke(args + ["--out", str(out)])
    _assert_clear_error(code, output, expected)
    assert "fix:" in output and not out.exists()
    assert list(here.iterdir()) == [] and not (tmp_path / "home").exists()


def test_a_home_with_a_tilde_is_the_users(tmp_path, monkeypatch):
    from flows.settings import artifacts_root, check_environment

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AUGMENT_HOME", "~/augment-home")
    check_environment()
    assert artifacts_root() == tmp_path / "augment-home"


def test_a_read_only_home_is_refused_by_name(tmp_path, monkeypatch):
    """Root ignores permissions, so the folder is made to look read-only."""
    import os

    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode))
    code, output = _invoke(IRIS + ["--out", str(tmp_path / "out")])
    _assert_clear_error(code, output, f"the artifacts home's folder '{tmp_path}' is read-only")


def test_a_bad_idle_time_does_not_break_the_import(monkeypatch):
    """flows.runner is the console script's module: it reads AUGMENT_SERVER_IDLE at import."""
    from flows.settings import DEFAULT_IDLE_SECONDS, idle_seconds

    monkeypatch.setenv("AUGMENT_SERVER_IDLE", "soon")
    assert idle_seconds() == DEFAULT_IDLE_SECONDS
    monkeypatch.setenv("AUGMENT_SERVER_IDLE", "42")
    assert idle_seconds() == 42
