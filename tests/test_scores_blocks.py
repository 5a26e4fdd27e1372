"""Realism and authenticity are computed a block of rows at a time, so their memory grows
with the rows instead of their square; the blocks must not change a single number."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.quality import scores


def _everything(features: torch.Tensor, x: torch.Tensor):
    ref = scores.ClassReference.fit(features)
    return ref, ref.score(x), ref.score(features, exclude_self=True)


def test_blocks_of_rows_give_the_same_scores_as_one_block(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(300, 7, generator=gen)
    x = torch.randn(500, 7, generator=gen)
    x[:5] = features[:5]  # exact copies: authenticity exactly 0
    whole, scored, loo = _everything(features, x)
    monkeypatch.setattr(scores, "BLOCK_CELLS", 1000)  # blocks of 3 rows (300 reference rows)
    blocked, scored_b, loo_b = _everything(features, x)
    assert torch.equal(whole.radii, blocked.radii) and whole.nn_scale == blocked.nn_scale
    for a, b in zip(scored + loo, scored_b + loo_b):
        assert np.array_equal(a, b)
    assert (scored_b[1][:5] == 0).all() and not (loo_b[1] == 0).any()  # copies found, no row is its own copy


def test_a_single_row_class_and_no_rows_to_score():
    ref = scores.ClassReference.fit(torch.ones(1, 3))
    realism, authenticity, inside = ref.score(torch.zeros(0, 3))
    assert len(realism) == len(authenticity) == len(inside) == 0
    assert not np.isfinite(ref.radii.numpy()).any()  # no other real row: an infinite radius
