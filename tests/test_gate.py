"""The gate's arithmetic on constructed cases: rows that hurt are refused, rows that help
are promoted, too little data gets "not enough evidence"; and its verdict names the winner."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipeline.config import QualityConfig
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.quality.crossfit import Evidence, Task, cross_fit, fold_count, fold_rows, judge_folds
from pipeline.quality.gains import macro_f1
from pipeline.quality.gate import decide, rule
from pipeline.quality.menu import OPTIONS, REAL_ONLY, TIE, balanced_weights, menu, split_counts
from pipeline.synthesizers.baselines import OversampleSynthesizer, SMOTESynthesizer

pytestmark = pytest.mark.usefixtures("fixed_advice")  # the gate's arithmetic on pinned typical gains (conftest.py)

Q = QualityConfig()


def _evidence(truth: np.ndarray, real_right: float, product_right: float, seed: int = 0, repeats: int = 2, **others):
    """Predictions right with the given shares (each repeat drawn anew), wrong otherwise; the
    product is the CVAE, `others` add menu options by name."""
    rng = np.random.default_rng(seed)
    k = int(truth.max()) + 1

    def preds(share: float) -> list[np.ndarray]:
        out = []
        for _ in range(repeats):
            right = rng.random(len(truth)) < share
            out.append(np.where(right, truth, (truth + 1) % k))
        return out

    shares = {REAL_ONLY: real_right, "cvae": product_right, **others}
    ev = Evidence(truth, [str(c) for c in range(k)], "cvae", folds=5, options=[OPTIONS[m] for m in shares])
    ev.predictions = {m: preds(share) for m, share in shares.items()}
    ev.synthetic_rows = {"cvae": [10] * 5}
    return ev


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert macro_f1(truth, pred, 4) == pytest.approx(f1_score(truth, pred, average="macro"))


def test_rows_that_hurt_are_refused():
    truth = np.repeat(np.arange(3), 100)
    gate = decide(_evidence(truth, 0.9, 0.75), Q)
    assert gate.decision == "keep" and not gate.promoted and gate.gain < -10
    assert gate.upper_bound < 0 and gate.verdict.startswith("Train on your real rows alone")
    assert gate.recommendation.method == REAL_ONLY


def test_rows_that_help_are_promoted():
    truth = np.repeat(np.arange(3), 100)
    gate = decide(_evidence(truth, 0.75, 0.9), Q)
    assert gate.decision == "promote" and gate.promoted and gate.lower_bound > -Q.margin
    assert gate.eval_rows == 600 and gate.recommendation.method == "cvae"
    assert gate.verdict.startswith("Train on your real rows plus the CVAE's rows (cvae, +")


def test_too_little_data_is_not_enough_evidence():
    truth = np.repeat(np.arange(3), 4)  # 12 rows: one more right, two others wrong
    wrong = lambda rows: np.where(np.isin(np.arange(12), rows), (truth + 1) % 3, truth)  # noqa: E731
    ev = Evidence(truth, ["0", "1", "2"], "cvae", {REAL_ONLY: [wrong([0, 4, 8])], "cvae": [wrong([1, 2])]}, {}, 3)
    ev.options = [OPTIONS[REAL_ONLY], OPTIONS["cvae"]]
    gate = decide(ev, Q)
    assert gate.decision == "not enough evidence" and not gate.promoted
    assert gate.lower_bound < -Q.margin < 0 < gate.gain
    assert decide("a class has fewer than 2 real rows", Q).decision == "not enough evidence"
    assert fold_count(np.array([0, 0, 0, 1]), 5) == 0 and fold_count(np.array([0, 0, 0, 1, 1]), 5) == 2


def test_small_evaluations_must_show_a_gain_not_only_no_loss():
    # 150 rows: one row moves macro-F1 by about 0.7 points, so a loss of 0.5 is invisible
    assert rule(0.3, -0.2, 1.0, 150, 0.5)[0] == "not enough evidence"
    assert rule(0.3, -0.2, 1.0, 250, 0.5)[0] == "promote"
    assert rule(2.0, 0.4, 3.0, 150, 0.5)[0] == "promote"
    assert rule(0.0, 0.0, 0.0, 500, 0.5) == ("not enough evidence", "the rows changed no held-out prediction")
    assert rule(-1.0, -3.0, 0.5, 500, 0.5)[0] == "keep"


def test_not_proven_never_turns_into_do_nothing():
    """The case users met: nothing is proven on tens of rows, yet class weights measure clearly
    better than the real rows alone, so they are the advice, not the real rows."""
    truth = np.repeat(np.arange(3), [20, 20, 6])
    gate = decide(_evidence(truth, 0.70, 0.72, class_weight=0.80, oversample=0.78), Q)
    assert gate.decision != "promote"
    assert gate.recommendation.method in ("class_weight", "oversample")
    assert not gate.verdict.startswith("Train on your real rows alone")


def test_recommendation_carries_its_options_numbers_and_says_how_sure():
    truth = np.repeat(np.arange(3), 100)
    gate = decide(_evidence(truth, 0.6, 0.7, class_weight=0.6, smote=0.9), Q)
    advice, options = gate.recommendation, gate.options
    assert set(options) == {REAL_ONLY, "cvae", "class_weight", "smote"} and options[REAL_ONLY].gain == 0
    assert advice.method == "smote" and advice.runner_up == "cvae"
    smote = options["smote"]
    assert (advice.gain, advice.lower_bound, advice.upper_bound) == (smote.gain, smote.lower_bound, smote.upper_bound)
    assert options["smote"].expected_gain == advice.expected_gains["smote"]
    assert options["smote"].typical_gain == advice.typical_gains["smote"]
    assert advice.why.startswith("clearly best") and options["smote"].lower_bound > 0
    assert gate.judge == "logistic" and gate.metric == "macro_f1" and set(gate.baselines) == {"class_weight", "smote"}


def test_a_tie_goes_to_the_cheaper_option():
    truth = np.repeat(np.arange(2), 200)
    same = _evidence(truth, 0.6, 0.6, seed=3, class_weight=0.8)
    same.predictions["oversample"] = [p.copy() for p in same.predictions["class_weight"]]
    same.predictions["cvae"] = [p.copy() for p in same.predictions["class_weight"]]
    same.predictions["cvae"][0][np.flatnonzero(same.predictions["cvae"][0] != truth)[:1]] = truth[0]  # one row better
    same.options += [OPTIONS["oversample"]]
    gate = decide(same, Q)
    assert gate.options["cvae"].gain > gate.options["class_weight"].gain
    assert gate.options["cvae"].gain - gate.options["class_weight"].gain < TIE
    assert gate.recommendation.method == "class_weight"
    assert gate.recommendation.why.startswith("as good as cvae within noise")


def test_menu_split_and_weights():
    assert [o.name for o in menu("table", "cvae")] == [REAL_ONLY, "class_weight", "oversample", "smote", "cvae"]
    images = [o.name for o in menu("image", "cvae")]
    assert images == [REAL_ONLY, "class_weight", "oversample", "affine", "rand_augment", "cvae", "cvae_affine"]
    assert [o.name for o in menu("table", "smote")] == [REAL_ONLY, "class_weight", "oversample", "smote"]
    assert split_counts({"a": 5, "b": 4}, 2) == [{"a": 3, "b": 2}, {"a": 2, "b": 2}]
    from sklearn.utils.class_weight import compute_sample_weight

    y = np.array([0, 0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(balanced_weights(y, 4), compute_sample_weight("balanced", y))


def test_partial_rebalancing_closes_half_the_gap_in_weights_or_rows(tmp_path):
    """class_weight_half: each class weighs as if it had half its gap to the largest class more rows;
    oversample_half / smote_half: half of each class's asked rows. Off the default menu."""
    from pipeline.io import write_training_set
    from pipeline.quality.crossfit import _shares
    from pipeline.quality.menu import PARTIAL

    y = np.array([0] * 40 + [1] * 10 + [2] * 20)
    w = balanced_weights(y, 3, OPTIONS["class_weight_half"].strength)
    mass = np.bincount(y, weights=w)  # each class's weight in the loss: rows + half the gap, scaled
    np.testing.assert_allclose(mass / mass.sum(), np.array([40, 25, 30]) / 95)
    assert w.sum() == pytest.approx(len(y))
    assert _shares(OPTIONS["oversample_half"], {"1": 30, "2": 19}) == [("oversample", {"1": 15, "2": 10})]
    assert _shares(OPTIONS["oversample"], {"1": 30, "2": 19}) == [("oversample", {"1": 30, "2": 19})]
    assert not set(PARTIAL) & {o.name for o in menu("table", "cvae")}
    assert set(PARTIAL) <= {o.name for o in menu("table", "cvae", partial=True)}
    assert "smote_half" not in {o.name for o in menu("image", "cvae", partial=True)}
    real = pd.DataFrame({"x": np.arange(70.0), "label": y.astype(str)})
    write_training_set(tmp_path / "a.parquet", real, [], {}, (), True, "label", 0.5)
    shipped = pd.read_parquet(tmp_path / "a.parquet")
    np.testing.assert_allclose(shipped["sample_weight"].to_numpy(), w)  # what the gate measured is what ships


