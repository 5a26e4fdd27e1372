"""Every generator by kind, as classes: the generator table of pipeline/catalog.py, imported.

base.Synthesizer cannot import its own subclasses (they import it), and the catalog names
them as "module:Class" so the config stays cheap to import; this module turns the names into
classes. Code that meets a kind by name (spec.json, --generator, the registry's models) uses
`KINDS[kind]` or `load_synthesizer(folder)`, which know every registered kind, whichever
generator modules the caller imported itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import catalog
from pipeline.synthesizers.base import Synthesizer

KINDS = catalog.CLASSES  # kind -> class, current with register(); each class imported on first use


def load_synthesizer(folder: str | Path, expected_digest: str | None = None) -> Synthesizer:
    """A verified saved generator of any registered kind (Synthesizer.load, with every kind imported)."""
    for kind in catalog.KINDS:  # each class known to Synthesizer.load once imported
        catalog.generator_class(kind)
    return Synthesizer.load(folder, expected_digest=expected_digest)


def __getattr__(name: str) -> Any:
    """A generator class by its name (`registry.SMOTESynthesizer`), for code written before the catalog."""
    kinds = catalog.class_names()
    if name in kinds:
        return KINDS[kinds[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Synthesizer", "KINDS", "load_synthesizer"]
