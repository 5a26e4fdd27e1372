"""The job from Python, as a notebook uses it: `pipeline.advise` and `pipeline.score_rows`, no
Prefect, no server, no MLflow; and `augment score` on CSV files through the same scoring."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import pipeline
from pipeline.config import QualityConfig, TrainConfig
from pipeline.data.builtin import BUILTINS
from pipeline.errors import ConfigError, DataError
from pipeline.quality.menu import OPTIONS

FAST = {"train": TrainConfig(epochs=4), "quality": QualityConfig(folds=2, repeats=1, class_scores=0, fold_steps=20)}


@pytest.fixture(scope="module")
def rare_wine() -> pd.DataFrame:
    """wine with one rare class: 20, 20 and 6 rows."""
    frame, label = BUILTINS["wine"]()
    return pd.concat(
        [frame[frame[label] != "class_2"].groupby(label).head(20), frame[frame[label] == "class_2"].head(6)]
    )


@pytest.fixture(scope="module")
def advice(rare_wine):
    return pipeline.advise(rare_wine, label="cultivar", judge="forest", balance_to=20, seed=2, **FAST)


def test_advise_answers_which_training_set_with_typed_numbers(advice):
    assert advice.judge == "forest" and advice.gate["judge"] == "forest" and advice.gate["metric"] == "macro_f1"
    assert set(advice.options) == {"real_only", "class_weight", "oversample", "smote", "cvae"}
    for name, option in advice.options.items():
        assert option.lower_bound <= option.gain <= option.upper_bound
        assert option.gain == advice.gate["options"][name]["gain"] and option.words == OPTIONS[name].words
    rec = advice.recommendation
    assert rec.method == advice.shipped == advice.gate["shipped"] and rec.why and rec.words in advice.verdict
    assert (rec.gain, rec.lower_bound, rec.upper_bound) == tuple(
        advice.options[rec.method].__dict__[k] for k in ("gain", "lower_bound", "upper_bound")
    )


def test_the_training_set_is_the_recommended_option(advice, rare_wine):
    shipped, option = advice.training_set, OPTIONS[advice.shipped]
    assert {"is_synthetic", "source", "sample_weight"} <= set(shipped.columns)
    assert (~shipped["is_synthetic"]).sum() == len(rare_wine)
    assert set(shipped.loc[shipped["is_synthetic"], "source"]) == set(option.sources)
    assert (shipped["sample_weight"] != 1).any() == option.balanced
    x, y, w = advice.features_and_target("cultivar")
    assert not {"is_synthetic", "source", "sample_weight", "cultivar"} & set(x.columns) and len(x) == len(y) == len(w)
    # the CVAE's rows as asked, whatever ships: 14 rows of the rare class
    assert advice.synthetic.loc[advice.synthetic["accepted"], "cultivar"].value_counts().to_dict() == {"class_2": 14}


def test_advise_is_reproducible(advice, rare_wine):
    again = pipeline.advise(rare_wine, label="cultivar", judge="forest", balance_to=20, seed=2, **FAST)
    pd.testing.assert_frame_equal(again.training_set, advice.training_set)
    assert again.options == advice.options


def test_advise_refuses_bad_input_with_a_fix(rare_wine):
    with pytest.raises(DataError) as err:
        pipeline.advise(rare_wine, label="Cultivar", **FAST)
    assert "cultivar" in str(err.value) and err.value.fix
    with pytest.raises(ConfigError, match="judge= 'xgboost' is not one of its choices"):
        pipeline.advise(rare_wine, label="cultivar", judge="xgboost", **FAST)


def test_score_rows_scores_any_rows_in_memory(rare_wine):
    real = rare_wine.reset_index(drop=True)
    fake = real.sample(12, random_state=0).reset_index(drop=True)
    fake["alcohol"] = fake["alcohol"] + 0.01  # near-copies of real rows
    scored = pipeline.score_rows(real, fake, label="cultivar")
    assert len(scored.rows) == 12 and {"label_fidelity", "authenticity", "accepted"} <= set(scored.rows.columns)
    assert scored.report["overall"]["rows"] == 12
    assert scored.rows["authenticity"].max() < 0.2  # near-copies measured as such
    with pytest.raises(DataError, match="lacks columns"):
        pipeline.score_rows(real, fake.drop(columns=["proline"]), label="cultivar")


def test_augment_score_takes_csv_for_both_inputs(tmp_path, rare_wine, artifacts_root):
    from flows.cli import app

    real = rare_wine.reset_index(drop=True)
    real.to_csv(tmp_path / "real.csv", index=False)
    real.sample(10, random_state=1).to_csv(tmp_path / "rows.csv", index=False)
    real.sample(10, random_state=1).to_parquet(tmp_path / "rows.parquet")
    outs = {}
    for kind in ("csv", "parquet"):
        args = ["score", "--real", str(tmp_path / "real.csv"), "--synthetic", str(tmp_path / f"rows.{kind}")]
        result = CliRunner().invoke(app, [*args, "--label", "cultivar", "--out", str(tmp_path / f"scored_{kind}")])
        assert result.exit_code == 0, result.output
        outs[kind] = pd.read_parquet(tmp_path / f"scored_{kind}" / "scored.parquet")
    pd.testing.assert_frame_equal(outs["csv"], outs["parquet"], check_dtype=False)
