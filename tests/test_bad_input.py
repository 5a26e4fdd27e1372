"""A catalogue of bad input, across `augment run`, `generate`, `score`, the config file and
the Python API. Each is answered with exit code 2 and a plain "error: ... / fix: ..." (no
traceback), and changes nothing: no file in the artifacts home (so no MLflow run, registry
version or alias move), and the previous outputs in --out untouched."""

from __future__ import annotations

import io
import json
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
from pipeline import CVAESynthesizer, Synthesizer
from pipeline.errors import AugmentError
from pipeline.outputs import MARKER

Setup = Callable[[Path], list[str]]


def _png(size: tuple[int, int], value: int = 100) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _table(tmp: Path, frame: pd.DataFrame, name: str = "data.parquet") -> str:
    path = tmp / name
    frame.to_parquet(path)
    return str(path)


def _base() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=12), "y": rng.normal(size=12), "label": ["a", "b", "c"] * 4})


def _images(tmp: Path, values: list[dict]) -> str:
    return _table(tmp, pd.DataFrame({"image": values, "label": [i % 2 for i in range(len(values))]}))


def _linked_image_folder(tmp: Path, link_class: bool) -> str:
    """An image folder whose class `b` (or one file of it) is a symlink to a place outside it."""
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(_png((8, 8), 7))
    folder = tmp / "images"
    for cls in "ab":
        if cls == "b" and link_class:
            (folder / cls).symlink_to(outside)
            continue
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            (folder / cls / f"{i}.png").write_bytes(_png((8, 8), 50 * i))
    if not link_class:
        (folder / "b" / "3.png").symlink_to(outside / "secret.png")
    return str(folder)


def _mixed_folder(tmp: Path) -> str:
    folder = tmp / "parts"
    folder.mkdir()
    _base().to_parquet(folder / "a.parquet")
    _base().rename(columns={"y": "z"}).to_parquet(folder / "b.parquet")
    return str(folder)


def _repeated_columns(tmp: Path) -> str:
    table = pa.table(
        [pa.array([1.0, 2.0] * 3), pa.array([3.0, 4.0] * 3), pa.array(["a", "b"] * 3)], names=["x", "x", "label"]
    )
    pq.write_table(table, tmp / "dup.parquet")
    return str(tmp / "dup.parquet")


def _config_file(tmp: Path, text: str) -> str:
    (tmp / "run.json").write_text(text)
    return str(tmp / "run.json")


