"""Typed settings for every stage, grouped the way the data flows.

One pydantic model per stage keeps constructors short and gives the CLI, the Prefect
deployment form and the MLflow parameter log the same source of truth.
"""

from __future__ import annotations

import posixpath
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pipeline import catalog
from pipeline.checks import one_count
from pipeline.errors import ConfigError

MAX_STEPS = 10_000_000  # bounds that keep a typo (1e12) from meaning "train for ever"
MAX_EPOCHS = 100_000
MAX_MODEL_NAME = 256  # the registry's column width (MLflow's SQL store)
MAX_EXPERIMENT_NAME = 500  # MLflow's limit
Width = Annotated[int, Field(ge=1, le=65_536)]  # one layer's units or channels


def _numeric(annotation: Any) -> bool:
    """Whether a field takes an int or a float (alone or with None)."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(a in (int, float) for a in get_args(annotation))
    return False


class _Strict(BaseModel):
    # inf and nan pass `gt=0`-style bounds and fail later as "missing values"; refuse them here
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """JSON `true` for a count would be read as 1 without a word."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError(f"a number is needed, not the boolean {str(value).lower()}")
        return value


class DataSpec(_Strict):
    """Where the real rows come from and which column is the label."""

    source: str = Field(
        description="Parquet file or folder, image folder, or a built-in name "
        "(digits, mnist, iris, wine, breast_cancer, penguins)"
    )
    label: str | None = Field(None, description="label column; built-in sets know theirs")
    columns: list[str] | None = Field(None, description="feature columns to use (default: all but the label)")
    real_per_class: int | None = Field(
        None, ge=2, description="keep only this many real rows per class (low-resource experiments)"
    )
    # rows whose label is empty: refuse them (error), leave them out (drop), or keep them for the
    # pseudo_label generator, which labels them (use). With `use`, the rows that
    # real_per_class leaves out join as unlabelled rows.
    # an image struct with a path but no bytes: read the file (only under the data's own folder)
    image_paths: bool = Field(False, description="read images that have only a path, from under the data's folder")
    unlabelled: Literal["error", "drop", "use"] = Field(
        "error", description="rows without a label: error, drop, or use them (generator pseudo_label labels them)"
    )


class ModelConfig(_Strict):
    """The CVAE's shape, prior and loss weights."""

    arch: Literal["auto", "mlp", "conv"] = "auto"  # auto: conv for images >= 16 px, else MLP
    latent_dim: int = Field(16, ge=1, le=512)
    hidden: list[Width] = Field(default_factory=lambda: [256, 128], min_length=1, max_length=16)  # MLP widths
    conv_channels: list[Width] = Field(default_factory=lambda: [32, 64], min_length=2, max_length=2)  # two convs
    prior: Literal["standard", "learned"] = "learned"  # learned: p(z|y) = N(mu_y, I)
    prior_spread: float = Field(3.0, ge=0.0, le=100.0)  # initial distance of class means from 0
    beta: float = Field(1.0, ge=0.0, le=1000.0)
    # nats per latent unit below which KL is not penalised. None (auto): 0.5 for images, where it
    # keeps the latent in use so samples vary instead of collapsing to class averages (digits
    # k=10: diversity 0.98 -> 1.20); 0 for tables, where plain KL measured better with trees
    # (benchmarks/ablation.py `kl-plain`; docs/architecture.md)
    free_bits: float | None = Field(None, ge=0.0, le=100.0)
    # auxiliary classifier loss on prior samples. None (auto): 3 for images, where it beat 1 and 0 on
    # label following; 0 for tables, where it cost rare-class recall (benchmarks/ablation.py; docs/architecture.md)
    label_loss_weight: float | None = Field(None, ge=0.0, le=1000.0)

    def label_weight_for(self, modality: str) -> float:
        """The label loss weight in force for this kind of data (resolves None)."""
        if self.label_loss_weight is not None:
            return self.label_loss_weight
        return 3.0 if modality == "image" else 0.0

    def free_bits_for(self, modality: str) -> float:
        """The free bits in force for this kind of data (resolves None)."""
        if self.free_bits is not None:
            return self.free_bits
        return 0.5 if modality == "image" else 0.0


