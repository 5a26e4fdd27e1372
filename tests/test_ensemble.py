"""Several CVAEs trained at once (the gate's fold generators): each member learns its own
rows, the result is deterministic, and data that cannot be stacked is fitted one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline import CVAESynthesizer
from pipeline.ensemble import Member, can_stack

FAST = {"target_steps": 200, "latent_dim": 4}


@pytest.fixture(scope="module")
def blobs() -> pd.DataFrame:
    """Two numeric columns, three well separated classes."""
    rng = np.random.default_rng(0)
    centres = {"a": (0.0, 0.0), "b": (6.0, 0.0), "c": (0.0, 6.0)}
    rows = [(*rng.normal(c, 0.5), name) for name, c in centres.items() for _ in range(12)]
    return pd.DataFrame(rows, columns=["x1", "x2", "label"])


def _folds(frame: pd.DataFrame) -> list[pd.DataFrame]:
    return [frame[frame.index % 3 != i] for i in range(3)]


def _fit_many(frame: pd.DataFrame, seeds=(1, 2, 3)) -> list[CVAESynthesizer]:
    gens = [CVAESynthesizer(seed=s, **FAST) for s in seeds]
    return CVAESynthesizer.fit_many(gens, _folds(frame), "label")


def test_members_are_trained_together_and_follow_their_labels(blobs, monkeypatch):
    import pipeline.ensemble as ensemble

    calls = []
    real_train_many = ensemble.train_many
    monkeypatch.setattr(ensemble, "train_many", lambda *a: calls.append(len(a[0])) or real_train_many(*a))
    gens = _fit_many(blobs)
    assert calls == [3]  # one batched training for the three members
    for gen in gens:
        rows = gen.sample(per_class=50)
        means = rows.groupby("label")[["x1", "x2"]].mean()
        assert means.loc["b", "x1"] > 4 and means.loc["c", "x2"] > 4  # each class drawn where its rows are
        assert abs(means.loc["a"]).max() < 2


def test_members_differ_and_the_ensemble_is_deterministic(blobs):
    first, again = _fit_many(blobs), _fit_many(blobs)
    weights = [g.model.state_dict() for g in first]
    for gen, same in zip(first, again):
        assert all(torch.equal(v, same.model.state_dict()[k]) for k, v in gen.model.state_dict().items())
    assert not torch.equal(weights[0]["dec.0.weight"], weights[1]["dec.0.weight"])


def test_data_with_missing_values_is_fitted_one_by_one(blobs, monkeypatch):
    import pipeline.ensemble as ensemble

    holes = blobs.copy()
    holes.loc[::5, "x1"] = np.nan  # a missing-value mask: not stacked
    monkeypatch.setattr(ensemble, "train_many", lambda *a: pytest.fail("should not stack"))
    gens = _fit_many(holes)
    assert all(len(g.sample(per_class=5)) == 15 for g in gens)


def test_can_stack_needs_one_shape(blobs):
    one = CVAESynthesizer(seed=0, **FAST)
    x, y, _ = one._prepare(blobs, "label", None, None)
    wide = CVAESynthesizer(seed=0, **FAST)
    wx, wy, _ = wide._prepare(blobs.assign(x3=1.0), "label", None, None)
    members = [Member(x, y, 0), Member(wx, wy, 1)]
    assert not can_stack(members, [one.codec, wide.codec], one.model_cfg)
    assert can_stack(members[:1] * 2, [one.codec, one.codec], one.model_cfg)