def test_cross_fit_scores_every_row_once_per_repeat(mixed_table):
    real = mixed_table  # one row with a missing `visits`: most folds' generators never saw one
    features = [c for c in real.columns if c != "label"]
    classes = ClassIndex.fit(real["label"])
    task = Task(
        real,
        "label",
        features,
        fit_codec(real[features], None),
        classes,
        {"a": 4, "b": 4},
        QualityConfig(folds=3, repeats=2, accept="all"),
        seed=0,
    )
    task.product = "smote"
    factories = {"smote": lambda: SMOTESynthesizer(seed=0), "oversample": lambda: OversampleSynthesizer(seed=0)}
    evidence = cross_fit(task, factories, menu("table", "smote"))
    assert evidence.folds == 3 and len(evidence.predictions[REAL_ONLY]) == 2
    assert set(evidence.predictions) == {REAL_ONLY, "class_weight", "oversample", "smote"}
    assert all(len(p) == len(real) for p in evidence.predictions["smote"])
    proba = evidence.probabilities["smote"]  # kept for promotion's scoring rule; predictions are their argmax
    assert all(
        np.allclose(p.sum(1), 1) and np.array_equal(p.argmax(1), h)
        for p, h in zip(proba, evidence.predictions["smote"])
    )
    rows = evidence.synthetic_rows["smote"]  # the product: the shipped counts, or fewer where near-copies were refused
    assert len(rows) == 6 and max(rows) == 8 and min(rows) > 0
    assert evidence.synthetic_rows["oversample"] == [8] * 6  # a cheap baseline: every row, copies included
    assert isinstance(decide(evidence, task.quality).gain, float)