class TrainConfig(_Strict):
    """Optimisation, early stopping and the training device."""

    epochs: int | None = Field(None, ge=1, le=100_000, description="default: enough epochs for target_steps")
    target_steps: int = Field(3000, ge=1, le=MAX_STEPS)
    min_epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    max_epochs: int = Field(2000, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1, le=1_000_000)
    lr: float = Field(1e-3, gt=0, le=10.0)
    weight_decay: float = Field(0.0, ge=0, le=10.0)
    # share of all steps over which beta ramps 0 -> beta. None (auto): 0.2 for images, 0 for tables
    # (with free bits: benchmarks/ablation.py `kl-plain`)
    kl_warmup_fraction: float | None = Field(None, ge=0, le=1)
    val_fraction: float = Field(0.1, ge=0, lt=0.5)
    patience: int | None = Field(None, ge=1, le=MAX_EPOCHS, description="epochs without improvement; default epochs/5")
    classic_augment: bool = False  # random small affine views of real images per batch; off: blurrier samples at k=10
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # bfloat16 autocast for the training loss (weights and optimiser stay float32); meant for
    # GPUs, where it is not yet measured (BENCHMARKS.md "GPU")
    mixed_precision: bool = False
    threads: int | None = Field(None, ge=1, le=1024, description="torch CPU threads; default 1 ($AUGMENT_THREADS)")
    checkpoint_every: int | None = Field(
        None,
        ge=1,
        le=MAX_EPOCHS,
        description="epochs between resumable checkpoints (also shipped to MLflow); default: about every 1000 steps",
    )
    reuse: bool = Field(True, description="reuse a finished training of the same data + config found in MLflow")

    def kl_warmup_for(self, modality: str) -> float:
        """The KL warm-up share in force for this kind of data (resolves None)."""
        if self.kl_warmup_fraction is not None:
            return self.kl_warmup_fraction
        return 0.2 if modality == "image" else 0.0


class SampleConfig(_Strict):
    """How many synthetic rows of which classes, and how they are drawn."""

    per_class: int | None = Field(None, ge=1)
    balance_to: int | None = Field(None, ge=1)
    classes: list[str] | None = None  # class names as text; default: every class
    # CVAE only. prior: z ~ p(z|y). transfer: z near the posterior of a real row of any class,
    # decoded under the asked label, so variation learned from plentiful classes is drawn in
    # rare ones (pipeline/synthesizers/cvae.py)
    strategy: Literal["prior", "transfer"] = "prior"
    # CVAE, tables: draw numbers from p(x|z,y) (mean + learned sigma * noise), not the mean
    output_noise: bool = True
    temperature: float = Field(1.0, gt=0, le=100.0)  # scale of the latent noise
    # generator pseudo_label: a row is eligible for a class when the label scorer gives it that label
    # with at least this probability; rows are then drawn at random among the eligible ones
    pseudo_label_confidence: float = Field(0.9, gt=0, le=1)
    # rows are generated, scored and kept until each class has its count of accepted rows, in
    # at most this many rounds (each sized by the acceptance rate so far)
    max_rounds: int = Field(5, ge=1, le=50)
    batch_rows: int = Field(4096, ge=1, le=1_000_000)  # rows per generated batch and Parquet row group

    @model_validator(mode="after")
    def _one_count(self) -> "SampleConfig":
        one_count(self.per_class, self.balance_to)
        return self


