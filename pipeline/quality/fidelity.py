"""Does each synthetic row look like the class it was generated for?

The label scorer, a classifier fit on the real rows, gives each row its `label_fidelity`
(its probability for the intended label) and `follows_label` (whether the intended label is
its top guess). Its own accuracy on held-out real rows is reported beside the share, so a
reader can tell a weak scorer from a generator that ignores its label. It is not the judge
(`--judge`, the user's classifier that the gate measures every training set with).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.quality.classifier import INFERENCE_BATCH, Classifier, fit_classifier
from pipeline.quality.report import QualityAccumulator
from pipeline.quality.scores import ClassReference, baseline_thresholds
from pipeline.train import stratified_split

HOLDOUT_FRACTION = 0.25


@dataclass
class LabelScorer:
    """The scorer of each synthetic row's label: a classifier fit on the real rows."""

    classifier: Classifier
    real_accuracy: float  # on a held-out real split, from a scorer fit without it
    class_names: list[str]

    @classmethod
    def fit(
        cls, x: torch.Tensor, y: torch.Tensor, class_names: list[str], seed: int = 0, measure: bool = True
    ) -> "LabelScorer":
        """The scorer, and (measure=True) its accuracy on held-out real rows from a probe fit
        without them; the gate skips the probe, whose number it never reads."""
        k = len(class_names)
        gen = torch.Generator().manual_seed(seed)
        fit_idx, hold_idx = stratified_split(y, HOLDOUT_FRACTION, gen)
        accuracy = float("nan")
        if measure and len(hold_idx):
            probe = fit_classifier(x[fit_idx], y[fit_idx], k, seed=seed)
            accuracy = float((probe.predict_proba(x[hold_idx]).argmax(1) == y[hold_idx].numpy()).mean())
        return cls(fit_classifier(x, y, k, seed=seed), accuracy, class_names)

    def score(self, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(label_fidelity, follows_label) per row."""
        return _fidelity(self.classifier.predict_proba(x), y)

    def score_with_features(self, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """score() plus scorer_features(), running the CNN's convolutions once instead of twice
        (they were 58 % of image scoring time)."""
        net = getattr(self.classifier, "net", None)
        if net is None:
            return *self.score(x, y), scorer_features(self, x)
        feats = scorer_features(self, x)
        with torch.no_grad():
            net.eval()
            proba = torch.softmax(net.head(feats), 1).numpy() if len(feats) else np.zeros((0, len(self.class_names)))
        return *_fidelity(proba, y), feats


def _fidelity(proba: np.ndarray, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    idx = y.numpy()
    return proba[np.arange(len(idx)), idx], proba.argmax(1) == idx


def scorer_features(label_scorer: LabelScorer, x: torch.Tensor) -> torch.Tensor:
    """The space realism and authenticity are measured in: the CNN's embedding for images,
    the encoded columns (standardised numbers, one-hot categories) for tables."""
    net = getattr(label_scorer.classifier, "net", None)
    if net is None:
        return x.flatten(1)
    with torch.no_grad():
        net.eval()
        if not len(x):
            return x.flatten(1)
        return torch.cat([net.embed(x[s : s + INFERENCE_BATCH]) for s in range(0, len(x), INFERENCE_BATCH)])


class SampleScorer:
    """Scores generated rows: label fidelity (the label scorer), realism and authenticity (k-NN
    in the label scorer's feature space, per class), combined into quality_score and accepted."""

    def __init__(
        self,
        label_scorer: LabelScorer,
        real_x: torch.Tensor,
        real_y: torch.Tensor,
        realism_quantile: float = 0.05,
        copy_quantile: float = 0.01,
        accept: str = "quality",
    ) -> None:
        self.label_scorer, self.accept = label_scorer, accept
        feats = scorer_features(label_scorer, real_x)
        self.refs = {int(c): ClassReference.fit(feats[real_y == c]) for c in torch.unique(real_y)}
        self.thresholds = baseline_thresholds(self.refs, realism_quantile, copy_quantile)
        self.quantiles = {"realism": realism_quantile, "copy": copy_quantile}

    def score(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
        return self.score_with_features(x, y)[0]

    def score_with_features(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, np.ndarray], torch.Tensor]:
        fidelity, follows, feats = self.label_scorer.score_with_features(x, y)
        realism = np.zeros(len(x))
        authenticity = np.zeros(len(x))
        for c, ref in self.refs.items():
            rows = (y == c).numpy()
            if rows.any():
                realism[rows], authenticity[rows], _ = ref.score(feats[rows])
        accepted = authenticity > self.thresholds.authenticity  # near-copies never ship ...
        if self.accept == "none":  # ... but for a cheap baseline shipped as is (copies are its point)
            accepted[:] = True
        if self.accept in ("quality", "label"):
            accepted &= follows
        if self.accept == "quality":
            accepted &= realism >= self.thresholds.realism
        quality = (fidelity + np.minimum(realism, 1.0) + np.minimum(authenticity, 1.0)) / 3.0
        scores = {
            "label_fidelity": fidelity,
            "follows_label": follows,
            "realism": realism,
            "authenticity": authenticity,
            "quality_score": quality,
            "accepted": accepted,
        }
        return scores, feats


def score_frames(
    frames, codec, classes, label: str, scorer: SampleScorer, accumulator: QualityAccumulator | None = None
):
    """Add the per-row scores to each generated frame.

    The scorer sees the rows as written (re-encoded from the user's schema, PNG round trip
    included), not the decoder's raw output.
    """
    for frame in frames:
        y = classes.encode(frame[label])
        scores, feats = scorer.score_with_features(codec.encode(frame).x, y)
        if accumulator is not None:
            accumulator.add(feats, y, scores)
        for name, values in scores.items():
            frame[name] = values.astype("float32") if values.dtype.kind == "f" else values
        yield frame
