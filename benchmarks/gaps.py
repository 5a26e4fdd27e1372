"""Missing cells per class and column: the real rows, the CVAE's rows drawn cell by cell as the
decoder gives them ("before"), and drawn through pipeline/gaps.py's calibration ("after").

The table is tests/test_gaps.py's: three classes of 240/160/80 rows, `rare` missing in 1 % of
rows, `common` in 20 %, `p1` and `p2` always together in 10 %, the category `cat` in 3 %.
`together` is the share of rows missing p1 or p2 that miss both (real: 1.0); `all` weighs
classes as the real rows do.

    PYTHONPATH=. .venv/bin/python benchmarks/gaps.py --steps 3000     # about 30 s on one core
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_gaps import GAP_COLUMNS, SIZES, _table  # noqa: E402

from pipeline import CVAESynthesizer  # noqa: E402


def rates(rows: pd.DataFrame) -> pd.DataFrame:
    """Missing share per class and column, the class-weighted total, and `together`."""
    table = rows.groupby("label")[GAP_COLUMNS].agg(lambda s: s.isna().mean())
    weights = pd.Series(SIZES) / sum(SIZES.values())
    table.loc["all"] = table.loc[list(SIZES)].mul(weights, axis=0).sum()
    both = rows["p1"].isna() & rows["p2"].isna()
    either = rows["p1"].isna() | rows["p2"].isna()
    per_class = [both[rows["label"] == c].sum() / max(either[rows["label"] == c].sum(), 1) for c in SIZES]
    table["together"] = per_class + [both.sum() / max(either.sum(), 1)]
    return table.round(4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--per-class", type=int, default=3000)
    args = parser.parse_args()
    real = _table()
    gen = CVAESynthesizer(seed=0, target_steps=args.steps).fit(real, label="label")
    after = gen.sample(per_class=args.per_class)
    gen.gaps = None
    before = gen.sample(per_class=args.per_class)
    for name, rows in (("real", real), ("before", before), ("after", after)):
        print(f"{name}\n{rates(rows).to_string()}\n")


if __name__ == "__main__":
    main()
