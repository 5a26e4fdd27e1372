"""Progress of the long steps (training, the gate) on the terminal, in one style.

On a terminal a bar is drawn live (what, done / total, time left). Elsewhere (a pipe, a CI
log) rich draws nothing while the work runs and prints each bar once when the display
stops, so a captured console still says how far every step went and how long it took.
Bars go to stderr, so `augment run --json` keeps stdout for the summary alone.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Column


def _columns() -> tuple:
    """What, how far, time left; the details last, where a narrow console (80 columns when the
    output is not a terminal) wraps them instead of cutting the counts."""
    return (
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(elapsed_when_finished=True),  # time left; once done, how long it took
        TextColumn("{task.fields[detail]}", table_column=Column(overflow="fold")),
    )


class Bar:
    """One step's bar: advanced as work is done, closed where the work really ended."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, steps: int = 1, detail: str | None = None, description: str | None = None) -> None:
        if self._progress is None:
            return
        self._progress.update(self._task, advance=steps, **_words(detail, description))

    def close(self, detail: str | None = None, description: str | None = None) -> None:
        """The bar ends full at what was done: a step that stops early (training's early stopping)
        does not leave a bar stuck part of the way to a total it never reached."""
        if self._progress is None:
            return
        done = self._progress.tasks[self._task].completed
        self._progress.update(self._task, total=done, completed=done, **_words(detail, description))
        self._progress.stop_task(self._task)


def _words(detail: str | None, description: str | None) -> dict[str, str]:
    return {k: v for k, v in (("detail", detail), ("description", description)) if v is not None}


class Bars:
    """Bars of one step, drawn together while the block runs; nothing at all when disabled."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress = Progress(*_columns(), console=Console(stderr=True)) if enabled else None

    def __enter__(self) -> Bars:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._progress is not None:
            self._progress.start()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, description: str, total: int, completed: int = 0, detail: str = "") -> Bar:
        if self._progress is None:
            return Bar(None, None)
        return Bar(
            self._progress, self._progress.add_task(description, total=total, completed=completed, detail=detail)
        )


OFF = Bars(enabled=False)
