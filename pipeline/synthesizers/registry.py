"""Every generator the product ships, by kind: the one module that imports them all.

base.Synthesizer cannot import its own subclasses (they import it), so the list of kinds
lives here, above them. Code that meets a kind by name (spec.json, --generator, the
registry's models) imports this module: `KINDS[kind]` and `load_synthesizer(folder)` then
know every kind, whichever generator modules the caller imported itself.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.synthesizers.base import Synthesizer
from pipeline.synthesizers.baselines import (
    POLICY_SYNTHESIZERS,
    AffineSynthesizer,
    OversampleSynthesizer,
    PseudoLabelSynthesizer,
    SMOTESynthesizer,
)
from pipeline.synthesizers.cvae import CVAESynthesizer

KINDS: dict[str, type[Synthesizer]] = {
    cls.kind: cls
    for cls in (
        CVAESynthesizer,
        SMOTESynthesizer,
        AffineSynthesizer,
        OversampleSynthesizer,
        PseudoLabelSynthesizer,
        *POLICY_SYNTHESIZERS.values(),
    )
}


def load_synthesizer(folder: str | Path, expected_digest: str | None = None) -> Synthesizer:
    """A verified saved generator of any shipped kind (Synthesizer.load, with every kind imported)."""
    return Synthesizer.load(folder, expected_digest=expected_digest)


__all__ = [
    "Synthesizer",
    "CVAESynthesizer",
    "SMOTESynthesizer",
    "AffineSynthesizer",
    "OversampleSynthesizer",
    "PseudoLabelSynthesizer",
    "KINDS",
    "load_synthesizer",
]