class QualityConfig(_Strict):
    """Per-row thresholds, which rows ship, and the gate that decides promotion to `champion`."""

    realism_quantile: float = Field(0.05, ge=0, le=1)  # of the real rows' own leave-one-out realism
    copy_quantile: float = Field(0.01, ge=0, le=1)  # of real-to-real nearest-neighbour distances
    # which scored rows ship in augmented.parquet: quality (follows its label, realistic, not a
    # near-copy), label (follows its label, not a near-copy), all (not a near-copy). auto: all
    # for tables, quality for images (benchmarks/imbalance.py: on tables the label check cost
    # 1.6 points of rare recall against all, never gaining in 24 paired runs; on digits quality
    # was +1.7 CNN rare recall, one setting)
    accept: Literal["auto", "quality", "label", "all"] = "auto"
    evaluate: bool = True  # run the gate (cross-fitted downstream gain); off: never promoted
    folds: int = Field(5, ge=2, le=10)  # cross-fitting folds over the real rows
    repeats: int = Field(2, ge=1, le=10)  # fold assignments, each with its own seed
    # the statistic that decides promotion to `champion` (pipeline/quality/promotion.py): the
    # class-weighted Brier score or log-loss gain on out-of-fold probabilities, or macro-F1 of
    # hard predictions under the 0.5 rule (margin below); chosen in BENCHMARKS.md "Promotion"
    promotion: Literal["brier", "log_loss", "macro_f1"] = "brier"
    promotion_margin: float = Field(
        0.0, ge=-100.0, le=100.0
    )  # points of the promotion statistic the lower bound must be above
    # one-sided level of that lower bound: the highest level at which the pooled calibration
    # (benchmarks/gate_calibration.py, BENCHMARKS.md "Promotion") promoted at least half of the
    # runs whose rows truly help; it promoted 5 % of those whose rows truly hurt
    promotion_confidence: float = Field(0.875, gt=0.5, lt=1)
    margin: float = Field(
        0.5, ge=0, le=100.0
    )  # promotion = macro_f1: points of macro-F1 the rows may cost and still be promoted
    # a class of few rows gets more repeats of the folds: every class's rows are scored at least
    # this often in all (repeats_for in pipeline/quality/crossfit.py; at most 10 repeats)
    class_scores: int = Field(20, ge=0, le=10_000)
    confidence: float = Field(0.95, gt=0.5, lt=1)  # one-sided level of the gains' bounds (menu, intervals)
    # training steps of each fold's generator (at most train.target_steps). None (auto): tables
    # as many as the shipped generator, as cross-fitting refits the same procedure; images 1000
    # (an image gate's fold generators are most of its time; BENCHMARKS.md "Version 0.8: the level")
    fold_steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    # measure the whole menu (class weights, oversampling, SMOTE / affine views, ...) on the same
    # folds; off: only the real rows alone and the run's own rows
    baselines: bool = True
    # the user's downstream classifier, which the gate trains on every option: logistic,
    # forest, boosting (scikit-learn) or cnn (images); auto: logistic for tables, cnn for images
    judge: Literal["auto", "logistic", "forest", "boosting", "cnn"] = "auto"
    classifier_steps: int = Field(300, ge=1, le=1_000_000)  # CNN steps of the downstream image classifier
    # real rows the gate cross-fits on at most: past it, a stratified sample (a class below its
    # fair share keeps every row), said in the report. Past about 20,000 rows a table's fold
    # generators train for more steps than the shipped one's 3,000 (ten epochs at least), and
    # the gate's time grows with the rows (benchmarks/results/cost_curves.md); None: every row
    gate_rows: int | None = Field(20_000, ge=100, le=100_000_000)
    # processes the gate's independent fits (fold generators, judges) spread over; None: the
    # cores this process may use. The numbers do not depend on it (pipeline/quality/parallel.py).
    # With $AUGMENT_DASK_ADDRESS set the fits go to that Dask cluster, whose workers decide
    # how many run at once
    workers: int | None = Field(None, ge=1, le=1024)

    def fold_steps_for(self, modality: str, target_steps: int) -> int:
        """Training steps of each fold's generator for this kind of data (resolves None)."""
        steps = self.fold_steps if self.fold_steps is not None else (1000 if modality == "image" else target_steps)
        return min(steps, target_steps)

    def accept_rule(self, modality: str) -> str:
        """The accept rule in force for this kind of data (resolves auto)."""
        if self.accept != "auto":
            return self.accept
        return "all" if modality == "table" else "quality"

    def judge_for(self, modality: str) -> str:
        """The judge in force for this kind of data (resolves auto)."""
        if self.judge != "auto":
            return self.judge
        return "logistic" if modality == "table" else "cnn"


