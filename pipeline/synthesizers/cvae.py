"""The product's generator: a class-conditional VAE behind the Synthesizer interface.

Two sampling strategies (SampleConfig.strategy):
- prior: z ~ p(z|y), decoded under y;
- transfer: z near the posterior of a real row of any class, decoded under the asked label.
  With the shared N(0, I) prior, z holds what varies within classes, so a rare class is
  drawn in the styles learned from the plentiful ones (Hariharan and Girshick 2017; DAGAN).
  It needs the posteriors of the training rows, which the saved model then keeps.
"""

from __future__ import annotations

from typing import Any, Self

import pandas as pd
import torch

from pipeline.config import ModelConfig, RunConfig, TrainConfig
from pipeline.data.codec import Encoded, Written
from pipeline.errors import ConfigError, ModelLoadError
from pipeline.gaps import GapModel, gap_columns, level_columns
from pipeline.model import CVAE, ModelShape
from pipeline.synthesizers.base import Synthesizer
from pipeline.train import TrainHooks, TrainResult, train_cvae

STRATEGIES = ("prior", "transfer")
POSTERIORS = ("post_mu", "post_logvar", "post_y")
RETRAIN = "retrain the model with this version of augment"


class CVAESynthesizer(Synthesizer):
    """CVAESynthesizer(seed=0, strategy="prior", epochs=50, latent_dim=8, ...): any field of
    ModelConfig or TrainConfig may be passed by name, or whole configs as model= / train=."""

    kind = "cvae"

    def __init__(
        self,
        seed: int = 0,
        strategy: str = "prior",
        temperature: float = 1.0,
        output_noise: bool = True,
        model: ModelConfig | None = None,
        train: TrainConfig | None = None,
        hooks: TrainHooks | None = None,
        **options: Any,
    ) -> None:
        super().__init__(seed)
        if strategy not in STRATEGIES:
            raise ConfigError(f"unknown sampling strategy {strategy!r}", f"use one of {', '.join(STRATEGIES)}")
        self.strategy, self.temperature, self.output_noise = strategy, temperature, output_noise
        self.model_cfg, self.train_cfg = _split_options(model or ModelConfig(), train or TrainConfig(), options)
        self.hooks = hooks
        self.model: CVAE | None = None
        self.gaps: GapModel | None = None
        self.result: TrainResult | None = None

    @classmethod
    def from_config(cls, config: RunConfig, train: TrainConfig | None = None, hooks: Any = None) -> Self:
        """The CVAE as the run trains it: its shape, training and sampling settings from the config."""
        s = config.sample
        return cls(
            seed=config.seed,
            strategy=s.strategy,
            temperature=s.temperature,
            output_noise=s.output_noise,
            model=config.model,
            train=train or config.train,
            hooks=hooks,
        )

    @property
    def keeps_real_rows(self) -> bool:  # type: ignore[override]
        return self.strategy == "transfer"

    def _fit(self, x: Encoded, y: torch.Tensor, unlabelled: Encoded | None) -> None:
        self.result = train_cvae(
            x, y, self.codec, len(self.classes), self.model_cfg, self.train_cfg, seed=self.seed, hooks=self.hooks
        )
        self.model = self.result.model
        self._fit_gaps(x, y)

    def _fit_gaps(self, x: Encoded, y: torch.Tensor) -> None:
        """Calibrate missing cells and category levels on the generator's own samples (pipeline/gaps.py)."""
        if self.codec.modality != "table":
            return
        cols, spans = gap_columns(self.codec), level_columns(self.codec)
        if cols or spans:
            self.gaps = GapModel.fit(cols, spans, x.x, y, len(self.classes), self._raw, self.seed)

    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:
        return self._generate_written(y, gen)[0]

    @torch.no_grad()
    def _generate_written(self, y: torch.Tensor, gen: torch.Generator) -> Written:
        raw = self._raw(y, gen)
        if self.output_noise:
            raw = self.model.output_noise(raw, gen)
        if self.gaps is not None:
            raw = self.gaps.apply(raw, y, gen)
        return self.codec.decode_written(raw, generator=gen)

    @torch.no_grad()
    def _raw(self, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Decoder outputs for labels y under the sampling strategy."""
        model = self.model
        target = y.to(model.prior_mu.device)
        if self.strategy == "transfer":
            if not len(model.post_y):
                raise ConfigError(
                    "this model keeps no real rows' posteriors to transfer from", "sample with strategy prior"
                )
            source = torch.randint(len(model.post_y), (len(y),), generator=gen).to(target.device)
            raw = model.sample_posterior(source, target, self.temperature, gen)
        else:
            raw = model.sample(target, self.temperature, gen)
        return raw

    # --- saving ---------------------------------------------------------------------------
    def _state_spec(self) -> dict[str, Any]:
        shape = self.model.shape
        return {
            "strategy": self.strategy,
            "temperature": self.temperature,
            "output_noise": self.output_noise,
            "shape": {"input_shape": list(shape.input_shape), "n_classes": shape.n_classes, "arch": shape.arch},
            "model_config": self.model_cfg.model_dump(mode="json"),
            "train_config": self.train_cfg.model_dump(mode="json"),
        }

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        weights = self.model.state_dict()
        if not self.keeps_real_rows:  # the prior strategy needs no trace of the training rows
            weights = {k: v for k, v in weights.items() if k not in POSTERIORS}
        return dict(weights) | (self.gaps.tensors() if self.gaps is not None else {})

    def _restore(self, state: dict[str, Any], tensors: dict[str, torch.Tensor], tables: dict) -> None:
        self.strategy, self.temperature = state["strategy"], state["temperature"]
        self.output_noise = state["output_noise"]
        self.model_cfg = ModelConfig(**state["model_config"])
        self.train_cfg = TrainConfig(**state["train_config"])
        self.gaps = None
        if self.codec.modality == "table":
            self.gaps = GapModel.from_tensors(gap_columns(self.codec), level_columns(self.codec), tensors)
        tensors = {k: v for k, v in tensors.items() if not k.startswith("gaps.")}
        s = state["shape"]
        model = CVAE(ModelShape(tuple(s["input_shape"]), s["n_classes"], s["arch"]), self.model_cfg, self.codec.layout)
        for name in POSTERIORS:  # sized by the data: resize before loading, or keep empty
            if name in tensors:
                setattr(model, name, torch.empty_like(tensors[name]))
        try:
            result = model.load_state_dict(tensors, strict=False)
        except RuntimeError as exc:
            raise ModelLoadError(f"the saved weights do not fit the saved model: {str(exc)[:200]}", RETRAIN) from exc
        missing = [k for k in result.missing_keys if k not in POSTERIORS]
        if missing or result.unexpected_keys:
            raise ModelLoadError(
                f"saved weights missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}", RETRAIN
            )
        self.model = model.eval()


def _split_options(model: ModelConfig, train: TrainConfig, options: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """Keyword options to the config they belong to; an unknown name is an error, not ignored."""
    m = {k: v for k, v in options.items() if k in ModelConfig.model_fields}
    t = {k: v for k, v in options.items() if k in TrainConfig.model_fields}
    unknown = sorted(set(options) - set(m) - set(t))
    if unknown:
        raise ConfigError(
            f"unknown CVAE option(s) {unknown}",
            f"use fields of ModelConfig or TrainConfig, e.g. {', '.join(list(TrainConfig.model_fields)[:4])}",
        )
    return ModelConfig(**(model.model_dump() | m)), TrainConfig(**(train.model_dump() | t))
