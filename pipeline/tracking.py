"""The MLflow adapter: the one module that talks to MLflow.

Runs are addressed by explicit run id through MlflowClient (the fluent "active run" is
thread-local and Prefect may run tasks in worker threads). The registered model is a
pyfunc wrapping the generator bundle, so `models:/<name>@<alias>` is all a new process
needs to generate rows in the user's schema.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from pipeline import __version__
from pipeline.checks import check_seed, check_tracking_store
from pipeline.config import parse_model_uri
from pipeline.errors import AugmentError, ModelLoadError, TrackingError, cut, disk_full
from pipeline.processes import signals_deferred
from pipeline.synthesizers.base import Synthesizer
from pipeline.synthesizers.registry import load_synthesizer
from pipeline.synthesizers.storage import manifest_digest

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SYNTHESIZER_ARTIFACT = "synthesizer"  # the saved generator folder, in every run that trained one
DIGEST_TAG = "augment.manifest_sha256"  # on a model version: the folder it must load
BATCH = 900  # MLflow accepts up to 1000 metrics per log_batch call


def default_tracking_uri(root: str | Path) -> str:
    """SQLite under the artifacts root unless MLFLOW_TRACKING_URI names a server."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def _use_uri(tracking_uri: str) -> None:
    """Point MLflow's fluent API (log_model, load_model) at tracking_uri, in this process only.

    mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which default_tracking_uri reads
    as the user's choice: every later run in the process (and its subprocesses) would go to
    this server, a dead one included. The variable is put back as it was."""
    before = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class _ReachableClient:
    """MlflowClient whose connection failures become one clear TrackingError.

    MLflow retries HTTP itself (MLFLOW_HTTP_REQUEST_MAX_RETRIES); what is left after that
    is an outage, which a Prefect task retry may outlive and a user must be told about.
    """

    def __init__(self, tracking_uri: str) -> None:
        self._client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        self._uri = tracking_uri
        # a Ctrl-C landing inside a write to the SQLite file could leave its connection holding
        # the file's lock, and the run's own end (KILLED) then waits on it in vain
        self._whole = signals_deferred if tracking_uri.startswith("sqlite:") else nullcontext

    def __getattr__(self, name: str):
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            try:
                with self._whole():
                    return method(*args, **kwargs)
            except Exception as exc:
                if _is_unreachable(exc):
                    raise unreachable(self._uri, exc) from exc
                raise

        return call


def _is_unreachable(exc: BaseException) -> bool:
    import requests

    text = str(exc)
    return (
        isinstance(exc, requests.exceptions.ConnectionError)
        or "Max retries exceeded" in text
        or "Connection refused" in text
    )


def unreachable(tracking_uri: str, exc: BaseException) -> TrackingError:
    return TrackingError(
        f"the MLflow tracking server at {tracking_uri} cannot be reached ({type(exc).__name__}: {str(exc)[:200]})",
        "start it (make stack-up, or check `scripts/stack.sh status`) or point MLFLOW_TRACKING_URI at a running "
        "server; then retry the run: training resumes from its last checkpoint",
    )


