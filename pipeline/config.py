"""Typed settings for every stage, grouped the way the data flows.

One pydantic model per stage keeps constructors short and gives the CLI, the Prefect
deployment form and the MLflow parameter log the same source of truth.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the real rows come from and which column is the label."""

    source: str = Field(
        description="Parquet file or folder, image folder, or a built-in name (digits, mnist, iris, wine, breast_cancer, penguins)"
    )
    label: str | None = Field(None, description="label column; built-in sets know theirs")
    columns: list[str] | None = Field(None, description="feature columns to use (default: all but the label)")
    real_per_class: int | None = Field(
        None, ge=2, description="keep only this many real rows per class (low-resource experiments)"
    )
    # rows whose label is empty: refuse them (error), leave them out (drop), or train the CVAE
    # on them too, semi-supervised (use; Kingma et al. 2014 M2). With `use`, the rows that
    # real_per_class leaves out join as unlabelled rows.
    unlabelled: Literal["error", "drop", "use"] = Field(
        "error", description="rows without a label: error, drop, or use them as unlabelled training rows"
    )


class ModelConfig(_Strict):
    """The CVAE's shape, prior and loss weights."""

    arch: Literal["auto", "mlp", "conv"] = "auto"  # auto: conv for images >= 16 px, else MLP
    latent_dim: int = Field(16, ge=1, le=512)
    hidden: list[int] = Field(default_factory=lambda: [256, 128])  # MLP widths, encoder order
    conv_channels: list[int] = Field(default_factory=lambda: [32, 64])
    prior: Literal["standard", "learned"] = "learned"  # learned: p(z|y) = N(mu_y, I)
    prior_spread: float = Field(3.0, ge=0.0)  # initial distance of class means from 0
    beta: float = Field(1.0, ge=0.0)
    # nats per latent unit below which KL is not penalised: keeps the latent in use, so
    # samples vary instead of collapsing to class averages (digits k=10: diversity 0.98 -> 1.20)
    free_bits: float = Field(0.5, ge=0.0)
    # auxiliary classifier loss on prior samples; 3 beat 1 and 0 on label following (docs/architecture.md)
    label_loss_weight: float = Field(3.0, ge=0.0)
    # weight of the classifier's cross-entropy on labelled rows; default 1, or 50 with
    # unlabelled rows: M2's classifier also learns from their ELBO, and at weight 1 that
    # swamped the labels (digits k=10: 39% accurate; at 50: 91%, as without unlabelled rows)
    classifier_weight: float | None = Field(None, ge=0.0)
    # unlabelled rows: M2's sum over labels runs over this many most likely classes
    unlabelled_classes: int = Field(3, ge=1)


