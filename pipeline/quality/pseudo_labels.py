"""Labels for the user's unlabelled rows, from the judge: the `pseudo_label` sampling mode.

When a team holds unlabelled rows, the most useful extra labelled examples are those rows
themselves, labelled. The judge (the classifier the quality stage fits on the real rows)
labels them; a row is eligible when the judge gives one label at least `threshold`, and
for each class the rows are drawn at random among the eligible ones, not top-down.
Measured on MNIST (BENCHMARKS.md, "What extra rows are worth"): the judge's most confident
rows are the typical ones a classifier already gets right and bought little, while random
sure rows bought most of what the same number of truly labelled rows did.
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd
import torch

from pipeline.data.codec import ClassIndex, Codec
from pipeline.quality.fidelity import LabelJudge

CONFIDENCE = 0.9  # SampleConfig.pseudo_label_confidence's default


def judge_labels(
    judge: LabelJudge, codec: Codec, rows: pd.DataFrame, batch_rows: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """(confidence, label index) of the judge's best label for every row, encoded in batches."""
    confidence, guess = [], []
    for start in range(0, len(rows), batch_rows):
        proba = torch.as_tensor(judge.classifier.predict_proba(codec.encode(rows.iloc[start : start + batch_rows]).x))
        best = proba.max(1)
        confidence.append(best.values.float())
        guess.append(best.indices)
    if not confidence:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(confidence), torch.cat(guess)


def choose(
    confidence: torch.Tensor, guess: torch.Tensor, counts: dict[int, int], threshold: float, seed: int
) -> torch.Tensor:
    """Row indices: for each class index c, up to counts[c] rows labelled c with confidence >=
    threshold, in a seeded random order; classes in the order of counts."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(guess), generator=gen)
    sure = order[confidence[order] >= threshold]
    parts = [sure[guess[sure] == c][:n] for c, n in counts.items()]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def pseudo_label_frames(
    unlabelled: pd.DataFrame,
    features: list[str],
    label: str,
    codec: Codec,
    classes: ClassIndex,
    judge: LabelJudge,
    counts: dict[str, int],
    seed: int,
    threshold: float = CONFIDENCE,
    batch_rows: int = 4096,
    columns: list[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield frames of unlabelled rows with the judge's label, in the user's schema, class by class.

    A class gets fewer rows than asked when fewer rows are sure enough to be that class."""
    confidence, guess = judge_labels(judge, codec, unlabelled[features], batch_rows)
    idx = choose(confidence, guess, {classes.index_of(c): n for c, n in counts.items() if n > 0}, threshold, seed)
    for start in range(0, len(idx), batch_rows):
        part = idx[start : start + batch_rows].numpy()
        frame = unlabelled.iloc[part][features].reset_index(drop=True)
        frame[label] = classes.decode(guess[part].numpy()).array
        yield frame[columns] if columns else frame
