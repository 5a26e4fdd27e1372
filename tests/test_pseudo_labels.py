"""The pseudo_label mode: sure rows only, drawn at random per class, in the user's schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data.codec import ClassIndex, TableCodec
from pipeline.quality.fidelity import LabelJudge
from pipeline.quality.pseudo_labels import choose, pseudo_label_frames


def test_choose_keeps_sure_rows_of_each_class_in_a_seeded_random_order():
    confidence = torch.tensor([0.95, 0.5, 0.99, 0.91, 0.97, 0.2, 0.93, 0.96])
    guess = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    picked = choose(confidence, guess, {0: 2, 1: 5}, threshold=0.9, seed=0)
    zeros, ones = picked[:2], picked[2:]
    assert set(zeros.tolist()) <= {0, 2, 3} and len(zeros) == 2  # row 1 is not sure enough
    assert sorted(ones.tolist()) == [4, 6, 7]  # all sure rows of class 1: fewer than asked
    assert torch.equal(picked, choose(confidence, guess, {0: 2, 1: 5}, threshold=0.9, seed=0))
    draws = {tuple(choose(confidence, guess, {0: 2}, 0.9, seed).tolist()) for seed in range(20)}
    assert len(draws) > 1  # random among the sure rows, not the most confident first


@pytest.fixture
def blobs():
    """Two well separated classes, a pool of unlabelled rows from both, and rows halfway between."""
    rng = np.random.default_rng(0)

    def rows(centre, n):
        return pd.DataFrame({"u": rng.normal(centre, 0.5, n), "v": rng.normal(centre, 0.5, n)})

    labelled = pd.concat([rows(-3, 10).assign(kind="a"), rows(3, 10).assign(kind="b")], ignore_index=True)
    pool = pd.concat([rows(-3, 40), rows(3, 40), rows(0, 10)], ignore_index=True)
    truth = np.array(["a"] * 40 + ["b"] * 40 + ["?"] * 10)
    return labelled, pool, truth


def test_pseudo_labelled_rows_are_pool_rows_with_the_right_label(blobs):
    labelled, pool, truth = blobs
    codec, classes = TableCodec.fit(labelled[["u", "v"]]), ClassIndex.fit(labelled["kind"])
    judge = LabelJudge.fit(
        codec.encode(labelled[["u", "v"]]).x, classes.encode(labelled["kind"]), classes.names, seed=0
    )
    frames = list(
        pseudo_label_frames(
            pool,
            ["u", "v"],
            "kind",
            codec,
            classes,
            judge,
            {"a": 15, "b": 15},
            seed=1,
            batch_rows=7,
            columns=["kind", "u", "v"],
        )
    )
    out = pd.concat(frames, ignore_index=True)
    assert list(out.columns) == ["kind", "u", "v"] and out["kind"].value_counts().to_dict() == {"a": 15, "b": 15}
    where = [int(np.flatnonzero((pool["u"] == u) & (pool["v"] == v))[0]) for u, v in zip(out["u"], out["v"])]
    assert len(set(where)) == 30  # distinct rows of the pool, unchanged
    assert (truth[where] == out["kind"].to_numpy()).all()  # labelled right, and no row from halfway
    again = pd.concat(
        pseudo_label_frames(
            pool, ["u", "v"], "kind", codec, classes, judge, {"a": 15, "b": 15}, seed=1, columns=["kind", "u", "v"]
        ),
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(out, again)  # same seed, same rows, whatever the batch size
