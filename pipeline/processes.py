"""Process checks without torch: the `augment` entry point and `augment server` use them
before anything heavy is imported."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID runs (a staging folder's, a server's or a runner's
    owner). A finished child of this process is gone: it is reaped here, since until then
    the system still answers for its PID."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:  # not a child of this process: it runs
        return True


@contextmanager
def signals_deferred(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[list[int]]:
    """Hold Ctrl-C and SIGTERM back while the block runs, then deliver them to the handlers
    of before: a few steps that must happen all together (register, move aliases, publish)
    are never cut in the middle. Outside the main thread nothing can be held back."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum)) for s in signums}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


_dropped: list[BaseException] | None = None  # while interruptions_kept() runs: Ctrl-C or SIGTERM Python dropped


@contextmanager
def interruptions_kept() -> Iterator[None]:
    """Keep Ctrl-C and SIGTERM that Python would drop. A signal's exception raised while the
    main thread runs a finalizer (a `__del__`, a weakref callback, as database connections
    and tensors use) is printed as "Exception ignored" and lost: the run would go on and
    finish. Here it is kept, and `raise_if_interrupted` raises it again at the next check."""
    global _dropped
    previous, _dropped = sys.unraisablehook, []

    def keep(unraisable) -> None:
        if unraisable.exc_type is not None and not issubclass(unraisable.exc_type, Exception):
            if _dropped is not None:
                _dropped.append(unraisable.exc_value or unraisable.exc_type())
            return
        previous(unraisable)

    sys.unraisablehook = keep
    try:
        yield
    finally:
        sys.unraisablehook, _dropped = previous, None


def raise_if_interrupted() -> None:
    """Raise the Ctrl-C or SIGTERM that a finalizer swallowed since interruptions_kept()
    began (a check the training loop and each stage of a run make)."""
    if _dropped:
        raise _dropped.pop(0)


def lock_held(path: Path) -> bool:
    """Whether some process holds the lock of `path` (a server's or runner's state file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's own lock
    return False


def hold_locked(path: Path, state: dict) -> int | None:
    """An open, locked descriptor of the state file `path` with `state` written in it, for the
    process started next to inherit (pass_fds) and keep for its whole life; None where some
    process holds it already. One server (or runner) per home however they were killed: the
    system drops the lock only when the last process holding it is gone."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(state).encode(), 0)
    return fd


def wait_unlocked(path: Path, timeout: float) -> bool:
    """Wait until no process holds the lock of `path`; whether none does."""
    deadline = time.monotonic() + timeout
    while lock_held(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
