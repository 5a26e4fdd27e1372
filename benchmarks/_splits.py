"""The low-resource split every usefulness benchmark uses, in one place.

k rows per class train; up to test_rows other rows (stratified) are the fixed test set no
generator sees; what is left is the pool a team would hold without labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from pipeline.config import DataSpec
from pipeline.data.codec import ClassIndex, Codec, fit_codec
from pipeline.data.sources import RealData, load_real, subsample_per_class


@dataclass
class LowResourceSplit:
    full: RealData
    codec: Codec  # fit on every row of the data set, as a user's codec would see them
    classes: ClassIndex
    train: pd.DataFrame
    test: pd.DataFrame
    pool: pd.DataFrame  # neither train nor test

    @classmethod
    def make(cls, dataset: str, k: int, seed: int, test_rows: int) -> "LowResourceSplit":
        full = load_real(DataSpec(source=dataset))
        codec = fit_codec(full.frame[full.features], full.image_column)
        classes = ClassIndex.fit(full.frame[full.label])
        train = subsample_per_class(full.frame, full.label, k, seed)
        rest = full.frame.drop(index=train.index)
        test = subsample_per_class(rest, full.label, max(1, test_rows // len(classes)), seed)
        return cls(full, codec, classes, train, test, rest.drop(index=test.index))

    def x(self, frame: pd.DataFrame) -> torch.Tensor:
        return self.codec.encode(frame[self.full.features]).x

    def y(self, frame: pd.DataFrame) -> torch.Tensor:
        return self.classes.encode(frame[self.full.label])
