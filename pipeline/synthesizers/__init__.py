"""Generators behind one interface (base.Synthesizer): the CVAE and the cheap baselines.

The package itself imports nothing: its modules import it, so an eager import of them here
would be a circle. `pipeline.synthesizers.CVAESynthesizer` and the other names of
registry.py are still found, through the module `__getattr__` below (PEP 562), which runs
only on attribute access, after this package is initialised.
"""

from __future__ import annotations

from typing import Any

_REGISTRY_NAMES = (
    "Synthesizer",
    "CVAESynthesizer",
    "SMOTESynthesizer",
    "AffineSynthesizer",
    "OversampleSynthesizer",
    "PseudoLabelSynthesizer",
    "KINDS",
)
__all__ = list(_REGISTRY_NAMES)


def __getattr__(name: str) -> Any:
    """The generators import torch: loaded on first use, from registry.py (where every kind is known)."""
    if name in _REGISTRY_NAMES:
        from pipeline.synthesizers import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
