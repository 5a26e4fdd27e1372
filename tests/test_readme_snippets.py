"""The README's last steps, executed: training on augmented.parquet, `pipeline.advise` and the
imbalanced-learn pipeline with CVAESampler (with fewer training steps, so they run in seconds)."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest

import pipeline
from pipeline import job
from pipeline.config import QualityConfig, RunConfig, TrainConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def block(marker: str) -> str:
    """The ```python block right after <!-- marker -->."""
    return README.split(f"<!-- {marker} -->")[1].split("```python")[1].split("```")[0]


def test_train_on_what_it_ships(tmp_path, monkeypatch):
    """A run's augmented.parquet (SMOTE rows shipped on iris), loaded
    and trained on exactly as the README says; the provenance columns are not features."""
    config = RunConfig.model_validate(
        {"data": {"source": "iris"}, "sample": {"balance_to": 60}, "train": {"epochs": 2}, "seed": 0}
    )
    data = job.stage_data(config, tmp_path)
    job.make_generator(config).fit(data.real(), label=data.label).save(tmp_path / "model")
    job.synthesize(config, data, str(tmp_path / "model"), tmp_path, {}, "smote")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block("train-on-what-it-ships"), "README.md", "exec"), namespace)  # noqa: S102
    model, x = namespace["model"], namespace["X"]
    assert list(model.feature_names_in_) == [c for c in data.features]
    assert not {"is_synthetic", "source", "sample_weight", "species"} & set(x.columns)
    assert len(x) == len(pd.read_parquet(tmp_path / "augmented.parquet")) > 150


def test_the_advise_example(monkeypatch):
    fast = functools.partial(
        pipeline.advise,
        train=TrainConfig(epochs=3),
        quality=QualityConfig(folds=2, repeats=1, class_scores=0, fold_steps=20),
    )
    monkeypatch.setattr(pipeline, "advise", fast, raising=False)
    namespace: dict = {}
    exec(compile(block("advise"), "README.md", "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert result.recommendation.method in result.options and len(namespace["X"]) == len(result.training_set)
    assert namespace["scored"].report["overall"]["rows"] == len(result.synthetic)


@pytest.mark.parametrize("epochs", [3])
def test_the_sampler_example(monkeypatch, epochs):
    from pipeline.sampler import CVAESampler

    monkeypatch.setattr(pipeline, "CVAESampler", functools.partial(CVAESampler, epochs=epochs), raising=False)
    namespace: dict = {}
    exec(compile(block("sampler"), "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["model"].steps[0][1].epochs == epochs
