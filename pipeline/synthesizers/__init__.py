"""Generators behind one interface (base.Synthesizer): the CVAE and the cheap baselines.

The package itself imports nothing: its modules import it, so an eager import of them here
would be a circle. `pipeline.synthesizers.CVAESynthesizer` and every other generator class
pipeline/catalog.py registers, `Synthesizer` and `KINDS` are still found, through the module
`__getattr__` below (PEP 562), which runs only on attribute access, after this package is
initialised.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """The generators import torch: loaded on first use, from the catalog (pipeline/catalog.py).
    (import_module, not `from pipeline.synthesizers import registry`: that asks this very
    function for the submodule while it is not yet loaded.)"""
    if name == "__all__":  # `from pipeline.synthesizers import *`
        return __dir__()
    names = importlib.import_module("pipeline.catalog").class_names()
    if name in ("Synthesizer", "KINDS") or name in names:
        return getattr(importlib.import_module("pipeline.synthesizers.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(["Synthesizer", "KINDS", *importlib.import_module("pipeline.catalog").class_names()])
