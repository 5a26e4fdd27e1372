"""The CVAE as an imbalanced-learn sampler: `fit_resample(X, y)` inside a cross-validated Pipeline.

    from imblearn.pipeline import make_pipeline
    model = make_pipeline(CVAESampler(random_state=0), RandomForestClassifier(random_state=0))
    cross_val_score(model, X, y, scoring="f1_macro")

imbalanced-learn's samplers see a numeric matrix, so the sampler hands the CVAE a table of
numeric columns and returns the real rows followed by the new ones. The new rows are drawn
from the CVAE as they are, like SMOTE's (no scoring or filtering: that is the run's and the
gate's business, and would need a classifier inside the sampler). `sampling_strategy` means
what it means for SMOTE; by default every class but the largest is brought up to the largest
with new rows, not copies.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from imblearn.over_sampling.base import BaseOverSampler
from scipy import sparse
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

LABEL = "__label__"


class CVAESampler(BaseOverSampler):
    """Over-sample with new rows of a class-conditional VAE fit on (X, y) at each fit_resample.

    Parameters: `sampling_strategy` and `random_state` as imbalanced-learn's samplers take them
    (an int seed gives the same rows for the same data); `epochs` (None: the product's default,
    sized to reach TrainConfig.target_steps), `latent_dim`, `strategy` (prior or transfer) and
    `temperature` as `CVAESynthesizer` takes them."""

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "random_state": ["random_state"],
        "epochs": [Interval(Integral, 1, 100_000, closed="both"), None],
        "latent_dim": [Interval(Integral, 1, 512, closed="both")],
        "strategy": [StrOptions({"prior", "transfer"})],
        "temperature": [Interval(Real, 0, 100, closed="right")],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        epochs: int | None = None,
        latent_dim: int = 16,
        strategy: str = "prior",
        temperature: float = 1.0,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.epochs = epochs
        self.latent_dim = latent_dim
        self.strategy = strategy
        self.temperature = temperature

    def _check_X_y(self, X, y):
        """Numeric X; a sparse matrix is resampled dense and handed back in its own format."""
        from imblearn.utils import check_target_type
        from sklearn.utils.validation import validate_data

        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X, y = validate_data(self, X, y, reset=True, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32])
        return X, y, binarize_y

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from pipeline.synthesizers.cvae import CVAESynthesizer

        wanted = {c: int(n) for c, n in self.sampling_strategy_.items() if n > 0}
        if not wanted:
            return X, y
        if sparse.issparse(X):
            dense, labels = self._fit_resample(X.toarray(), y)
            return type(X)(dense), labels
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        classes = np.unique(y)
        columns = [f"x{i}" for i in range(X.shape[1])]
        frame = pd.DataFrame(X.astype(np.float64), columns=columns)
        frame[LABEL] = np.searchsorted(classes, y)  # class positions: any label type, one codec
        options = {"latent_dim": self.latent_dim} | ({"epochs": self.epochs} if self.epochs is not None else {})
        gen = CVAESynthesizer(seed=seed, strategy=self.strategy, temperature=self.temperature, **options)
        gen.fit(frame, label=LABEL)
        counts = {str(int(np.searchsorted(classes, c))): n for c, n in wanted.items()}
        new = pd.concat(list(gen.sample_frames(counts, seed)), ignore_index=True)
        x_new = new[columns].to_numpy(dtype=X.dtype)
        y_new = classes[new[LABEL].astype(int).to_numpy()].astype(y.dtype)
        return np.vstack([X, x_new]), np.concatenate([y, y_new])
