"""Environment for quiet, offline runs; applied before Prefect or MLflow is imported.

Embedded default: Prefect's ephemeral server with its SQLite database under the artifacts
root, MLflow on SQLite beside it. Anything already set in the environment wins, so the
same code runs against a real stack when PREFECT_API_URL / MLFLOW_TRACKING_URI are set.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_IDLE_SECONDS = 900
MAX_IDLE_SECONDS = 7 * 24 * 3600
MAX_THREADS = 1024  # as TrainConfig.threads
MIN_FREE_BYTES = 20 << 20  # below this the home's databases and runs cannot be written
MLFLOW_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "file")


def artifacts_root() -> Path:
    """$AUGMENT_HOME with `~` expanded, or ./artifacts. An empty AUGMENT_HOME is refused by
    check_environment; here it falls back to the default, never to the current folder."""
    path = Path(os.environ.get("AUGMENT_HOME") or "artifacts")
    try:
        return path.expanduser().resolve()
    except RuntimeError:  # "~someone" who has no home: refused by check_environment
        return path.resolve()


def idle_seconds() -> int:
    """$AUGMENT_SERVER_IDLE, or the default where it is unset or not a number: read when a
    module is imported, which must not fail; check_environment refuses a bad value by name."""
    try:
        return _whole(os.environ.get("AUGMENT_SERVER_IDLE"), 1, MAX_IDLE_SECONDS) or DEFAULT_IDLE_SECONDS
    except ValueError:
        return DEFAULT_IDLE_SECONDS


def _whole(text: str | None, low: int, high: int) -> int | None:
    """`text` as a whole number from low to high, None when unset; ValueError otherwise."""
    if text is None:
        return None
    value = int(text.strip())  # ValueError for "", "two", "1.5"
    if not low <= value <= high:
        raise ValueError(text)
    return value


def check_environment() -> None:
    """Every environment variable the product reads, refused by name with a fix before any
    folder, server or flow: a bad value otherwise surfaced as a traceback, or as "the local
    Prefect server did not start" minutes later."""
    from pipeline.errors import ConfigError

    for name, low, high, fix in (
        ("AUGMENT_THREADS", 1, MAX_THREADS, "a torch thread count, e.g. AUGMENT_THREADS=1"),
        ("AUGMENT_WORKERS", 1, MAX_THREADS, "a count of the gate's worker processes, e.g. AUGMENT_WORKERS=2"),
        ("AUGMENT_SERVER_IDLE", 1, MAX_IDLE_SECONDS, f"seconds, e.g. AUGMENT_SERVER_IDLE={DEFAULT_IDLE_SECONDS}"),
    ):
        try:
            _whole(os.environ.get(name), low, high)
        except ValueError:
            raise ConfigError(
                f"{name}={os.environ[name]!r} is not a whole number from {low} to {high}",
                f"set it to {fix}, or unset it",
            ) from None
    _check_home()
    _check_tracking_uri()
    _check_api_url()
    _check_engine()


def _check_home() -> None:
    from pipeline.errors import ConfigError, cut

    value = os.environ.get("AUGMENT_HOME")
    fix = "unset AUGMENT_HOME (the home is then ./artifacts) or set it to a folder you can write"
    if value is None:
        pass
    elif not value.strip():
        raise ConfigError("AUGMENT_HOME is set but empty", fix)
    else:
        try:
            Path(value).expanduser()
        except RuntimeError:
            raise ConfigError(
                f"AUGMENT_HOME={cut(value, 160)!r}: {cut(value.split('/')[0], 60)!r} names no user's home", fix
            ) from None
    root = artifacts_root()
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        where = "is a file" if existing == root else f"lies under the file {cut(str(existing), 160)!r}"
        raise ConfigError(f"the artifacts home {cut(str(root), 160)!r} (AUGMENT_HOME) {where}", fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"the artifacts home's folder {cut(str(existing), 160)!r} is read-only", fix)
    try:
        stats = os.statvfs(existing)
    except OSError:
        return
    if stats.f_flag & os.ST_RDONLY:
        raise ConfigError(f"the artifacts home {cut(str(root), 160)!r} is on a read-only file system", fix)
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise ConfigError(
            f"the file system of the artifacts home {cut(str(root), 160)!r} has {free >> 20} MB free",
            "free disk space there, or set AUGMENT_HOME to a folder on another disk",
        )


def _check_tracking_uri() -> None:
    """MLFLOW_TRACKING_URI as MLflow 3 uses it: a server URL, a database URI or (with
    MLFLOW_ALLOW_FILE_STORE=true) a file store; a bare path or host:port is not one."""
    from urllib.parse import urlsplit

    from pipeline.errors import ConfigError, cut

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0].lower()
    fix = (
        "use http://host:port for a tracking server or sqlite:////absolute/path/mlflow.db for a local "
        "database, or unset MLFLOW_TRACKING_URI to use the artifacts home's own database"
    )
    shown = cut(uri, 160)
    if scheme not in MLFLOW_SCHEMES:
        raise ConfigError(f"MLFLOW_TRACKING_URI={shown!r} is not a tracking URI MLflow can use", fix)
    if scheme in ("http", "https") and not parts.hostname:
        raise ConfigError(f"MLFLOW_TRACKING_URI={shown!r} names no host", fix)
    if scheme == "sqlite" and (not uri.startswith("sqlite:///") or uri == "sqlite:///"):
        raise ConfigError(f"MLFLOW_TRACKING_URI={shown!r} names no database file (sqlite:///<path>)", fix)
    if scheme == "file" and os.environ.get("MLFLOW_ALLOW_FILE_STORE") != "true":
        raise ConfigError(
            f"MLFLOW_TRACKING_URI={shown!r} is a file store, which MLflow 3 refuses",
            fix + " (or set MLFLOW_ALLOW_FILE_STORE=true)",
        )


def _check_api_url() -> None:
    """PREFECT_API_URL: the http(s) URL of a Prefect server's API, which ends in /api."""
    from urllib.parse import urlsplit

    from pipeline.errors import ConfigError, cut

    url = os.environ.get("PREFECT_API_URL")
    if url is None:
        return
    parts = urlsplit(url.strip())
    fix = "set it to the server's API, e.g. PREFECT_API_URL=http://127.0.0.1:4200/api, or unset it for the local server"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"PREFECT_API_URL={cut(url, 160)!r} is not an http(s) URL of a Prefect server", fix)
    if parts.path.rstrip("/") == "":
        raise ConfigError(f"PREFECT_API_URL={cut(url, 160)!r} lacks the API path (/api)", fix)


def _check_engine() -> None:
    """AUGMENT_DASK_ADDRESS: a Dask scheduler's address that something answers at, refused by
    name otherwise (pipeline/quality/parallel.py, which sends the gate's fits there)."""
    from pipeline.quality.parallel import check_engine

    check_engine()


def configure_environment(root: Path | None = None) -> Path:
    """The defaults below set where not given, and the home created; the environment is
    checked first (check_environment), so a bad variable fails here as one message."""
    if root is None:
        check_environment()
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
        # Dask logs every connection at INFO on stderr; warnings and errors still show
        "DASK_LOGGING__DISTRIBUTED": "warning",
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
