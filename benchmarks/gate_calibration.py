"""Gate calibration (issue 13): does the gate promote the rows that truly help, and only those?

Per cell (data set, real rows per class, seed; balanced or imbalanced) the run's real rows
are drawn from a built-in set and every other row (at most --test-rows, stratified) is a
real test set the run never sees (benchmarks/_splits.py). Then, as an `augment run` does:

1. the run's rows are staged as a Parquet file and read back by pipeline.job.stage_data with
   a RunConfig of the product's defaults (generator cvae) and a request: --per-class 2k
   (balanced cells) or --balance-to N (imbalanced cells: the rare classes are brought up to
   the others' count);
2. the gate is pipeline.job.evaluate_gate itself (cross-fitted: 5 folds x 2 repeats, a
   generator trained without each fold; the cheap baseline measured on the same folds):
   its decision, gain and lower bound in macro-F1 points;
3. the true gain: the product generator (pipeline.job.make_generator) is fit on all the
   run's rows, rows are delivered and written as the run ships them
   (pipeline.job.synthesize_rows writes augmented.parquet), and the gate's downstream
   classifier (pipeline.quality.classifier.fit_judge, on a codec fit on the run's rows, as the
   gate's) is trained on the real rows alone and on augmented.parquet (every row, weight 1),
   and scored by macro-F1 on the test set, averaged over --clf-seeds classifier seeds (the
   table classifier, lbfgs logistic regression, ignores its seed; the image CNN does not).
   The baseline (SMOTE for tables, affine views for images) gets its true gain the same way.

Imbalanced cells: --others rows in every class but the rare ones (1 rare class, 3 for 10-class
sets, rotating with the seed), which keep --rare rows; the test set is the one of the balanced
split with k = --others. Test rows the run's codec cannot encode (missing values in a column
without any in the run's rows: penguins) are dropped and counted.

Reported: per cell the decision, gate gain, lower bound and true gain (macro-F1, and each
promotion statistic of pipeline/quality/promotion.py with its interval's parts, so other
intervals can be replayed; coverage = share of cells whose true gain lies in the interval);
the false-promotion rate (true gain < 0 and promoted; target at most 1 in 10), the promotion
rate among cells
whose true gain is +1 point or more (target at least half), "not enough evidence" counts,
and the same with "truly hurts" meaning a true gain below -0.5 points.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_calibration.py --quick     # iris + penguins, minutes
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_calibration.py --datasets iris wine breast_cancer penguins \\
        --k 5 10 20 --seeds 3 --others 20 30
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_calibration.py --datasets digits --k 5 10 --seeds 2 \\
        --shapes balanced
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_calibration.py --report-only   # tables from the JSON

Results merge into the files --out names (a path prefix: PREFIX.md and PREFIX.json): a later
run replaces only the cells it ran, so batches (and two processes) can fill one file.
--quality-arg / --train-arg KEY=VALUE change the run's settings (e.g. --quality-arg
fold_steps=500); cells measured under other settings go to another --out. Without --out a run
writes to a new temporary folder (gate_calibration.* there, --quick: gate_calibration_quick.*),
whose path it prints: the files committed in benchmarks/results were measured under earlier
settings, so a run never merges into them unless --out names them. --report-only without --out
rewrites benchmarks/results/gate_calibration.md (--quick: gate_calibration_quick.md) from its JSON.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import json
import statistics
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._results import machine, pairs  # noqa: E402
from benchmarks._splits import LowResourceSplit  # noqa: E402
from pipeline.config import DataSpec, QualityConfig, RunConfig, SampleConfig, TrainConfig  # noqa: E402
from pipeline.data.codec import ClassIndex, Codec, fit_codec  # noqa: E402
from pipeline.data.sources import subsample_per_class  # noqa: E402
from pipeline.io import write_frames  # noqa: E402
from pipeline.job import DataRef, evaluate_gate, make_generator, stage_data, synthesize_rows  # noqa: E402
from pipeline.quality.classifier import fit_judge  # noqa: E402
from pipeline.quality.gains import macro_f1  # noqa: E402
from pipeline.quality.menu import balanced_weights  # noqa: E402
from pipeline.quality.promotion import Interval, row_loss  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402
from pipeline.synthesizers.base import Synthesizer  # noqa: E402
from pipeline.synthesizers.baselines import AffineSynthesizer, SMOTESynthesizer  # noqa: E402

TABLES = ["iris", "wine", "breast_cancer", "penguins"]
IMAGES = ["digits", "mnist"]
HURTS, HURTS_CLEARLY, HELPS = 0.0, -0.5, 1.0  # true gain thresholds in macro-F1 points
FALSE_PROMOTION_TARGET, TRUE_PROMOTION_TARGET = 0.10, 0.50
DECISIONS = ["promote", "keep", "not enough evidence"]


# --- cells and splits ---------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One simulated run: k real rows per class, or `rare` rows in the rare classes and k in the others."""

    dataset: str
    k: int
    seed: int
    rare: int | None = None  # None: balanced

    @property
    def shape(self) -> str:
        return "balanced" if self.rare is None else "imbalanced"

    @property
    def key(self) -> str:
        tail = "" if self.rare is None else f"-rare{self.rare}"
        return f"{self.dataset}/k{self.k}{tail}/seed{self.seed}"


