"""Peers on tables: this product against SMOTE and SDV's synthesizers, usefulness and speed.

For each table, k (real rows per class) and data seed: k rows per class are the training
rows, every other row of the built-in set is the fixed test set (no generator sees it).
Every generating method is asked for the same number of synthetic rows per class (--ratio
per real row), added to the k real rows:

- `real`: the k real rows per class only;
- `smote`: imbalanced-learn SMOTE on the standardised numbers (SMOTE-NC when there are
  categorical columns), asked for k + n synthetic rows per class;
- `gaussian_copula`, `ctgan`, `tvae`: SDV single-table synthesizers fit on the k rows per
  class with the label as a categorical column, then sampled per class with a condition on
  the label (reject sampling when SDV cannot meet the condition; the JSON says where);
- `product`: what the product ships: CVAESynthesizer (default settings; --train-arg sets
  ModelConfig or TrainConfig fields) fit on the k rows, its rows generated, scored and kept
  by pipeline.deliver as a run does, with the default QualityConfig (accept rule `auto`,
  for tables `all`: only near-copies of real rows are dropped, and a short class gets more
  rounds). It may add fewer rows than asked for: accepted / generated is in the JSON.

Downstream: logistic regression and a random forest (200 trees) trained on real +
synthetic rows, all methods through one encoding (the product's table codec fitted on the
whole table's feature columns: standardised numbers, missing numbers at the mean plus a
missing flag, one-hot categories with a missing level), evaluated on the test rows:
accuracy and macro-F1, mean ± std over data seeds and the mean of the per-seed differences
to real-only. Timing: fit and sample seconds of each generating method, and its
(fit + sample) over the product's in the same split. The product's fit is
CVAESynthesizer.fit and its sample the generation of the asked rows, as SDV's fit and
sample; fitting the label scorer and delivering (the same rows drawn again, scored, short
classes topped up) is `score_s` in the JSON, outside fit + sample. A per-table table gives
the median product and TVAE fit + sample over the table's splits and TVAE / product.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers.py                      # all tables and methods
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers.py --datasets penguins --k 10 \
        --methods real smote ctgan --gan-epochs 100

SDV and imbalanced-learn come with `pip install -e '.[bench]'`. Tiny settings:

    .venv/bin/python benchmarks/peers.py --datasets iris --k 4 --seeds 1 --methods real smote product \
        --train-arg target_steps=20 --json /tmp/p.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import math
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TQDM_DISABLE", "1")  # SDV draws a progress bar on every sampling call

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._results import machine, pairs, publish, settings  # noqa: E402
from benchmarks._splits import LowResourceSplit  # noqa: E402
from pipeline.config import QualityConfig  # noqa: E402
from pipeline.data.codec import ClassIndex, Codec  # noqa: E402
from pipeline.deliver import Delivery, accepted_rows, deliver  # noqa: E402
from pipeline.quality.fidelity import LabelScorer, SampleScorer  # noqa: E402
from pipeline.runtime import configure_threads, seed_everything  # noqa: E402
from pipeline.synthesizers.cvae import CVAESynthesizer  # noqa: E402

TABLES = ["iris", "wine", "breast_cancer", "penguins"]
METHODS = ["real", "smote", "gaussian_copula", "ctgan", "tvae", "product"]
SDV_METHODS = {"gaussian_copula": "GaussianCopulaSynthesizer", "ctgan": "CTGANSynthesizer", "tvae": "TVAESynthesizer"}
NEEDS = {"smote": "imblearn", **{m: "sdv" for m in SDV_METHODS}}  # method -> module it imports
CLASSIFIERS = ["logreg", "forest"]
METRICS = {"acc": "accuracy", "f1": "macro-F1"}
MISSING_LEVEL = "__missing__"  # a missing category, as SDV sees it (_sdv_frame)
REJECT_ROUNDS = 20  # unconditional SDV batches tried per class when conditional sampling falls short
ALL_ROWS = 10**9  # LowResourceSplit's test_rows: every row outside the training rows is a test row


@dataclass
class Split:
    """One data set, k and data seed: the training rows, the test rows and the shared encoding."""

    dataset: str
    k: int
    seed: int
    label: str
    features: list[str]
    codec: Codec
    classes: ClassIndex
    train: pd.DataFrame  # k real rows per class, user's schema
    x: torch.Tensor  # encoded training rows
    y: torch.Tensor
    test_x: np.ndarray
    test_y: np.ndarray
    want: dict[str, int]  # synthetic rows asked for per class name


@dataclass
class Synthetic:
    """What a generating method added: encoded rows, timings and how it got them."""

    x: torch.Tensor
    y: torch.Tensor
    fit_s: float
    sample_s: float
    generated: int  # rows drawn from the generator (more than len(x) when rows were filtered out)
    notes: dict[str, Any] = field(default_factory=dict)


def make_split(dataset: str, k: int, seed: int, ratio: float) -> Split:
    low = LowResourceSplit.make(dataset, k, seed, test_rows=ALL_ROWS)
    full = low.full
    if full.image_column is not None:
        raise SystemExit(f"{dataset} is an image set; this benchmark compares table generators")
    n_syn = int(round(ratio * k))
    return Split(
        dataset,
        k,
        seed,
        full.label,
        full.features,
        low.codec,
        low.classes,
        low.train[[*full.features, full.label]],
        low.x(low.train),
        low.y(low.train),
        low.x(low.test).numpy(),
        low.y(low.test).numpy(),
        {name: n_syn for name in low.classes.names},
    )


def _encode(split: Split, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    if not len(frame):
        return torch.zeros(0, split.codec.width), torch.zeros(0, dtype=torch.long)
    return split.codec.encode(frame[split.features]).x, split.classes.encode(frame[split.label])


def _label_value(split: Split, name: str) -> Any:
    return split.classes.values[split.classes.index_of(name)]


# --- methods --------------------------------------------------------------------------------


def run_smote(split: Split, seed: int) -> Synthetic:
    from imblearn.over_sampling import SMOTE, SMOTENC

    numeric = [c for c in split.codec.columns if c.kind in ("numeric", "integer")]
    categorical = [c for c in split.codec.columns if c.kind not in ("numeric", "integer")]
    t0 = time.perf_counter()
    frame = split.train[split.features]
    # SMOTE's neighbour search is on standardised numbers (the codec's scales), and it takes
    # no missing values: a missing number becomes the median of the training rows' column and
    # a missing category their most frequent level, so SMOTE rows have no missing values
    table = pd.DataFrame(index=frame.index)
    for col in numeric:
        z = (frame[col.name].to_numpy(dtype=np.float64, na_value=np.nan) - col.mean) / col.std
        table[col.name] = np.where(np.isnan(z), np.nanmedian(z), z)
    for col in categorical:
        values = frame[col.name].astype(object)
        table[col.name] = values.where(values.notna(), values.mode(dropna=True).iloc[0])
    y = split.train[split.label].astype(object).to_numpy()
    counts = pd.Series(y).value_counts()
    strategy = {_label_value(split, name): int(counts[_label_value(split, name)]) + n for name, n in split.want.items()}
    neighbours = min(5, int(counts.min()) - 1)
    if categorical:
        sampler = SMOTENC(
            [c.name for c in categorical], sampling_strategy=strategy, k_neighbors=neighbours, random_state=seed
        )
    else:
        sampler = SMOTE(sampling_strategy=strategy, k_neighbors=neighbours, random_state=seed)
    res_x, res_y = sampler.fit_resample(table, y)
    fit_s = time.perf_counter() - t0  # SMOTE fits and samples in one call: all of it counts as fit
    new_x, new_y = res_x.iloc[len(table) :], np.asarray(res_y)[len(table) :]  # imblearn appends the new rows
    out = pd.DataFrame(index=range(len(new_x)))
    for col in numeric:
        values = new_x[col.name].to_numpy(dtype=np.float64) * col.std + col.mean
        out[col.name] = np.round(values) if col.kind == "integer" else values
    for col in categorical:
        out[col.name] = new_x[col.name].to_numpy()
    out[split.label] = new_y
    sx, sy = _encode(split, out)
    return Synthetic(
        sx, sy, fit_s, 0.0, len(out), {"k_neighbors": neighbours, "variant": "SMOTENC" if categorical else "SMOTE"}
    )


def _sdv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Non-numeric columns as plain objects, a missing category as its own level.

    Works around two RDT failures on pandas 3: pandas categoricals whose unused levels are
    absent from the rows (KeyError), and missing values in a categorical column (NaN
    frequency: "Range exceeds valid bounds"). The level becomes missing again after sampling
    (`_from_sdv`), as the product's codec treats a missing category as one more level."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
            out[column] = out[column].astype(object).where(out[column].notna(), MISSING_LEVEL)
    return out


def _from_sdv(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.mask(frame.eq(MISSING_LEVEL), None)


def _reject_sample(synth: Any, label: str, value: Any, need: int) -> tuple[pd.DataFrame, int]:
    """Unconditional batches, keeping rows of the class: (rows, rows drawn)."""
    kept, drawn = [], 0
    for _ in range(REJECT_ROUNDS):
        batch = synth.sample(num_rows=max(100, 10 * need))
        drawn += len(batch)
        hits = batch[batch[label] == value]
        kept.append(hits)
        if sum(len(h) for h in kept) >= need:
            break
    return pd.concat(kept).head(need), drawn


def run_sdv(method: str, split: Split, seed: int, epochs: int) -> Synthetic:
    import sdv.single_table
    from sdv.metadata import Metadata
    from sdv.sampling import Condition

    data = _sdv_frame(split.train)
    metadata = Metadata.detect_from_dataframe(data, infer_keys=None)
    # sdtypes from the codec rather than SDV's guesses; the label is categorical
    sdtypes = {c.name: "numerical" if c.kind in ("numeric", "integer") else "categorical" for c in split.codec.columns}
    metadata.update_columns_metadata(
        {name: {"sdtype": t} for name, t in {**sdtypes, split.label: "categorical"}.items()}
    )
    kwargs: dict[str, Any] = {}
    if method in ("ctgan", "tvae"):
        # one batch a step covering the rows (CTGAN: a multiple of its pac of 10): SDV's default
        # of 500 would draw 500 rows with replacement from 15 on every step
        kwargs = {"epochs": epochs, "batch_size": max(10, math.ceil(len(data) / 10) * 10)}
    synth = getattr(sdv.single_table, SDV_METHODS[method])(metadata, **kwargs)
    seed_everything(seed)  # CTGAN/TVAE train from the global numpy and torch generators
    t0 = time.perf_counter()
    synth.fit(data)
    fit_s = time.perf_counter() - t0
    if hasattr(synth, "_set_random_state"):  # SDV samples from a fixed seed unless told another
        synth._set_random_state(seed)
    frames, routes, generated = [], {}, 0
    t0 = time.perf_counter()
    for name, need in split.want.items():
        value = _label_value(split, name)
        route: dict[str, Any] = {}
        try:
            got = synth.sample_from_conditions([Condition(num_rows=need, column_values={split.label: value})])
            got = got[got[split.label] == value].head(need)
        except Exception as exc:  # SDV raises ValueError when it cannot produce a row for the condition
            got, route["error"] = data.head(0), f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        route["conditional"] = len(got)
        generated += len(got)
        if len(got) < need:
            extra, drawn = _reject_sample(synth, split.label, value, need - len(got))
            route |= {"reject": len(extra), "reject_drawn": drawn}
            generated += drawn
            got = pd.concat([got, extra])
        if len(got) < need:
            route["short"] = need - len(got)
        routes[name] = route
        frames.append(got)
    sample_s = time.perf_counter() - t0
    sx, sy = _encode(split, _from_sdv(pd.concat(frames, ignore_index=True)))
    fallbacks = {n: r for n, r in routes.items() if set(r) != {"conditional"}}
    return Synthetic(sx, sy, fit_s, sample_s, generated, {"fallbacks": fallbacks} if fallbacks else {})


def run_product(split: Split, seed: int, options: dict[str, Any], quality: QualityConfig) -> Synthetic:
    """Fit, generate the asked rows (timed as fit and sample), then deliver as a run does."""
    t0 = time.perf_counter()
    gen = CVAESynthesizer(seed=seed, **options).fit(split.train, label=split.label)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    drawn = sum(len(f) for f in gen.sample_frames(split.want, seed + 1))
    sample_s = time.perf_counter() - t0
    # as pipeline/job.py's synthesize_rows: the label scorer on the generator's encoding of the real
    # rows; deliver draws the same rows (same seed), scores them and tops up short classes
    t0 = time.perf_counter()
    real_x, real_y = gen.codec.encode(split.train[split.features]).x, gen.classes.encode(split.train[split.label])
    label_scorer = LabelScorer.fit(real_x, real_y, gen.classes.names, seed=seed)
    accept = quality.accept_rule(gen.codec.modality)
    scorer = SampleScorer(label_scorer, real_x, real_y, quality.realism_quantile, quality.copy_quantile, accept)
    delivery = Delivery(dict(split.want))
    frames = deliver(gen, split.want, scorer, seed + 1, delivery=delivery)
    sx, sy = accepted_rows(frames, split.codec, split.classes, split.features, split.label)
    notes = {"score_s": time.perf_counter() - t0, "sampled": drawn, "accepted": len(sx), "accept_rule": accept}
    notes |= {"rounds": delivery.rounds} | ({"short": delivery.short()} if delivery.short() else {})
    return Synthetic(sx, sy, fit_s, sample_s, sum(delivery.generated.values()), notes)


# --- downstream -----------------------------------------------------------------------------


def downstream(split: Split, syn: Synthetic | None, seed: int) -> dict[str, float]:
    x, y = split.x.numpy(), split.y.numpy()
    if syn is not None and len(syn.x):
        x, y = np.concatenate([x, syn.x.numpy()]), np.concatenate([y, syn.y.numpy()])
    models: dict[str, Any] = {
        "logreg": LogisticRegression(max_iter=5000),
        "forest": RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
    }
    out = {}
    for name, model in models.items():
        pred = model.fit(x, y).predict(split.test_x)
        out[f"{name}_acc"] = float(accuracy_score(split.test_y, pred))
        out[f"{name}_f1"] = float(
            f1_score(split.test_y, pred, labels=list(range(len(split.classes))), average="macro", zero_division=0)
        )
    return out


def run_split(
    split: Split, methods: list[str], args: argparse.Namespace, options: dict[str, Any], quality: QualityConfig
) -> list[dict]:
    seed = split.seed
    runners: dict[str, Callable[[], Synthetic]] = {
        "smote": lambda: run_smote(split, seed),
        **{m: (lambda m=m: run_sdv(m, split, seed, args.gan_epochs)) for m in SDV_METHODS},
        "product": lambda: run_product(split, seed, options, quality),
    }
    rows = []
    for method in methods:
        row: dict[str, Any] = {
            "dataset": split.dataset,
            "k": split.k,
            "seed": seed,
            "method": method,
            "real_rows": len(split.x),
            "test_rows": len(split.test_y),
        }
        try:
            syn = None if method == "real" else runners[method]()
        except Exception as exc:  # a peer that fails on a split is a result too: recorded, the run goes on
            rows.append(row | {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"})
            print(
                f"  {split.dataset} k={split.k} seed={seed} {method}: FAILED {rows[-1]['error']}",
                file=sys.stderr,
                flush=True,
            )
            continue
        if syn is not None:
            per_class = {name: int((syn.y == i).sum()) for i, name in enumerate(split.classes.names)}
            row |= {
                "requested": sum(split.want.values()),
                "synthetic_rows": len(syn.x),
                "synthetic_per_class": per_class,
                "generated": syn.generated,
                "fit_s": syn.fit_s,
                "sample_s": syn.sample_s,
                **syn.notes,
            }
        row |= downstream(split, syn, seed)
        rows.append(row)
        print(
            f"  {split.dataset} k={split.k} seed={seed} {method}: "
            f"logreg {row['logreg_acc']:.3f} forest {row['forest_acc']:.3f}"
            + (f" (+{len(syn.x)} rows, fit {syn.fit_s:.1f} s, sample {syn.sample_s:.2f} s)" if syn is not None else ""),
            file=sys.stderr,
            flush=True,
        )
    reference = next((r for r in rows if r["method"] == "product" and "fit_s" in r), None)
    for row in rows:
        if reference is not None and "fit_s" in row:
            row["time_ratio_to_product"] = (row["fit_s"] + row["sample_s"]) / (
                reference["fit_s"] + reference["sample_s"]
            )
    return rows


# --- summary and tables ---------------------------------------------------------------------


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(rows: list[dict], methods: list[str]) -> list[dict]:
    out = []
    for dataset, k in sorted(
        {(r["dataset"], r["k"]) for r in rows}, key=lambda t: (TABLES.index(t[0]) if t[0] in TABLES else 99, t)
    ):
        group = [r for r in rows if (r["dataset"], r["k"]) == (dataset, k)]
        real = {r["seed"]: r for r in group if r["method"] == "real" and "error" not in r}
        for method in methods:
            failed = sum(1 for r in group if r["method"] == method and "error" in r)
            mine = sorted((r for r in group if r["method"] == method and "error" not in r), key=lambda r: r["seed"])
            if not mine:
                continue
            entry: dict[str, Any] = {"dataset": dataset, "k": k, "method": method, "seeds": len(mine)}
            if failed:
                entry["failed_seeds"] = failed
            for clf in CLASSIFIERS:
                for metric in METRICS:
                    key = f"{clf}_{metric}"
                    values = [r[key] for r in mine]
                    entry[key] = statistics.fmean(values)
                    entry[f"{key}_std"] = _std(values)
                    paired = [r[key] - real[r["seed"]][key] for r in mine if r["seed"] in real]
                    if paired and method != "real":
                        entry[f"{key}_diff"] = statistics.fmean(paired)
            if "fit_s" in mine[0]:
                entry |= {
                    "synthetic_rows": statistics.fmean(r["synthetic_rows"] for r in mine),
                    "requested": mine[0]["requested"],
                    "generated": statistics.fmean(r["generated"] for r in mine),
                    "fit_s": statistics.median(r["fit_s"] for r in mine),
                    "sample_s": statistics.median(r["sample_s"] for r in mine),
                }
                ratios = [r["time_ratio_to_product"] for r in mine if "time_ratio_to_product" in r]
                if ratios:
                    entry["time_ratio_to_product"] = statistics.median(ratios)
                fallbacks = sum(1 for r in mine if r.get("fallbacks"))
                if fallbacks:
                    entry["splits_with_fallback"] = fallbacks
            out.append(entry)
    return out


def timing(rows: list[dict], methods: list[str]) -> list[dict]:
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method and "fit_s" in r]
        if not mine:
            continue
        totals = [r["fit_s"] + r["sample_s"] for r in mine]
        entry = {
            "method": method,
            "runs": len(mine),
            "fit_s_median": statistics.median(r["fit_s"] for r in mine),
            "sample_s_median": statistics.median(r["sample_s"] for r in mine),
            "total_s_median": statistics.median(totals),
            "total_s_max": max(totals),
        }
        if "score_s" in mine[0]:
            entry["score_s_median"] = statistics.median(r["score_s"] for r in mine)
        ratios = [r["time_ratio_to_product"] for r in mine if "time_ratio_to_product" in r]
        if ratios:
            entry |= {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
        out.append(entry)
    return out


def per_table(rows: list[dict]) -> list[dict]:
    """Per data set, over its splits: median fit + sample of the product and of TVAE, and TVAE / product."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        product = [r["fit_s"] + r["sample_s"] for r in rows if (r["dataset"], r["method"]) == (dataset, "product")]
        tvae = [r for r in rows if (r["dataset"], r["method"]) == (dataset, "tvae") and "time_ratio_to_product" in r]
        if product and tvae:
            ratios = [r["time_ratio_to_product"] for r in tvae]
            out.append(
                {
                    "dataset": dataset,
                    "splits": len(tvae),
                    "product_s_median": statistics.median(product),
                    "tvae_s_median": statistics.median(r["fit_s"] + r["sample_s"] for r in tvae),
                    "tvae_over_product_median": statistics.median(ratios),
                    "tvae_over_product_min": min(ratios),
                }
            )
    return out