class RunConfig(_Strict):
    """Everything one `augment run` needs."""

    data: DataSpec
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sample: SampleConfig
    quality: QualityConfig = Field(default_factory=QualityConfig)
    # what makes the rows; auto: train the CVAE as always (synthetic.parquet holds its rows), then
    # ship the training set the gate recommends in augmented.parquet (the CVAE's rows, a cheap
    # baseline's, class weights, or the real rows alone); without the gate (quality.evaluate
    # false) the option of menu.UNMEASURED: class weights for tables, affine views for images. The
    # choices are the generators registered in pipeline/catalog.py, and auto
    generator: str = Field("auto", json_schema_extra=lambda schema: schema.update(enum=catalog.generator_choices()))
    seed: int = Field(0, ge=0, lt=2**32)
    out_dir: str | None = None
    model_name: str | None = None  # registry name; default: augment-<dataset>
    experiment: str = "augment"

    @field_validator("generator", mode="before")
    @classmethod
    def _registered_generator(cls, value: Any) -> Any:
        """One of the registered generators or auto, refused as a Literal field would be (the CLI's
        error names the flag and lists the choices: pipeline/checks.py invalid_setting)."""
        choices = catalog.generator_choices()
        if not isinstance(value, str) or value not in choices:
            expected = ", ".join(map(repr, choices[:-1])) + f" or {choices[-1]!r}"
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value

    @model_validator(mode="after")
    def _names(self) -> "RunConfig":
        if self.model_name is not None:
            check_model_name(self.model_name)
        check_experiment_name(self.experiment)
        return self

    def flat_params(self) -> dict[str, Any]:
        """Dotted key -> value, for MLflow parameters."""
        out: dict[str, Any] = {"seed": self.seed, "generator": self.generator}
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
    seed: int = Field(0, ge=0, lt=2**32)
    out_root: str | None = Field(
        None, description="each data set writes to <out_root>/<name>; default: the worker's artifacts"
    )
    experiment: str = "augment"

    @model_validator(mode="after")
    def _names(self) -> "SweepConfig":
        check_experiment_name(self.experiment)
        return self

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


def parse_model_uri(uri: str) -> tuple[str, str]:
    """models:/<name>@<alias> or models:/<name>/<version> -> (name, alias or version)."""
    from pipeline.errors import ModelLoadError

    body = uri.removeprefix("models:/")
    name, _, ref = body.partition("@") if "@" in body else body.rpartition("/")
    if not uri.startswith("models:/") or not name or not ref or "/" in name:
        raise ModelLoadError(f"{uri!r} is not a model URI", "use models:/<name>@<alias> or models:/<name>/<version>")
    return name, ref


def check_model_name(name: str) -> None:
    """A registry name MLflow accepts and `augment generate` can address as models:/<name>@<alias>:
    MLflow refuses '/' and ':' (after training, so the run was lost), and '@' splits the URI."""
    from pipeline.errors import cut

    shown = cut(name, 80)
    fix = "pass --model-name with letters, digits, '-', '_' and '.', e.g. augment-penguins"
    if not name.strip():
        raise ConfigError("the model name is empty", fix)
    if name != name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ConfigError(f"model name {shown!r} starts or ends with spaces or holds control characters", fix)
    bad = sorted({c for c in name if c in "/:@"})
    if bad:
        raise ConfigError(
            f"model name {shown!r} holds {', '.join(map(repr, bad))}: MLflow refuses '/' and ':' in names, and "
            "models:/<name>@<alias> cannot address a name with '@'",
            fix,
        )
    if posixpath.normpath(name) != name or name.startswith(".."):
        raise ConfigError(
            f"model name {shown!r} reads as a path ({posixpath.normpath(name)!r}); MLflow refuses it", fix
        )
    if len(name) > MAX_MODEL_NAME:
        raise ConfigError(f"model name {shown!r} is {len(name)} characters; the registry keeps {MAX_MODEL_NAME}", fix)


def check_experiment_name(name: str) -> None:
    """An MLflow experiment name: not empty, at most 500 characters, one line."""
    from pipeline.errors import cut

    fix = 'set "experiment" in the config file to a short name, e.g. "augment"'
    if not name.strip():
        raise ConfigError("the experiment name is empty", fix)
    if len(name) > MAX_EXPERIMENT_NAME:
        raise ConfigError(f"the experiment name is {len(name)} characters; MLflow keeps {MAX_EXPERIMENT_NAME}", fix)
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ConfigError(f"the experiment name {cut(name, 80)!r} holds control characters", fix)