def _overlapping(judge: str) -> tuple[Task, dict]:
    """Two overlapping classes, one rare, judged by `judge`; the product is SMOTE."""
    rng = np.random.default_rng(0)
    sizes = {"common": 80, "rare": 8}
    real = pd.concat(
        [
            pd.DataFrame({"x1": rng.normal(shift, 1.0, n), "x2": rng.normal(shift, 1.0, n), "label": name})
            for (name, n), shift in zip(sizes.items(), (0.0, 1.2))
        ],
        ignore_index=True,
    )
    task = Task(
        real,
        "label",
        ["x1", "x2"],
        fit_codec(real[["x1", "x2"]], None),
        ClassIndex.fit(real["label"]),
        {"rare": 72},
        QualityConfig(folds=4, repeats=2),
        seed=0,
        product="smote",
        judge=judge,
    )
    factories = {"smote": lambda: SMOTESynthesizer(seed=0), "oversample": lambda: OversampleSynthesizer(seed=0)}
    return task, factories


@pytest.mark.parametrize("judge", ["logistic", "forest", "boosting"])
def test_cross_fit_measures_the_menu_with_the_users_classifier(judge):
    """Each judge measures every option on the same folds and the advice is the best by expected
    gain, within the tie width (rebalancing need not win macro-F1 where classes overlap)."""
    task, factories = _overlapping(judge)
    gate = decide(cross_fit(task, factories, menu("table", "smote")), task.quality, judge=judge)
    assert gate.judge == judge and set(gate.options) == {REAL_ONLY, "class_weight", "oversample", "smote"}
    advice, expected = gate.recommendation, gate.recommendation.expected_gains
    assert set(expected) == set(gate.options) and max(expected.values()) - TIE <= expected[advice.method]
    assert len({v.gain for v in gate.options.values()}) > 1  # the options train different classifiers


