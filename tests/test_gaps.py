"""Missing cells in the CVAE's rows at the real rate: rare gaps stay rare, gaps that come
together stay together, per class where a class has enough gaps to tell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import CVAESynthesizer, Synthesizer

SIZES = {"a": 240, "b": 160, "c": 80}
PER_CLASS = 3000
GAP_COLUMNS = ["rare", "common", "p1", "p2", "cat"]
LEVELS = ["u", "v", "w"]


def _table(seed: int = 0) -> pd.DataFrame:
    """Three classes; `rare` missing in 1 % of rows, `common` in 20 %, `p1` and `p2` always
    together in 10 %, the category `cat` in 3 %, all at random."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, (name, n) in enumerate(SIZES.items()):
        parts.append(
            pd.DataFrame(
                {
                    "x": rng.normal(k, 1, n),
                    "rare": rng.normal(k, 1, n),
                    "common": rng.normal(-k, 1, n),
                    "p1": rng.normal(0, 1, n),
                    "p2": rng.normal(k, 2, n),
                    "cat": pd.Categorical(rng.choice(LEVELS, n, p=[0.6, 0.3, 0.1]), categories=LEVELS),
                    "label": name,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    n = len(frame)
    frame.loc[rng.choice(n, n // 100, replace=False), "rare"] = np.nan
    frame.loc[rng.random(n) < 0.20, "common"] = np.nan
    together = rng.random(n) < 0.10
    frame.loc[together, ["p1", "p2"]] = np.nan
    frame.loc[rng.random(n) < 0.03, "cat"] = np.nan
    return frame


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return _table()


@pytest.fixture(scope="module")
def fitted(real) -> CVAESynthesizer:
    return CVAESynthesizer(seed=0, target_steps=600).fit(real, label="label")


@pytest.fixture(scope="module")
def rows(fitted) -> pd.DataFrame:
    return fitted.sample(per_class=PER_CLASS)


def _weighted_rate(rows: pd.DataFrame, column: str) -> float:
    """The synthetic rows' missing share with classes weighed as in the real rows."""
    total = sum(SIZES.values())
    return sum(rows.loc[rows["label"] == c, column].isna().mean() * n / total for c, n in SIZES.items())


@pytest.mark.parametrize("column", GAP_COLUMNS)
def test_each_column_misses_cells_at_the_real_rate(real, rows, column):
    share = real[column].isna().mean()
    assert 0.6 * share <= _weighted_rate(rows, column) <= 1.5 * share


def test_per_class_rates_where_a_class_has_enough_gaps(real, rows):
    checked = 0
    for c in SIZES:
        for column in GAP_COLUMNS:
            gaps = real.loc[real["label"] == c, column].isna()
            if gaps.sum() < 10:
                continue
            checked += 1
            made = rows.loc[rows["label"] == c, column].isna().mean()
            assert 0.6 * gaps.mean() <= made <= 1.5 * gaps.mean(), (c, column, gaps.mean(), made)
    assert checked >= 4


def test_a_column_almost_never_missing_stays_almost_never_missing(real, rows):
    assert real["rare"].isna().sum() == len(real) // 100
    for c in SIZES:
        assert rows.loc[rows["label"] == c, "rare"].isna().mean() < 0.025


def test_gaps_that_come_together_stay_together(rows):
    p1, p2 = rows["p1"].isna(), rows["p2"].isna()
    assert (p1 & p2).sum() / (p1 | p2).sum() > 0.85  # drawn cell by cell: 0.5
    # columns missing at random in the real rows are not tied together
    common = rows["common"].isna()
    assert (common & p1).mean() < 2 * common.mean() * p1.mean()


def test_categories_at_their_real_frequencies(real, rows):
    for c in SIZES:
        want = real.loc[real["label"] == c, "cat"].value_counts(normalize=True, dropna=False)
        got = rows.loc[rows["label"] == c, "cat"].value_counts(normalize=True, dropna=False)
        assert 0.5 * (want - got.reindex(want.index, fill_value=0)).abs().sum() < 0.08, (c, want, got)


def test_same_seed_same_gaps_and_they_survive_save_and_load(fitted, tmp_path):
    first = fitted.sample(per_class=50, seed=3)
    assert first.equals(fitted.sample(per_class=50, seed=3))
    loaded = Synthesizer.load(fitted.save(tmp_path / "gen"))
    assert loaded.sample(per_class=50, seed=3).equals(first)


def test_a_table_with_categories_and_no_gaps_saves_and_loads(tmp_path):
    frame = _table().drop(columns=["rare", "common", "p1", "p2"]).dropna()
    gen = CVAESynthesizer(seed=0, epochs=3, latent_dim=4, hidden=[16]).fit(frame, label="label")
    loaded = Synthesizer.load(gen.save(tmp_path / "gen"))
    assert loaded.sample(per_class=20).equals(gen.sample(per_class=20))
    assert gen.sample(per_class=200)["cat"].notna().all()
