"""Does each synthetic row look like the class it was generated for?

A judge classifier is fit on the real rows; its probability for the intended label is the
row's `label_fidelity`, and `follows_label` says whether the intended label is its top
guess. The judge's own accuracy on held-out real rows is reported beside the share, so a
reader can tell a weak judge from a generator that ignores its label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.quality.classifier import Classifier, fit_classifier
from pipeline.train import stratified_split

HOLDOUT_FRACTION = 0.25


@dataclass
class LabelJudge:
    classifier: Classifier
    real_accuracy: float  # on a held-out real split, from a judge fit without it
    class_names: list[str]

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor, class_names: list[str], seed: int = 0) -> "LabelJudge":
        k = len(class_names)
        gen = torch.Generator().manual_seed(seed)
        fit_idx, hold_idx = stratified_split(y, HOLDOUT_FRACTION, gen)
        accuracy = float("nan")
        if len(hold_idx):
            probe = fit_classifier(x[fit_idx], y[fit_idx], k, seed=seed)
            accuracy = float((probe.predict_proba(x[hold_idx]).argmax(1) == y[hold_idx].numpy()).mean())
        return cls(fit_classifier(x, y, k, seed=seed), accuracy, class_names)

    def score(self, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(label_fidelity, follows_label) per row."""
        proba = self.classifier.predict_proba(x)
        idx = y.numpy()
        return proba[np.arange(len(idx)), idx], proba.argmax(1) == idx


def score_frames(frames, codec, classes, label: str, judge: LabelJudge):
    """Add label_fidelity, follows_label and accepted to each generated frame.

    The judge sees the rows as written (re-encoded from the user's schema, PNG round trip
    included), not the decoder's raw output. A row is accepted when the judge's top guess
    is its intended label.
    """
    for frame in frames:
        x = codec.encode(frame).x
        fidelity, follows = judge.score(x, classes.encode(frame[label]))
        frame["label_fidelity"] = fidelity.astype("float32")
        frame["follows_label"] = follows
        frame["accepted"] = follows
        yield frame