def test_fold_rows_made_once_serve_every_judge():
    """The benchmark makes the fold generators' rows once and judges them with several
    classifiers: each judge's evidence is what its own cross-fit gives."""
    task, factories = _overlapping("logistic")
    options = menu("table", "smote")
    plan = fold_rows(task, factories, options)
    for judge in ("logistic", "forest"):
        judged = replace(task, judge=judge)
        shared, own = judge_folds(judged, options, plan), cross_fit(judged, factories, options)
        assert shared.synthetic_rows == own.synthetic_rows
        for name in own.probabilities:
            assert all(map(np.array_equal, shared.probabilities[name], own.probabilities[name]))
    logistic = judge_folds(task, options, plan).probabilities["smote"]
    assert not all(
        map(np.array_equal, logistic, judge_folds(replace(task, judge="forest"), options, plan).probabilities["smote"])
    )


def test_cross_fit_refuses_a_class_with_one_row(mixed_table):
    real = pd.concat([mixed_table.dropna(), mixed_table.dropna().head(1).assign(label="c")], ignore_index=True)
    features = [c for c in real.columns if c != "label"]
    task = Task(real, "label", features, fit_codec(real[features], None), ClassIndex.fit(real["label"]), {}, Q, 0)
    assert "fewer than 2 real rows" in cross_fit(task, {}, menu("table", "cvae"))


def test_the_real_rows_alone_break_no_tie():
    """Within the tie width the cheaper option wins, but never 'do nothing': the real rows
    alone are recommended only when they measure best by more than the tie width."""
    truth = np.repeat(np.arange(2), [150, 30])
    ev = _evidence(truth, 0.8, 0.5, seed=1, oversample=0.8)
    ev.predictions["oversample"] = [p.copy() for p in ev.predictions[REAL_ONLY]]
    first = np.flatnonzero(ev.predictions["oversample"][0] == truth)[:1]
    ev.predictions["oversample"][0][first] = 1 - truth[first]  # one row worse than the real rows alone
    gate = decide(ev, Q)
    assert gate.options[REAL_ONLY].gain - gate.options["oversample"].gain < TIE
    assert gate.recommendation.method == "oversample"
    alone = decide(_evidence(truth, 0.9, 0.6, seed=2, oversample=0.6), Q)
    assert alone.recommendation.method == REAL_ONLY


def test_an_option_that_changes_no_prediction_is_named_as_the_real_rows_alone():
    truth = np.repeat(np.arange(3), 50)  # balanced: class weights are all 1 and change nothing
    ev = _evidence(truth, 0.8, 0.6, seed=4)
    ev.predictions["class_weight"] = [p.copy() for p in ev.predictions[REAL_ONLY]]
    ev.options.append(OPTIONS["class_weight"])
    gate = decide(ev, Q)
    assert gate.recommendation.method == REAL_ONLY and gate.recommendation.runner_up == "cvae"
    why = gate.recommendation.why
    assert why.startswith("class_weight changes no held-out prediction") and "as good as class_weight" not in why
    assert gate.options_weighting == "classes"


