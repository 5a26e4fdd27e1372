"""The local Prefect server that `augment` keeps alive between runs on the embedded default.

Prefect's own ephemeral server costs 10-25 s at the start of every process and is stopped
at its end. Instead, the first `augment run` starts one server for its artifacts home and
later runs reuse it (about a second). A new home's database starts as a copy of an empty
migrated one (`prepare_database`). It is visible and bounded:

- `augment server status` shows it (PID, port, idle time); `augment server stop` stops it;
- it stops by itself after `AUGMENT_SERVER_IDLE` seconds (default 900) without a run;
- it listens on 127.0.0.1 only, its database and log live in <artifacts home>/prefect/.

With PREFECT_API_URL set (a real stack), none of this runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from flows.settings import idle_seconds
from pipeline.errors import AugmentError
from pipeline.processes import held_state, hold_locked, lock_held, record_own_pid, wait_unlocked

IDLE_SECONDS = idle_seconds()  # a bad $AUGMENT_SERVER_IDLE is refused by the command, not at import
START_TIMEOUT = 120.0  # the machine's first home migrates the database (25 s measured)


def _files(root: Path, create: bool = False) -> dict[str, Path]:
    home = root / "prefect"
    if create:  # only a start creates the folder: a stop must not bring back a removed home
        home.mkdir(parents=True, exist_ok=True)
    return {
        "state": home / "server.json",
        "lock": home / "server.lock",
        "used": home / "server.used",
        "log": home / "server.log",
        "home": home,
    }


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except OSError:
        return False


def status(root: Path) -> dict | None:
    """The server of this home that runs or is starting (`ready`: it answers), or None."""
    files = _files(root)
    state = _state(root)
    if state is None:
        return None
    used = files["used"].stat().st_mtime if files["used"].exists() else state["started"]
    return state | {
        "idle_seconds": round(time.time() - used),
        "stops_after_idle_seconds": state["idle"],
    }


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(_files(root)["lock"], "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two runs starting at once start one server
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _state(root: Path) -> dict | None:
    """The state of a server that runs or is starting: its state file is locked for as long
    as any of its processes lives (`_hold`), so a slow answer never counts as no server."""
    path = _files(root)["state"]
    if not lock_held(path):
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state | {"ready": _healthy(state["url"])}


def start(root: Path) -> str:
    """The API URL of this home's server, started if none runs or starts (without waiting
    for it: `wait_ready`); marks it as used now."""
    files = _files(root, create=True)
    files["used"].touch()
    with _locked(root):
        running = _state(root)
        if running:
            return running["url"]
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        state = {"pid": None, "port": port, "url": url, "started": time.time(), "idle": IDLE_SECONDS}
        fd = hold_locked(files["state"], state)
        if fd is None:  # a server of this home is still going away (stop, idle): wait for it
            wait_unlocked(files["state"], 20.0)
            fd = hold_locked(files["state"], state)
            if fd is None:
                raise AugmentError(
                    "another local Prefect server of this home does not stop",
                    "`augment server stop`, then run again",
                )
        try:
            with open(files["log"], "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "flows.local_server", str(root), str(port), str(IDLE_SECONDS), str(fd)],
                    stdout=log,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=(fd,),
                    env=os.environ | {"PREFECT_HOME": str(files["home"])},
                )
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(state | {"pid": process.pid}).encode(), 0)
        finally:
            os.close(fd)  # the server holds the lock now; this process no longer does
        return url


def wait_ready(root: Path, url: str) -> None:
    """Wait until the server at `url` answers; a clear error if it stops or never answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _healthy(url):
        if _state(root) is None or time.monotonic() > deadline:
            raise AugmentError(
                f"the local Prefect server did not start (its log: {_files(root)['log']})",
                "read the log's last lines; `augment server stop` and run again, or set AUGMENT_EPHEMERAL=1",
            )
        time.sleep(0.2)


def ensure(root: Path) -> str:
    """The API URL of this home's server, started if none runs, once it answers."""
    url = start(root)
    wait_ready(root, url)
    return url


def touch(root: Path) -> None:
    used = _files(root)["used"]
    if used.parent.exists():
        used.touch()