@dataclass
class RunRows:
    """The run's real rows and the test rows it never sees."""

    real: pd.DataFrame
    test: pd.DataFrame
    label: str
    features: list[str]
    image_column: str | None
    rare_classes: list[str]


def rare_class_names(names: list[str], seed: int) -> list[str]:
    """1 rare class (3 for sets of 10 or more classes), rotating with the seed."""
    n = 3 if len(names) >= 10 else 1
    return [names[(seed * n + j) % len(names)] for j in range(n)]


def make_rows(cell: Cell, test_rows: int) -> RunRows:
    split = LowResourceSplit.make(cell.dataset, cell.k, cell.seed, test_rows)
    full, real = split.full, split.train
    rare: list[str] = []
    if cell.rare is not None:
        rare = rare_class_names(split.classes.names, cell.seed)
        is_rare = real[full.label].astype(str).isin(rare)
        kept = subsample_per_class(real[is_rare], full.label, cell.rare, cell.seed)
        real = pd.concat([real[~is_rare], kept]).sort_index()
    return RunRows(
        real.reset_index(drop=True),
        split.test.reset_index(drop=True),
        full.label,
        full.features,
        full.image_column,
        rare,
    )


def encodable(frame: pd.DataFrame, codec: Codec) -> pd.DataFrame:
    """The rows a codec fit on the run's rows can encode: no missing value in a column that had
    none, no category it never saw."""
    if codec.modality != "table":
        return frame
    keep = pd.Series(True, index=frame.index)
    for col in codec.columns:
        series = frame[col.name]
        if not col.missing:
            keep &= series.notna()
        if col.kind in ("categorical", "boolean"):
            keep &= series.isna() | series.isin(col.categories)
    return frame[keep]


# --- the run, as augment run does it -------------------------------------------------------
def run_config(cell: Cell, source: Path, label: str, quality: QualityConfig, train: TrainConfig) -> RunConfig:
    sample = SampleConfig(per_class=2 * cell.k) if cell.rare is None else SampleConfig(balance_to=cell.k)
    return RunConfig(
        data=DataSpec(source=str(source), label=label), sample=sample, quality=quality, train=train, seed=cell.seed
    )


def stage(
    rows: RunRows, cell: Cell, work: Path, quality: QualityConfig, train: TrainConfig
) -> tuple[RunConfig, DataRef]:
    """Write the run's rows where a user's file would be, and stage them as the run does."""
    source = work / f"{cell.dataset}.parquet"
    write_frames(source, [rows.real], {}, [rows.image_column] if rows.image_column else [])
    config = run_config(cell, source, rows.label, quality, train)
    (work / "stage").mkdir()
    return config, stage_data(config, work / "stage")


