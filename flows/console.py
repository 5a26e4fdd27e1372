"""The terminal shows the product's own errors once, as the CLI's `error:` / `fix:`.

Prefect logs a flow or task that raises with its traceback, through the console handler it
puts on the root logger. For an AugmentError (the user can act on it; it is not a bug) that
traceback and the repeated "Finished in state Failed(...)" lines only bury the message the
CLI prints next. The filter here drops them from the console alone: the Prefect run's log
(its API handler sits on Prefect's own run loggers) and the MLflow run keep everything.
Any other exception still prints in full.
"""

from __future__ import annotations

import logging
import re

from pipeline.errors import AugmentError


def _product_error_names() -> set[str]:
    names, todo = set(), [AugmentError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _is_product_error(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # the error itself, or what it was raised from
        if isinstance(exc, AugmentError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class HideProductErrors(logging.Filter):
    """Drops console records about an AugmentError; a retry notice keeps its line, not its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is not ours to judge
            return True
        names = "|".join(map(re.escape, sorted(_product_error_names())))
        named = re.search(rf"\b({names})\b", message) is not None
        about_failure = any(word in message.lower() for word in ("exception", "failed"))
        if not (_is_product_error(exc) or (named and about_failure)):
            return True
        if "Retry " in message and " will start" in message:
            record.exc_info, record.exc_text = None, None
            return True
        return False


def hide_product_tracebacks() -> None:
    """Put the filter on the console handlers of the root logger (once): called by the CLI
    after Prefect has configured logging, before a flow runs."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, logging.StreamHandler):
            continue
        if not any(isinstance(f, HideProductErrors) for f in handler.filters):
            handler.addFilter(HideProductErrors())
