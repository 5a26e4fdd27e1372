"""What a command checked before its flow started, handed to the flow instead of done again.

`augment run` loads and validates the data, and `augment generate` loads the registered model,
before any server starts, so bad input fails in seconds (docs/architecture.md, "Errors before
the flow"). The flow then runs in the same process: its first step takes that result here
instead of loading it a second time. A result is kept only while the command's block runs,
taken at most once, and only by a flow given the same inputs (`key`); a flow started any other
way (a deployment, a test, a sweep) finds nothing and loads as it would anyway.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

_kept: dict[str, tuple[str, Any]] = {}


@contextmanager
def handed(what: str, key: str, value: Any) -> Iterator[None]:
    """Keep `value` for the flow run inside this block, under `what` for inputs `key`."""
    _kept[what] = (key, value)
    try:
        yield
    finally:
        _kept.pop(what, None)


def take(what: str, key: str) -> Any | None:
    """The value handed under `what` for the same inputs, once; None where there is none."""
    entry = _kept.get(what)
    if entry is None or entry[0] != key:
        return None
    del _kept[what]
    return entry[1]
