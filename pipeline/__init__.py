"""The domain library: data, codec, CVAE, training, generation, quality, Parquet, MLflow.

Plain Python and torch: nothing here imports Prefect or the CLI, so every stage can be
called from a notebook or a test without a server.

    from pipeline import CVAESynthesizer
    rows = CVAESynthesizer(seed=0).fit(frame, label="species").sample(per_class=100)
"""

__version__ = "0.8.0"

_GENERATORS = ("Synthesizer", "CVAESynthesizer", "SMOTESynthesizer", "AffineSynthesizer", "PseudoLabelSynthesizer")


def __getattr__(name: str):
    """The generators import torch: loaded on first use, so `import pipeline` stays cheap."""
    if name in _GENERATORS:
        from pipeline import synthesizers

        return getattr(synthesizers, name)
    raise AttributeError(name)
