"""Outputs as a set: a run writes into a fresh staging folder beside its output folder and
swaps it in at the end, so a reader sees the old set or the new one, never a mix.

The swap is two renames in one parent folder; a crash between them leaves the new set in
place and the old one under a hidden `.old` name, which the next publish removes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from pipeline.processes import pid_alive


def staging_folder(out: Path) -> Path:
    """A fresh, hidden folder beside `out` (same file system, so the final move is a rename).
    Staging folders left by killed runs (their process is gone) are removed first."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    stage = out.parent / f".{out.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    return stage


def publish(stage: Path, out: Path) -> None:
    """Replace `out` with `stage` whole; leftovers of earlier interrupted runs go too."""
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    for leftover in out.parent.glob(f".{out.name}.old-*"):
        shutil.rmtree(leftover, ignore_errors=True)