def shipped(gen: Synthesizer, config: RunConfig, data: DataRef, out: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """augmented.parquet as the run writes it, and the per-class delivery of its report."""
    out.mkdir(parents=True)
    result = synthesize_rows(gen, data.real(), data.requested, config.quality, config.sample, config.seed, out, {})
    per_class = {
        c: {k: v for k, v in s.items() if k in ("requested", "delivered")}
        for c, s in result["report"]["per_class"].items()
        if "requested" in s
    }
    return pd.read_parquet(out / "augmented.parquet"), per_class


# --- the true gain on the test set --------------------------------------------------------
SCORING_RULES = ("brier", "log_loss")  # the promotion statistics besides macro-F1 (pipeline/quality/promotion.py)


def scoring_rule_gain(truth: np.ndarray, base: np.ndarray, aug: np.ndarray, n: int, metric: str) -> float:
    """The gate's promotion statistic on the test set: class-weighted loss drop in points."""
    weight = balanced_weights(truth, n)
    drop = row_loss(base, truth, metric) - row_loss(aug, truth, metric)
    return float(100 * (weight * drop).sum() / weight.sum())


def true_gain(augmented: pd.DataFrame, rows: RunRows, clf_seeds: list[int], steps: int, judge: str) -> dict[str, Any]:
    """On the test set, per classifier seed: macro-F1 points of real + shipped rows over real rows
    alone (`gain`), and the promotion statistics' gains under the same names as the gate's."""
    real = augmented[~augmented["is_synthetic"]]
    codec = fit_codec(real[rows.features], rows.image_column)  # the gate's classifier features
    classes = ClassIndex.fit(real[rows.label])
    test = encodable(rows.test, codec)
    tx, ty = codec.encode(test[rows.features]).x, classes.encode(test[rows.label]).numpy()
    x_real, y_real = codec.encode(real[rows.features]).x, classes.encode(real[rows.label])
    x_all, y_all = codec.encode(augmented[rows.features]).x, classes.encode(augmented[rows.label])
    n, gains, f1_real = len(classes), [], []
    scored: dict[str, list[float]] = {m: [] for m in SCORING_RULES}
    for s in clf_seeds:
        p_base = fit_judge(judge, x_real, y_real, n, s, cnn_steps=steps).predict_proba(tx)
        p_aug = fit_judge(judge, x_all, y_all, n, s, cnn_steps=steps).predict_proba(tx)
        base, aug = macro_f1(ty, p_base.argmax(1), n), macro_f1(ty, p_aug.argmax(1), n)
        gains.append(100 * (aug - base))
        f1_real.append(100 * base)
        for m in SCORING_RULES:
            scored[m].append(scoring_rule_gain(ty, p_base, p_aug, n, m))
    return {m: statistics.fmean(v) for m, v in scored.items()} | {
        "gain": statistics.fmean(gains),
        "gain_sd": statistics.pstdev(gains),
        "f1_real": statistics.fmean(f1_real),
        "test_rows": len(test),
        "test_rows_dropped": len(rows.test) - len(test),
        "synthetic_rows": int(augmented["is_synthetic"].sum()),
    }


def request_text(sample: SampleConfig) -> str:
    return f"per_class={sample.per_class}" if sample.per_class is not None else f"balance_to={sample.balance_to}"


def baseline(modality: str, seed: int) -> Synthesizer:
    return SMOTESynthesizer(seed=seed) if modality == "table" else AffineSynthesizer(seed=seed)


# --- one cell -----------------------------------------------------------------------------
def run_cell(cell: Cell, options: dict[str, Any]) -> dict[str, Any]:
    quality, train = options["quality"], options["train"]
    rows = make_rows(cell, options["test_rows"])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gate_calibration_") as tmp:
        work = Path(tmp)
        config, data = stage(rows, cell, work, quality, train)
        gate = evaluate_gate(config, data).to_json()  # stored as quality_report.json writes it
        t_gate = time.perf_counter() - t0
        product = make_generator(config).fit(data.real(), label=data.label)
        augmented, per_class = shipped(product, config, data, work / "product")
        judge = quality.judge_for(data.modality)
        truth = true_gain(augmented, rows, options["clf_seeds"], quality.classifier_steps, judge)
        t_product = time.perf_counter() - t0 - t_gate
        other = baseline(data.modality, config.seed).fit(data.real(), label=data.label)
        base_truth = true_gain(
            shipped(other, config, data, work / other.kind)[0],
            rows,
            options["clf_seeds"],
            quality.classifier_steps,
            judge,
        )
    return {
        "cell": asdict(cell),
        "shape": cell.shape,
        "rare_classes": rows.rare_classes,
        "real_rows": len(rows.real),
        "request": request_text(config.sample),
        "gate": {
            k: gate.get(k)
            for k in (
                "decision",
                "gain",
                "lower_bound",
                "upper_bound",
                "eval_rows",
                "folds",
                "repeats",
                "synthetic_rows_per_fold",
                "baselines",
                "rare_class_recall",
                "promotion",
            )
        },
        "true": truth,
        "per_class": per_class,
        "baseline": {"kind": other.kind, "gate": gate.get("baselines", {}).get(other.kind), "true": base_truth},
        "seconds": {
            "gate": round(t_gate, 1),
            "product_fit_and_test": round(t_product, 1),
            "total": round(time.perf_counter() - t0, 1),
        },
    }


def cells_for(args: argparse.Namespace) -> list[Cell]:
    """Seed by seed, so a run stopped early still covers every data set and k."""
    out: list[Cell] = []
    for seed in range(args.seeds):
        for name in args.datasets:
            if "balanced" in args.shapes:
                out += [Cell(name, k, seed) for k in args.k]
            if "imbalanced" in args.shapes:
                out += [Cell(name, others, seed, args.rare) for others in args.others]
    return out


# --- results file -------------------------------------------------------------------------
@contextmanager
def locked(path: Path) -> Iterator[None]:
    """One writer at a time per results file (the lock lives in the temp folder, not beside the results)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"gate_calibration_{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def settings_of(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "quality": options["quality"].model_dump(),
        "train": options["train"].model_dump(),
        "test_rows": options["test_rows"],
        "clf_seeds": options["clf_seeds"],
    }


@functools.cache
def gate_source_hash() -> str:
    """Which gate measured the cells: a hash of the files the decision depends on, as imported
    (taken once, at the start: another process may edit them while cells run)."""
    files = [
        "pipeline/quality/gate.py",
        "pipeline/quality/crossfit.py",
        "pipeline/quality/gains.py",
        "pipeline/quality/wording.py",
        "pipeline/job.py",
        "pipeline/deliver.py",
        "pipeline/config.py",
        "pipeline/synthesizers/cvae.py",
        "pipeline/train.py",
        "pipeline/model.py",
    ]
    digest = hashlib.sha256()
    for f in files:
        digest.update((ROOT / f).read_bytes())
    return digest.hexdigest()[:12]


def save_cell(json_path: Path, result: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Merge one cell into the JSON (replacing an earlier result of the same cell)."""
    with locked(json_path):
        doc = json.loads(json_path.read_text()) if json_path.exists() else {}
        settings = settings_of(options)
        if doc.get("settings", settings) != settings:
            raise SystemExit(f"{json_path} holds cells measured under other settings: pass another --out")
        doc["settings"], doc["machine"] = settings, machine()
        key = Cell(**result["cell"]).key
        doc.setdefault("cells", {})[key] = result | {"gate_source": gate_source_hash()}
        doc.get("failed", {}).pop(key, None)
        json_path.write_text(json.dumps(doc, indent=2))
    return doc


def save_failure(json_path: Path, cell: Cell, exc: Exception) -> None:
    """Record a cell the product failed on (its traceback's last frame and the message)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    with locked(json_path):
        doc = json.loads(json_path.read_text()) if json_path.exists() else {}
        doc.setdefault("failed", {})[cell.key] = {
            "error": f"{type(exc).__name__}: {exc}",
            "where": f"{Path(frame.filename).name}:{frame.lineno} {frame.name}",
            "gate_source": gate_source_hash(),
        }
        json_path.write_text(json.dumps(doc, indent=2))


# --- tables -------------------------------------------------------------------------------
def _f(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:+.{digits}f}"


def cell_table(cells: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for c in cells:
        g, t, b = c["gate"], c["true"], c["baseline"]
        rows.append(
            {
                "data set": c["cell"]["dataset"],
                "shape": c["shape"],
                "k": c["cell"]["k"],
                "rare": c["cell"]["rare"] or "",
                "seed": c["cell"]["seed"],
                "request": c["request"],
                "decision": g["decision"],
                "gate gain": _f(g["gain"]),
                "lower bound": _f(g["lower_bound"]),
                "upper bound": _f(g["upper_bound"]),
                "true gain": _f(t["gain"]),
                "f1 real": f"{t['f1_real']:.1f}",
                "test rows": t["test_rows"],
                "shipped rows": t["synthetic_rows"],
                f"{b['kind']} gate": _f((b["gate"] or {}).get("gain")),
                f"{b['kind']} true": _f(b["true"]["gain"]),
                "seconds": c["seconds"]["total"],
                "gate source": c.get("gate_source", ""),
            }
        )
    return pd.DataFrame(rows).fillna("")


def rates(cells: list[dict[str, Any]], hurts_below: float) -> dict[str, Any]:
    """False promotions among cells that truly hurt, promotions among cells that truly help."""

    def count(pred) -> tuple[int, int]:
        chosen = [c for c in cells if pred(c["true"]["gain"])]
        return len(chosen), sum(c["gate"]["decision"] == "promote" for c in chosen)

    n_hurt, fp = count(lambda g: g < hurts_below)
    n_help, tp = count(lambda g: g >= HELPS)
    n_mid, mid = count(lambda g: hurts_below <= g < HELPS)
    by_decision = {d: sum(c["gate"]["decision"] == d for c in cells) for d in DECISIONS}
    nee = {"truly hurts": 0, "neither": 0, "truly helps": 0}
    for c in cells:
        if c["gate"]["decision"] == "not enough evidence":
            g = c["true"]["gain"]
            nee["truly hurts" if g < hurts_below else "truly helps" if g >= HELPS else "neither"] += 1
    return {
        "hurts_below": hurts_below,
        "cells": len(cells),
        "truly_hurt": n_hurt,
        "false_promotions": fp,
        "false_promotion_rate": fp / n_hurt if n_hurt else None,
        "truly_help": n_help,
        "true_promotions": tp,
        "true_promotion_rate": tp / n_help if n_help else None,
        "neither": n_mid,
        "neither_promoted": mid,
        "decisions": by_decision,
        "not_enough_evidence": nee,
    }


def to_markdown(frame: pd.DataFrame) -> str:
    """A pipe table (pandas' to_markdown needs tabulate, which the product does not install)."""
    if frame.empty:
        return "(no cells)"
    head = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _rate(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def rates_table(groups: dict[str, list[dict[str, Any]]], hurts_below: float) -> pd.DataFrame:
    rows = []
    for name, cells in groups.items():
        if not cells:
            continue
        r = rates(cells, hurts_below)
        fp_ok = r["false_promotion_rate"] is None or r["false_promotion_rate"] <= FALSE_PROMOTION_TARGET
        tp_ok = r["true_promotion_rate"] is None or r["true_promotion_rate"] >= TRUE_PROMOTION_TARGET
        rows.append(
            {
                "cells": name,
                "n": r["cells"],
                f"truly hurt (< {hurts_below:+g})": r["truly_hurt"],
                "promoted of those": r["false_promotions"],
                "false-promotion rate (<= 0.10)": _rate(r["false_promotion_rate"]) + ("" if fp_ok else " MISS"),
                f"truly help (>= +{HELPS:g})": r["truly_help"],
                "promoted of those ": r["true_promotions"],
                "true-promotion rate (>= 0.50)": _rate(r["true_promotion_rate"]) + ("" if tp_ok else " MISS"),
                "neither: promoted/n": f"{r['neither_promoted']}/{r['neither']}",
                "promote / keep / n.e.e.": "/".join(str(r["decisions"][d]) for d in DECISIONS),
                "n.e.e. (hurt/neither/help)": "/".join(str(v) for v in r["not_enough_evidence"].values()),
            }
        )
    return pd.DataFrame(rows)


def bound_table(groups: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """How the gate's numbers relate to the truth: coverage of the bound, correlation, widths."""
    rows = []
    for name, cells in groups.items():
        if len(cells) < 2:
            continue
        gate = np.array([c["gate"]["gain"] for c in cells], dtype=float)
        lower = np.array([c["gate"]["lower_bound"] for c in cells], dtype=float)
        upper = np.array([c["gate"]["upper_bound"] for c in cells], dtype=float)
        truth = np.array([c["true"]["gain"] for c in cells], dtype=float)
        rows.append(
            {
                "cells": name,
                "n": len(cells),
                "mean gate gain": _f(gate.mean()),
                "mean true gain": _f(truth.mean()),
                "corr(gate, true)": f"{np.corrcoef(gate, truth)[0, 1]:.2f}" if gate.std() and truth.std() else "n/a",
                "true >= lower bound": f"{(truth >= lower).mean():.2f}",
                "true <= upper bound": f"{(truth <= upper).mean():.2f}",
                "median bound width (gain - lower)": f"{np.median(gate - lower):.1f}",
                "mean seconds": f"{np.mean([c['seconds']['total'] for c in cells]):.0f}",
                "mean gate seconds": f"{np.mean([c['seconds']['gate'] for c in cells]):.0f}",
            }
        )
    return pd.DataFrame(rows)


Numbers = dict[str, Any]  # a cell's stored gate section, plus real_rows


def _current_rule(g: Numbers) -> bool:
    """The product's rule as it is now (pipeline.quality.gate.rule, where it exists) on the stored numbers."""
    from pipeline.quality import gate

    if not hasattr(gate, "rule"):
        return g["lower_bound"] > -QualityConfig().margin
    upper = g["upper_bound"]
    return gate.rule(g["gain"], g["lower_bound"], upper, g["real_rows"], QualityConfig().margin)[0] == "promote"


def _lower(g: Numbers, metric: str) -> float:
    """A promotion statistic's lower bound as stored (-inf for cells measured before it existed)."""
    found = (g.get("promotion") or {}).get("by_metric", {}).get(metric)
    return found["lower"] if found else float("-inf")


WHAT_IF = {  # other rules, applied afterwards to the gate's stored numbers of every cell
    "macro-F1 lower > -0.5 (the first rule)": lambda g: g["lower_bound"] > -0.5,
    "lower > -0.5, but not on no change (gain = lower = upper = 0)": lambda g: (
        g["lower_bound"] > -0.5 and not (g["gain"] == g["lower_bound"] == g["upper_bound"] == 0)
    ),
    "gain > 0 and lower > -0.5": lambda g: g["gain"] > 0 and g["lower_bound"] > -0.5,
    "gain >= 1 and lower > -0.5": lambda g: g["gain"] >= 1 and g["lower_bound"] > -0.5,
    "lower > 0": lambda g: g["lower_bound"] > 0,
    "0.5's rule (macro-F1, pipeline.quality.gate.rule)": _current_rule,
    "Brier lower > 0": lambda g: _lower(g, "brier") > 0,
    "log-loss lower > 0": lambda g: _lower(g, "log_loss") > 0,
    "Brier lower > 0 and macro-F1 gain >= 0": lambda g: _lower(g, "brier") > 0 and g["gain"] >= 0,
    "Brier lower > 0 and log-loss lower > 0": lambda g: min(_lower(g, "brier"), _lower(g, "log_loss")) > 0,
}


def what_if_table(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """False- and true-promotion rates of other promotion rules on the same gate numbers (post hoc)."""
    rows = []
    scored = [c for c in cells if c["gate"]["gain"] is not None]
    for name, rule in WHAT_IF.items():
        promoted = [bool(rule(c["gate"] | {"real_rows": c["real_rows"]})) for c in scored]
        truth = [c["true"]["gain"] for c in scored]
        row: dict[str, Any] = {"rule": name, "promoted": f"{sum(promoted)}/{len(scored)}"}
        for label, below in (("< 0", HURTS), ("< -0.5", HURTS_CLEARLY)):
            hurt = [p for p, t in zip(promoted, truth) if t < below]
            row[f"false promotions (true {label})"] = f"{sum(hurt)}/{len(hurt)}"
        helped = [p for p, t in zip(promoted, truth) if t >= HELPS]
        row[f"true promotions (true >= +{HELPS:g})"] = f"{sum(helped)}/{len(helped)}"
        rows.append(row)
    return pd.DataFrame(rows)


TRUTH_OF = {"brier": "brier", "log_loss": "log_loss", "macro_f1": "gain"}  # the test-set gain of each statistic
VARIANTS = {  # the interval's standard error from its parts (post hoc, to choose the product's)
    "rows only (a bootstrap over rows, as 0.5)": lambda m: m["row_se"],
    "rows + repeat spread / repeats (the mean's)": lambda m: np.hypot(
        m["row_se"], m["repeat_sd"] / np.sqrt(m["repeats"])
    ),
    "rows + repeat spread (one more draw: the product's)": lambda m: np.hypot(m["row_se"], m["repeat_sd"]),
    "rows + folds x repeat spread (one generator, not the folds' average)": lambda m: np.sqrt(
        m["row_se"] ** 2 + m["folds"] * m["repeat_sd"] ** 2
    ),
}


def _promoting(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cells if (c["gate"].get("promotion") or {}).get("by_metric")]


def statistic_rows(cells: list[dict[str, Any]], confidence: float, margin: float) -> list[dict[str, Any]]:
    """Per promotion statistic and interval variant: promotions (lower bound above `margin`) among
    cells whose rows truly hurt / help in test macro-F1, and coverage of the same statistic's
    true gain by the two-sided interval (confidence one-sided each side)."""
    from statistics import NormalDist

    z, rows = NormalDist().inv_cdf(confidence), []
    scored = _promoting(cells)
    f1_true = np.array([c["true"]["gain"] for c in scored])
    for metric, truth_key in TRUTH_OF.items():
        truth = np.array([c["true"].get(truth_key, np.nan) for c in scored])
        found = [c["gate"]["promotion"]["by_metric"][metric] | {"folds": c["gate"]["folds"]} for c in scored]
        gain = np.array([m["gain"] for m in found])
        for variant, se_of in VARIANTS.items():
            se = np.array([se_of(m) for m in found])
            lower, upper = gain - z * se, gain + z * se
            promoted = (lower > margin) & (se > 0)
            known = ~np.isnan(truth)
            rows.append(
                {
                    "statistic": metric,
                    "interval": variant,
                    "promoted": f"{promoted.sum()}/{len(scored)}",
                    "false (true macro-F1 < 0)": _share(promoted[f1_true < HURTS]),
                    f"true (true macro-F1 >= +{HELPS:g})": _share(promoted[f1_true >= HELPS]),
                    "false (true statistic < 0)": _share(promoted[known & (truth < 0)]),
                    "coverage": f"{((truth >= lower) & (truth <= upper))[known].mean():.2f}" if known.any() else "n/a",
                    "true < lower / > upper": f"{(truth < lower)[known].sum()}/{(truth > upper)[known].sum()}",
                    "corr(gate, true)": _corr(gain[known], truth[known]),
                }
            )
    return rows


LEVELS = (0.95, 0.9, 0.875, 0.85)  # one-sided levels of the bound that decides promotion


def level_rows(cells: list[dict[str, Any]], metric: str = "brier") -> list[dict[str, Any]]:
    """The product's statistic and interval (rows + the whole repeat spread) with the promotion
    decided at each one-sided level of LEVELS, replayed on the stored parts (gain, row_se,
    repeat_sd: what the gate decides from, through promotion.Interval.bounds_at): how
    QualityConfig.promotion_confidence was chosen."""
    scored = _promoting(cells)
    f1_true = np.array([c["true"]["gain"] for c in scored])
    stored = [c["gate"]["promotion"]["by_metric"][metric] for c in scored]
    found = [Interval(m["gain"], m["row_se"], m["repeat_sd"], m.get("repeats", 0), np.nan, np.nan) for m in stored]
    noisy = np.array([m.row_se > 0 or m.repeat_sd > 0 for m in found])
    rows = []
    for level in LEVELS:
        promoted = np.array([m.bounds_at(level)[0] > 0 for m in found]) & noisy
        rows.append(
            {
                "one-sided level": f"{level:g}"
                + (" (the product's)" if level == QualityConfig().promotion_confidence else ""),
                "promoted": f"{promoted.sum()}/{len(scored)}",
                "false (true macro-F1 < 0)": _share(promoted[f1_true < HURTS]),
                f"true (true macro-F1 >= +{HELPS:g})": _share(promoted[f1_true >= HELPS]),
            }
        )
    return rows


def _share(flags: np.ndarray) -> str:
    return f"{int(flags.sum())}/{len(flags)}" + (f" ({flags.mean():.2f})" if len(flags) else "")


def _corr(a: np.ndarray, b: np.ndarray) -> str:
    return f"{np.corrcoef(a, b)[0, 1]:.2f}" if len(a) > 1 and a.std() and b.std() else "n/a"


def promotion_cells(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """Per cell: the product's promotion and each statistic's gate gain, bounds and true gain."""
    rows = []
    for c in _promoting(cells):
        p = c["gate"]["promotion"]
        row = {"cell": Cell(**c["cell"]).key, "repeats": c["gate"]["repeats"], "decision": p["decision"]}
        for metric, truth_key in TRUTH_OF.items():
            m = p["by_metric"][metric]
            row[f"{metric} gate"] = f"{m['gain']:+.2f} [{m['lower']:+.2f}, {m['upper']:+.2f}]"
            row[f"{metric} true"] = _f(c["true"].get(truth_key), 2)
        row["gate s"] = c["seconds"]["gate"]
        rows.append(row)
    return pd.DataFrame(rows)


def grouped(cells: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {"all": cells}
    for shape in ("balanced", "imbalanced"):
        groups[shape] = [c for c in cells if c["shape"] == shape]
    groups["tables"] = [c for c in cells if c["cell"]["dataset"] in TABLES]
    groups["images"] = [c for c in cells if c["cell"]["dataset"] in IMAGES]
    for name in sorted({c["cell"]["dataset"] for c in cells}):
        groups[name] = [c for c in cells if c["cell"]["dataset"] == name]
    return groups


def markdown(doc: dict[str, Any]) -> str:
    cells = sorted(
        doc["cells"].values(), key=lambda c: (c["cell"]["dataset"], c["shape"], c["cell"]["k"], c["cell"]["seed"])
    )
    groups = grouped(cells)
    parts = [
        "# Gate calibration (benchmarks/gate_calibration.py)",
        "",
        "Commands that filled this file (OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python ...):",
        "",
        *[f"    {c}" for c in doc.get("commands", [])],
        "",
        f"Machine: {doc.get('machine')}. Gate sources: {sorted({c.get('gate_source') for c in cells})}.",
        "",
        "True gain: macro-F1 points on the held-out real test set, real + shipped rows over real rows alone "
        "(mean over classifier seeds). Gate: pipeline.job.evaluate_gate on the run's rows.",
        "",
        "## Targets (truly hurts: true gain < 0)",
        "",
        to_markdown(rates_table(groups, HURTS)),
        "",
        "## Second opinion (truly hurts: true gain < -0.5)",
        "",
        to_markdown(rates_table(groups, HURTS_CLEARLY)),
        "",
        "## Promotion statistics and intervals against the truth",
        "",
        "Promoted: lower bound above 0, at the gate's one-sided confidence; coverage: the same statistic's "
        "true gain inside the two-sided interval. Truly hurt / help: the test set's macro-F1 gain.",
        "",
        to_markdown(pd.DataFrame(statistic_rows(cells, QualityConfig().confidence, 0.0))),
        "",
        "## The level of the bound that decides promotion",
        "",
        "The product's statistic (Brier) and interval, the decision replayed at each one-sided level on "
        "the stored gain, row_se and repeat_sd (the 'Targets' tables above hold the decisions the gate of "
        "each cell's source made).",
        "",
        to_markdown(pd.DataFrame(level_rows(cells))),
        "",
        "## Promotion per cell (gain [lower, upper]; gate and true, in points of each statistic)",
        "",
        to_markdown(promotion_cells(cells)),
        "",
        "## Other rules on the same gate numbers (post hoc, for comparison only)",
        "",
        to_markdown(what_if_table(cells)),
        "",
        "## The gate's numbers against the truth",
        "",
        to_markdown(bound_table(groups)),
        "",
        "## Cells the product failed on",
        "",
        *[f"- {key}: {f['error']} ({f['where']})" for key, f in sorted(doc.get("failed", {}).items())],
        "",
        "## Cells",
        "",
        to_markdown(cell_table(cells)),
        "",
    ]
    return "\n".join(parts)


# --- main ---------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=TABLES, choices=TABLES + IMAGES)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20], help="real rows per class (balanced)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--shapes", nargs="+", default=["balanced", "imbalanced"], choices=["balanced", "imbalanced"])
    parser.add_argument("--others", type=int, nargs="+", default=[20, 30], help="imbalanced: rows of the other classes")
    parser.add_argument("--rare", type=int, default=5, help="imbalanced: rows of each rare class")
    parser.add_argument("--test-rows", type=int, default=2000, help="test rows at most (stratified)")
    parser.add_argument("--clf-seeds", type=int, default=3, help="downstream classifier seeds for the true gain")
    parser.add_argument("--quality-arg", nargs="*", default=[], help="KEY=VALUE for QualityConfig")
    parser.add_argument("--train-arg", nargs="*", default=[], help="KEY=VALUE for TrainConfig")
    parser.add_argument("--quick", action="store_true", help="iris and penguins, k 5 and 10, 2 seeds, balanced")
    parser.add_argument("--only", nargs="*", default=None, help="run only these cell keys (e.g. iris/k5/seed0)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the JSON")
    parser.add_argument(
        "--out",
        default=None,
        help="path prefix (default: a new temporary folder; with --report-only benchmarks/results/gate_calibration)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.k, args.seeds, args.shapes = ["iris", "penguins"], [5, 10], 2, ["balanced"]
    if args.out is None:
        name = "gate_calibration_quick" if args.quick else "gate_calibration"
        if args.report_only:
            args.out = str(ROOT / "benchmarks/results" / name)
        else:  # the committed results hold earlier settings: a new run starts its own files
            args.out = str(Path(tempfile.mkdtemp(prefix="gate_calibration_run_")) / name)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    command = "benchmarks/gate_calibration.py " + " ".join(sys.argv[1:] if argv is None else argv)
    json_path, md_path = Path(args.out + ".json"), Path(args.out + ".md")
    if not args.report_only:
        print(f"results: {md_path} and {json_path}", flush=True)
    configure_threads(1)
    torch.set_num_threads(1)
    gate_source_hash()
    options = {
        "quality": QualityConfig(**pairs(args.quality_arg)),
        "train": TrainConfig(**pairs(args.train_arg)),
        "test_rows": args.test_rows,
        "clf_seeds": list(range(args.clf_seeds)),
    }
    cells = [] if args.report_only else cells_for(args)
    if args.only is not None:
        cells = [c for c in cells if c.key in set(args.only)]
    t0 = time.perf_counter()
    for i, cell in enumerate(cells):
        try:
            result = run_cell(cell, options)
        except Exception as exc:  # a crash of the product on one cell is a finding, not the end of the run
            save_failure(json_path, cell, exc)
            print(f"[{i + 1}/{len(cells)}] {cell.key}: FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        save_cell(json_path, result, options)
        g, t = result["gate"], result["true"]
        p = g.get("promotion") or {}
        print(
            f"[{i + 1}/{len(cells)}] {cell.key}: {g['decision']}; macro-F1 gate {_f(g['gain'])} (lower "
            f"{_f(g['lower_bound'])}) true {_f(t['gain'])}; {p.get('metric')} gate {_f(p.get('gain'))} (lower "
            f"{_f(p.get('lower_bound'))}) true {_f(t.get(p.get('metric') or ''))}"
            f" in {result['seconds']['total']:.0f} s",
            flush=True,
        )
    with locked(json_path):
        doc = json.loads(json_path.read_text())
        if cells:
            doc.setdefault("commands", []).append(f"{command}  # {len(cells)} cells, {time.perf_counter() - t0:.0f} s")
            json_path.write_text(json.dumps(doc, indent=2))
        md_path.write_text(markdown(doc))
    print(md_path.read_text())
    print(f"{len(cells)} cells in {time.perf_counter() - t0:.0f} s; JSON: {json_path}")


if __name__ == "__main__":
    main()
