"""Errors a user can act on: each names the problem and the fix."""

from __future__ import annotations


class AugmentError(Exception):
    """Base class for errors the CLI prints without a traceback."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")


class DataError(AugmentError):
    """The input data cannot be used as given."""


class ConfigError(AugmentError):
    """A setting is out of range or contradicts another."""


class ModelLoadError(AugmentError):
    """A registered or saved model cannot be loaded."""


class TrackingError(AugmentError):
    """The MLflow tracking server cannot be reached or refused a call."""


def cut(value: object, limit: int = 120) -> str:
    """`value` as repr-like text of at most `limit` characters: a message quotes what the user
    gave, and a 12 MB string or a 2,000-item list must not flood the terminal."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 30]}... ({len(text):,} characters)"


def disk_full(exc: BaseException) -> AugmentError | None:
    """A full disk, wherever it surfaced (MLflow words it "Failed to download artifacts"), as the
    plain "No space left on device" it is; None for any other error."""
    import errno

    seen, current = 0, exc
    while current is not None and seen < 10:
        if isinstance(current, OSError) and current.errno == errno.ENOSPC or "[Errno 28]" in str(current):
            name = getattr(current, "filename", None)
            where = f" writing {cut(str(name), 160)}" if name else ""
            return AugmentError(f"No space left on device{where}", "free disk space there, then run again")
        current, seen = current.__cause__ or current.__context__, seen + 1
    return None
