"""pipeline.CVAESampler as imbalanced-learn users use a sampler: fit_resample, in a Pipeline,
cross-validated, and through imbalanced-learn's own estimator checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from imblearn.utils.estimator_checks import estimator_checks_generator
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score

from pipeline import CVAESampler


@pytest.fixture(scope="module")
def imbalanced():
    return make_classification(
        n_samples=160,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        weights=[0.75, 0.18, 0.07],
        random_state=0,
    )


def test_fit_resample_balances_with_new_rows_not_copies(imbalanced):
    x, y = imbalanced
    xr, yr = CVAESampler(random_state=0, epochs=20).fit_resample(x, y)
    assert np.bincount(yr).tolist() == [np.bincount(y).max()] * 3
    np.testing.assert_array_equal(xr[: len(x)], x)  # the real rows first, unchanged
    new = xr[len(x) :]
    copies = (np.abs(new[:, None, :] - x[None, :, :]).sum(-1) < 1e-9).any(1)
    assert not copies.any()
    again = CVAESampler(random_state=0, epochs=20).fit_resample(x, y)
    np.testing.assert_array_equal(again[0], xr)  # same seed, same rows


def test_sampling_strategy_is_honoured(imbalanced):
    x, y = imbalanced
    _, yr = CVAESampler(sampling_strategy={2: 40}, random_state=1, epochs=5).fit_resample(x, y)
    assert np.bincount(yr).tolist() == [*np.bincount(y)[:2], 40]
    labels = np.array(["a", "b", "c"])[y]  # string labels come back as they went in
    _, yr = CVAESampler(sampling_strategy="minority", random_state=1, epochs=5).fit_resample(x, labels)
    assert yr.dtype == labels.dtype and (yr == "c").sum() == (labels == "a").sum()


def test_it_runs_inside_a_cross_validated_pipeline(imbalanced):
    x, y = imbalanced
    model = make_pipeline(CVAESampler(random_state=0, epochs=10), RandomForestClassifier(random_state=0))
    scores = cross_val_score(model, x, y, scoring="f1_macro", cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all() and (scores > 0.2).all()


def test_imbalanced_learns_estimator_checks_pass():
    """Every check imbalanced-learn yields for this sampler (sparse input is resampled dense and
    handed back sparse)."""
    ran = []
    for estimator, check in estimator_checks_generator(CVAESampler(random_state=0, epochs=2)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(estimator)
        ran.append(getattr(check, "func", check).__name__)
    assert "check_samplers_fit_resample" in ran and "check_samplers_preserve_dtype" in ran
    assert "check_samplers_sparse" in ran and len(ran) >= 15


def test_bad_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match="strategy"):
        CVAESampler(strategy="posterior").fit_resample(np.zeros((6, 2)), np.array([0, 0, 0, 0, 1, 1]))
