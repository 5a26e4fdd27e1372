"""Sampling counts, reproducibility and the user's schema on the way out."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.bundle import GeneratorBundle
from pipeline.config import ModelConfig, SampleConfig, TrainConfig
from pipeline.data.codec import ClassIndex, TableCodec
from pipeline.errors import ConfigError, DataError
from pipeline.generate import generate_frames, plan_counts
from pipeline.train import train_cvae


@pytest.fixture
def bundle(mixed_table, tmp_path) -> GeneratorBundle:
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    classes = ClassIndex.fit(mixed_table["label"])
    result = train_cvae(codec.encode(features), classes.encode(mixed_table["label"]), codec, 2,
                        ModelConfig(latent_dim=4), TrainConfig(epochs=5), seed=0)
    saved = GeneratorBundle(result.model, codec, classes, "label", {"a": 20, "b": 5}).save(tmp_path / "g.pt")
    return GeneratorBundle.load(saved)


def test_counts_per_class_balance_and_selection(bundle):
    assert plan_counts(bundle, SampleConfig(per_class=3)) == {"a": 3, "b": 3}
    assert plan_counts(bundle, SampleConfig(balance_to=12)) == {"a": 0, "b": 7}
    assert plan_counts(bundle, SampleConfig(per_class=2, classes=["b"])) == {"b": 2}
    with pytest.raises(DataError, match="unknown class 'c'"):
        plan_counts(bundle, SampleConfig(per_class=2, classes=["c"]))
    with pytest.raises(ConfigError, match="exactly one of --per-class N or --balance-to N"):
        SampleConfig()


def test_same_seed_same_rows_in_the_users_schema(bundle, mixed_table):
    first = pd.concat(generate_frames(bundle, {"a": 7, "b": 5}, seed=3, batch_rows=4), ignore_index=True)
    again = pd.concat(generate_frames(bundle, {"a": 7, "b": 5}, seed=3, batch_rows=4), ignore_index=True)
    other = pd.concat(generate_frames(bundle, {"a": 7, "b": 5}, seed=4, batch_rows=4), ignore_index=True)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert first["label"].tolist() == ["a"] * 7 + ["b"] * 5
    assert first.dtypes.to_dict() == mixed_table.dtypes.to_dict()
