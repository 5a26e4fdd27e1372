"""The meta-benchmark's rule for choosing tables, its splits, and the learning of the advice from
its cells (benchmarks/meta.py, benchmarks/_learn.py) on constructed data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
from benchmarks import _learn, imbalance, meta  # noqa: E402
from pipeline.quality.prior import load_advice  # noqa: E402


def test_the_rule_drops_identifiers_and_leaks_and_picks_the_first_text_label():
    rng = np.random.default_rng(0)
    n = 300
    label = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame(
        {
            "id": np.arange(n),  # an id by name
            "counter": np.arange(10, 10 + 2 * n, 2),  # counts the rows
            "name": [f"person {i}" for i in range(n)],  # all distinct text
            "size": rng.normal(size=n),
            "weight": rng.gamma(2.0, size=n),
            "colour": rng.choice(["red", "blue"], n),  # the first text column: 2 levels, the label
            "group": label,
            "code": pd.Series(label).map({"a": 1.0, "b": 2.0, "c": 3.0}),  # gives the label away
        }
    )
    assert meta.choose_label(frame) == "colour"
    assert meta.choose_label(frame.drop(columns="colour")) == "group"
    assert set(meta.identifier_columns(frame, "group")) == {"id", "counter", "name"}
    assert meta.leaking_columns(frame.drop(columns=["id", "counter", "name"]), "group") == ["code"]
    drop, why = meta.check(frame.drop(columns="colour"), "group")
    assert why is None and set(drop) == {"id", "counter", "name", "code"}
    assert meta.check(frame.head(100), "group")[1] == "100 rows < 150"


def test_a_cell_split_keeps_the_test_rows_and_cuts_one_class():
    data = imbalance.load_data("wine")
    natural, rare = meta.make_cell_split(data, "natural", 1), meta.make_cell_split(data, "rare", 1)
    np.testing.assert_array_equal(natural.test_index, rare.test_index)
    assert not set(natural.train_index) & set(natural.test_index)
    counts = np.bincount(rare.y.numpy(), minlength=3)
    assert sorted(counts)[0] == meta.RARE_ROWS and len(rare.rare) == 1 and counts[rare.rare[0]] == meta.RARE_ROWS
    assert set(rare.train_index) <= set(natural.train_index)
    assert rare.deficit()[rare.rare[0]] == rare.target - meta.RARE_ROWS


def _cells(folder, tables: int, held_out: int, seed: int = 0):
    """Cells where class weights gain 5 test points on imbalanced data and cost 2 on balanced data,
    while the fold gains are noise of 6 points: the measurement alone picks at random."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for t in range(tables + held_out):
        for s, imbalanced in enumerate([True, False, True, False]):
            truth = {"real_only": 0.0, "class_weight": 5.0 if imbalanced else -2.0, "oversample": 1.0}
            gate = {o: {"gain": g + rng.normal(0, 6) if o != "real_only" else 0.0} for o, g in truth.items()}
            cell = {
                "table": f"t{t}",
                "held_out": t >= tables,
                "shape": "rare",
                "seed": s,
                "heldout_f1": {o: {"logistic": 70 + g} for o, g in truth.items()},
                "seen": {
                    "smallest_class": 10 if imbalanced else 40,
                    "largest_class": 40,
                    "gate": {"logistic": {"options": gate}},
                },
            }
            (folder / f"t{t}_{s}.json").write_text(json.dumps(cell))


def test_the_learned_advice_beats_the_measurement_alone_on_tables_it_never_saw(tmp_path):
    _cells(tmp_path / "cells", tables=6, held_out=2)
    artifact = tmp_path / "advice.json"
    artifact.write_text(json.dumps({"version": 3, "typical": {"image/cnn": {"all": {"affine": 1.0}}}}))
    report = _learn.learn(tmp_path / "cells", artifact=artifact, results=tmp_path / "out")
    chosen = report["chosen"]
    assert chosen.endswith("-described") and chosen != "measured"
    validation = report["validation"]
    assert validation[chosen]["logistic"]["gain"] > validation["measured"]["logistic"]["gain"]
    assert validation[chosen]["logistic"]["gain"] > validation["always-class_weight"]["logistic"]["gain"]
    assert validation[chosen]["logistic"]["within_1_of_other_seeds_best"] == 1.0
    held = report["held_out"]
    assert held[chosen]["logistic"]["gain"] == held["hindsight"]["logistic"] == pytest.approx(3.0)  # (5 + 1) / 2
    advice = load_advice(artifact)
    assert advice.version == 4 and advice.tables == 6 and advice.typical["image/cnn"]  # images kept
    assert advice.typical_gains("table", "logistic", np.array([10, 40]))["class_weight"] == pytest.approx(5.0)
    assert advice.typical_gains("table", "logistic", np.array([40, 40]))["class_weight"] == pytest.approx(-2.0)
    assert (tmp_path / "out" / "learn.json").exists()


def test_the_packaged_advice_loads_and_weighs_the_evidence():
    advice = load_advice()
    assert {"table/logistic", "table/forest", "table/boosting"} <= set(advice.typical)
    assert 0 < advice.weight(np.array([5, 40])) <= 1
    rule = load_advice.__globals__["Advice"](1, {}, {"kind": "evidence", "rows": 20})
    assert rule.weight(np.array([20, 60])) == pytest.approx(0.5) and rule.weight(np.array([60, 60])) == 0.75


@pytest.mark.parametrize("name", ["oversample_half", "smote_half"])
def test_half_methods_add_rows_for_half_of_each_deficit(name):
    pytest.importorskip("imblearn")
    split = meta.make_cell_split(imbalance.load_data("wine"), "rare", 0)
    full, half = imbalance.METHODS[name.removesuffix("_half")](split, {}), imbalance.METHODS[name](split, {})
    deficit = split.deficit()
    assert np.bincount(full.y.numpy(), minlength=3)[list(deficit)].tolist() == list(deficit.values())
    wanted = [-(-n // 2) for n in deficit.values()]
    assert np.bincount(half.y.numpy(), minlength=3)[list(deficit)].tolist() == wanted
    assert len(half.y) == sum(wanted)


def test_class_weights_half_sit_between_none_and_balanced():
    split = meta.make_cell_split(imbalance.load_data("wine"), "rare", 0)
    half = imbalance.METHODS["class_weights_half"](split, {}).weight.numpy()
    full = imbalance.METHODS["class_weights"](split, {}).weight.numpy()
    rare = (split.y == split.rare[0]).numpy()
    assert 1 < half[rare][0] < full[rare][0] and half.sum() == pytest.approx(len(half), rel=1e-5)


def test_the_leave_out_tables_and_their_copies_are_never_learned_from():
    tables = meta.catalogue()
    learning = {i for t in tables if not t.held_out for i in t.items}
    held = {t.name for t in tables if t.held_out}
    assert held == set(meta.LEAVE_OUT) and len(tables) - len(held) >= 40
    assert not learning & ({i for items, _, _ in meta.LEAVE_OUT.values() for i in items} | meta.LEAVE_OUT_COPIES)
