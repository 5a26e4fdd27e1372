"""Where an artifacts home's warm runner keeps its state, and what others may ask of it.

`augment server status` and `augment server stop` (flows/cli.py) need the runner's state
and a way to stop it; the runner itself (flows/runner.py) runs the CLI. This module is the
part both need, below both, so neither imports the other for it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import tempfile
import time
from pathlib import Path

from flows.settings import idle_seconds
from pipeline.processes import held_state, lock_held, wait_unlocked

IDLE_SECONDS = idle_seconds()  # a bad $AUGMENT_SERVER_IDLE is refused by the command, not at import


def runner_files(root: Path) -> dict[str, Path]:
    """The runner's state file (locked by the runner for its whole life), lock and log."""
    home = root / "runner"
    return {"state": home / "runner.json", "lock": home / "runner.lock", "log": home / "runner.log", "home": home}


def socket_path(root: Path) -> Path:
    """A short path (Unix sockets allow ~100 bytes) in a per-user folder only its user opens."""
    folder = Path(tempfile.gettempdir()) / f"augment-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise PermissionError(f"{folder} is not private to this user")
    return folder / (hashlib.sha256(str(root).encode()).hexdigest()[:24] + ".sock")


def status(root: Path) -> dict | None:
    """This home's runner (pid, ready, idle seconds), or None."""
    state = held_state(runner_files(root)["state"])  # locked by the runner for as long as it lives
    if not state or not state.get("pid"):
        return None
    used = state.get("used", state.get("started", time.time()))
    try:
        used = max(used, socket_path(root).stat().st_mtime)
    except OSError:
        pass
    return state | {"idle_seconds": round(time.time() - used), "stops_after_idle_seconds": IDLE_SECONDS}


def stop(root: Path, timeout: float = 10.0) -> bool:
    """Stop this home's runner; True if one was running. Jobs it is serving run to their end."""
    state, state_file = status(root), runner_files(root)["state"]
    if state is None:
        return False
    try:
        os.kill(state["pid"], signal.SIGTERM)
        if not wait_unlocked(state_file, timeout):
            os.kill(state["pid"], signal.SIGKILL)
            wait_unlocked(state_file, 5.0)
    except ProcessLookupError:
        pass
    if not lock_held(state_file):  # removed only once nothing holds it: else a second runner could start
        state_file.unlink(missing_ok=True)
    return True
