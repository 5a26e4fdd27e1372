"""The gate's advice from the command line: the options that choose it are checked before any
work, and a cheap option can be shipped through the same path as the product's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.config import RunConfig
from pipeline.job import Source, synthesize_rows
from pipeline.synthesizers.baselines import OversampleSynthesizer
from pipeline.synthesizers.cvae import CVAESynthesizer

pytestmark = pytest.mark.usefixtures("fixed_advice")  # the gate's words on pinned typical gains (conftest.py)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--data", "iris", "--judge", "cnn"], "--judge cnn is a classifier of images"),
        (["--data", "iris", "--judge", "svm"], "--judge 'svm' is not one of its choices"),
        (["--data", "digits", "--generator", "oversample", "--strategy", "transfer"], "CVAE strategy"),
    ],
)
def test_advice_options_are_refused_before_any_work(args, says, artifacts_root):
    before = sorted(p.name for p in artifacts_root.iterdir())
    result = CliRunner().invoke(app, ["run", *args, "--per-class", "5"])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in artifacts_root.iterdir()) == before


def test_oversampled_rows_are_copies_of_the_real_rows_of_their_class(mixed_table):
    gen = OversampleSynthesizer(seed=3).fit(mixed_table, label="label")
    rows = gen.sample(per_class=25)
    assert rows["label"].value_counts().to_dict() == {"a": 25, "b": 25}
    keys = [c for c in mixed_table.columns if c != "height"] + ["height"]
    real = {tuple(map(str, r)) for r in mixed_table[keys].itertuples(index=False)}
    assert all(tuple(map(str, r)) in real for r in rows[keys].round({"height": 6}).itertuples(index=False))
    pd.testing.assert_frame_equal(
        rows, OversampleSynthesizer(seed=3).fit(mixed_table, label="label").sample(per_class=25)
    )


def test_a_cheap_option_ships_every_row_beside_the_products_filtered_ones(tmp_path, mixed_table):
    """A menu option of two sources: the CVAE's rows scored and filtered as a run ships them,
    the copies shipped whole (a copy is what oversampling is for), each row naming its source."""
    config = RunConfig.model_validate({"data": {"source": "x"}, "sample": {"per_class": 10}})
    cvae = CVAESynthesizer(seed=0, epochs=3).fit(mixed_table, label="label")
    copies = OversampleSynthesizer(seed=0).fit(mixed_table, label="label")
    sources = [Source(cvae, {"a": 5, "b": 5}, "quality"), Source(copies, {"a": 5, "b": 5}, "none")]
    q, s = config.quality, config.sample
    result = synthesize_rows(sources, mixed_table, None, q, s, 0, tmp_path, {}, option="cvae_oversample")
    synthetic = pd.read_parquet(tmp_path / "synthetic.parquet")
    assert synthetic.loc[synthetic["source"] == "oversample", "accepted"].all()
    assert (synthetic["source"] == "oversample").sum() == 10 and (synthetic["authenticity"] < 0.01).any()
    augmented = pd.read_parquet(tmp_path / "augmented.parquet")
    assert set(augmented["source"]) <= {"real", "cvae", "oversample"}
    assert result["accepted_rows"] == int(synthetic["accepted"].sum()) == int(augmented["is_synthetic"].sum())


def _gate_section() -> dict:
    """A gate section as decide() writes it: a Brier promotion and the options in macro-F1."""
    from pipeline.quality.gate import decide
    from tests.test_gate import Q, _evidence

    truth = np.repeat(np.arange(3), [60, 60, 20])
    gate = decide(_evidence(truth, 0.70, 0.76, seed=5, class_weight=0.79), Q, judge="boosting")
    assert gate.promotion.metric == "brier"
    return gate


def test_console_shows_every_option_in_one_metric_and_the_promotion_apart():
    """Per option: measured on the user's folds, typical on similar data, expected; the promotion's
    Brier statistic only on the promotion's line."""
    from flows.cli import _print_gate, console

    gate = _gate_section()
    with console.capture() as captured:
        _print_gate(gate)
    lines = captured.get().splitlines()
    promotion = [i for i, line in enumerate(lines) if "Brier" in line]
    assert promotion == [0] and "promotion of the cvae rows" in lines[0]
    options = gate.options
    for name, o in options.items():
        cells = f"{o.gain:+.1f} / {o.typical_gain:+.1f} / {o.expected_gain:+.1f}"
        assert any(line.strip().startswith(name) and cells in line for line in lines)
    assert "goes against your measurement" in lines[-1] and "every row weighing the same" not in captured.get()


def test_report_puts_the_options_in_one_metric_and_the_promotion_in_its_section():
    from pipeline.quality.report import _gate_lines

    gate = _gate_section()
    lines = _gate_lines(gate)
    section = lines.index(next(line for line in lines if line.startswith("**Promotion of the cvae rows:")))
    assert not any("Brier" in line for line in lines[:section])
    assert any("Brier" in line for line in lines[section:])
    header = next(line for line in lines if line.startswith("| option"))
    assert "measured on your folds" in header and "typical on similar data" in header and "expected" in header
    rows = [line for line in lines[:section] if line.startswith("| ") and not line.startswith("| option")]
    assert [r.split(" | ")[0][2:] for r in rows] == sorted(gate.options, key=lambda m: -gate.options[m].expected_gain)


def test_options_plot_marks_measured_typical_and_expected(tmp_path):
    from pipeline.plots import gate_options

    gate = _gate_section()
    path = gate_options(gate.options, gate.recommendation.method, "boosting", tmp_path / "o.png")
    assert path.stat().st_size > 0
