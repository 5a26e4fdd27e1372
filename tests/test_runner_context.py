"""The warm runner serves a command only in the caller's own context: a caller with another
umask, or inside a read-only bind mount over its output folder, runs the command in its own
process, told so in one `note:` line, and gets what it would get without a runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import _fresh_env, _served_lines

from flows import local_server, runner, runner_state
from pipeline.processes import context_differences

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "--data", "iris", "--real-per-class", "5", "--per-class", "4", "--no-gate", "--epochs", "1"]
ENTRY = [sys.executable, "-c", "import sys; from flows.runner import main; sys.argv[0] = 'augment'; main()"]


def _ready(home: Path) -> None:
    deadline = time.monotonic() + 240
    while (runner_state.status(home) or {}).get("ready") is not True:
        log = home / "runner" / "runner.log"
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no runner log"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A home whose runner is ready, started with umask 022."""
    home = tmp_path_factory.mktemp("home")
    env = _fresh_env(home)
    previous, switch = os.umask(0o022), os.environ.get("AUGMENT_RUNNER")
    os.environ["AUGMENT_RUNNER"] = "1"  # the test session turns it off (tests/conftest.py)
    try:
        runner.start_in_background(home, env)
    finally:
        os.umask(previous)
        os.environ["AUGMENT_RUNNER"] = switch if switch is not None else "0"
    try:
        _ready(home)
        yield home, env
    finally:
        runner_state.stop(home)
        local_server.stop(home)


def _modes(folder: Path) -> set[int]:
    return {p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")]}


def test_the_same_process_context_has_no_differences(tmp_path):
    assert context_differences(os.getpid(), os.getuid(), os.getgid(), os.getcwd()) == []
    child = subprocess.Popen(["sh", "-c", "umask 077; exec sleep 30"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        found = context_differences(child.pid, os.getuid(), os.getgid(), str(ROOT))
    finally:
        child.kill()
        child.wait()
    own = os.umask(0)
    os.umask(own)
    assert found == [f"umask (0077 here, {own:04o} in the runner)", "working folder"]
    assert context_differences(0, os.getuid(), os.getgid()) != []  # a peer the runner cannot see


def test_another_umask_runs_in_its_own_process_with_its_umask(warm, tmp_path):
    home, env = warm
    served = len(_served_lines(home))
    same = subprocess.run(
        ["sh", "-c", 'umask 022; exec "$@"', "sh", *ENTRY, *ARGS, "--out", str(tmp_path / "same")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert len(_served_lines(home)) == served + 1 and "note:" not in same.stderr  # the runner serves its own context

    out = tmp_path / "private"
    other = subprocess.run(
        ["sh", "-c", 'umask 077; exec "$@"', "sh", *ENTRY, *ARGS, "--out", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert len(_served_lines(home)) == served + 1  # not served
    notes = [line for line in other.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "umask (0077 here, 0022 in the runner)" in notes[0], other.stderr
    assert "its context differs" in (home / "runner" / "runner.log").read_text()
    assert (out / "summary.json").exists()
    assert all(mode & 0o077 == 0 for mode in _modes(out)), _modes(out)  # the caller's umask, not the runner's
    assert any(mode & 0o055 for mode in _modes(tmp_path / "same"))  # where the runner's 022 gave others access
    assert runner_state.status(home) is not None  # the runner stays for callers of its own context


def _can_bind_mount() -> str:
    """'' where this process may make a mount namespace with a read-only bind mount, else why not."""
    if os.geteuid() != 0:
        return "needs root for mount namespaces and bind mounts"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs unshare and mount (util-linux)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        return "cannot create a mount namespace here: " + probe.stderr.decode(errors="replace").strip()
    return ""


@pytest.mark.skipif(bool(_can_bind_mount()), reason=_can_bind_mount() or "-")
def test_a_read_only_bind_mount_is_not_escaped_through_the_runner(warm, tmp_path):
    home, env = warm
    served = len(_served_lines(home))
    parent = tmp_path / "view"
    parent.mkdir()
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'  # read-only in this namespace only

    def inside(extra: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(parent),
             *ENTRY, *ARGS, "--out", str(parent / "out")],
            env=env | extra, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    alone = inside({"AUGMENT_RUNNER": "0"})  # what the command does in its own process: refused
    assert alone.returncode != 0 and not (parent / "out").exists(), alone.stderr
    assert "note:" not in alone.stderr

    offered = inside({})
    assert offered.returncode == alone.returncode, offered.stderr
    assert not (parent / "out").exists() and list(parent.iterdir()) == []  # nothing written through the runner
    assert len(_served_lines(home)) == served
    notes = [line for line in offered.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "mnt namespace" in notes[0], offered.stderr
    assert [line for line in offered.stderr.splitlines() if not line.startswith("note:")] == alone.stderr.splitlines()
