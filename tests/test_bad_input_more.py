"""More bad input, found by trying the product as a new user would: options out of range or
not finite, odd class and column lists, broken or outsized config files, tables with
infinite numbers, unhashable labels or numbers written as text, CSV files, image folders with
stray files, `augment score` and `augment generate` against a real (SQLite) registry.

Every case runs in-process, before any flow or server: exit code 2, a message that starts
with "error:" and names the problem, no traceback, and no output folder created.
"""

from __future__ import annotations

import errno
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from flows.cli import app


@dataclass
class Registry:
    """Registered models of the module's artifacts home."""

    home: Path
    model: str  # SMOTE on a table with classes ' a', 'b', 'c'; alias candidate, version 1
    tampered: str  # the same, its saved files changed after registration


Setup = Callable[[Path, "Registry | None"], list[str]]


def _rows(n: int = 12, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "label": ["a", "b", "c"] * (n // 3)})
    return frame.assign(**columns)


def _parquet(tmp: Path, frame: pd.DataFrame | pa.Table, name: str = "data.parquet") -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(frame, pa.Table):
        pq.write_table(frame, path)
    else:
        frame.to_parquet(path)
    return str(path)


def _text(tmp: Path, text: str | bytes, name: str) -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def _csv(tmp: Path, frame: pd.DataFrame, name: str = "data.csv", sep: str = ",") -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, sep=sep)
    return str(path)


def _png(mode: str = "L", size: int = 8) -> bytes:
    rng = np.random.default_rng(size)
    shape = (size, size) if mode == "L" else (size, size, len(mode))
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_folder(tmp: Path, extra: dict[str, bytes | None] | None = None) -> str:
    """images/<a|b>/<i>.png, 3 grey 8x8 images per class, plus `extra` files (None: a folder)."""
    root = tmp / "images"
    for cls in "ab":
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            (root / cls / f"{i}.png").write_bytes(_png())
    for name, content in (extra or {}).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.mkdir() if content is None else target.write_bytes(content)
    return str(root)


def _config(tmp: Path, value: object | str) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return _text(tmp, text, "run.json")


def _iris_synthetic(tmp: Path, **changes) -> str:
    from pipeline.data.builtin import load_iris

    frame, _ = load_iris()
    rows = frame.head(6).copy()
    for column, value in changes.items():
        rows[column] = value
    return _parquet(tmp, rows, "synthetic.parquet")


RUN = ["run", "--per-class", "3"]
IRIS = RUN + ["--data", "iris"]


def _table_run(frame_or_path: Callable[[Path], str]) -> Setup:
    return lambda t, r: RUN + ["--data", frame_or_path(t), "--label", "label"]


def _score(synthetic: Callable[[Path], str], *extra: str, real: str = "iris", label: str = "species") -> Setup:
    return lambda t, r: ["score", "--real", real, "--synthetic", synthetic(t), "--label", label, *extra]


def _gen(*args: str, model: str = "model") -> Setup:
    """augment generate against the module's registry; `{model}` / `{tampered}` name its models."""
    return lambda t, r: ["generate", *[a.format(model=r.model, tampered=r.tampered) for a in args]]


def _score_real_inf() -> Setup:
    return lambda t, r: [
        "score",
        "--real",
        _parquet(t, _rows(x=[np.inf] + [0.0] * 11)),
        "--synthetic",
        _parquet(t, _rows(), "synthetic.parquet"),
        "--label",
        "label",
    ]


def _score_real_labels() -> Setup:
    return lambda t, r: [
        "score",
        "--real",
        _parquet(t, _rows(label=[[1], [2], [3]] * 4)),
        "--synthetic",
        _parquet(t, _rows(), "synthetic.parquet"),
        "--label",
        "label",
    ]


DEEP = '{"data": ' * 5000 + "1" + "}" * 5000
NESTED = json.dumps(
    {"data": {"source": "iris"}, "sample": {"per_class": 2}, "model": {"hidden": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}}
)
LONG = "x" * 20_000

CASES: dict[str, tuple[Setup, str]] = {
    # options that are not finite or out of range
    "temperature inf": (lambda t, r: IRIS + ["--temperature", "inf"], "temperature: Input should be a finite number"),
    "temperature -inf": (lambda t, r: IRIS + ["--temperature", "-inf"], "temperature"),
    "temperature nan": (lambda t, r: IRIS + ["--temperature", "nan"], "temperature: Input should be a finite number"),
    "temperature 1e300": (lambda t, r: IRIS + ["--temperature", "1e300"], "less than or equal to 100"),
    "temperature negative": (lambda t, r: IRIS + ["--temperature", "-1"], "temperature"),
    "beta inf": (lambda t, r: IRIS + ["--beta", "inf"], "beta: Input should be a finite number"),
    "beta nan": (lambda t, r: IRIS + ["--beta", "nan"], "beta: Input should be a finite number"),
    "beta negative": (lambda t, r: IRIS + ["--beta", "-0.5"], "beta"),
    "beta huge": (lambda t, r: IRIS + ["--beta", "1e12"], "less than or equal to 1000"),
    "latent units huge": (
        lambda t, r: IRIS + ["--latent-dim", "100000"],
        "--latent-dim: Input should be less than or equal to 512",
    ),
    "epochs huge": (lambda t, r: IRIS + ["--epochs", "1000000000"], "epochs"),
    "threads zero": (lambda t, r: IRIS + ["--threads", "0"], "threads"),
    "threads huge": (lambda t, r: IRIS + ["--threads", "1000000"], "threads"),
    "seed 2**70": (lambda t, r: IRIS + ["--seed", str(2**70)], "seed"),
    "seed -5": (lambda t, r: IRIS + ["--seed", "-5"], "seed"),
    "real per class zero": (
        lambda t, r: IRIS + ["--real-per-class", "0"],
        "--real-per-class: Input should be greater than or equal to 2",
    ),
    "per class 2**70": (lambda t, r: ["run", "--data", "iris", "--per-class", str(2**70)], "synthetic rows asked for"),
    "balance to 2**70": (
        lambda t, r: ["run", "--data", "iris", "--balance-to", str(2**70)],
        "synthetic rows asked for",
    ),
    "per class negative": (
        lambda t, r: ["run", "--data", "iris", "--per-class", "-3"],
        "--per-class: Input should be greater than or equal to 1 (given -3)",
    ),
    "unknown prior": (lambda t, r: IRIS + ["--prior", "flat"], "prior"),
    "unknown arch": (lambda t, r: IRIS + ["--arch", "transformer"], "arch"),
    "unknown device": (lambda t, r: IRIS + ["--device", "tpu"], "device"),
    # lists of classes and columns
    "classes only commas": (lambda t, r: IRIS + ["--classes", " , ,"], "--classes ' , ,' names nothing"),
    "classes one comma": (lambda t, r: IRIS + ["--classes", ","], "names nothing"),
    "classes blank": (lambda t, r: IRIS + ["--classes", "   "], "names nothing"),
    "columns only commas": (lambda t, r: IRIS + ["--columns", " , ,"], "--columns ' , ,' names nothing"),
    "classes that differ only in spaces": (
        lambda t, r: (
            RUN + ["--data", _parquet(t, _rows(label=[" a", "a ", "b"] * 4)), "--label", "label", "--classes", "a"]
        ),
        "could be any of",
    ),
    "a very long unknown class": (lambda t, r: IRIS + ["--classes", LONG], "unknown class(es)"),
    # the config file
    "config nested 5000 deep": (lambda t, r: ["run", "--config", _config(t, DEEP)], "nested more than 16 levels"),
    "config nested 20 deep": (lambda t, r: ["run", "--config", _config(t, NESTED)], "nested more than 16 levels"),
    "config of 12 MB": (
        lambda t, r: ["run", "--config", _config(t, {"data": {"source": "x" * 12_000_000}})],
        "is 12.0 MB",
    ),
    "config of 2 MB of spaces": (lambda t, r: ["run", "--config", _config(t, " " * 2_000_000 + "{}")], "MB"),
    "config not UTF-8": (lambda t, r: ["run", "--config", _text(t, b"\xff\xfe{\x00", "run.json")], "is not text"),
    "config null": (lambda t, r: ["run", "--config", _config(t, "null")], "holds a NoneType, not an object"),
    "config a number": (lambda t, r: ["run", "--config", _config(t, "3")], "holds a int, not an object"),
    "config a string": (lambda t, r: ["run", "--config", _config(t, '"iris"')], "holds a str, not an object"),
    "config empty object": (lambda t, r: ["run", "--config", _config(t, "{}")], "no data given"),
    "config Infinity temperature": (
        lambda t, r: [
            "run",
            "--config",
            _config(t, '{"data": {"source": "iris"}, "sample": {"per_class": 2, "temperature": Infinity}}'),
        ],
        "temperature: Input should be a finite number",
    ),
    "config NaN beta": (
        lambda t, r: [
            "run",
            "--config",
            _config(t, '{"data": {"source": "iris"}, "sample": {"per_class": 2}, "model": {"beta": NaN}}'),
        ],
        "beta: Input should be a finite number",
    ),
    "config seed 1e400": (
        lambda t, r: [
            "run",
            "--config",
            _config(t, '{"data": {"source": "iris"}, "sample": {"per_class": 2}, "seed": 1e400}'),
        ],
        "seed",
    ),
    "config a long source": (
        lambda t, r: ["run", "--config", _config(t, {"data": {"source": LONG}, "sample": {"per_class": 2}})],
        "characters)' is neither a file",
    ),
    "config sample a list": (
        lambda t, r: ["run", "--config", _config(t, {"data": {"source": "iris"}, "sample": []})],
        "sample",
    ),
    "config classes a string": (
        lambda t, r: [
            "run",
            "--config",
            _config(t, {"data": {"source": "iris"}, "sample": {"per_class": 2, "classes": "a"}}),
        ],
        "classes",
    ),
    "config unknown nested field": (
        lambda t, r: [
            "run",
            "--config",
            _config(t, {"data": {"source": "iris", "colour": 1}, "sample": {"per_class": 2}}),
        ],
        "data.colour",
    ),
    # numbers that cannot be modelled, labels that cannot name a class
    "inf in a column": (_table_run(lambda t: _parquet(t, _rows(x=[np.inf] + [0.0] * 11))), "column 'x' has 1 value(s)"),
    "-inf in a column": (_table_run(lambda t: _parquet(t, _rows(y=[0.0] * 11 + [-np.inf]))), "infinite or too large"),
    "1e308 in a column": (_table_run(lambda t: _parquet(t, _rows(x=[1e308] + [0.0] * 11))), "too large to model"),
    "1e200 in a column": (_table_run(lambda t: _parquet(t, _rows(x=[1.0] * 11 + [-1e200]))), "row 11"),
    "inf in an integer-like float column": (
        _table_run(lambda t: _parquet(t, _rows(x=[np.inf, 1.0, 2.0] * 4))),
        "4 value(s)",
    ),
    "list labels": (
        _table_run(lambda t: _parquet(t, _rows(label=[[1, 2], [3]] * 6))),
        "label column 'label' holds a list",
    ),
    "struct labels": (
        _table_run(lambda t: _parquet(t, _rows(label=[{"k": 1}, {"k": 2}, {"k": 3}] * 4))),
        "holds a struct",
    ),
    "the image column as label": (
        lambda t, r: (
            RUN
            + [
                "--label",
                "image",
                "--data",
                _parquet(t, pd.DataFrame({"image": [{"bytes": _png(), "path": None}] * 4})),
            ]
        ),
        "holds a struct",
    ),
    "a column with no values": (_table_run(lambda t: _parquet(t, _rows(z=[None] * 12))), "column 'z' has no values"),
    # numbers written as text
    "comma as decimal or thousands": (
        _table_run(lambda t: _parquet(t, _rows(x=["1,234", "2,500", "12"] * 4))),
        "may be a decimal mark or a thousands separator",
    ),
    "numbers in two formats": (
        _table_run(lambda t: _parquet(t, _rows(x=["1,5", "1,234.5", "3"] * 4))),
        "in more than one format",
    ),
    "percent and plain numbers": (
        _table_run(lambda t: _parquet(t, _rows(x=["12%", "13", "14%"] * 4))),
        "mixes percentages and plain numbers",
    ),
    "numbers as text with a word": (
        _table_run(lambda t: _parquet(t, _rows(x=[f"{i},5" for i in range(11)] + ["unknown"]))),
        "and other values (['unknown'])",
    ),
    "ambiguous numbers in a CSV": (  # no other number of the file shows its decimal mark
        _table_run(lambda t: _csv(t, _rows(x=["1,234", "5,678", "9,000"] * 4, y=range(12)))),
        "data.csv: column 'x'",
    ),
    # CSV files
    "empty CSV file": (_table_run(lambda t: _text(t, "", "data.csv")), "cannot read"),
    "CSV header only": (_table_run(lambda t: _text(t, "x,y,label\n", "data.csv")), "the table is empty"),
    "CSV ragged lines": (_table_run(lambda t: _text(t, "x,y,label\n1,2,a\n1,2,3,b\n", "data.csv")), "as CSV"),
    "CSV of one column": (_table_run(lambda t: _text(t, "label\na\nb\n", "data.csv")), "has 1 column(s)"),
    "CSV repeated columns": (
        _table_run(lambda t: _text(t, "x,x,label\n1,2,a\n3,4,b\n", "data.csv")),
        "repeated column names ['x']",
    ),
    "CSV in no encoding read": (  # 0x81 is undefined in cp1252 and a control character in latin-1
        _table_run(lambda t: _text(t, b"x,y,label\n1,2,\x81\n3,4,b\n", "data.csv")),
        "data.csv' is not UTF-8, UTF-16 or latin-1/cp1252 text (byte 0x81 on line 2)",
    ),
    "CSV without the label": (lambda t, r: RUN + ["--data", _csv(t, _rows()), "--label", "kind"], "'kind' not found"),
    "CSV class of one row": (
        _table_run(lambda t: _csv(t, pd.concat([_rows(), _rows(3, label="d").head(1)]))),
        "fewer than 2 rows",
    ),
    "CSV folder with two headers": (
        _table_run(
            lambda t: (_csv(t, _rows(), "parts/a.csv"), _csv(t, _rows().rename(columns={"y": "z"}), "parts/b.csv"))[
                0
            ].rsplit("/", 1)[0]
        ),
        "do not share one header: a.csv and b.csv",
    ),
    "CSV folder with two column types": (
        _table_run(
            lambda t: (_csv(t, _rows(), "parts/a.csv"), _csv(t, _rows(x="text"), "parts/b.csv"))[0].rsplit("/", 1)[0]
        ),
        "disagree on column 'x'",
    ),
    "CSV and Parquet in one folder": (
        _table_run(
            lambda t: (_csv(t, _rows(), "parts/a.csv"), _parquet(t, _rows(), "parts/b.parquet"))[0].rsplit("/", 1)[0]
        ),
        "holds Parquet files (e.g. 'b.parquet') and CSV files",
    ),
    "CSV dates": (
        _table_run(lambda t: _csv(t, _rows(x=pd.date_range("2024-01-01 10:00", periods=12, freq="h").astype(str)))),
        "data.csv: column 'x' has type",
    ),
    "CSV label and ID-like text": (
        _table_run(
            lambda t: _csv(t, pd.DataFrame({"id": [f"r{i}" for i in range(300)], "label": ["a", "b", "c"] * 100}))
        ),
        "data.csv: column 'id'",
    ),
    # image folders
    "stray Parquet in an image folder": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"results.parquet": b"PAR1"})],
        "holds Parquet files (e.g. 'results.parquet') and image files",
    ),
    "stray CSV in an image folder": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"a/notes.csv": b"x,y\n1,2\n"})],
        "holds CSV files (e.g. 'a/notes.csv') and image files",
    ),
    "a broken image names its file": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"b/broken.png": _png()[:40]})],
        "image 'b/broken.png': not a readable image",
    ),
    "an empty image file names its file": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"a/empty.png": b""})],
        "image 'a/empty.png'",
    ),
    "text named .png names its file": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"a/readme.png": b"hello"})],
        "image 'a/readme.png': not a readable image",
    ),
    "an image of another size names its file": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"b/z.png": _png(size=9)})],
        "image 'b/z.png' is 9x9",
    ),
    "a huge image names its file": (
        lambda t, r: RUN + ["--data", _image_folder(t, {"a/huge.png": _png(size=1100)})],
        "image 'a/huge.png': the image is 1100x1100",
    ),
    "only a folder named x.png": (
        lambda t, r: RUN + ["--data", str(Path(_image_folder(t, {"c/x.png": None})).parent / "images" / "c")],
        "no image files under",
    ),
    "class folders of folders named x.png": (
        lambda t, r: RUN + ["--data", str(Path(_text(t, "", "nothing/a/x.png/.keep")).parents[2])],
        "no image files under",
    ),
    # augment score
    "score: seed -1": (_score(lambda t: _iris_synthetic(t), "--seed", "-1"), "--seed -1 is out of range"),
    "score: seed 2**70": (_score(lambda t: _iris_synthetic(t), "--seed", str(2**70)), "is out of range"),
    "score: no rows": (
        _score(lambda t: _parquet(t, pd.read_parquet(_iris_synthetic(t)).head(0), "s0.parquet")),
        "has no rows",
    ),
    "score: text in a numeric column": (
        _score(lambda t: _iris_synthetic(t, **{"sepal length (cm)": ["1,5"] * 6})),
        "synthetic column 'sepal length (cm)' holds text where",
    ),
    "score: inf in a numeric column": (
        _score(lambda t: _iris_synthetic(t, **{"sepal length (cm)": [np.inf] * 6})),
        "column 'sepal length (cm)' has 6 value(s) that are infinite",
    ),
    "score: 1e308 in a numeric column": (
        _score(lambda t: _iris_synthetic(t, **{"petal width (cm)": [1e308] * 6})),
        "too large to model",
    ),
    "score: real rows with inf": (
        _score_real_inf(),
        "infinite or too large",
    ),
    "score: list labels in the real rows": (_score_real_labels(), "holds a list"),
    "score: synthetic file is CSV text": (
        _score(lambda t: _text(t, "a,b\n1,2\n", "synthetic.parquet")),
        "cannot read the synthetic file",
    ),
    # augment generate, against a registry
    "generate: unknown model": (
        _gen("--model", "models:/nope@candidate", "--per-class", "2"),
        "Registered Model with name=nope not found",
    ),
    "generate: unknown version": (_gen("--model", "models:/{model}/9", "--per-class", "2"), "version=9) not found"),
    "generate: unknown alias": (
        _gen("--model", "models:/{model}@champion", "--per-class", "2"),
        "alias champion not found",
    ),
    "generate: unknown class": (
        _gen("--model", "models:/{model}@candidate", "--per-class", "2", "--classes", "rose"),
        "unknown class(es) ['rose']",
    ),
    "generate: classes only commas": (
        _gen("--model", "models:/{model}@candidate", "--per-class", "2", "--classes", " , ,"),
        "names nothing",
    ),
    "generate: seed 2**70": (
        _gen("--model", "models:/{model}@candidate", "--per-class", "2", "--seed", str(2**70)),
        "is out of range",
    ),
    "generate: seed -1": (
        _gen("--model", "models:/{model}@candidate", "--per-class", "2", "--seed", "-1"),
        "--seed -1 is out of range",
    ),
    "generate: tampered files": (
        _gen("--model", "models:/{tampered}@candidate", "--per-class", "2"),
        "does not match its SHA-256",
    ),
    "generate: zero per class": (
        _gen("--model", "models:/{model}@candidate", "--per-class", "0"),
        "greater than or equal to 1",
    ),
    "generate: per class 2**70": (
        _gen("--model", "models:/{model}@candidate", "--per-class", str(2**70)),
        "synthetic rows asked for",
    ),
    "generate: balance asks for nothing": (
        _gen("--model", "models:/{model}@candidate", "--balance-to", "2"),
        "asks for nothing",
    ),
    "generate: both counts": (
        _gen("--model", "models:/{model}@candidate", "--per-class", "2", "--balance-to", "9"),
        "exactly one of",
    ),
    "generate: empty model URI": (_gen("--model", "models:/", "--per-class", "2"), "is not a model URI"),
    "generate: URI without an alias": (_gen("--model", "models:/{model}@", "--per-class", "2"), "is not a model URI"),
    "generate: a runs URI": (_gen("--model", "runs:/abc/model", "--per-class", "2"), "is not a model URI"),
    "generate: a very long URI": (_gen("--model", "models:/" + LONG + "@candidate", "--per-class", "2"), "characters)"),
    # long values are cut
    "a very long data path": (lambda t, r: RUN + ["--data", "/nope/" + LONG], "characters)' is neither a file"),
    "a very long label": (
        lambda t, r: RUN + ["--data", _parquet(t, _rows()), "--label", LONG],
        "characters)' not found",
    ),
    "a very long column list": (
        lambda t, r: (
            RUN
            + ["--data", _parquet(t, _rows()), "--label", "label", "--columns", ",".join(f"c{i}" for i in range(3000))]
        ),
        "not found",
    ),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    """Two registered SMOTE models (a second or two: no training, no Prefect), one with its
    saved files changed after registration."""
    from pipeline.synthesizers.baselines import SMOTESynthesizer
    from pipeline.tracking import SYNTHESIZER_ARTIFACT, Tracker

    home = tmp_path_factory.mktemp("home")
    frame = _rows(24, label=[" a", "b", "c"] * 8)
    tracker = Tracker(f"sqlite:///{home / 'mlflow.db'}", "augment", artifact_root=home / "mlflow-artifacts")
    for name in ("model", "tampered"):
        folder = home / "saved" / name
        SMOTESynthesizer(seed=0).fit(frame, label="label").save(folder)
        tracker.start(name)
        tracker.log_artifacts(folder, SYNTHESIZER_ARTIFACT)
        version, _ = tracker.register_synthesizer(folder, name)
        tracker.set_alias(name, "candidate", version)
        tracker.finish()
    spec = next(p for p in (home / "mlflow-artifacts").rglob("spec.json") if tracker.run_id in p.parts)
    spec.write_text(spec.read_text().replace('"seed": 0', '"seed": 1'))
    return Registry(home, "model", "tampered")


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def _assert_clear_error(code: int, output: str, expected: str) -> None:
    text = " ".join(output.split())
    assert code == 2, output
    assert "Traceback" not in output and text.startswith("error:"), output
    assert expected in text, output
    assert len(text) < 3000, f"{len(text)} characters"  # long values are cut


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error_before_any_flow(case, tmp_path, monkeypatch, request):
    setup, expected = CASES[case]
    import flows.local_server

    def no_flow(*args, **kwargs):
        raise AssertionError("the input passed every check and reached the flow")

    monkeypatch.setattr(flows.local_server, "api_for_run", no_flow)
    registry = request.getfixturevalue("registry") if case.startswith("generate") else None
    monkeypatch.setenv("AUGMENT_HOME", str(registry.home if registry else tmp_path / "home"))
    data = tmp_path / "data"
    data.mkdir()
    args = setup(data, registry)
    out = tmp_path / "out"
    if args[0] in ("run", "generate", "score") and "--out" not in args:
        args += ["--out", str(out)]
    code, output = _invoke(args)
    _assert_clear_error(code, output, expected)
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_a_read_only_mlflow_folder_fails_at_once(tmp_path, monkeypatch):
    """SQLite in a read-only folder made MLflow retry for minutes; root ignores permissions, so
    the folder is made to look read-only."""
    import os

    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path / "home" else real_access(p, mode))
    code, output = _invoke(IRIS + ["--out", str(tmp_path / "out")])
    _assert_clear_error(code, output, "the MLflow database's folder")
    assert "is read-only" in output and not (tmp_path / "out").exists()


def test_a_full_disk_is_said_in_words(tmp_path, monkeypatch):
    """MLflow words a full disk "Failed to download artifacts"; the error below it is what counts."""
    import pipeline.job

    def full(config):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/tmp/x")
        except OSError as exc:
            raise RuntimeError("Failed to download artifacts from path 'synthesizer'") from exc

    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(pipeline.job, "validate", full)
    code, output = _invoke(IRIS + ["--out", str(tmp_path / "out")])
    _assert_clear_error(code, output, "No space left on device writing /tmp/x")


def test_the_new_catalogue_holds_at_least_a_hundred_cases():
    assert len(CASES) + 2 >= 100
