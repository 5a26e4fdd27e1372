"""Process checks without torch: the `augment` entry point and `augment server` use them
before anything heavy is imported."""

from __future__ import annotations

import os


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
