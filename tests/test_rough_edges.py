"""A new user's rough edges, one test each: names not found say what was meant, bad flag values
name the flag with a fix, --help shows defaults as values and says CSV, the built-in sets
are described, and one fact gets one note."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.checks import did_you_mean
from pipeline.data.text_numbers import numbers_in_text


def _wide(tmp_path) -> str:
    """A CSV with 40 columns, the label among the last, as clinical tables are."""
    frame = pd.DataFrame({f"measurement_{i:02d}": [1.0, 2.0, 3.0, 4.0] for i in range(39)})
    frame["diagnosis"] = ["a", "b", "a", "b"]
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    return str(path)


def run(*args: str):
    return CliRunner().invoke(app, ["run", *args])


def test_a_label_differing_in_case_gets_did_you_mean_and_no_column_dump(tmp_path):
    result = run("--data", _wide(tmp_path), "--label", "Diagnosis", "--per-class", "3")
    assert result.exit_code == 2
    assert "did you mean 'diagnosis'?" in result.output and "fix: pass --label diagnosis" in result.output
    assert "measurement_" not in result.output  # no list when the answer is known


def test_a_near_miss_column_gets_did_you_mean_and_a_cut_list_otherwise(tmp_path):
    data = _wide(tmp_path)
    near = run("--data", data, "--label", "diagnosis", "--columns", "measurment_03", "--per-class", "3")
    assert near.exit_code == 2 and "did you mean 'measurement_03'" in near.output
    far = run("--data", data, "--label", "zzz", "--per-class", "3")
    assert far.exit_code == 2 and "(40 in all)" in far.output
    assert far.output.count("measurement_") == 8  # the first 8 names, and the count


def test_did_you_mean_prefers_case_then_near_misses():
    assert did_you_mean("Species", ["species", "island"]) == ["species"]
    assert did_you_mean("speceis", ["species", "island"]) == ["species"]
    assert did_you_mean("qqq", ["species", "island"]) == []


@pytest.mark.parametrize(
    "args, problem, fix",
    [
        (["--judge", "xgboost"], "--judge 'xgboost' is not one of its choices", "fix: pass --judge one of: auto,"),
        (["--accept", "best"], "--accept 'best' is not one of its choices", "fix: pass --accept one of: auto,"),
        (["--beta", "-1"], "--beta: Input should be greater than or equal to 0", "fix: pass a value that is"),
    ],
)
def test_bad_flag_values_name_the_flag_and_a_fix(args, problem, fix):
    result = run("--data", "iris", "--per-class", "3", *args)
    assert result.exit_code == 2 and problem in result.output and fix in result.output
    assert "quality." not in result.output and "model." not in result.output


def _help(command: str) -> str:
    """A command's --help as one line of words (the table's borders and wrapping taken out)."""
    output = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
    return " ".join(output.replace("│", " ").split())


def test_help_shows_defaults_as_values_and_csv():
    text = _help("run")
    assert "pipeline/config.py" not in text
    assert "(default: auto;" in text and "(default: 16;" in text and "(default: on;" in text
    assert "Parquet or CSV file" in text
    score = _help("score")
    assert "Parquet or CSV file with synthetic rows" in score


def test_datasets_describes_every_builtin():
    lines = CliRunner().invoke(app, ["datasets"]).output.splitlines()
    described = {line.split()[0]: line.split(maxsplit=1)[1:] for line in lines if line.strip()}
    for name in ("iris", "wine", "breast_cancer", "digits", "mnist", "penguins"):
        assert described[name] and len(described[name][0]) > 20


def test_one_note_for_a_decimal_comma_file_names_every_column():
    frame = pd.DataFrame({c: ["1,5", "2,25", "3,0"] for c in ("a", "b", "c")} | {"label": ["x", "y", "x"]})
    read, notes = numbers_in_text(frame, ["a", "b", "c"], where="f.csv", decimal=",")
    assert len(notes) == 1 and all(f"'{c}'" in notes[0] for c in "abc")
    assert read["b"].tolist() == [1.5, 2.25, 3.0]
