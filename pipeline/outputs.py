"""Outputs as a set, and only where they belong.

A run writes into a fresh staging folder beside its output folder and moves it into place
at the end. The output folder (`--out`) is the run's only if it is missing, empty, or an
earlier run's output: such a folder holds a marker (MARKER) that lists what that run wrote,
and replacing it removes only those files, so a file a user added there survives. Every
other folder is refused before any work (`check_out`), as are the input data, the
artifacts home, the current folder, `/` and the home folder, any folder that holds one of
them, and any folder inside an input folder (it would be read as input next time).

Two runs into one folder at once: the second is refused in words (`claim_out`, a lock in
a folder private to the user, so nothing is left beside the output).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from pipeline.errors import ConfigError
from pipeline.processes import pid_alive, signals_deferred

MARKER = ".augment-outputs.json"
# the only top-level names a marker may list: what run, generate and score write
OUTPUT_NAMES = frozenset(
    {
        "synthetic.parquet",
        "augmented.parquet",
        "scored.parquet",
        "quality_report.json",
        "quality_report.md",
        "summary.json",
        "plots",
        "model",
    }
)
_HELD: dict[Path, int] = {}  # output folders this process has claimed: lock fd per folder


def _refuse(out: Path, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"--out {str(out)!r}: {problem}", fix)


def check_out(out: str | Path, inputs: Iterable[str | Path] = (), home: str | Path | None = None) -> Path:
    """The resolved output folder, or a ConfigError saying why it may not be written and
    what to do instead. Nothing is created or changed here."""
    target = Path(out).expanduser().resolve()
    choose = "choose a new or empty folder with --out"
    protected = {Path("/"): "the root folder", Path.home().resolve(): "your home folder"}
    protected[Path.cwd()] = "the current folder"
    if home is not None:
        protected[Path(home).resolve()] = "the artifacts home (MLflow database, Prefect home, runs)"
    for path in inputs:
        source = Path(path).expanduser()
        if source.exists():
            protected[source.resolve()] = "the input data"
            if source.is_dir() and target.is_relative_to(source.resolve()) and target != source.resolve():
                raise _refuse(target, f"is inside the input folder {str(source)!r}", choose + " outside the input")
    for path, what in protected.items():
        if target == path:
            raise _refuse(target, f"is {what}", choose)
        if path.is_relative_to(target):
            raise _refuse(target, f"holds {what} ({str(path)!r})", choose)
    if not _existing(target).is_dir():
        raise _refuse(target, f"is or lies under a file ({str(_existing(target))!r}), not a folder", choose)
    if target.is_dir() and any(target.iterdir()):
        _previous_files(target)  # refuses a folder that is not an earlier run's output
    _check_writable(target)
    return target


def _check_writable(target: Path) -> None:
    """The folder (or, where it is missing, the folder it will be made in) takes files, and
    so does its parent, where the staging folder goes."""
    for folder in {_existing(target), _existing(target.parent)}:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _refuse(
                target,
                f"cannot write into {str(folder)!r} (permission denied or read-only)",
                "choose a folder you can write to with --out",
            )


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _previous_files(out: Path) -> list[str]:
    """The files an earlier run listed in the marker of `out`, checked: each one a path
    under `out` whose first part is an output name. Anything else: not an earlier output."""
    marker = out / MARKER
    entries = sorted(p.name for p in out.iterdir())
    if not marker.is_file():
        shown = ", ".join(repr(e) for e in entries[:3]) + (" ..." if len(entries) > 3 else "")
        raise _refuse(
            out,
            f"is not empty and not an earlier augment output (it holds {shown}); augment writes only into a new "
            "or empty folder or one an earlier run wrote (outputs of versions before 0.5 have no marker)",
            "choose a new or empty folder with --out; files already there are never removed",
        )
    try:
        listed = json.loads(marker.read_text())
        files = listed["files"]
        assert listed.get("written_by") == "augment" and isinstance(files, list)
        for name in files:
            _check_listed(out, name)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise _refuse(
            out,
            f"its marker {MARKER} is not one augment wrote ({exc or 'unexpected content'})",
            f"choose another folder with --out, or remove {MARKER} and the run's files yourself",
        ) from None
    return files


def _check_listed(out: Path, name: object) -> None:
    if not isinstance(name, str):
        raise ValueError(f"entry {name!r} is not a path")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] not in OUTPUT_NAMES:
        raise ValueError(f"entry {name!r} is not an output of augment")
    if not (out / name).resolve().is_relative_to(out.resolve()):
        raise ValueError(f"entry {name!r} leads outside the folder")


@contextmanager
def claim_out(out: str | Path, inputs: Iterable[str | Path] = (), home: str | Path | None = None) -> Iterator[Path]:
    """Check `out` and hold it for this process while the block runs: a second run into the
    same folder is refused in words. Reentrant within one process (the CLI claims the folder
    before Prefect starts, the flow claims it again)."""
    target = check_out(out, inputs, home)
    if target in _HELD:
        yield target
        return
    lock = _lock_path(target)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise _refuse(
            target,
            f"another augment command is writing to it ({holder})",
            "wait until it ends, or choose another folder with --out",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
    _HELD[target] = fd
    try:
        yield target
    finally:
        del _HELD[target]
        os.ftruncate(fd, 0)
        os.close(fd)


def _lock_path(target: Path) -> Path:
    """One lock per output folder, in a folder only this user opens (never beside the output)."""
    folder = Path(tempfile.gettempdir()) / f"augment-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise PermissionError(f"{folder} is not private to this user")
    return folder / f"out-{hashlib.sha256(str(target).encode()).hexdigest()[:24]}.lock"


def staging_folder(out: Path) -> Path:
    """A fresh, hidden folder beside `out` (same file system, so the final moves are renames).
    Staging folders left by killed runs (their process is gone) are removed first."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    stage = out.parent / f".{out.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    return stage


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MARKER)


def _write_marker(folder: Path, files: list[str], complete: bool) -> None:
    text = json.dumps({"written_by": "augment", "complete": complete, "files": files}, indent=1)
    tmp = folder / f".{MARKER}.{os.getpid()}.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / MARKER)


def publish(stage: Path, out: Path) -> None:
    """Move the staged set into `out`. A missing `out` becomes the staging folder (one
    rename: readers see all or nothing). Into an existing one (empty, or an earlier output,
    checked again here), the files the earlier run listed go and the new ones move in one by
    one; the marker lists both while that happens, so an interrupted move is still
    recognised, and cleaned, as augment's own. Nothing else in `out` is touched."""
    with signals_deferred():  # an interrupted move would leave a mix of two sets
        _publish(stage, out)


def _publish(stage: Path, out: Path) -> None:
    new = _files_under(stage)
    if not out.exists():
        _write_marker(stage, new, complete=True)
        os.replace(stage, out)
        return
    old = _previous_files(out) if any(out.iterdir()) else []
    clash = [f for f in new if (out / f).exists() and f not in old]
    if clash:
        raise _refuse(out, f"holds files of its own where this run writes {clash[:3]}", "move them away and run again")
    _write_marker(out, sorted(set(old) | set(new)), complete=False)
    for name in old:
        if name not in new:
            (out / name).unlink(missing_ok=True)
    for name in new:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / name, out / name)
    _remove_empty_folders(out, old)
    _write_marker(out, new, complete=True)
    shutil.rmtree(stage, ignore_errors=True)


def _remove_empty_folders(out: Path, files: list[str]) -> None:
    """Folders of listed files that are empty now (deepest first); a folder a user put a
    file into stays."""
    folders = {out / p for f in files for p in PurePosixPath(f).parents if str(p) != "."}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass
