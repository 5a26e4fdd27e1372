"""Classifiers fit on real rows: the label scorer's (label fidelity, pipeline/quality/fidelity.py)
and the judges (the user's classifier, which the gate trains on every training set).

Images get a small CNN trained with classic augmentation; tables get a scikit-learn
logistic regression on the codec's encoding (standardised numbers, one-hot categories).
Both expose predict_proba on encoded tensors so callers need not care which is which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.runtime import seed_everything
from pipeline.transforms import random_affine


class Classifier(Protocol):
    def predict_proba(self, x: torch.Tensor) -> np.ndarray: ...


CHANNELS_LAST = torch.channels_last  # 2.4x faster inference, 1.1-1.3x faster training on the CPU (BENCHMARKS.md)
INFERENCE_BATCH = 256  # rows per forward pass: faster than 2048 on the CPU (caches) and a tenth of the memory


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head; works from 8x8 up to 64x64. Weights and inputs are
    kept channels-last, where oneDNN's convolutions and pooling are fastest."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(64 * 16, n_classes))
        self.to(memory_format=CHANNELS_LAST)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x.contiguous(memory_format=CHANNELS_LAST))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@dataclass
class CNNClassifier:
    net: SmallCNN

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch: int = INFERENCE_BATCH) -> np.ndarray:
        self.net.eval()
        out = [torch.softmax(self.net(x[s : s + batch]), 1) for s in range(0, len(x), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.net.head[-1].out_features))


def fit_cnn(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    seed: int = 0,
    steps: int = 400,
    batch: int = 64,
    weight: torch.Tensor | None = None,
    augment: bool = True,
) -> CNNClassifier:
    """Adam on (random affine views of) the images; `weight` down-weights rows (e.g. synthetic)."""
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    net = SmallCNN(x.shape[1], n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    w = torch.ones(len(x)) if weight is None else weight
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch, len(x)),), generator=gen)
        logits = net(random_affine(x[idx], gen) if augment else x[idx])
        loss = (F.cross_entropy(logits, y[idx], reduction="none") * w[idx]).sum() / w[idx].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    return CNNClassifier(net)


@dataclass
class SklearnClassifier:
    model: object
    n_classes: int

    def predict_proba(self, x: torch.Tensor) -> np.ndarray:
        proba = self.model.predict_proba(x.flatten(1).numpy())
        full = np.zeros((len(x), self.n_classes))
        full[:, self.model.classes_] = proba  # classes absent from the fit keep probability 0
        return full


def fit_table_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    seed: int = 0,
    weight: torch.Tensor | None = None,
    kind: str = "logistic",
) -> SklearnClassifier:
    """scikit-learn's logistic regression, random forest or histogram gradient boosting, with
    their usual settings, on the encoded columns (flattened pixels for images)."""
    model = _sklearn_model(kind, seed)
    model.fit(x.flatten(1).numpy(), y.numpy(), sample_weight=None if weight is None else weight.numpy())
    return SklearnClassifier(model, n_classes)


def _sklearn_model(kind: str, seed: int):
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    if kind == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=200, n_jobs=1, random_state=seed)
    if kind == "boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(f"unknown classifier {kind!r}")


JUDGES = ("logistic", "forest", "boosting", "cnn")  # the downstream classifiers a user may name


def fit_judge(
    kind: str,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    seed: int = 0,
    weight: torch.Tensor | None = None,
    cnn_steps: int = 300,
) -> Classifier:
    """The user's downstream classifier, as the gate trains it: the CNN without augmentation
    (so affine views are measured as rows, not twice), scikit-learn's with sample weights."""
    if kind == "cnn":
        return fit_cnn(x, y, n_classes, seed=seed, steps=cnn_steps, weight=weight, augment=False)
    return fit_table_classifier(x, y, n_classes, seed=seed, weight=weight, kind=kind)


def fit_classifier(x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int = 0) -> Classifier:
    if x.dim() == 4:
        return fit_cnn(x, y, n_classes, seed=seed)
    return fit_table_classifier(x, y, n_classes, seed=seed)
