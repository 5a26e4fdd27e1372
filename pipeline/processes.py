"""Process checks without torch: the `augment` entry point and `augment server` use them
before anything heavy is imported."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (a staging folder's, a server's or a runner's
    owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
