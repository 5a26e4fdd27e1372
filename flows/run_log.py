"""The run's log file: what Prefect, MLflow and the libraries under them say during a command
goes to <artifacts home>/logs/<command>-<time>-<pid>.log (and, for `augment run`, to the
MLflow run under logs/), not to the console.

A successful run's console then holds the product's own words and its progress bars: no
"Beginning flow run ...", "Finished in state Completed()", "Creating initial MLflow database
tables...", "Successfully registered model ..." or library warnings. Warnings and errors
from Prefect's loggers still reach the console as well as the file; MLflow's own output
(its log lines and its prints) goes to the file only, since the product turns MLflow's
failures into its own errors (pipeline/tracking.py). Everything is put back as it was when
the block ends, so a warm runner's next command starts from the same settings.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, TextIO

KEEP = 100  # newest log files kept per artifacts home; older ones are removed at the next start
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_current: Path | None = None


def current() -> Path | None:
    """The log file of the command running in this process, if it keeps one."""
    return _current


def _is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def _prune(folder: Path, keep: int = KEEP) -> None:
    logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in logs[keep:]:
        old.unlink(missing_ok=True)


@contextmanager
def run_log(root: Path, command: str) -> Iterator[Path]:
    """Send the run's housekeeping to its log file while the block runs; yields the file's path."""
    global _current
    folder = root / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder, KEEP - 1)
    path = folder / f"{command}-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.INFO)
    undo: list = []

    def quiet(logger: logging.Logger) -> None:
        logger.addHandler(handler)
        undo.append(lambda: logger.removeHandler(handler))
        for console in [h for h in logger.handlers if _is_console(h)]:
            level = console.level
            console.setLevel(max(level, logging.WARNING))
            undo.append(lambda c=console, lv=level: c.setLevel(lv))

    quiet(logging.getLogger())  # Prefect's console handler sits here; its loggers pass records up
    warned = logging.getLogger("py.warnings")  # library warnings: the file only
    state = (warned.propagate, warned.handlers[:], logging._warnings_showwarning is not None)
    logging.captureWarnings(True)
    warned.propagate, warned.handlers = False, [handler]
    undo.append(lambda: (setattr(warned, "propagate", state[0]), setattr(warned, "handlers", state[1])))
    undo.append(lambda: logging.captureWarnings(state[2]))
    # MLflow's loggers (alembic's among them) and its prints share one stream: to the file
    undo.append(_mlflow_prints_to(handler.stream))
    _current = path
    try:
        yield path
    finally:
        _current = None
        for step in reversed(undo):
            step()
        handler.close()


def _mlflow_prints_to(stream: TextIO) -> Callable[[], None]:
    """MLflow prints some news itself ("Successfully registered model ...", "Created version
    ...") through one stream of its own: written to the log file instead; returns the undo."""
    if "mlflow" not in sys.modules:
        import mlflow  # noqa: F401 - its stream exists once it is imported

    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    MLFLOW_LOGGING_STREAM.write = write
    return lambda: MLFLOW_LOGGING_STREAM.__dict__.pop("write", None)
