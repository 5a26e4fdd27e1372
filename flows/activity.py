"""Which commands of an artifacts home are running now, so that `augment server stop` does
not pull the local Prefect server from under a run (it would fail half way).

Each `augment run` and `augment generate` holds a lock on a small file in <home>/active/
while it runs; the system drops the lock when the process ends, however it ends, so a file
whose lock is free belongs to a command that is gone and is removed by the next look.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _folder(root: Path) -> Path:
    return root / "active"


@contextmanager
def running(root: Path, argv: list[str]) -> Iterator[None]:
    """Mark this process as a command of `root` while the block runs."""
    folder = _folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"pid": os.getpid(), "command": " ".join(["augment", *argv]), "cwd": os.getcwd(), "started": time.time()}
    tmp = folder / f".{os.getpid()}.tmp"
    handle = open(tmp, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # locked before it has its listed name: never seen unlocked
        handle.write(json.dumps(entry))
        handle.flush()
        final = folder / f"{os.getpid()}.json"
        os.replace(tmp, final)
        try:
            yield
        finally:
            final.unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)
        handle.close()
        try:
            folder.rmdir()  # the last command of the home leaves no folder behind
        except OSError:
            pass


def in_progress(root: Path) -> list[dict]:
    """The commands of `root` that run now (pid, command, cwd, started); leftovers of
    commands that ended without removing their file are removed."""
    found = []
    try:
        paths = sorted(_folder(root).glob("*.json"))
    except FileNotFoundError:  # the home's last command removed the folder while it was being listed
        return []
    for path in paths:
        try:
            with open(path) as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    found.append(json.loads(handle.read() or "{}"))
                    continue
                path.unlink(missing_ok=True)  # its command is gone
        except (OSError, ValueError):
            continue
    return [entry for entry in found if "pid" in entry]


def describe(entry: dict) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(entry.get("started", 0)))
    return f"pid {entry['pid']}, `{entry.get('command', '?')}` in {entry.get('cwd', '?')}, started {started}"