RUN = ["run", "--per-class", "3"]
CASES: dict[str, tuple[Setup, str]] = {
    # the source
    "empty source": (lambda t: ["run", "--data", "", "--per-class", "3"], "the data source is empty"),
    "missing file": (lambda t: RUN + ["--data", str(t / "nope.parquet")], "is neither a file, a folder"),
    "corrupt parquet": (
        lambda t: (
            (t / "bad.parquet").write_bytes(b"PAR1junk") and RUN + ["--data", str(t / "bad.parquet"), "--label", "l"]
        ),
        "cannot read",
    ),
    "empty folder": (
        lambda t: (t / "empty").mkdir() or RUN + ["--data", str(t / "empty")],
        "has no Parquet or CSV files",
    ),
    "mixed schemas": (lambda t: RUN + ["--data", _mixed_folder(t), "--label", "label"], "do not share one schema"),
    "repeated columns": (lambda t: RUN + ["--data", _repeated_columns(t), "--label", "label"], "repeated column names"),
    # labels and columns
    "no label given": (lambda t: RUN + ["--data", _table(t, _base())], "no label column given"),
    "unknown label": (
        lambda t: RUN + ["--data", _table(t, _base()), "--label", "nope"],
        "label column 'nope' not found",
    ),
    "unknown column": (
        lambda t: RUN + ["--data", _table(t, _base()), "--label", "label", "--columns", "q"],
        "not found",
    ),
    "one class": (
        lambda t: RUN + ["--data", _table(t, _base().assign(label="a")), "--label", "label"],
        "only one class",
    ),
    "class of one row": (
        lambda t: (
            RUN + ["--data", _table(t, pd.concat([_base(), _base().head(1).assign(label="d")])), "--label", "label"]
        ),
        "fewer than 2 rows",
    ),
    "rows without label": (
        lambda t: RUN + ["--data", _table(t, _base().assign(label=["a", None, "b", "c"] * 3)), "--label", "label"],
        "have no label",
    ),
    "empty feature rows": (
        lambda t: RUN + ["--data", _table(t, _base().assign(x=np.nan, y=[np.nan] * 11 + [1.0])), "--label", "label"],
        "no feature values at all",
    ),
    "nested column": (
        lambda t: RUN + ["--data", _table(t, _base().assign(x=[[1, 2]] * 12)), "--label", "label"],
        "nested values",
    ),
    "id-like text": (
        lambda t: (
            RUN
            + [
                "--data",
                _table(t, pd.DataFrame({"id": [f"r{i}" for i in range(300)], "label": ["a", "b", "c"] * 100})),
                "--label",
                "label",
            ]
        ),
        "looks like an ID",
    ),
    "markup in a class": (lambda t: RUN + ["--data", "iris", "--classes", "[/x]"], "unknown class(es) ['[/x]']"),
    # images
    "image path only": (
        lambda t: RUN + ["--label", "label", "--data", _images(t, [{"bytes": None, "path": "/etc/hostname"}] * 4)],
        "only a path",
    ),
    "huge image": (
        lambda t: RUN + ["--label", "label", "--data", _images(t, [{"bytes": _png((2000, 2000)), "path": None}] * 4)],
        "2000x2000",
    ),
    "mixed image sizes": (
        lambda t: (
            RUN
            + [
                "--label",
                "label",
                "--data",
                _images(t, [{"bytes": _png((8, 8)), "path": None}] * 3 + [{"bytes": _png((9, 9)), "path": None}]),
            ]
        ),
        "different sizes",
    ),
    "not an image": (
        lambda t: RUN + ["--label", "label", "--data", _images(t, [{"bytes": b"nope", "path": None}] * 4)],
        "not a readable image",
    ),
    "image symlink leaving the folder": (
        lambda t: RUN + ["--data", _linked_image_folder(t, link_class=False)],
        "images/b/3.png' leads outside the data folder",
    ),
    "class folder symlink leaving the folder": (
        lambda t: RUN + ["--data", _linked_image_folder(t, link_class=True)],
        "images/b' leads outside the data folder",
    ),
    "affine on a table": (lambda t: RUN + ["--data", "iris", "--generator", "affine"], "makes image rows"),
    # counts and classes
    "no count": (lambda t: ["run", "--data", "iris"], "exactly one of --per-class and --balance-to"),
    "both counts": (
        lambda t: ["run", "--data", "iris", "--per-class", "3", "--balance-to", "60"],
        "exactly one of --per-class and --balance-to",
    ),
    "zero per class": (lambda t: ["run", "--data", "iris", "--per-class", "0"], "greater than or equal to 1"),
    "negative balance": (lambda t: ["run", "--data", "iris", "--balance-to", "-4"], "greater than or equal to 1"),
    "balance asks for nothing": (lambda t: ["run", "--data", "iris", "--balance-to", "50"], "asks for nothing"),
    "too many rows": (lambda t: ["run", "--data", "iris", "--per-class", "1000000000"], "at most 10,000,000"),
    "unknown class": (lambda t: RUN + ["--data", "iris", "--classes", "rose"], "unknown class(es) ['rose']"),
    # settings
    "one real row per class": (
        lambda t: RUN + ["--data", "iris", "--real-per-class", "1"],
        "greater than or equal to 2",
    ),
    "negative seed": (lambda t: RUN + ["--data", "iris", "--seed", "-1"], "seed"),
    "seed above 2^32": (
        lambda t: RUN + ["--data", "iris", "--seed", str(2**32), "--real-per-class", "5"],
        "less than 4294967296",
    ),
    "unknown generator": (lambda t: RUN + ["--data", "iris", "--generator", "gan"], "generator"),
    "unknown strategy": (lambda t: RUN + ["--data", "iris", "--strategy", "warp"], "strategy"),
    "strategy of another generator": (
        lambda t: RUN + ["--data", "iris", "--generator", "smote", "--strategy", "transfer"],
        "is a CVAE strategy",
    ),
    "unknown accept rule": (lambda t: RUN + ["--data", "iris", "--accept", "best"], "accept"),
    "unknown unlabelled policy": (lambda t: RUN + ["--data", "iris", "--unlabelled", "keep"], "unlabelled"),
    "pseudo labels without rows": (lambda t: RUN + ["--data", "iris", "--generator", "pseudo_label"], "there are none"),
    "zero latent units": (
        lambda t: RUN + ["--data", "iris", "--latent-dim", "0"],
        "--latent-dim: Input should be greater than or equal to 1 (given 0)",
    ),
    "zero temperature": (lambda t: RUN + ["--data", "iris", "--temperature", "0"], "temperature"),
    "zero epochs": (lambda t: RUN + ["--data", "iris", "--epochs", "0"], "epochs"),
    "cuda without a GPU": (lambda t: RUN + ["--data", "iris", "--device", "cuda"], "no CUDA GPU is visible"),
    "out is a file": (
        lambda t: (t / "f").write_text("x") and RUN + ["--data", "iris", "--out", str(t / "f")],
        "is a file",
    ),
    # the config file
    "config file missing": (lambda t: ["run", "--config", str(t / "none.json")], "cannot read the config file"),
    "config not json": (lambda t: ["run", "--config", _config_file(t, "{data: iris")], "not valid JSON"),
    "config a list": (lambda t: ["run", "--config", _config_file(t, "[1, 2]")], "not an object"),
    "config unknown field": (
        lambda t: [
            "run",
            "--config",
            _config_file(t, json.dumps({"data": {"source": "iris"}, "sample": {"per_class": 2}, "colour": 1})),
        ],
        "colour",
    ),
    "config wrong shape": (
        lambda t: ["run", "--config", _config_file(t, json.dumps({"data": "iris"})), "--label", "x"],
        "must be an object",
    ),
    "config without data": (
        lambda t: ["run", "--config", _config_file(t, json.dumps({"sample": {"per_class": 2}}))],
        "no data given",
    ),
    # servers
    "dead MLflow server": (
        lambda t: RUN + ["--data", "iris"],
        "MLflow tracking server at http://127.0.0.1:9 cannot be reached",
    ),
    # generate and score
    "generate: not a model URI": (
        lambda t: ["generate", "--model", "augment-iris", "--per-class", "2"],
        "is not a model URI",
    ),
    "generate: no count": (lambda t: ["generate", "--model", "models:/augment-iris@candidate"], "exactly one of"),
    "score: missing synthetic file": (
        lambda t: [
            "score",
            "--real",
            "iris",
            "--synthetic",
            str(t / "s.parquet"),
            "--label",
            "species",
            "--out",
            str(t / "out"),
        ],
        "cannot read the synthetic file",
    ),
    "score: columns missing": (
        lambda t: [
            "score",
            "--real",
            "iris",
            "--synthetic",
            _table(t, pd.DataFrame({"species": ["setosa"]}), "s.parquet"),
            "--label",
            "species",
            "--out",
            str(t / "out"),
        ],
        "lacks columns",
    ),
    "score: unknown class": (
        lambda t: [
            "score",
            "--real",
            "iris",
            "--synthetic",
            _iris_rows(t, species="rose"),
            "--label",
            "species",
            "--out",
            str(t / "out"),
        ],
        "classes the real rows lack",
    ),
    "score: empty rows": (
        lambda t: [
            "score",
            "--real",
            "iris",
            "--synthetic",
            _iris_rows(t, empty=True),
            "--label",
            "species",
            "--out",
            str(t / "out"),
        ],
        "no feature values at all",
    ),
    "score: rows without a label": (
        lambda t: [
            "score",
            "--real",
            "iris",
            "--synthetic",
            _iris_rows(t, species=None),
            "--label",
            "species",
            "--out",
            str(t / "out"),
        ],
        "has no label",
    ),
}