def stop(root: Path, timeout: float = 20.0) -> bool:
    """Stop this home's server (its process and uvicorn's); True if one was running."""
    files = _files(root)
    state = held_state(files["state"])
    if state is None:
        files["state"].unlink(missing_ok=True)
        return False
    pid = state.get("pid")
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_unlocked(files["state"], timeout):
            try:
                os.killpg(pid, signal.SIGKILL)  # the server's session: it and uvicorn
            except ProcessLookupError:
                pass
            wait_unlocked(files["state"], 5.0)
    if not lock_held(files["state"]):  # removed only once nothing holds it: else a second server could start
        files["state"].unlink(missing_ok=True)
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_settings_given() -> bool:
    """Whether the environment points Prefect's server at a database of its own choosing."""
    return any(k.startswith(("PREFECT_API_DATABASE", "PREFECT_SERVER_DATABASE")) for k in os.environ)


def _template_path() -> Path:
    """An empty database at the head of this Prefect version's migrations, shared by the
    user's artifacts homes (a cache: deleting it costs the next new home the migrations)."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "augment" / f"prefect-{version('prefect')}-empty.db"


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API, put in place whole (rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(handle)
    try:
        src, dst = sqlite3.connect(source), sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def _make_template(template: Path) -> None:
    """Run Prefect's own migrations once into an empty database kept as the template."""
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "prefect.db"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import asyncio; from prefect.server.database import provide_database_interface; "
                "asyncio.run(provide_database_interface().create_db())",
            ],
            check=True,
            stdin=subprocess.DEVNULL,
            env=os.environ
            | {"PREFECT_HOME": scratch, "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}"},
        )
        _copy_database(database, template)


def prepare_database(home: Path) -> None:
    """Give a new home's server an empty, migrated database to start from.

    Prefect migrates a new database step by step at its first start (about 17 s of a 23 s
    start here); a copy of one migrated before takes milliseconds. Nothing happens where the
    home has a database already or the environment chooses Prefect's database; where the
    copy cannot be made, the server migrates its database itself, as before."""
    database = home / "prefect.db"
    if database.exists() or _database_settings_given():
        return
    template = _template_path()
    try:
        if not template.exists():
            _make_template(template)
        _copy_database(template, database)
    except (OSError, sqlite3.Error, subprocess.CalledProcessError) as exc:
        print(f"no database template ({exc}); Prefect migrates the new database itself", file=sys.stderr)


def _die_with_parent() -> None:
    """In uvicorn's process before it starts: end when the server's process ends, even by
    SIGKILL, so no uvicorn outlives it (Linux; elsewhere the lock still tells it runs)."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(root: Path, port: int, idle: int, lock_fd: int | None = None) -> None:
    """The server's own process: uvicorn with Prefect's API, stopped on SIGTERM or when idle.
    Both keep the state file's lock (`lock_fd`) for as long as either lives."""
    if lock_fd is not None:
        record_own_pid(lock_fd)
    prepare_database(_files(root)["home"])
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ],
        env=os.environ | {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"},
        pass_fds=() if lock_fd is None else (lock_fd,),
        preexec_fn=_die_with_parent,
    )
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    used = _files(root)["used"]
    while not stopping and server.poll() is None:
        time.sleep(1.0)
        if time.time() - (used.stat().st_mtime if used.exists() else 0) > idle:
            break
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)


@contextmanager
def api_for_run(root: Path) -> Iterator[Callable[[], None]]:
    """Point this process at the home's local server for one run (unless PREFECT_API_URL names
    a server already, or AUGMENT_EPHEMERAL=1 asks for Prefect's own temporary one), and keep
    the server from going idle while the run lasts. Yields a call that waits until the server
    answers: a server that starts now does so while the caller imports Prefect and MLflow."""
    import threading

    if os.environ.get("PREFECT_API_URL") or os.environ.get("AUGMENT_EPHEMERAL") == "1":
        yield lambda: None
        return
    url = start(root)
    os.environ["PREFECT_API_URL"] = url
    os.environ.setdefault("PREFECT_UI_URL", "")  # the local server serves no UI: print no link to one
    done = threading.Event()

    def keep_alive() -> None:
        while not done.wait(30.0):
            touch(root)

    thread = threading.Thread(target=keep_alive, daemon=True)
    thread.start()
    try:
        yield lambda: wait_ready(root, url)
    finally:
        done.set()
        touch(root)
