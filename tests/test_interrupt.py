"""A run that is interrupted (Ctrl-C or SIGTERM, while training or after it) or fails at its
end leaves no trace: the registry and its aliases as they were, the previous outputs and
the user's files beside them untouched, its MLflow run KILLED. `augment server stop`
refuses while a run of the home is in progress, and --force interrupts it first."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.activity import in_progress, running
from flows.cli import app

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "--data", "iris", "--real-per-class", "10", "--per-class", "1500", "--epochs", "300", "--no-gate"]
ARGS += ["--accept", "all"]


def _start(home: Path, out: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *ARGS, "--seed", str(seed), "--out", str(out)],
        env=_own_env() | {"AUGMENT_HOME": str(home), "AUGMENT_THREADS": "1", "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _own_env() -> dict[str, str]:
    """This session's environment without the servers earlier tests pointed it at (the session's
    Prefect test server, an MLflow URI): the runs here use their own home's."""
    leaked = ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    return {k: v for k, v in os.environ.items() if k not in leaked}


def _stage(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.staging-*"))


def _mlflow_run_started(home: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{home / 'mlflow.db'}?mode=ro", uri=True, timeout=0.1) as db:
            return bool(db.execute("SELECT 1 FROM runs WHERE status = 'RUNNING'").fetchall())
    except sqlite3.Error:
        return False


def _training(home: Path, out: Path) -> bool:
    stages = _stage(out)
    return bool(stages) and not any((s / "model").exists() for s in stages) and _mlflow_run_started(home)


POINTS = {
    "training": _training,
    "after training": lambda home, out: any((s / "model" / "spec.json").exists() for s in _stage(out)),
}


def _registry(home: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """Versions and aliases of augment-iris, and the statuses of every MLflow run, newest first."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    versions = sorted(v.version for v in client.search_model_versions("name = 'augment-iris'"))
    aliases = dict(client.get_registered_model("augment-iris").aliases)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["attributes.start_time DESC"])
    return versions, aliases, [r.info.status for r in runs]


def _files(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")}


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """One complete run, with files the user added in and beside its output folder."""
    home, out = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("runs") / "out"
    proc = _start(home, out, seed=5)
    assert proc.wait(timeout=600) == 0, proc.stdout.read().decode()[-3000:]
    (out / "notes.txt").write_text("the user's")
    (out / "plots" / "mine.png").write_text("the user's")
    (out.parent / "beside.txt").write_text("the user's")
    yield home, out
    from flows.local_server import stop

    stop(home)


@pytest.mark.flow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupted_run_leaves_no_trace(previous, point, signum):
    home, out = previous
    before, registry = _files(out), _registry(home)
    proc = _start(home, out, seed=6 + list(POINTS).index(point) * 2 + (signum == signal.SIGTERM))
    deadline = time.monotonic() + 240
    while not POINTS[point](home, out):
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the run never reached the point to interrupt it at"
        time.sleep(0.02)
    os.killpg(proc.pid, signum)
    code = proc.wait(timeout=120)
    said = proc.stdout.read().decode()[-3000:]
    versions, aliases, statuses = _registry(home)
    assert code != 0, said
    assert (versions, aliases) == registry[:2], said
    assert statuses[0] == "KILLED" and statuses[1:] == registry[2], said
    assert _files(out) == before and (out.parent / "beside.txt").read_text() == "the user's"
    assert not _stage(out) and not list(out.rglob("*.tmp"))
    assert not in_progress(home)


@pytest.mark.flow
def test_a_run_that_fails_at_its_end_registers_nothing(tmp_path):
    """Registration is undone where putting the outputs in place fails: the version and the
    aliases go, the model too where the run created it."""
    from mlflow import MlflowClient

    from pipeline import SMOTESynthesizer
    from pipeline.data.builtin import load_iris
    from pipeline.tracking import Tracker

    frame, label = load_iris()
    SMOTESynthesizer(seed=0).fit(frame, label=label).save(tmp_path / "model")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)

    def a_run(name: str) -> Tracker:
        tracker = Tracker(uri, "augment", artifact_root=tmp_path / "artifacts")
        tracker.start(name)
        return tracker

    first = a_run("first")
    version, _ = first.register_synthesizer(tmp_path / "model", "augment-iris")
    first.set_alias("augment-iris", "candidate", version)
    for name, state in (("augment-iris", {"candidate": version}), ("augment-new", None)):
        failed = a_run("failed")
        before = failed.registry_state(name)
        assert before == state
        new, _ = failed.register_synthesizer(tmp_path / "model", name)
        failed.set_alias(name, "candidate", new)
        failed.set_alias(name, "champion", new)
        failed.undo_registration(name, before)
        assert failed.registry_state(name) == state
    assert [str(v.version) for v in client.search_model_versions("name = 'augment-iris'")] == [version]


@pytest.mark.flow
def test_the_commit_undoes_the_registration_when_the_outputs_cannot_be_put_in_place(tmp_path, monkeypatch):
    """The run's last step: registered, provenance stamped, aliases moved, then publishing
    fails: the registry and the previous outputs are as they were."""
    import flows.augment as augment
    from pipeline import SMOTESynthesizer
    from pipeline.data.builtin import load_iris
    from pipeline.io import write_frames
    from pipeline.outputs import publish, staging_folder
    from pipeline.tracking import Tracker

    frame, label = load_iris()
    out = tmp_path / "out"
    publish(_staged(out, "previous"), out)
    before = _files(out)
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "augment", artifact_root=tmp_path / "artifacts")
    tracker.start("failing")
    stage = staging_folder(out)
    SMOTESynthesizer(seed=0).fit(frame, label=label).save(stage / "model")
    for name in ("synthetic.parquet", "augmented.parquet"):
        write_frames(stage / name, [frame], {"seed": 0})

    def broken_publish(stage, out):
        raise OSError("disk full")

    monkeypatch.setattr(augment, "register", augment.register.fn)  # the task's body, without Prefect
    monkeypatch.setattr(augment, "publish", broken_publish)
    with pytest.raises(OSError, match="disk full"):
        augment._commit(tracker, stage, out, "augment-iris", True, lambda model: {"model": model})
    assert tracker.registry_state("augment-iris") is None and _files(out) == before


def _staged(out: Path, text: str) -> Path:
    from pipeline.outputs import staging_folder

    stage = staging_folder(out)
    (stage / "summary.json").write_text(text)
    return stage


class _Finalized:
    def __del__(self) -> None:
        raise KeyboardInterrupt  # as a Ctrl-C arriving while a finalizer runs


def test_a_ctrl_c_a_finalizer_swallowed_is_raised_at_the_next_check(monkeypatch):
    """Python drops an exception raised in a finalizer ("Exception ignored"): a Ctrl-C landing
    there would let the run go on and finish. It is kept and raised at the next check."""
    from pipeline.processes import interruptions_kept, raise_if_interrupted

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: reported.append(unraisable.exc_type))
    with interruptions_kept():
        _Finalized()  # dropped at once: its __del__ raises where no one can catch it
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
        raise_if_interrupted()  # raised once, not again
        _Finalized.__del__ = lambda self: 1 / 0  # an ordinary error there is still only reported
        _Finalized()
        raise_if_interrupted()
    assert reported == [ZeroDivisionError]
    _Finalized.__del__ = lambda self: None
    raise_if_interrupted()  # outside the block nothing is kept


def test_server_stop_refuses_while_a_run_is_in_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path))
    with running(tmp_path, ["run", "--out", "x"]):
        result = CliRunner().invoke(app, ["server", "stop"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and f"in progress: pid {os.getpid()}, `augment run --out x`" in text, text
    assert "augment server stop --force" in text
    assert not (tmp_path / "active").exists()  # the run ended: nothing of it left


def test_server_stop_force_interrupts_the_run_first(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path))
    code = (
        "import sys, time; from pathlib import Path; from flows.activity import running\n"
        "with running(Path(sys.argv[1]), ['run']):\n    print('running', flush=True); time.sleep(120)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        env=_own_env() | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout.readline() == b"running\n"
    result = CliRunner().invoke(app, ["server", "stop", "--force"])
    assert result.exit_code == 0, result.output
    assert child.wait(timeout=10) != 0 and b"KeyboardInterrupt" in child.stderr.read()
    assert "interrupting pid" in result.output and not in_progress(tmp_path)


def test_a_home_whose_last_command_ends_while_it_is_listed_has_none_running(tmp_path, monkeypatch):
    """`server stop --force` polls the home's commands while the interrupted run exits and
    removes the folder: a folder gone between pathlib's check and its listing (seen once under
    load as FileNotFoundError, exit 1) means no command runs."""
    (tmp_path / "active").mkdir()

    def vanished(self, pattern):
        raise FileNotFoundError(2, "No such file or directory", str(self))

    monkeypatch.setattr(Path, "glob", vanished)
    assert in_progress(tmp_path) == []
