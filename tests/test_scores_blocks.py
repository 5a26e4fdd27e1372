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


def test_a_large_class_is_referenced_by_a_sample_and_its_copies_still_found():
    gen = torch.Generator().manual_seed(1)
    rows = torch.randn(300, 4, generator=gen)
    full, sampled = scores.ClassReference.fit(rows), scores.ClassReference.fit(rows, most=100)
    assert len(sampled.features) == 100 and len(sampled.everything) == 300
    assert torch.equal(sampled.features, rows[sampled.positions])
    outside = sorted(set(range(300)) - set(sampled.positions.tolist()))[:5]
    copies = rows[outside]  # exact copies of rows outside the sample: still near-copies
    assert (sampled.score(copies)[1] == 0).all() and (full.score(copies)[1] == 0).all()
    realism, authenticity, _ = sampled.score(sampled.features, exclude_self=True)
    assert len(realism) == 100 and (authenticity > 0).all()  # no reference row is its own copy
    # the nearest-neighbour scale is each sampled row's nearest other row among all 300
    nn = torch.cdist(sampled.features, rows, compute_mode=scores.EXACT)
    nn[torch.arange(100), sampled.positions] = float("inf")
    assert sampled.nn_scale == float(nn.min(1).values.median())
    same = scores.ClassReference.fit(rows, most=300)  # at or under the cap: every row, as before
    assert same.everything is None and torch.equal(same.radii, full.radii)
