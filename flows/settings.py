"""Environment for quiet, offline runs; applied before Prefect or MLflow is imported.

Embedded default: Prefect's ephemeral server with its SQLite database under the artifacts
root, MLflow on SQLite beside it. Anything already set in the environment wins, so the
same code runs against a real stack when PREFECT_API_URL / MLFLOW_TRACKING_URI are set.
"""

from __future__ import annotations

import os
from pathlib import Path


def artifacts_root() -> Path:
    return Path(os.environ.get("AUGMENT_HOME", "artifacts")).resolve()


def configure_environment(root: Path | None = None) -> Path:
    root = root or artifacts_root()
    root.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # the 20 s default timed out here
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "DO_NOT_TRACK": "true",  # MLflow honours only the string "true"
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_PYTHON_REFRESH": "quiet",
        "OMP_NUM_THREADS": "1",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return root
