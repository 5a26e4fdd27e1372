"""A run killed while training, generating or writing leaves the previous outputs as they
were and no temporary file; the rerun ends with a consistent set of outputs; and no process
is left but the local Prefect server, which `augment server stop` ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.flow

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "run",
    "--data",
    "iris",
    "--real-per-class",
    "10",
    "--per-class",
    "1500",
    "--epochs",
    "200",
    "--no-gate",
    "--generator",
    "cvae",  # the CVAE's rows in augmented.parquet too: what a kill must not half-write
    "--accept",
    "all",
    "--seed",
    "5",
]


def _start(home: Path, out: Path) -> subprocess.Popen:
    env = os.environ | {"AUGMENT_HOME": str(home), "AUGMENT_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *ARGS, "--out", str(out)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the run never reached the point to kill it at"
        time.sleep(0.02)


def _stage(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.staging-*"))


POINTS = {
    "training": lambda out: (
        any(s.exists() for s in _stage(out)) and not any((s / "model").exists() for s in _stage(out))
    ),
    "generating": lambda out: any((s / "model" / "spec.json").exists() for s in _stage(out)),
    "writing": lambda out: any(s.glob(".synthetic.parquet.*.tmp") for s in _stage(out)),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete run: the outputs a killed rerun must leave alone."""
    home, out = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("runs") / "out"
    proc = _start(home, out)
    assert proc.wait(timeout=600) == 0, proc.stdout.read().decode()[-3000:]
    yield home, out
    subprocess.run(
        [sys.executable, "-m", "flows.cli", "server", "stop"],
        env=os.environ | {"AUGMENT_HOME": str(home)},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert not _processes_of(home)


def _processes_of(home: Path) -> list[int]:
    """PIDs whose command line names this artifacts home (the local server names its home)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(home) in cmdline or f"AUGMENT_HOME={home}\0" in environ:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_run_changes_nothing_and_the_rerun_is_whole(finished, point):
    home, out = finished
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    proc = _start(home, out)
    _wait_for(lambda: POINTS[point](out), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # the previous set, untouched
    assert not list(out.rglob("*.tmp"))
    rerun = _start(home, out)
    assert rerun.wait(timeout=600) == 0, rerun.stdout.read().decode()[-3000:]
    assert not _stage(out) and not list(out.parent.glob(f".{out.name}.*"))  # stale staging of the killed run gone
    summary = json.loads((out / "summary.json").read_text())
    synthetic, augmented = pd.read_parquet(out / "synthetic.parquet"), pd.read_parquet(out / "augmented.parquet")
    assert augmented["is_synthetic"].sum() == synthetic["accepted"].sum() == summary["accepted_rows"]
    state = json.loads((home / "prefect" / "server.json").read_text())
    assert set(_processes_of(home)) - {state["pid"]} <= set(_children(state["pid"]))  # only the local server


def _children(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            out.append(int(proc.name))
    return out
