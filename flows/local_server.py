"""The local Prefect server that `augment` keeps alive between runs on the embedded default.

Prefect's own ephemeral server costs 10-25 s at the start of every process and is stopped
at its end. Instead, the first `augment run` starts one server for its artifacts home and
later runs reuse it (about a second). It is visible and bounded:

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
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.processes import pid_alive

IDLE_SECONDS = int(os.environ.get("AUGMENT_SERVER_IDLE", "900"))
START_TIMEOUT = 120.0  # the first start creates the database (23 s measured on a fresh home)


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
    """The running server of this artifacts home, or None."""
    files = _files(root)
    try:
        state = json.loads(files["state"].read_text())
    except (OSError, ValueError):
        return None
    if not pid_alive(state["pid"]) or not _healthy(state["url"]):
        return None
    used = files["used"].stat().st_mtime if files["used"].exists() else state["started"]
    return state | {"idle_seconds": round(time.time() - used), "stops_after_idle_seconds": state["idle"]}


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(_files(root)["lock"], "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two runs starting at once start one server
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(root: Path) -> str:
    """The API URL of this home's server, started if none runs; marks it as used now."""
    files = _files(root, create=True)
    files["used"].touch()
    with _locked(root):
        running = status(root)
        if running:
            return running["url"]
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        with open(files["log"], "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.local_server", str(root), str(port), str(IDLE_SECONDS)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=os.environ | {"PREFECT_HOME": str(files["home"])},
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not start; see {files['log']}")
            time.sleep(0.2)
        state = {"pid": process.pid, "port": port, "url": url, "started": time.time(), "idle": IDLE_SECONDS}
        files["state"].write_text(json.dumps(state))
        return url


def touch(root: Path) -> None:
    used = _files(root)["used"]
    if used.parent.exists():
        used.touch()


def stop(root: Path, timeout: float = 20.0) -> bool:
    """Stop this home's server; True if one was running."""
    files = _files(root)
    try:
        pid = json.loads(files["state"].read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return False
    if not pid_alive(pid):
        files["state"].unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
        _reap(pid)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    files["state"].unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(root: Path, port: int, idle: int) -> None:
    """The server's own process: uvicorn with Prefect's API, stopped on SIGTERM or when idle."""
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
    try:
        _files(root)["state"].unlink(missing_ok=True)
    except OSError:  # the home was removed while the server ran
        pass


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))


@contextmanager
def api_for_run(root: Path) -> Iterator[None]:
    """Point this process at the home's local server for one run (unless PREFECT_API_URL names
    a server already, or AUGMENT_EPHEMERAL=1 asks for Prefect's own temporary one), and keep
    the server from going idle while the run lasts."""
    import threading

    if os.environ.get("PREFECT_API_URL") or os.environ.get("AUGMENT_EPHEMERAL") == "1":
        yield
        return
    os.environ["PREFECT_API_URL"] = ensure(root)
    os.environ.setdefault("PREFECT_UI_URL", "")  # the local server serves no UI: print no link to one
    done = threading.Event()

    def keep_alive() -> None:
        while not done.wait(30.0):
            touch(root)

    thread = threading.Thread(target=keep_alive, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        touch(root)
