"""The cheap baselines behind the same interface, so the gate and the benchmarks compare
them with the CVAE through one path; and the pseudo-labeller, which writes real rows.

- SMOTE (tables): a new row on the segment between a real row and one of its k nearest
  neighbours of the same class (Chawla et al. 2002), in the codec's space (standardised
  numbers, missing flags, one-hot categories); a category is drawn between the two parents'.
- Affine views (images): the real images of the class in turn, each under a small random
  rotation, shear, scale and shift: the classic augmentation a generator has to beat.
- Augmentation policies (images): the same, each image under torchvision's TrivialAugmentWide,
  RandAugment, AutoAugment or AugMix, the policies practitioners use today.
- Oversampling (both): random copies of the real rows of the class, the first thing a
  practitioner tries against a rare class (imblearn's RandomOverSampler, per class).
- Pseudo-labels: the user's unlabelled rows, labelled by a classifier fit on the labelled
  ones, drawn at random among those it is sure of. Not generated; often the best extra rows.
All of them keep the user's rows (or their encodings) in the saved folder, and say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Self

import numpy as np
import pandas as pd
import torch

from pipeline.data.codec import Encoded, Written
from pipeline.errors import ConfigError
from pipeline.synthesizers.base import Synthesizer
from pipeline.transforms import POLICIES, policy_views, random_affine

if TYPE_CHECKING:
    from pipeline.config import RunConfig, TrainConfig

NEIGHBOURS = 5  # SMOTE's usual k, fewer when a class has fewer rows


class SMOTESynthesizer(Synthesizer):
    kind = "smote"
    modalities = ("table",)
    keeps_real_rows = True

    def _fit(self, x: Encoded, y: torch.Tensor, unlabelled: Encoded | None) -> None:
        self.x, self.y = x.x, y

    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:
        from imblearn.over_sampling import SMOTE

        out = torch.zeros(len(y), self.x.shape[1])
        for c in torch.unique(y).tolist():
            want, have = int((y == c).sum()), int((self.y == c).sum())
            # SMOTE needs two classes: the other rows take part unchanged, as in imblearn's own use
            seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
            smote = SMOTE(sampling_strategy={c: have + want}, k_neighbors=min(NEIGHBOURS, have - 1), random_state=seed)
            x_all, y_all = self.x.numpy(), self.y.numpy()
            if len(np.unique(y_all)) < 2:
                raise ConfigError("SMOTE needs at least two classes", "fit on data with two classes or more")
            new, _ = smote.fit_resample(x_all, y_all)
            out[y == c] = torch.as_tensor(new[len(x_all) :], dtype=torch.float32)
        return self.codec.decode(as_logits(self.codec, out), generator=gen)

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {"x": self.x, "y": self.y}

    def _restore(self, state: dict[str, Any], tensors: dict[str, torch.Tensor], tables: dict) -> None:
        self.x, self.y = tensors["x"], tensors["y"]


def as_logits(codec, x: torch.Tensor) -> torch.Tensor:
    """Codec values (encoded or interpolated rows) as the decoder outputs the codec decodes:
    numbers as they are, a flag or a category share p as the logit that gives it probability p."""
    raw = x.clone()
    for block in codec.layout:
        part = x[:, block.start : block.stop].clamp(1e-6, 1 - 1e-6)
        if block.kind == "bernoulli":
            raw[:, block.start : block.stop] = torch.log(part / (1 - part))
        elif block.kind == "categorical":
            raw[:, block.start : block.stop] = torch.log(part)
    return raw


def _copies(y: torch.Tensor, of: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """For each label in y, the index of a random row of `of` with that label."""
    source = torch.zeros(len(y), dtype=torch.long)
    for c in torch.unique(y).tolist():
        rows = torch.nonzero(of == c).flatten()
        source[y == c] = rows[torch.randint(len(rows), (int((y == c).sum()),), generator=gen)]
    return source


def _in_turn(y: torch.Tensor, of: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """For each label in y, the rows of `of` with that label in turn, in a random order: every
    real row is used as often as any other of its class (within one, per batch of rows). Affine
    views of random rows left some of 5 rare digits with few views: rare recall 78.8 / 82.8
    (LR / CNN) against 81.3 / 85.2 in turn (BENCHMARKS.md "Affine views of each image in turn")."""
    source = torch.zeros(len(y), dtype=torch.long)
    for c in torch.unique(y).tolist():
        rows = torch.nonzero(of == c).flatten()
        order = rows[torch.randperm(len(rows), generator=gen)]
        source[y == c] = order[torch.arange(int((y == c).sum())) % len(order)]
    return source


class OversampleSynthesizer(Synthesizer):
    kind = "oversample"
    keeps_real_rows = True

    def _fit(self, x: Encoded, y: torch.Tensor, unlabelled: Encoded | None) -> None:
        self.x, self.y = x.x, y

    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:
        return self._generate_written(y, gen)[0]

    def _generate_written(self, y: torch.Tensor, gen: torch.Generator) -> Written:
        rows = self.x[_copies(y, self.y, gen)]
        if self.codec.modality == "image":
            return self.codec.means_written(rows)
        return self.codec.decode(as_logits(self.codec, rows), generator=gen), None

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {"x": self.x, "y": self.y}

    def _restore(self, state: dict[str, Any], tensors: dict[str, torch.Tensor], tables: dict) -> None:
        self.x, self.y = tensors["x"], tensors["y"]


class AffineSynthesizer(Synthesizer):
    kind = "affine"
    modalities = ("image",)
    keeps_real_rows = True

    def _fit(self, x: Encoded, y: torch.Tensor, unlabelled: Encoded | None) -> None:
        self.pixels, self.y = (x.x * 255).round().to(torch.uint8), y

    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:
        return self._generate_written(y, gen)[0]

    def _generate_written(self, y: torch.Tensor, gen: torch.Generator) -> Written:
        views = random_affine(self.pixels[_in_turn(y, self.y, gen)].float() / 255, gen)
        return self.codec.means_written(views.clamp(0, 1))

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {"pixels": self.pixels, "y": self.y}

    def _restore(self, state: dict[str, Any], tensors: dict[str, torch.Tensor], tables: dict) -> None:
        self.pixels, self.y = tensors["pixels"], tensors["y"]


class PolicySynthesizer(AffineSynthesizer):
    """Views of the real images in turn under one of torchvision's augmentation policies
    (TrivialAugmentWide, RandAugment, AutoAugment, AugMix): what a practitioner runs today."""

    policy = "trivial_augment"

    def _generate_written(self, y: torch.Tensor, gen: torch.Generator) -> Written:
        views = policy_views(self.pixels[_in_turn(y, self.y, gen)].float() / 255, self.policy, gen)
        return self.codec.means_written(views)


def _policy_class(policy: str) -> type[PolicySynthesizer]:
    name = "".join(part.title() for part in policy.split("_")) + "Synthesizer"
    return type(name, (PolicySynthesizer,), {"kind": policy, "policy": policy, "__module__": __name__})


POLICY_SYNTHESIZERS: dict[str, type[PolicySynthesizer]] = {p: _policy_class(p) for p in POLICIES}
# by name too, as pipeline/catalog.py names every generator class ("module:Class")
TrivialAugmentSynthesizer = POLICY_SYNTHESIZERS["trivial_augment"]
RandAugmentSynthesizer = POLICY_SYNTHESIZERS["rand_augment"]
AutoAugmentSynthesizer = POLICY_SYNTHESIZERS["auto_augment"]
AugmixSynthesizer = POLICY_SYNTHESIZERS["augmix"]


class PseudoLabelSynthesizer(Synthesizer):
    """Unlabelled rows labelled by the label scorer (pipeline/quality/fidelity.py) fit on the
    labelled rows; a class gets fewer rows than asked when fewer rows are sure to be of it
    (the run reports the shortfall)."""

    kind = "pseudo_label"
    keeps_real_rows = True
    finite = True

    def __init__(self, seed: int = 0, confidence: float = 0.9) -> None:
        super().__init__(seed)
        self.confidence = confidence

    @classmethod
    def from_config(cls, config: RunConfig, train: TrainConfig | None = None, hooks: Any = None) -> Self:
        """With the run's confidence (sample.pseudo_label_confidence)."""
        return cls(seed=config.seed, confidence=config.sample.pseudo_label_confidence)

    @classmethod
    def check(cls, modality: str, unlabelled: pd.DataFrame | None) -> None:
        super().check(modality, unlabelled)
        if unlabelled is None or not len(unlabelled):
            raise ConfigError(
                "the pseudo_label generator labels rows without a label, and there are none",
                "pass rows with an empty label (--unlabelled use), or use another generator",
            )

    def _fit(self, x: Encoded, y: torch.Tensor, unlabelled: Encoded | None) -> None:
        from pipeline.quality.fidelity import LabelScorer

        label_scorer = LabelScorer.fit(x.x, y, self.classes.names, seed=self.seed)
        proba = label_scorer.classifier.predict_proba(unlabelled.x)
        self.pool = self.unlabelled_rows.reset_index(drop=True).assign(
            _label=proba.argmax(1), _confidence=proba.max(1).astype("float64")
        )

    def sample_written(self, counts: dict[str, int], seed: int, batch_rows: int = 4096) -> Iterator[Written]:
        self._require_fitted()
        gen = torch.Generator().manual_seed(seed)
        sure = torch.tensor((self.pool["_confidence"] >= self.confidence).to_numpy())
        labels = torch.tensor(self.pool["_label"].to_numpy())
        for name, n in counts.items():
            c = self.classes.index_of(name)
            rows = torch.nonzero(sure & (labels == c)).flatten()
            rows = rows[torch.randperm(len(rows), generator=gen)][:n].numpy()
            for start in range(0, len(rows), batch_rows):
                frame = self.pool.iloc[rows[start : start + batch_rows]].reset_index(drop=True)
                frame[self.label] = self.classes.decode(np.full(len(frame), c)).array
                yield frame[self.columns], None

    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:  # pragma: no cover - see sample_written
        raise NotImplementedError

    def _state_spec(self) -> dict[str, Any]:
        return {"confidence": self.confidence}

    def _state_tables(self) -> dict[str, pd.DataFrame]:
        return {"pool": self.pool}

    def _restore(self, state: dict[str, Any], tensors: dict[str, torch.Tensor], tables: dict) -> None:
        self.confidence, self.pool = state["confidence"], tables["pool"]
