"""The local Prefect server of an artifacts home: a new home's server starts from a copy of an
empty migrated database (Prefect's own migrations, run once), and a start does not wait."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows import local_server
from pipeline.processes import pid_alive, wait_unlocked


def _tables(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    connection.close()
    return dict(rows)


def _revision(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    connection.close()
    return revision


def _small_database(path: Path, table: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE {table} (x INTEGER)")
    connection.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty server home, with a stand-in template (one table, `template`) in a private cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template = local_server._template_path()
    template.parent.mkdir(parents=True)
    _small_database(template, "template")
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_a_new_home_copies_the_template(home: Path) -> None:
    local_server.prepare_database(home)
    template = local_server._template_path()
    assert set(_tables(home / "prefect.db")) == {"template"}
    assert not list(template.parent.glob("*.partial")) and not list(home.glob("*.partial"))


def test_an_existing_database_or_a_chosen_one_is_left_alone(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_database(home / "prefect.db", "runs_of_this_home")
    local_server.prepare_database(home)
    assert set(_tables(home / "prefect.db")) == {"runs_of_this_home"}

    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://db/prefect")
    local_server.prepare_database(other)
    assert not (other / "prefect.db").exists()


def test_servers_of_new_homes_start_from_one_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first new home runs Prefect's migrations into the template; the second home's
    server starts from a copy of it and answers, at the same schema and revision."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("AUGMENT_HOME", str(first))
    try:
        url = local_server.start(first)
        assert local_server.start(first) == url  # a second caller waits for the same server
        assert f"local Prefect server: pid {local_server.status(first)['pid']}, {url}, starting" in _server_status()
        local_server.wait_ready(first, url)
        assert f"{url}, ready, idle" in _server_status()
        template = local_server._template_path()
        assert template.exists()
        local_server.ensure(second)
        assert local_server.status(second) is not None
        assert _revision(second / "prefect" / "prefect.db") == _revision(template)
        assert _tables(second / "prefect" / "prefect.db").keys() == _tables(first / "prefect" / "prefect.db").keys()
    finally:
        local_server.stop(first)
        local_server.stop(second)
    assert local_server.status(first) is None and local_server.status(second) is None
    assert f"no local Prefect server runs for {first}" in _server_status()


def _server_status() -> str:
    """What `augment server status` prints for the home AUGMENT_HOME names."""
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["server", "status"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the console wraps long lines at the terminal's width


def test_a_finished_child_is_gone_before_anyone_reaps_it() -> None:
    """A server or runner this process started and that has exited must not count as running
    (the system answers for its PID until it is reaped)."""
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert pid_alive(running.pid)
        deadline = time.monotonic() + 30
        while pid_alive(finished.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(finished.pid)
        assert pid_alive(running.pid)
    finally:
        running.kill()
        running.wait()


def _processes_of(home: Path) -> set[int]:
    """PIDs whose command line or environment names this home (the server and its uvicorn)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(home).encode() in text and int(proc.name) != os.getpid():
            found.add(int(proc.name))
    return found


def test_one_server_per_home_whatever_was_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that answers slowly is still the home's server (no second one starts), and
    one killed with SIGKILL takes its uvicorn with it: the next start leaves exactly one."""
    home = tmp_path / "home"
    url = local_server.ensure(home)
    first = local_server.status(home)["pid"]
    try:
        processes = _processes_of(home)
        assert first in processes and len(processes) == 2  # the server and its uvicorn
        monkeypatch.setattr(local_server, "_healthy", lambda *args, **kwargs: False)
        monkeypatch.setattr(local_server, "START_TIMEOUT", 0.0)  # as if it had started long ago
        assert local_server.start(home) == url and _processes_of(home) == processes
        monkeypatch.undo()
        os.kill(first, signal.SIGKILL)
        assert wait_unlocked(home / "prefect" / "server.json", 20.0)
        local_server.ensure(home)
        again = _processes_of(home)
        assert len(again) == 2 and not again & processes
    finally:
        local_server.stop(home)
    assert not _processes_of(home) and local_server.status(home) is None
