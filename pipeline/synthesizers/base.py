"""One interface for every generator: fit on a frame, sample rows per class, save, load.

    gen = CVAESynthesizer(seed=0).fit(frame, label="species")
    rows = gen.sample(per_class=200)              # or balance_to=N, classes=[...]
    gen.save("model/"); CVAESynthesizer.load("model/")

The base class owns what every generator shares, so it is written once: input validation,
the codec and class index, how many rows of which class, batching and seeding, putting the
rows back in the user's schema, and the safe saved format. A generator implements `_fit`
(encoded rows in), `_generate` (labels in, encoded rows out) and its own state to save.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Self

import pandas as pd
import torch

from pipeline import __version__
from pipeline.checks import choose_classes, one_count
from pipeline.data.codec import ClassIndex, Codec, Encoded, Written, codec_from_dict, fit_codec
from pipeline.data.sources import RealData, prepare_rows
from pipeline.errors import ConfigError, ModelLoadError
from pipeline.synthesizers import storage

if TYPE_CHECKING:
    from pipeline.config import RunConfig, TrainConfig

MAX_ROWS_PER_CALL = 10_000_000  # synthetic rows one run or sample() call may ask for
_DEFINED: dict[str, type["Synthesizer"]] = {}  # kind -> the first class defined with it (load's choice)


class Synthesizer(ABC):
    """A generator of labelled rows in the user's schema (see the module docstring)."""

    kind: ClassVar[str]  # the name in spec.json, the CLI and the report
    modalities: ClassVar[tuple[str, ...]] = ("table", "image")
    keeps_real_rows: ClassVar[bool] = False  # saved folders hold (encodings of) the user's rows
    finite: ClassVar[bool] = False  # draws from a fixed pool: asking again yields the same rows

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each class that names its own kind is known to load() from then on: the base class
        cannot import its subclasses (they import it), so they make themselves known."""
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _DEFINED.setdefault(cls.kind, cls)

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.label: str | None = None
        self.columns: list[str] = []  # the user's column order, label included
        self.features: list[str] = []
        self.codec: Codec | None = None
        self.classes: ClassIndex | None = None
        self.real_counts: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: RunConfig, train: TrainConfig | None = None, hooks: Any = None) -> Self:
        """Unfitted, as a run's config sets it (the run, the gate's fold generators, the advice):
        the run's seed here; a generator with settings of its own reads them in its override, so
        the run needs no code per kind. `train` replaces config.train (the gate's shorter folds);
        `hooks` are the training loop's (pipeline/train.py TrainHooks), for those that train."""
        return cls(seed=config.seed)

    # --- fitting --------------------------------------------------------------------------
    def fit(
        self,
        frame: pd.DataFrame,
        label: str,
        columns: list[str] | None = None,
        unlabelled: pd.DataFrame | None = None,
    ) -> Self:
        """Learn from the labelled rows of `frame` (and, where the generator uses them, rows
        without a label: `unlabelled`, or the rows of `frame` whose label is empty)."""
        self._fit(*self._prepare(frame, label, columns, unlabelled))
        return self

    @classmethod
    def fit_many(
        cls,
        generators: list[Self],
        frames: list[pd.DataFrame],
        label: str,
        unlabelled: pd.DataFrame | None = None,
        done: Callable[[int], None] | None = None,
    ) -> list[Self]:
        """Fit generators[i] on frames[i], one after another, each exactly as fit() would.
        `done(n)` is told as each n more are fit."""
        fitted = []
        for g, f in zip(generators, frames):
            fitted.append(g.fit(f, label=label, unlabelled=unlabelled))
            if done:
                done(1)
        return fitted

    def _prepare(
        self, frame: pd.DataFrame, label: str, columns: list[str] | None, unlabelled: pd.DataFrame | None
    ) -> tuple[Encoded, torch.Tensor, Encoded | None]:
        """Validate the rows, fit the codec and class index: (encoded rows, labels, unlabelled)."""
        real = prepare_rows(frame, label, columns, unlabelled="use", where="fit(frame)")
        pool = _join_unlabelled(real, unlabelled)
        self.check(real.modality, pool)
        self.label, self.features = real.label, real.features
        self.columns = [c for c in frame.columns if c in set(real.features) | {real.label}]
        both = real.frame[real.features] if pool is None else pd.concat([real.frame[real.features], pool])
        self.codec = fit_codec(both, real.image_column)
        self.classes = ClassIndex.fit(real.frame[real.label])
        self.real_counts = {str(k): int(v) for k, v in real.frame[real.label].astype(str).value_counts().items()}
        x = self.codec.encode(real.frame[real.features])
        self.unlabelled_rows = pool
        return x, self.classes.encode(real.frame[real.label]), None if pool is None else self.codec.encode(pool)

    @classmethod
    def check(cls, modality: str, unlabelled: pd.DataFrame | None) -> None:
        """Refuse data this generator cannot serve, before any training is spent on it."""
        if modality not in cls.modalities:
            raise ConfigError(
                f"the {cls.kind} generator makes {' or '.join(cls.modalities)} rows, and this data is a {modality}",
                "choose a generator for this kind of data (--generator)",
            )

    @abstractmethod
    def _fit(self, x: Encoded, y: torch.Tensor, unlabelled: Encoded | None) -> None: ...

    # --- sampling -------------------------------------------------------------------------
    def plan(
        self, per_class: int | None = None, balance_to: int | None = None, classes: list[str] | None = None
    ) -> dict[str, int]:
        """Rows to make per class name: N each, or enough to bring each class up to N."""
        self._require_fitted()
        return plan_counts(self.classes.names, self.real_counts, per_class, balance_to, classes)

    def sample(
        self,
        per_class: int | None = None,
        balance_to: int | None = None,
        classes: list[str] | None = None,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """New rows in the user's schema (label column included), class by class."""
        counts = self.plan(per_class, balance_to, classes)
        frames = list(self.sample_frames(counts, self.seed if seed is None else seed))
        return pd.concat(frames, ignore_index=True) if frames else self._empty()

    def sample_frames(self, counts: dict[str, int], seed: int, batch_rows: int = 4096) -> Iterator[pd.DataFrame]:
        """The rows of `counts` as a stream of frames of at most batch_rows rows."""
        for frame, _ in self.sample_written(counts, seed, batch_rows):
            yield frame

    def sample_written(self, counts: dict[str, int], seed: int, batch_rows: int = 4096) -> Iterator[Written]:
        """sample_frames(), each frame with its features encoded as the codec reads them back
        from what is written, where the generator has that at no cost (images), else None."""
        self._require_fitted()
        gen = torch.Generator().manual_seed(seed)
        parts = [torch.full((n,), self.classes.index_of(c), dtype=torch.long) for c, n in counts.items() if n > 0]
        labels = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
        for start in range(0, len(labels), batch_rows):
            y = labels[start : start + batch_rows]
            frame, encoded = self._generate_written(y, gen)
            frame[self.label] = self.classes.decode(y.numpy()).array
            yield frame[self.columns], encoded

    @abstractmethod
    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:
        """Feature columns, in the user's schema, of one new row per label in y."""

    def _generate_written(self, y: torch.Tensor, gen: torch.Generator) -> Written:
        """_generate(), with the encoding of what is written where it comes at no cost."""
        return self._generate(y, gen), None

    def _empty(self) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns})

    def _require_fitted(self) -> None:
        if self.codec is None:
            raise ConfigError(f"this {self.kind} generator is not fitted", "call fit(frame, label=...) first")

    # --- saving ---------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the safe format (pipeline/synthesizers/storage.py); replaces the folder whole."""
        self._require_fitted()
        spec = {
            "kind": self.kind,
            "seed": self.seed,
            "label": self.label,
            "columns": self.columns,
            "features": self.features,
            "codec": self.codec.to_dict(),
            "classes": {"values": self.classes.values, "dtype": self.classes.dtype},
            "real_counts": self.real_counts,
            "keeps_real_rows": self.keeps_real_rows,
            "versions": {"augment": __version__, "torch": torch.__version__.split("+")[0]},
            "state": self._state_spec(),
        }
        return storage.save_folder(folder, spec, self._state_tensors(), self._state_tables())

    @classmethod
    def load(cls, folder: str | Path, expected_digest: str | None = None) -> "Synthesizer":
        """A verified saved generator; the kind in spec.json picks the class among the kinds
        defined so far (pipeline/synthesizers/registry.py imports every shipped one; its
        load_synthesizer is this with all of them known)."""
        spec, tensors, tables = storage.load_folder(folder, expected_digest)
        kind = _DEFINED.get(spec.get("kind"))
        if kind is None or (cls is not Synthesizer and not issubclass(kind, cls)):
            raise ModelLoadError(
                f"{str(folder)!r} holds a {spec.get('kind')!r} model", f"load it with {kind or 'augment'}"
            )
        obj = kind(seed=spec["seed"])
        obj.label, obj.columns, obj.features = spec["label"], spec["columns"], spec["features"]
        obj.codec = codec_from_dict(spec["codec"])
        obj.classes = ClassIndex(spec["classes"]["values"], spec["classes"]["dtype"])
        obj.real_counts = spec["real_counts"]
        obj._restore(spec["state"], tensors, tables)
        return obj

    def _state_spec(self) -> dict[str, Any]:
        return {}

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def _state_tables(self) -> dict[str, pd.DataFrame]:
        return {}

    @abstractmethod
    def _restore(
        self, state: dict[str, Any], tensors: dict[str, torch.Tensor], tables: dict[str, pd.DataFrame]
    ) -> None: ...


