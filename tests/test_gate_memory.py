"""The gate's worker processes are bounded by the machine's free memory, and none outlives its run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from pipeline.quality import memory, parallel
from pipeline.quality.parallel import Workers

MB = 2**20


def test_workers_that_fit_the_free_memory():
    need = memory.per_worker_bytes(10 * MB)
    assert memory.workers_that_fit(4, 10 * MB, available=100 * need) == (4, None)
    fits, why = memory.workers_that_fit(8, 10 * MB, available=int(3 * need / memory.HEADROOM) + 1)
    assert fits == 3 and why.startswith("3 of 8 workers") and "MB is free" in why
    assert memory.workers_that_fit(8, 10 * MB, available=MB)[0] == 1  # always at least one
    assert memory.workers_that_fit(8, 10 * MB, available=None) == (8, None) or memory.available_bytes() is None


def test_the_free_memory_is_read_from_the_machine():
    free = memory.available_bytes()
    assert free is None or 0 < free < 2**50


def _square(state, job):
    return state * job * job


def test_too_little_memory_for_two_workers_runs_here_with_the_same_results(monkeypatch):
    monkeypatch.setattr(parallel, "workers_that_fit", lambda wanted, size: memory.workers_that_fit(wanted, size, MB))
    with Workers(2, 10) as pool:
        assert pool.map(_square, range(5)) == [10 * j * j for j in range(5)]
        assert pool.workers == 1 and pool._pool is None and pool.memory_note.startswith("1 of 2 workers")


SCRIPT = """
import os, sys, time
from pipeline.quality.parallel import Workers

def sleeper(folder, job):
    open(os.path.join(folder, f"{os.getpid()}.pid"), "w").close()
    time.sleep(120)

if __name__ == "__main__":
    with Workers(2, sys.argv[1]) as pool:
        pool.map(sleeper, range(2))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended; only its parent has not reaped it
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_end_when_their_run_is_killed(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    run = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert time.monotonic() < deadline and run.poll() is None, "the workers never started their jobs"
            time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its run by 15 s"


def test_a_table_too_large_for_the_free_memory_is_refused_before_anything_starts(monkeypatch, tmp_path):
    import pandas as pd
    import pytest

    from pipeline import job
    from pipeline.config import RunConfig
    from pipeline.errors import ConfigError

    frame = pd.DataFrame({"a": range(300), "b": range(300), "y": ["p", "q", "r"] * 100})
    frame.to_parquet(tmp_path / "t.parquet")
    config = RunConfig.model_validate(
        {"data": {"source": str(tmp_path / "t.parquet"), "label": "y"}, "sample": {"per_class": 5}}
    )
    room = memory.BYTES_PER_CELL * 2 * 150  # room for 150 rows x 2 columns
    monkeypatch.setattr(memory, "available_bytes", lambda: room)
    with pytest.raises(ConfigError) as refused:
        job.validate(config)
    assert "300 rows x 2 columns need about" in str(refused.value)
    assert "--real-per-class 50 (about 150 rows)" in refused.value.fix
    monkeypatch.setattr(memory, "available_bytes", lambda: 10 * room)
    assert len(job.validate(config)[0].frame) == 300
    assert list(tmp_path.iterdir()) == [tmp_path / "t.parquet"]  # nothing written
