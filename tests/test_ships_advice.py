"""What a run writes under --generator auto (the default): synthetic.parquet always holds the
trained CVAE's rows as asked, scored; augmented.parquet holds the training set of the shipped
option. Plain Python, no Prefect or MLflow."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from pipeline import job
from pipeline.config import QualityConfig, RunConfig
from pipeline.quality.gate import decide
from pipeline.quality.menu import OPTIONS
from pipeline.quality.result import Recommendation
from pipeline.quality.wording import shipped_note


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """iris, 10 rows per class, a CVAE trained for a few epochs and saved."""
    work = tmp_path_factory.mktemp("staged")
    config = RunConfig.model_validate(
        {
            "data": {"source": "iris", "real_per_class": 10},
            "sample": {"per_class": 6},
            "train": {"epochs": 3},
            "seed": 4,
        }
    )
    data = job.stage_data(config, work)
    job.make_generator(config).fit(data.real(), label=data.label).save(work / "model")
    return config, data, work / "model"


def test_auto_is_the_default_generator_and_runs_without_the_gate():
    config = RunConfig.model_validate({"data": {"source": "iris"}, "sample": {"per_class": 3}})
    assert config.generator == "auto"
    off = config.model_copy(update={"quality": config.quality.model_copy(update={"evaluate": False})})
    job.validate(off)  # no error: without the gate, auto ships menu.UNMEASURED's option
    unmeasured = decide("the gate is turned off (quality.evaluate = false)", off.quality)
    assert job.shipped_option(off, job.DataRef.model_construct(modality="table"), unmeasured) == "class_weight"


@pytest.mark.parametrize("option", ["class_weight", "smote", "oversample", "real_only", "cvae", None])
def test_synthetic_holds_the_cvae_rows_and_augmented_the_shipped_option(staged, tmp_path, option):
    config, data, folder = staged
    result = job.synthesize(config, data, str(folder), tmp_path, {}, option)
    synthetic = pd.read_parquet(tmp_path / "synthetic.parquet")
    augmented = pd.read_parquet(tmp_path / "augmented.parquet")
    assert set(synthetic["source"]) == {"cvae"} and {"quality_score", "accepted"} <= set(synthetic.columns)
    accepted = synthetic.loc[synthetic["accepted"], "species"].astype(str).value_counts().to_dict()
    assert accepted == {"setosa": 6, "versicolor": 6, "virginica": 6}
    real = augmented.loc[~augmented["is_synthetic"]]
    assert len(real) == 30 and set(real["source"]) == {"real"}
    added = augmented.loc[augmented["is_synthetic"]]
    sources = OPTIONS[option].sources if option else ("cvae",)
    assert set(added["source"]) == set(sources)
    assert len(added) == (18 if sources else 0) == result["shipped_rows"]
    assert result["shipped"] == (option or "cvae")
    assert (augmented["sample_weight"] == 1.0).all()  # iris's classes are even: balanced weights are 1 too
    if option == "cvae" or option is None:  # the accepted rows, as scored
        pd.testing.assert_frame_equal(
            added[synthetic.columns[:5]].reset_index(drop=True),
            synthetic.loc[synthetic["accepted"], synthetic.columns[:5]].reset_index(drop=True),
        )


def test_class_weights_ship_balanced_weights_on_imbalanced_rows(tmp_path):
    config = RunConfig.model_validate(
        {"data": {"source": "wine"}, "sample": {"balance_to": 72}, "train": {"epochs": 2}, "seed": 1}
    )
    data = job.stage_data(config, tmp_path / "w")
    job.make_generator(config).fit(data.real(), label=data.label).save(tmp_path / "m")
    job.synthesize(config, data, str(tmp_path / "m"), tmp_path, {}, "class_weight")
    augmented = pd.read_parquet(tmp_path / "augmented.parquet")
    weight = augmented.groupby("cultivar")["sample_weight"].first().to_dict()
    counts = augmented["cultivar"].value_counts()
    assert weight == pytest.approx({c: len(augmented) / (3 * counts[c]) for c in counts.index})
    assert not augmented["is_synthetic"].any()


def test_the_note_never_asks_to_rerun_when_the_advice_shipped():
    unmeasured = decide("a class has fewer than 2 real rows", QualityConfig())
    advice = Recommendation("smote", 1.0, -0.5, 2.5, "clearly best", "cvae", {}, {}, 0.5)
    gate = replace(unmeasured, recommendation=advice)
    assert "rerun" not in shipped_note(gate, "smote") and "recommended" in shipped_note(gate, "smote")
    asked = shipped_note(gate, "cvae", "cvae")
    assert "as asked" in asked and "smote" in asked and "--generator auto" in asked
    assert "benchmarks" in shipped_note(unmeasured, "class_weight")


def test_half_way_options_ship_half_the_rows_or_half_the_weights(staged, tmp_path):
    """oversample_half ships half of each class's asked rows (rounded up); class_weight_half
    ships the weights the gate measured it with (pipeline.quality.menu.balanced_weights)."""
    import numpy as np

    from pipeline.quality.menu import balanced_weights

    config, data, folder = staged
    result = job.synthesize(config, data, str(folder), tmp_path / "rows", {}, "oversample_half")
    added = pd.read_parquet(tmp_path / "rows" / "augmented.parquet").query("is_synthetic")
    assert added["species"].astype(str).value_counts().to_dict() == {"setosa": 3, "versicolor": 3, "virginica": 3}
    assert set(added["source"]) == {"oversample"} and result["shipped"] == "oversample_half"
    wine = RunConfig.model_validate(
        {"data": {"source": "wine"}, "sample": {"balance_to": 72}, "train": {"epochs": 2}, "seed": 1}
    )
    staged_wine = job.stage_data(wine, tmp_path / "w")
    job.make_generator(wine).fit(staged_wine.real(), label=staged_wine.label).save(tmp_path / "m")
    job.synthesize(wine, staged_wine, str(tmp_path / "m"), tmp_path / "weights", {}, "class_weight_half")
    augmented = pd.read_parquet(tmp_path / "weights" / "augmented.parquet")
    codes = augmented["cultivar"].astype("category").cat.codes.to_numpy()
    np.testing.assert_allclose(augmented["sample_weight"].to_numpy(), balanced_weights(codes, 3, 0.5))
    assert not augmented["is_synthetic"].any() and augmented["sample_weight"].nunique() == 3
