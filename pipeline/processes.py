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


def record_own_pid(fd: int) -> None:
    """Write this process's PID into the state file it inherited locked (`hold_locked`), first
    thing: the process that started it may be killed before it writes the PID itself, and a
    state file without one would leave `augment server stop` nothing to stop."""
    try:
        state = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
    except ValueError:
        state = {}
    data = json.dumps(state | {"pid": os.getpid()}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def held_state(path: Path, patience: float = 5.0) -> dict | None:
    """The state in `path` while some process holds its lock (None once none does), waiting
    up to `patience` seconds for a process that has just started to record its PID."""
    deadline = time.monotonic() + patience
    while lock_held(path):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("pid") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)
    return None


def wait_unlocked(path: Path, timeout: float) -> bool:
    """Wait until no process holds the lock of `path`; whether none does."""
    deadline = time.monotonic() + timeout
    while lock_held(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- whether another process runs in this process's context ---------------------------------

NAMESPACES = ("mnt", "user", "pid", "net", "ipc", "uts", "cgroup")
STATUS_LABELS = {
    "Uid": "user ids",
    "Gid": "group ids",
    "Groups": "supplementary groups",
    "Umask": "umask",
    "CapEff": "capabilities",
    "CapBnd": "capability bounding set",
    "NoNewPrivs": "no-new-privileges flag",
    "Seccomp": "seccomp mode",
}
STATUS_FIELDS = tuple(STATUS_LABELS)
LIMITS = {  # the names /proc/<pid>/limits gives the limits resource.getrlimit reads
    "Max cpu time": "RLIMIT_CPU",
    "Max file size": "RLIMIT_FSIZE",
    "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK",
    "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS",
    "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE",
    "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS",
    "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING",
    "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE",
    "Max realtime priority": "RLIMIT_RTPRIO",
    "Max realtime timeout": "RLIMIT_RTTIME",
}


def _status(pid: int | str) -> dict[str, str]:
    """The fields of /proc/<pid>/status that decide what a command may do and how its files
    are made (ids, groups, umask, capabilities, no-new-privileges, seccomp)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in STATUS_FIELDS:
            fields[name] = " ".join(sorted(value.split())) if name == "Groups" else " ".join(value.split())
    return fields


def _limits(pid: int) -> dict[str, tuple[int, int]]:
    """The resource limits of another process, read from /proc/<pid>/limits."""
    import resource

    limits = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name = next((n for n in LIMITS if line.startswith(n + " ")), None)
        if name is None:
            continue
        soft, hard = line[len(name) :].split()[:2]
        limits[name] = tuple(resource.RLIM_INFINITY if v == "unlimited" else int(v) for v in (soft, hard))
    return limits


def _own_limits() -> dict[str, tuple[int, int]]:
    import resource

    return {
        name: resource.getrlimit(getattr(resource, attr)) for name, attr in LIMITS.items() if hasattr(resource, attr)
    }


def _inode(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def context_differences(pid: int, uid: int, gid: int, cwd: str | None = None) -> list[str]:
    """What differs between the context of process `pid` (with the user and group ids the
    system gave for it: SO_PEERCRED) and this process's: a command run here for it would
    see other files, limits, ids or permissions than it would in its own process. Empty
    only where everything could be read and matches; `cwd` is the working folder the
    process says it has, checked against the one it has."""
    if pid <= 0:
        return ["process (not visible from the runner's PID namespace)"]
    found = []
    if (uid, gid) != (os.getuid(), os.getgid()):
        found.append("user or group id")
    try:
        for ns in NAMESPACES:
            if _inode(f"/proc/{pid}/ns/{ns}") != _inode(f"/proc/self/ns/{ns}"):
                found.append(f"{ns} namespace")
        if _inode(f"/proc/{pid}/root") != _inode("/proc/self/root"):
            found.append("root folder")
        if Path(f"/proc/{pid}/cgroup").read_text() != Path("/proc/self/cgroup").read_text():
            found.append("cgroup")
        theirs, mine = _status(pid), _status("self")
        for name in STATUS_FIELDS:
            if theirs.get(name) is None or theirs.get(name) != mine.get(name):
                found.append(
                    f"umask ({theirs.get(name, 'unknown')} here, {mine.get(name, 'unknown')} in the runner)"
                    if name == "Umask"
                    else STATUS_LABELS[name]
                )
        limits, own = _limits(pid), _own_limits()
        different = [name for name in own if limits.get(name) != own[name]]
        if different:
            found.append("resource limits (" + ", ".join(n.removeprefix("Max ") for n in different) + ")")
        if cwd is not None and _inode(f"/proc/{pid}/cwd") != _inode(cwd):
            found.append("working folder")
    except OSError as exc:
        found.append(f"context not readable ({exc.strerror or exc})")
    return found
