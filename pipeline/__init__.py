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

_LAZY = {
    "advise": "pipeline.advice",
    "Advice": "pipeline.advice",
    "score_rows": "pipeline.quality.score_file",
    "ScoredRows": "pipeline.quality.score_file",
    "CVAESampler": "pipeline.sampler",
}


def __getattr__(name: str):
    """The generators import torch: loaded on first use, so `import pipeline` stays cheap. Every
    generator class pipeline/catalog.py registers is exported by its class name. (import_module,
    not `from pipeline import ...`: that asks this very function for a submodule not yet loaded.)"""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    catalog = importlib.import_module("pipeline.catalog")
    if name == "Synthesizer" or name in catalog.class_names():
        return getattr(importlib.import_module("pipeline.synthesizers.registry"), name)
    raise AttributeError(name)
