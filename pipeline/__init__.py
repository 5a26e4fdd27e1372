"""The domain library: data, codec, CVAE, training, generation, quality, Parquet, MLflow.

Plain Python and torch: nothing here imports Prefect or the CLI, so every stage can be
called from a notebook or a test without a server.
"""

__version__ = "0.1.0"
