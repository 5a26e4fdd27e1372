"""The gate's advice from the command line: the options that choose it are checked before any
work, and a cheap option can be shipped through the same path as the product's rows."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.config import RunConfig
from pipeline.job import Source, synthesize_rows
from pipeline.synthesizers import CVAESynthesizer, OversampleSynthesizer


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
