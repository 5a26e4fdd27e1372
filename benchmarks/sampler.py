"""CVAESampler beside SMOTE in the same imbalanced-learn pipeline, cross-validated.

    make_pipeline(<sampler>, RandomForestClassifier(random_state=0)) in cross_val_score,
    5 stratified folds, macro-F1, on tables with a rare class; no sampler (the real rows
    alone) as the reference. Seconds are wall time of the whole cross_val_score (the sampler's
    fit on each fold included), torch on 1 thread.

Tables: wine with class_2 cut to 10 rows; breast_cancer with the malignant class cut to 20
rows; penguins (numeric columns, rows with missing values dropped) with Chinstrap cut to 10.

Run (about 3 minutes on a 2-core CPU box):

    .venv/bin/python benchmarks/sampler.py --out benchmarks/results/sampler.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

from pipeline import CVAESampler
from pipeline.data.builtin import BUILTINS


def table(name: str, rare: str, keep: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Numeric features and labels of a built-in table with class `rare` cut to `keep` rows."""
    frame, label = BUILTINS[name]()
    frame = frame.dropna()
    cut = frame[frame[label].astype(str) == rare].sample(keep, random_state=seed)
    frame = pd.concat([frame[frame[label].astype(str) != rare], cut])
    x = frame.drop(columns=[label]).select_dtypes("number").to_numpy(dtype=np.float64)
    return x, frame[label].astype(str).to_numpy()


TABLES = {"wine": ("class_2", 10), "breast_cancer": ("malignant", 20), "penguins": ("Chinstrap", 10)}


def samplers(seed: int) -> dict:
    return {
        "none": None,
        "SMOTE": SMOTE(random_state=seed, k_neighbors=4),
        "CVAESampler": CVAESampler(random_state=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, (rare, keep) in TABLES.items():
        x, y = table(name, rare, keep, args.seed)
        folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
        for method, sampler in samplers(args.seed).items():
            forest = RandomForestClassifier(random_state=args.seed)
            model = forest if sampler is None else make_pipeline(sampler, forest)
            start = time.perf_counter()
            scores = cross_val_score(model, x, y, scoring="f1_macro", cv=folds)
            seconds = time.perf_counter() - start
            counts = dict(zip(*np.unique(y, return_counts=True)))
            rows.append((name, f"{rare} {keep} of {len(y)}", method, 100 * scores.mean(), 100 * scores.std(), seconds))
            f1 = f"macro-F1 {100 * scores.mean():5.1f} +- {100 * scores.std():4.1f}"
            print(f"{name:14s} {method:12s} {f1}  {seconds:6.1f} s  {counts}")
    lines = [
        "| table | rare class (rows of all) | sampler | macro-F1 (5 folds, mean) | sd | seconds |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {t} | {r} | {m} | {f:.1f} | {s:.1f} | {sec:.1f} |" for t, r, m, f, s, sec in rows]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