def _metric_table(summary: list[dict], methods: list[str], key: str) -> str:
    lines = ["| data set | k | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for dataset, k in dict.fromkeys((e["dataset"], e["k"]) for e in summary):
        cells = []
        for method in methods:
            e = next((e for e in summary if (e["dataset"], e["k"], e["method"]) == (dataset, k, method)), None)
            if e is None:
                cells.append("-")
                continue
            diff = f" ({e[key + '_diff']:+.3f})" if key + "_diff" in e else ""
            cells.append(f"{e[key]:.3f} ± {e[key + '_std']:.3f}{diff}")
        lines.append(f"| {dataset} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(summary: list[dict], times: list[dict], tables: list[dict], methods: list[str]) -> str:
    parts = []
    for clf, title in (("logreg", "logistic regression"), ("forest", "random forest")):
        for metric, name in METRICS.items():
            parts.append(
                f"**{title}, {name}** (mean ± std over data seeds; in brackets: mean paired difference to real)\n\n"
                + _metric_table(summary, methods, f"{clf}_{metric}")
            )
    added = [m for m in methods if m != "real"]
    if added:
        lines = [
            "| data set | k | asked per split | " + " | ".join(added) + " |",
            "|---|---|---|" + "---|" * len(added),
        ]
        for dataset, k in dict.fromkeys((e["dataset"], e["k"]) for e in summary):
            entries = {e["method"]: e for e in summary if (e["dataset"], e["k"]) == (dataset, k) and "requested" in e}
            asked = next(iter(entries.values()))["requested"] if entries else "-"
            cells = [f"{entries[m]['synthetic_rows']:.0f}" if m in entries else "-" for m in added]
            lines.append(f"| {dataset} | {k} | {asked} | " + " | ".join(cells) + " |")
        parts.append("**synthetic rows added** (mean over data seeds)\n\n" + "\n".join(lines))
    if times:
        lines = [
            "| method | runs | median fit s | median sample s | median total s | max total s "
            "| total / product's (median, range) |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in times:
            ratio = (
                f"{t['ratio_median']:.3g} ({t['ratio_min']:.3g}-{t['ratio_max']:.3g})" if "ratio_median" in t else "-"
            )
            lines.append(
                f"| {t['method']} | {t['runs']} | {t['fit_s_median']:.2f} | {t['sample_s_median']:.3f} | "
                f"{t['total_s_median']:.2f} | {t['total_s_max']:.2f} | {ratio} |"
            )
        parts.append("**time per split** (fit + sample of the asked rows, 1 torch thread)\n\n" + "\n".join(lines))
    if tables:
        lines = ["| data set | splits | product s | TVAE s | TVAE / product (min) |", "|---|---|---|---|---|"]
        for t in tables:
            lines.append(
                f"| {t['dataset']} | {t['splits']} | {t['product_s_median']:.2f} | {t['tvae_s_median']:.2f} | "
                f"{t['tvae_over_product_median']:.3g} ({t['tvae_over_product_min']:.3g}) |"
            )
        parts.append("**fit + sample per table** (medians over the table's splits)\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


# --- entry ----------------------------------------------------------------------------------


def _check_libraries(methods: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    missing = sorted({NEEDS[m] for m in methods if m in NEEDS and importlib.util.find_spec(NEEDS[m]) is None})
    if missing:
        users = [m for m in methods if NEEDS.get(m) in missing]
        names = ", ".join("imbalanced-learn" if m == "imblearn" else m for m in missing)
        parser.error(
            f"method(s) {', '.join(users)} need {names}, "
            "which is not installed: pip install -e '.[bench]' (or leave those methods out with --methods)"
        )
    versions = {}
    for dist in ("imbalanced-learn", "sdv", "scikit-learn"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=TABLES)
    parser.add_argument("--k", nargs="+", type=int, default=[5, 10, 25], help="real rows per class")
    parser.add_argument("--seeds", type=int, default=3, help="data seeds 0..N-1")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--ratio", type=float, default=1.0, help="synthetic rows asked for per real row")
    parser.add_argument("--gan-epochs", type=int, default=300, help="CTGAN and TVAE epochs (SDV's default: 300)")
    parser.add_argument(
        "--train-arg", action="append", default=[], metavar="KEY=VALUE", help="product ModelConfig or TrainConfig field"
    )
    parser.add_argument(
        "--quality-arg", action="append", default=[], metavar="KEY=VALUE", help="product QualityConfig field"
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "peers.json"))
    args = parser.parse_args(argv)
    if min(args.k) < 2:
        parser.error("--k must be at least 2 (SMOTE needs a neighbour)")
    methods = list(dict.fromkeys(["real", *args.methods]))  # real-only is the reference of every difference
    versions = _check_libraries(methods, parser)
    warnings.filterwarnings("ignore", module=r"(sdv|ctgan|rdt|copulas|sdmetrics)(\.|$)")
    configure_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first optimizer imports torch._dynamo (seconds)
    options, quality = pairs(args.train_arg), settings(QualityConfig, args.quality_arg)
    probe = CVAESynthesizer(**options)  # an unknown option fails here, before any split
    started, start, rows = time.perf_counter(), machine(), []
    for dataset in args.datasets:
        for k in args.k:
            for seed in range(args.seeds):
                rows.extend(run_split(make_split(dataset, k, seed, args.ratio), methods, args, options, quality))
    summary, times, tables = summarise(rows, methods), timing(rows, methods), per_table(rows)
    results = {
        "benchmark": "peers",
        "command": " ".join(["python", "benchmarks/peers.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": start
        | {
            "load_avg_1min_end": round(os.getloadavg()[0], 2),
            "torch_threads": torch.get_num_threads(),
            "libraries": versions,
        },
        "settings": {
            "datasets": args.datasets,
            "k": args.k,
            "seeds": args.seeds,
            "methods": methods,
            "ratio": args.ratio,
            "gan_epochs": args.gan_epochs,
            "model_config": probe.model_cfg.model_dump(),
            "train_config": probe.train_cfg.model_dump(),
            "quality_config": quality.model_dump(),
        },
        "rows": rows,
        "summary": summary,
        "timing": times,
        "timing_per_table": tables,
        "total_seconds": time.perf_counter() - started,
    }
    return publish(results, markdown(summary, times, tables, methods), args.json)


if __name__ == "__main__":
    main()