class TrainConfig(_Strict):
    """Optimisation, early stopping and the training device."""

    epochs: int | None = Field(None, ge=1, description="default: enough epochs for target_steps")
    target_steps: int = Field(3000, ge=1)
    min_epochs: int = Field(10, ge=1)
    max_epochs: int = Field(2000, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    kl_warmup_fraction: float = Field(0.2, ge=0, le=1)  # of all steps; beta ramps 0 -> beta
    val_fraction: float = Field(0.1, ge=0, lt=0.5)
    patience: int | None = Field(None, ge=1, description="epochs without improvement; default epochs/5")
    classic_augment: bool = False  # random small affine views of real images per batch; off: blurrier samples at k=10
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default 1 (fastest on a loaded 2-core box)")
    checkpoint_every: int = Field(25, ge=1, description="epochs between resumable checkpoints (also shipped to MLflow)")
    reuse: bool = Field(True, description="reuse a finished training of the same data + config found in MLflow")


class SampleConfig(_Strict):
    """How many synthetic rows of which classes, and how they are drawn."""

    per_class: int | None = Field(None, ge=1)
    balance_to: int | None = Field(None, ge=1)
    classes: list[str] | None = None  # class names as text; default: every class
    # prior: z ~ p(z|y), new rows of the class (at 5-20 rows per class: close to class averages);
    # variations: z near the posterior of a real row of the class, taken round-robin, so each
    # synthetic row is a learned variation of one real row; interpolate: z between the
    # posteriors of two real rows of the class (latent mixup); warp (images): a real image of
    # the class bent by the smooth warp that takes its decoded picture to a prior sample, so
    # strokes stay sharp; pseudo_label: not generated rows but the run's unlabelled rows
    # (--unlabelled use), labelled by the quality stage's judge. BENCHMARKS.md compares them.
    mode: Literal["prior", "variations", "interpolate", "warp", "pseudo_label"] = "prior"
    # pseudo_label: a row is eligible for a class when the judge gives it that label with at
    # least this probability; rows are then drawn at random among the eligible ones
    pseudo_label_confidence: float = Field(0.9, gt=0, le=1)
    # scale of the latent noise: N(0, I) around the class mean (prior), or the row's
    # posterior sigma around its mean (variations, interpolate)
    temperature: float = Field(1.0, gt=0)
    batch_rows: int = Field(4096, ge=1)  # rows per generated batch and Parquet row group

    @model_validator(mode="after")
    def _one_count(self) -> "SampleConfig":
        if (self.per_class is None) == (self.balance_to is None):
            raise ConfigError(
                "say how many synthetic rows to make",
                "pass exactly one of --per-class N or --balance-to N",
            )
        return self


class QualityConfig(_Strict):
    """Per-row thresholds and the downstream check that decides promotion to `champion`."""

    realism_quantile: float = Field(0.05, ge=0, le=1)  # of the real rows' own leave-one-out realism
    copy_quantile: float = Field(0.01, ge=0, le=1)  # of real-to-real nearest-neighbour distances
    evaluate: bool = True  # hold out real rows and measure the downstream gain
    eval_fraction: float = Field(0.25, gt=0, lt=0.6)  # real rows per class the evaluation generator never sees
    seeds: int = Field(3, ge=1, le=20)  # downstream classifier seeds; the spread is the noise
    ratios: list[float] = Field(default_factory=lambda: [1.0, 3.0])  # synthetic rows per real row to try
    weights: list[float] = Field(default_factory=lambda: [0.5, 1.0])  # sample weight of a synthetic row
    classifier_steps: int = Field(300, ge=1)  # CNN steps of the downstream image classifier


class RunConfig(_Strict):
    """Everything one `augment run` needs."""

    data: DataSpec
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sample: SampleConfig
    quality: QualityConfig = Field(default_factory=QualityConfig)
    seed: int = 0
    out_dir: str | None = None
    model_name: str | None = None  # registry name; default: augment-<dataset>
    experiment: str = "augment"

    def flat_params(self) -> dict[str, Any]:
        """Dotted key -> value, for MLflow parameters."""
        out: dict[str, Any] = {"seed": self.seed}
        for section in ("data", "model", "train", "sample", "quality"):
            for key, value in getattr(self, section).model_dump().items():
                out[f"{section}.{key}"] = value
        return out


class SweepConfig(_Strict):
    """One augment job per data set, fanned out as separate flow runs onto the work pools."""

    datasets: list[DataSpec] = Field(min_length=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sample: SampleConfig
    quality: QualityConfig = Field(default_factory=QualityConfig)
    seed: int = 0
    out_root: str | None = Field(
        None, description="each data set writes to <out_root>/<name>; default: the worker's artifacts"
    )
    experiment: str = "augment"

    def jobs(self) -> list[RunConfig]:
        """The RunConfig of each data set, with its own output folder under out_root."""
        from pathlib import Path

        out: list[RunConfig] = []
        for spec in self.datasets:
            name = Path(spec.source).stem or spec.source
            out.append(
                RunConfig(
                    data=spec,
                    model=self.model,
                    train=self.train,
                    sample=self.sample,
                    quality=self.quality,
                    seed=self.seed,
                    experiment=self.experiment,
                    out_dir=str(Path(self.out_root) / name) if self.out_root else None,
                )
            )
        return out
