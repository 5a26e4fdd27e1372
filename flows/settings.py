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


def check_servers(timeout: float = 5.0) -> None:
    """Fail in seconds with a clear message when a configured server does not answer, instead
    of minutes of client retries after the run has started."""
    from pipeline.errors import TrackingError

    servers = []
    if os.environ.get("MLFLOW_TRACKING_URI", "").startswith(("http://", "https://")):
        uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
        servers.append(("MLflow tracking server", uri, uri + "/health", "MLFLOW_TRACKING_URI"))
    if os.environ.get("PREFECT_API_URL"):
        url = os.environ["PREFECT_API_URL"].rstrip("/")
        servers.append(("Prefect server", url, url + "/health", "PREFECT_API_URL"))
    for name, where, health, variable in servers:
        problem = _no_answer(health, timeout)
        if problem:
            raise TrackingError(
                f"the {name} at {where} cannot be reached ({problem})",
                f"start it (make stack-up, or check `scripts/stack.sh status`), or unset {variable} "
                "to run on the embedded default",
            )


def _no_answer(url: str, timeout: float) -> str:
    """'' when the URL answers 200, else what went wrong, in a few words."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the user's own server
            return "" if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))[:120]
