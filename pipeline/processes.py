"""Process checks without torch: the `augment` entry point and `augment server` use them
before anything heavy is imported."""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
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
