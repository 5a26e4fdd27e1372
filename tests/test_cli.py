"""The CLI turns bad input into a two-line message and exit code 2, before any server starts."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app


def test_bad_input_prints_problem_and_fix(tmp_path, mixed_table):
    source = tmp_path / "data.parquet"
    mixed_table.to_parquet(source)
    result = CliRunner().invoke(
        app, ["run", "--data", str(source), "--label", "nope", "--per-class", "3", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "error: label column 'nope' not found" in result.output and "fix: pass --label with one of" in result.output
    assert not (tmp_path / "out").exists()


def test_warp_on_a_table_is_refused_before_training(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "--data", "iris", "--per-class", "3", "--mode", "warp", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "'warp' bends real images, and 'iris' is a table" in result.output and "--mode prior" in result.output
    assert not (tmp_path / "out").exists()


def test_pseudo_label_without_unlabelled_rows_is_refused(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "--data", "iris", "--per-class", "3", "--mode", "pseudo_label", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "'iris' has none" in result.output and "--unlabelled use" in result.output


def test_counts_are_required():
    result = CliRunner().invoke(app, ["run", "--data", "iris"])
    assert result.exit_code == 2 and "exactly one of --per-class N or --balance-to N" in result.output


def test_datasets_lists_the_builtins():
    result = CliRunner().invoke(app, ["datasets"])
    assert result.exit_code == 0 and all(name in result.output for name in ("digits", "mnist", "penguins"))