def test_on_imbalanced_data_an_option_that_changes_no_fold_prediction_is_kept():
    """A handful of fold rows cannot show that class weights do nothing on imbalanced classes: the
    ranking's choice stays, and the words say the folds could not tell it apart."""
    truth = np.repeat(np.arange(2), [60, 12])
    ev = _evidence(truth, 0.8, 0.6, seed=4)
    ev.predictions["class_weight"] = [p.copy() for p in ev.predictions[REAL_ONLY]]
    ev.options.append(OPTIONS["class_weight"])
    gate = decide(ev, Q)
    advice = gate.recommendation
    assert advice.method == "class_weight" and gate.options["class_weight"].gain == 0
    assert "could not tell it apart" in advice.why and "smallest 12 rows beside 60" in advice.why
    assert "real rows alone in effect" not in advice.why


def test_clearly_best_only_when_the_option_also_leads_on_its_own_measurement():
    """A boosting judge's typical gains put the CVAE's rows first though they measured below class
    weights on the user's folds: the sentence says it goes against the measurement and quotes it."""
    truth = np.repeat(np.arange(3), [60, 60, 20])
    gate = decide(_evidence(truth, 0.70, 0.76, seed=5, class_weight=0.79), Q, judge="boosting")
    advice, options = gate.recommendation, gate.options
    assert advice.method == "cvae" and options["cvae"].gain < options["class_weight"].gain
    assert not advice.why.startswith("clearly best")
    assert "this goes against your measurement" in advice.why
    assert f"on your folds it measured {options['cvae'].gain:+.1f}" in advice.why
    assert f"class_weight {options['class_weight'].gain:+.1f}" in advice.why
    agrees = decide(_evidence(truth, 0.70, 0.95, seed=5, class_weight=0.75), Q, judge="boosting")
    assert agrees.recommendation.method == "cvae" and "goes against" not in agrees.recommendation.why


def test_the_benchmark_prior_weighs_against_a_noisy_measurement():
    """Half the expected gain is what each option gained across the benchmark's data sets with
    the same judge: a boosting judge's small measured lead for class weights does not outweigh
    the CVAE rows' larger average gain, a large one does, and a logistic judge (whose options
    gained about the same across data sets) follows the measurement."""
    from pipeline.quality.menu import SHRINK, TYPICAL_GAINS, expected_gains

    truth = np.repeat(np.arange(3), [60, 60, 20])
    near = _evidence(truth, 0.70, 0.76, seed=5, class_weight=0.79)
    boosting = decide(near, Q, judge="boosting")
    measured = {m: v.gain for m, v in boosting.options.items()}
    assert (
        0
        < measured["class_weight"] - measured["cvae"]
        < 2 * SHRINK * (TYPICAL_GAINS["table", "boosting"]["cvae"] - TYPICAL_GAINS["table", "boosting"]["class_weight"])
    )
    assert boosting.recommendation.method == "cvae"
    expected = boosting.recommendation.expected_gains  # what ranked them, beside the measured gains
    assert expected["cvae"] > expected["class_weight"] and expected[REAL_ONLY] == 0
    assert "typical gain on similar data sets" in boosting.recommendation.why
    far = decide(_evidence(truth, 0.70, 0.72, seed=5, class_weight=0.95), Q, judge="boosting")
    assert far.recommendation.method == "class_weight"
    logistic = decide(near, Q, judge="logistic")
    assert logistic.recommendation.method == "class_weight"
    unknown = TYPICAL_GAINS.get(("table", "no such judge"))
    assert expected_gains({"cvae": 1.0}, unknown) == {"cvae": 1.0}  # the measurement


def test_fold_generators_train_as_long_as_the_shipped_one_on_tables():
    """BENCHMARKS.md "Version 0.8: the level of the bound that decides promotion": on tables the
    gate's generators get the shipped generator's steps; images keep 1000 (each fold generator
    of an image run costs minutes); a user's setting wins, never above the shipped steps."""
    quality = QualityConfig()
    assert quality.fold_steps_for("table", 3000) == 3000
    assert quality.fold_steps_for("image", 3000) == 1000
    assert quality.fold_steps_for("image", 400) == 400
    assert QualityConfig(fold_steps=500).fold_steps_for("table", 3000) == 500
    assert QualityConfig(fold_steps=5000).fold_steps_for("table", 3000) == 3000
