"""The CLI: bad input gets a two-line message and exit 2 before any server starts; flags
override a --config file; the defaults come from pipeline/config.py."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cli_config import run_config
from pipeline.config import RunConfig
from pipeline.errors import ConfigError


def test_bad_input_prints_problem_and_fix(tmp_path, mixed_table):
    source = tmp_path / "data.parquet"
    mixed_table.to_parquet(source)
    result = CliRunner().invoke(
        app, ["run", "--data", str(source), "--label", "nope", "--per-class", "3", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "error: label column 'nope' not found" in result.output and "fix: pass --label with one of" in result.output
    assert not (tmp_path / "out").exists()


def test_affine_views_on_a_table_are_refused_before_training(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "--data", "iris", "--per-class", "3", "--generator", "affine", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "affine generator makes image rows, and this data is a table" in result.output
    assert not (tmp_path / "out").exists()


def test_pseudo_label_without_unlabelled_rows_is_refused(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "--data", "iris", "--per-class", "3", "--generator", "pseudo_label", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "there are none" in result.output and "--unlabelled use" in result.output


def test_counts_are_required():
    result = CliRunner().invoke(app, ["run", "--data", "iris"])
    assert result.exit_code == 2 and "--per-class N" in result.output and "--balance-to N" in result.output


def test_one_count_is_one_check_with_one_message(tmp_path):
    """No count, or both, is refused by one check (pipeline/checks.py one_count) wherever it is
    met: the run's flags, its config file, augment generate, and sample() in Python."""
    from pipeline.checks import one_count
    from pipeline.config import SampleConfig
    from pipeline.synthesizers.base import plan_counts

    with pytest.raises(ConfigError) as said:
        one_count(None, None)
    problem, fix = said.value.problem, said.value.fix
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"data": {"source": "iris"}, "sample": {"per_class": 3, "balance_to": 60}}))
    commands = [
        ["run", "--data", "iris"],
        ["run", "--data", "iris", "--per-class", "3", "--balance-to", "60"],
        ["run", "--config", str(path)],
        ["run", "--config", str(path), "--per-class", "3", "--balance-to", "60"],
        ["generate", "--model", "models:/m@candidate"],
        ["generate", "--model", "models:/m@candidate", "--per-class", "3", "--balance-to", "60"],
    ]
    for args in commands:
        result = CliRunner().invoke(app, args + ["--out", str(tmp_path / "out")])
        assert result.exit_code == 2 and problem in result.output and fix in result.output, (args, result.output)
    assert not (tmp_path / "out").exists()  # refused before any side effect
    for per_class, balance_to in ((None, None), (3, 60)):  # the config model, and Synthesizer.plan's counts
        for refused in (SampleConfig, lambda **counts: plan_counts(["a"], {"a": 2}, **counts)):
            with pytest.raises(ConfigError) as again:
                refused(per_class=per_class, balance_to=balance_to)
            assert (again.value.problem, again.value.fix) == (problem, fix)


def test_datasets_lists_the_builtins():
    result = CliRunner().invoke(app, ["datasets"])
    assert result.exit_code == 0 and all(name in result.output for name in ("digits", "mnist", "penguins"))


def test_config_file_alone_and_flags_override_it(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"data": {"source": "iris"}, "sample": {"balance_to": 80}, "seed": 3}))
    alone = run_config(str(path), {"data": None, "seed": None})
    assert alone.data.source == "iris" and alone.sample.balance_to == 80 and alone.seed == 3
    assert alone.model == RunConfig.model_fields["model"].default_factory()  # defaults from the config models
    both = run_config(str(path), {"per_class": 5, "seed": 9, "classes": "setosa, virginica"})
    assert both.sample.per_class == 5 and both.sample.balance_to is None and both.seed == 9
    assert both.sample.classes == ["setosa", "virginica"]


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", ""])
def test_a_broken_config_file_is_one_clear_error(tmp_path, text):
    path = tmp_path / "run.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="run.json"):
        run_config(str(path), {})


def test_readme_config_shape_keeps_loading(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"data": {"source": "penguins"}, "sample": {"per_class": 100}, "seed": 1}))
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--classes", "nope"])
    assert result.exit_code == 2 and "unknown class(es) ['nope']" in result.output
