"""The domain library: data, codec, CVAE, training, generation, quality, Parquet, MLflow.

Plain Python and torch: nothing here imports Prefect or the CLI, so every stage can be
called from a notebook or a test without a server.

    from pipeline import CVAESynthesizer, advise, score_rows, CVAESampler
    rows = CVAESynthesizer(seed=0).fit(frame, label="species").sample(per_class=100)
    advice = advise(frame, label="species", judge="forest")   # which training set, measured
    scored = score_rows(frame, rows, label="species")          # any tool's rows, scored
    make_pipeline(CVAESampler(random_state=0), RandomForestClassifier())  # imbalanced-learn
"""

__version__ = "0.9.0"

_GENERATORS = ("Synthesizer", "CVAESynthesizer", "SMOTESynthesizer", "AffineSynthesizer", "PseudoLabelSynthesizer")


_LAZY = {
    "advise": "pipeline.advice",
    "Advice": "pipeline.advice",
    "score_rows": "pipeline.quality.score_file",
    "ScoredRows": "pipeline.quality.score_file",
    "CVAESampler": "pipeline.sampler",
}


def __getattr__(name: str):
    """The generators import torch: loaded on first use, so `import pipeline` stays cheap."""
    import importlib

    if name in _GENERATORS:
        from pipeline.synthesizers import registry

        return getattr(registry, name)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
