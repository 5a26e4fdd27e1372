"""The warm runner: a served command behaves as one run in its own process (output, files,
exit status), callers with other settings are not served, and `augment server stop` stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from flows import local_server, runner_state

ROOT = Path(__file__).resolve().parents[1]
BAD = ["run", "--data", "iris", "--per-class", "5", "--classes", "nope"]


def _augment(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """`augment ARGS` through the console script's entry point."""
    command = [sys.executable, "-c", "import sys; from flows.runner import main; sys.argv[0] = 'augment'; main()"]
    return subprocess.run(command + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def _served_lines(home: Path) -> list[str]:
    log = home / "runner" / "runner.log"
    return [line for line in log.read_text().splitlines() if " served " in line] if log.exists() else []


def _fresh_env(home: Path) -> dict[str, str]:
    """The environment a user's shell gives: without the defaults a command sets for itself."""
    from flows.settings import configure_environment

    probe = dict(os.environ)
    os.environ.clear()
    try:
        configure_environment(home)
        own = set(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(probe)
    env = {k: v for k, v in probe.items() if k not in own}
    turned_on = {"AUGMENT_RUNNER": "1", "AUGMENT_SERVER_IDLE": "120", "PYTHONPATH": str(ROOT)}
    return env | turned_on | {"AUGMENT_HOME": str(home)}


def test_warm_runner_serves_commands_like_a_fresh_process(tmp_path):
    home = tmp_path / "home"
    env = _fresh_env(home)
    args = ["run", "--data", "iris", "--real-per-class", "5", "--per-class", "4", "--no-gate", "--epochs", "2"]
    try:
        first = _augment(args + ["--out", str(tmp_path / "first")], env, tmp_path)  # runs here, then starts one
        assert first.returncode == 0, first.stderr
        deadline = time.monotonic() + 240
        while (runner_state.status(home) or {}).get("ready") is not True:
            assert time.monotonic() < deadline, (home / "runner" / "runner.log").read_text()
            time.sleep(0.5)
        assert _served_lines(home) == []

        out = tmp_path / "second"
        second = _augment(args + ["--out", str(out), "--json"], env, tmp_path)
        assert second.returncode == 0, second.stderr
        assert len(_served_lines(home)) == 1, (home / "runner" / "runner.log").read_text()
        summary = json.loads(second.stdout.strip().splitlines()[0])  # stdout is the caller's
        assert summary["out_dir"] == str(out)
        assert "Traceback" not in second.stderr and "ERROR" not in second.stderr
        pd.testing.assert_frame_equal(  # the same rows as the run in its own process
            pd.read_parquet(out / "synthetic.parquet"), pd.read_parquet(tmp_path / "first" / "synthetic.parquet")
        )

        bad = _augment(BAD, env, tmp_path)  # served: the error and exit status of a fresh process
        assert bad.returncode == 2 and "unknown class" in bad.stderr and "Traceback" not in bad.stderr
        assert len(_served_lines(home)) == 2

        other = _augment(BAD, env | {"AUGMENT_THREADS": "2"}, tmp_path)  # other settings: not served
        assert other.returncode == 2 and other.stderr == bad.stderr and len(_served_lines(home)) == 2
        assert runner_state.status(home) is not None  # and the runner stays for its own callers

        local_server.stop(home)  # its Prefect points at this server: it must not serve without it
        orphan = _augment(BAD, env, tmp_path)
        assert orphan.returncode == 2 and orphan.stderr == bad.stderr and len(_served_lines(home)) == 2
        assert "local Prefect server is not the one" in (home / "runner" / "runner.log").read_text()
        deadline = time.monotonic() + 240  # the command left a new runner (and server) behind
        while (runner_state.status(home) or {}).get("ready") is not True:
            assert time.monotonic() < deadline, (home / "runner" / "runner.log").read_text()
            time.sleep(0.5)
        assert local_server.status(home) is not None

        stop = _augment(["server", "stop"], env, tmp_path)
        assert "stopped the warm runner" in stop.stdout + stop.stderr
        assert runner_state.status(home) is None and not runner_state.socket_path(home).exists()
    finally:
        runner_state.stop(home)
        local_server.stop(home)
