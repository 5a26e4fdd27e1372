"""How many gate workers the machine's free memory holds, so that more workers never end in an
out-of-memory kill: each worker process holds its own torch and scikit-learn, a copy of the
run's shared state, and one job's working memory.

The figures are measured (benchmarks/cost_curves.py, proportional set size, so pages a worker
shares with the process it was forked from count once): a gate worker holds 300-470 MB on a
small job; its job's working memory grows with the rows it fits on.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import ConfigError

WORKER_BASE_BYTES = 450 * 2**20  # a gate worker on a small job (300-470 MB PSS measured), rounded up
# a job's working memory, as multiples of the shared state's pickled size: a 50,000-row table's gate
# (a 20,000-row sample, 1.7 MB of shared state) had workers of 486-548 MB, 450 + 64 x 1.7 = 560
JOB_FACTOR = 64
HEADROOM = 0.8  # of the memory available now: the rest for the run's own process and the system
CGROUP_FILES = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
CGROUP_USAGE = (Path("/sys/fs/cgroup/memory.current"), Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def available_bytes() -> int | None:
    """Memory this process may still take: the system's available memory, or the container's
    (cgroup) limit less its usage where that is smaller; None where neither can be read."""
    found = []
    try:
        import psutil

        found.append(int(psutil.virtual_memory().available))
    except (ImportError, OSError):
        pass
    for limit_file, usage_file in zip(CGROUP_FILES, CGROUP_USAGE):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:  # "max" or a huge number: no limit
            found.append(max(0, limit - usage))
    return min(found) if found else None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def per_worker_bytes(state_bytes: int) -> int:
    return WORKER_BASE_BYTES + JOB_FACTOR * state_bytes


def workers_that_fit(wanted: int, state_bytes: int, available: int | None = None) -> tuple[int, str | None]:
    """(workers, why fewer than wanted or None). At least one: a run on one worker is the
    product's own process, which holds the data already."""
    free = available_bytes() if available is None else available
    if wanted <= 1 or free is None:
        return max(1, wanted), None
    need = per_worker_bytes(state_bytes)
    fits = max(1, int(free * HEADROOM) // need)
    if fits >= wanted:
        return wanted, None
    return fits, (
        f"{fits} of {wanted} workers: each needs about {need / 2**20:,.0f} MB "
        f"and {free / 2**20:,.0f} MB is free{' (AUGMENT_WORKERS)' if os.environ.get('AUGMENT_WORKERS') else ''}"
    )


# the run's own process on a table, the gate's workers aside (benchmarks/cost_curves.py --probe,
# `--no-gate --epochs 1`): 1,229 MB for 10,000 rows x 50 columns, 2,832 MB for 200,000
# x 50, so about 180 bytes a cell past the process's own ~1.1 GB (torch, Prefect, MLflow), which
# it holds already, or nearly, when the data is checked
BYTES_PER_CELL = 180


def check_table_fits(rows: int, columns: int, classes: int, available: int | None = None) -> None:
    """A clear error, before anything starts, for a table whose run would not fit in the memory
    free now, instead of an out-of-memory kill half-way; with a sample size that fits."""
    free = available_bytes() if available is None else available
    need = BYTES_PER_CELL * rows * columns
    if free is None or need <= free:
        return
    fits = int(free // (BYTES_PER_CELL * max(columns, 1)))
    per_class = max(1, fits // max(classes, 1))
    raise ConfigError(
        f"{rows:,} rows x {columns} columns need about {need / 2**30:.1f} GB of memory for this run "
        f"and {free / 2**30:.1f} GB is free",
        f"take a sample with --real-per-class {per_class:,} (about {fits:,} rows), "
        "use fewer --columns, or run where more memory is free",
    )
