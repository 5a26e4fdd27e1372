"""Generators behind one interface (base.Synthesizer): the CVAE and the cheap baselines."""

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

__all__ = [
    "Synthesizer",
    "CVAESynthesizer",
    "SMOTESynthesizer",
    "AffineSynthesizer",
    "OversampleSynthesizer",
    "PseudoLabelSynthesizer",
    "KINDS",
]
