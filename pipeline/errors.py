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