class Tracker:
    """One MLflow run: parameters, batched metrics, artifacts, model registration."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: str | Path | None = None) -> None:
        _use_uri(tracking_uri)
        self.tracking_uri = tracking_uri
        self.client = _ReachableClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            location = None
            if artifact_root is not None and tracking_uri.startswith("sqlite:"):
                location = Path(artifact_root).resolve().as_uri()
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        else:
            self.experiment_id = found.experiment_id
        self.run_id: str | None = None
        self._pending: list[Metric] = []

    def start(self, run_name: str, tags: dict[str, str] | None = None) -> str:
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags or {})
        self.run_id = run.info.run_id
        return self.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for s in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[s : s + 100])

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def metrics(self, values: dict[str, float], step: int = 0) -> None:
        """Queue metrics; they go out in batches (one call per ~900 values), see flush()."""
        now = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), now, step) for k, v in values.items()]
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            chunk, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            self.client.log_batch(self.run_id, metrics=chunk)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with `status`; the run ends even where its last metrics cannot be sent."""
        try:
            self.flush()
        finally:
            self.client.set_terminated(self.run_id, status)

    def register_synthesizer(self, folder: str | Path, name: str) -> tuple[str, str]:
        """Log the saved generator folder and a pyfunc that wraps it, register the pyfunc.

        The pyfunc is "models from code" (pipeline/pyfunc_model.py), never a pickle; the
        product itself loads the folder, verified against the manifest digest recorded on
        the model version, and never runs code from the store. Returns (version, URI)."""
        gen = load_synthesizer(folder)
        digest = manifest_digest(folder)
        with mlflow.start_run(run_id=self.run_id), _quiet("mlflow.pyfunc", "mlflow.models.model"), _no_env_scan():
            info = mlflow.pyfunc.log_model(
                name="generator",
                python_model=str(Path(__file__).with_name("pyfunc_model.py")),
                artifacts={"synthesizer": str(folder)},
                signature=model_signature(gen),
                pip_requirements=pip_requirements(),
                registered_model_name=name,
                await_registration_for=60,
            )
        version = str(info.registered_model_version)
        self.client.set_model_version_tag(name, version, DIGEST_TAG, digest)
        return version, f"models:/{name}/{version}"

    def registry_state(self, name: str) -> dict[str, str] | None:
        """The aliases of registered model `name` (alias -> version), or None where it is not
        registered: what `undo_registration` puts back."""
        try:
            return {alias: str(v) for alias, v in (self.client.get_registered_model(name).aliases or {}).items()}
        except TrackingError:
            raise
        except Exception:  # MLflow says RESOURCE_DOES_NOT_EXIST in several ways
            return None

    def undo_registration(self, name: str, before: dict[str, str] | None) -> None:
        """Put the registry back as `registry_state` saw it: this run's versions of `name`
        deleted, the aliases as they were, the model itself gone if this run created it."""
        for version in self.client.search_model_versions(f"name = '{name}' and run_id = '{self.run_id}'"):
            self.client.delete_model_version(name, version.version)
        if before is None:
            if not self.client.search_model_versions(f"name = '{name}'"):
                self.client.delete_registered_model(name)
            return
        now = self.registry_state(name) or {}
        for alias in set(now) - set(before):
            self.client.delete_registered_model_alias(name, alias)
        for alias, version in before.items():
            if now.get(alias) != version:
                self.client.set_registered_model_alias(name, alias, version)

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def log_dict(self, value: dict[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, value, artifact_file)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def runs_with_tag(self, key: str, value: str) -> list[Any]:
        """Runs of this experiment carrying tag key=value, newest first."""
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{key}` = '{value}'",
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )

    def download(self, run_id: str, artifact_path: str, dst_dir: str | Path) -> Path:
        """Fetch one artifact of a run (from whichever store the server uses) to dst_dir."""
        Path(dst_dir).mkdir(parents=True, exist_ok=True)
        fetched = Path(self.client.download_artifacts(run_id, artifact_path, str(dst_dir)))
        _apply_umask(fetched)
        return fetched


def _apply_umask(path: Path) -> None:
    """Take away the permission bits this process's umask forbids: a file store's download
    copies the modes the artifacts were written with (by another run, under another umask),
    and a command's outputs get the umask of the command."""
    mask = os.umask(0)
    os.umask(mask)
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not item.is_symlink():
            mode = item.stat().st_mode & 0o7777
            if mode & mask:
                item.chmod(mode & ~mask)


@contextmanager
def _quiet(*loggers: str):
    """Silence MLflow's advice about pickled python models while logging ours."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            yield
        finally:
            for logger, level in saved:
                logger.setLevel(level)


def model_signature(gen: Synthesizer) -> ModelSignature:
    kinds = {"numeric": "double", "integer": "long", "boolean": "boolean", "categorical": "string"}
    if gen.codec.modality == "image":
        outputs = [ColSpec("binary", gen.codec.column)]
    else:
        outputs = [ColSpec(kinds[c.kind], c.name, required=not c.missing) for c in gen.codec.columns]
    outputs.append(ColSpec("string", gen.label))
    return ModelSignature(
        inputs=Schema([ColSpec("string", "class"), ColSpec("long", "count")]),
        outputs=Schema(outputs),
        params=ParamSchema(
            [
                ParamSpec("seed", "long", 0),
            ]
        ),
    )


@contextmanager
def _no_env_scan():
    """Skip MLflow's check of the model's requirements against every installed distribution
    (2-3 s of a table run: importlib-metadata reads them all). pip_requirements() pins the
    versions installed here, so the check can find no mismatch."""
    from mlflow.utils import environment

    check = getattr(environment, "warn_dependency_requirement_mismatches", None)
    if check is None:  # another MLflow version: nothing to skip
        yield
        return
    environment.warn_dependency_requirement_mismatches = lambda requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = check


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    names = ["torch", "pandas", "pyarrow", "numpy", "pillow", "mlflow"]
    return [f"{n}=={version(n).split('+')[0]}" for n in names] + [f"augment-pipeline=={__version__}"]


def _disk_full(exc: Exception, dst: str | Path) -> AugmentError | None:
    """MLflow may report a full disk only as "Failed to download artifacts": say what it is."""
    import shutil

    if full := disk_full(exc):
        return full
    if shutil.disk_usage(dst).free < 1 << 20:
        return AugmentError(f"No space left on device in {cut(str(dst), 160)}", "free disk space there, then run again")
    return None


def load_registered(uri: str, tracking_uri: str, dst: str | Path) -> tuple[Synthesizer, dict[str, str]]:
    """The generator of `models:/<name>@<alias>` (or /<version>), downloaded to dst and verified
    against the digest recorded at registration; and which version it was."""
    name, ref = parse_model_uri(uri)
    client = _ReachableClient(tracking_uri)
    try:
        version = (
            client.get_model_version_by_alias(name, ref) if not ref.isdigit() else client.get_model_version(name, ref)
        )
    except TrackingError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"cannot find {uri!r} in {tracking_uri}: {str(exc)[:200]}",
            "check the name and alias (`augment run` registers models:/augment-<data>@candidate) "
            "and MLFLOW_TRACKING_URI",
        ) from None
    digest = (version.tags or {}).get(DIGEST_TAG)
    if not digest:
        raise ModelLoadError(
            f"{uri!r} (version {version.version}) has no recorded digest", "register it with `augment run`"
        )
    try:
        folder = Path(client.download_artifacts(version.run_id, SYNTHESIZER_ARTIFACT, str(dst)))
    except Exception as exc:
        if (full := _disk_full(exc, dst)) is None:
            raise
        raise full from exc
    gen = load_synthesizer(folder, expected_digest=digest)
    return gen, {"model_uri": uri, "run_id": version.run_id or "", "model_version": str(version.version)}


def check_registered(model_uri: str, tracking_uri: str, sample: Any, seed: int) -> tuple[Synthesizer, dict[str, str]]:
    """Load `model_uri` from the registry (name, alias or version, and the files against their
    recorded digest) and plan the asked rows (classes, counts): every refusal `augment generate`
    can meet, before its flow starts. Returns what load_registered does, for the flow to use."""
    check_seed(seed)
    parse_model_uri(model_uri)
    check_tracking_store(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        gen, info = load_registered(model_uri, tracking_uri, tmp)
    gen.plan(sample.per_class, sample.balance_to, sample.classes)
    return gen, info
