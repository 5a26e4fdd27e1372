"""One local Prefect server and one warm runner per artifacts home, whatever moment the first
run of the home was killed at (the server's own start-up included): the rerun leaves exactly
one of each (no runner where it is turned off), and `augment server stop` ends them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import _fresh_env

from flows import local_server, runner_state

pytestmark = pytest.mark.flow

ARGS = ["run", "--data", "iris", "--real-per-class", "5", "--per-class", "4", "--no-gate", "--epochs", "3"]
ENTRY = [sys.executable, "-c", "import sys; from flows.runner import main; sys.argv[0] = 'augment'; main()"]


def _augment(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*ENTRY, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _staging(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.staging-*"))


MOMENTS = {
    "right after start": lambda home, out, t: time.monotonic() - t > 0.5,
    "server start-up": lambda home, out, t: (local_server.status(home) or {}).get("ready") is False,
    "training": lambda home, out, t: any(s.exists() and not (s / "model").exists() for s in _staging(out)),
    "runner start-up": lambda home, out, t: (home / "runner" / "runner.json").exists(),
}


def _processes(home: Path, module: str) -> list[int]:
    """PIDs of `python -m <module> <home> ...` (a runner's forked jobs included)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if module in argv and str(home) in argv:
            found.append(int(proc.name))
    return found


def _of_home(home: Path) -> list[int]:
    """Every process that names the home on its command line or in its environment."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            text = (proc / "cmdline").read_bytes() + b"\0" + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(home).encode() in text.split(b"\0") or f"AUGMENT_HOME={home}".encode() in text.split(b"\0"):
            found.append(int(proc.name))
    return [pid for pid in found if pid != os.getpid()]


def _settled(check, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.5)


@pytest.mark.parametrize(("moment", "turned_on"), [(moment, True) for moment in MOMENTS] + [("server start-up", False)])
def test_a_killed_first_run_leaves_one_server_and_one_runner(tmp_path, moment, turned_on):
    home, out = tmp_path / "home", tmp_path / "out"
    env = _fresh_env(home) | {"AUGMENT_RUNNER": "1" if turned_on else "0"}
    try:
        first, began = _augment(ARGS + ["--out", str(out)], env, tmp_path), time.monotonic()
        deadline = began + 300
        while not MOMENTS[moment](home, out, began) and first.poll() is None:
            assert time.monotonic() < deadline, f"the run never reached {moment}"
            time.sleep(0.02)
        first.kill()  # SIGKILL: no handler, no finally
        first.wait()

        rerun = _augment(ARGS + ["--out", str(tmp_path / "again")], env, tmp_path)
        assert rerun.wait(timeout=600) == 0, rerun.stdout.read().decode()[-3000:]
        if turned_on:
            _settled(lambda: (runner_state.status(home) or {}).get("ready") is True)
        time.sleep(1.0)  # a second server or runner started by the rerun would show by now
        assert len(_processes(home, "flows.local_server")) == 1, moment
        assert len(_processes(home, "flows.runner")) == (1 if turned_on else 0), moment
        assert local_server.status(home)["pid"] in _processes(home, "flows.local_server")
        if turned_on:
            assert runner_state.status(home)["pid"] in _processes(home, "flows.runner")

        stop = subprocess.run([*ENTRY, "server", "stop", "--force"], env=env, cwd=tmp_path, capture_output=True)
        assert stop.returncode == 0, stop.stderr
        _settled(lambda: not _of_home(home), timeout=30)
    finally:
        for pid in _of_home(home):  # whatever a failed assertion left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