def _iris_rows(tmp: Path, species: str | None = "setosa", empty: bool = False) -> str:
    from pipeline.data.builtin import load_iris

    frame, _ = load_iris()
    rows = frame.head(6).copy()
    rows["species"] = pd.Series([species] * 6, dtype="str" if species else object)
    if empty:
        rows.loc[rows.index[2], [c for c in rows.columns if c != "species"]] = np.nan
    return _table(tmp, rows, "s.parquet")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AUGMENT_HOME", str(home))
    return home


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error_and_changes_nothing(case, tmp_path, home, monkeypatch):
    setup, expected = CASES[case]
    if case == "dead MLflow server":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    data = tmp_path / "data"
    data.mkdir()
    args = setup(data)
    out = tmp_path / "previous"
    out.mkdir()
    (out / "synthetic.parquet").write_text("the previous run's file")
    (out / MARKER).write_text(json.dumps({"written_by": "augment", "files": ["synthetic.parquet"]}))
    if "--out" not in args and args[0] == "run":
        args += ["--out", str(out)]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output and text.startswith("error:"), result.output
    assert expected in text, result.output
    assert (out / "synthetic.parquet").read_text() == "the previous run's file"
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "synthetic.parquet"]
    assert not list(tmp_path.glob(".previous*"))
    assert sorted(p.name for p in home.iterdir()) in ([], ["prefect"]), sorted(home.iterdir())
    assert not (home / "prefect").exists() or not list((home / "prefect").glob("server.json"))


API_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "unknown option": (lambda: CVAESynthesizer(epoch=3), "unknown CVAE option(s) ['epoch']"),
    "unknown strategy": (lambda: CVAESynthesizer(strategy="warp"), "unknown sampling strategy"),
    "label not in frame": (lambda: CVAESynthesizer().fit(_base(), label="nope"), "label column 'nope' not found"),
    "sample before fit": (lambda: CVAESynthesizer().sample(per_class=2), "not fitted"),
    "load a missing folder": (lambda: Synthesizer.load("/nonexistent/model"), "refusing to load"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_python_api_bad_input_is_one_clear_error(case):
    call, expected = API_CASES[case]
    with pytest.raises(AugmentError) as err:
        call()
    assert expected in err.value.problem and err.value.fix


def test_the_catalogue_is_at_least_forty_cases():
    assert len(CASES) + len(API_CASES) >= 40