def _join_unlabelled(real: RealData, unlabelled: pd.DataFrame | None) -> pd.DataFrame | None:
    """Rows without a label: those of the frame and those passed apart, feature columns only."""
    parts = [p for p in (real.unlabelled, unlabelled) if p is not None and len(p)]
    if not parts:
        return None
    missing = [c for c in real.features if c not in parts[-1].columns]
    if missing:
        raise ConfigError(f"the unlabelled rows lack the feature columns {missing}", "pass rows with the same columns")
    return pd.concat([p[real.features] for p in parts], ignore_index=True)


def plan_counts(
    names: list[str],
    real_counts: dict[str, int],
    per_class: int | None,
    balance_to: int | None,
    classes: list[str] | None = None,
) -> dict[str, int]:
    """Rows to make per class: N each, or up to N (only the classes below N). Checked before
    any training, so a request that cannot be met fails in a second."""
    one_count(per_class, balance_to)
    chosen = choose_classes(classes, names)
    if per_class is not None:
        counts = {c: int(per_class) for c in chosen}
    else:
        counts = {c: int(balance_to) - real_counts.get(c, 0) for c in chosen if real_counts.get(c, 0) < balance_to}
        if not counts:
            biggest = max(real_counts.get(c, 0) for c in chosen)
            raise ConfigError(
                f"--balance-to {balance_to} asks for nothing: every chosen class already has {balance_to} rows or more",
                f"pass a number above {biggest}, or --per-class N",
            )
    if sum(counts.values()) > MAX_ROWS_PER_CALL:
        raise ConfigError(
            f"{sum(counts.values()):,} synthetic rows asked for; at most {MAX_ROWS_PER_CALL:,} in one run",
            "ask for fewer rows per class",
        )
    return counts
