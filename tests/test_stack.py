"""The real stack: PostgreSQL, Prefect server, MLflow server, process workers and the Dask
engine (a scheduler and two workers), started by scripts/stack.sh on private loopback ports,
with the deployments of prefect.yaml.

Run alone with `make test-stack` (or `pytest -m stack`). The stack is stopped at the end of
the session, also when a test fails. The tests talk to the servers over HTTP only, so they
do not disturb the ephemeral Prefect server the flow tests use in the same session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PORTS = {
    "STACK_PG_PORT": "55491",
    "STACK_PREFECT_PORT": "4291",
    "STACK_MLFLOW_PORT": "5091",
    "STACK_DASK_PORT": "8891",
    "STACK_DASK_DASHBOARD_PORT": "8892",
}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TINY = {
    "train": {"epochs": 20, "batch_size": 32},
    "model": {"latent_dim": 4, "hidden": [64, 32]},
    "quality": {"folds": 2, "repeats": 1, "class_scores": 0, "fold_steps": 20, "classifier_steps": 20},
    "sample": {"per_class": 10},
}


@dataclass
class Stack:
    dir: Path
    env: dict[str, str]
    api: httpx.Client
    mlflow_uri: str

    def script(self, *args: str, timeout: float = 600) -> None:
        subprocess.run([str(ROOT / "scripts" / "stack.sh"), *args], env=self.env, check=True, timeout=timeout)

    def deployment_id(self, name: str) -> str:
        flow, dep = name.split("/")
        return self.api.get(f"/deployments/name/{flow}/{dep}").raise_for_status().json()["id"]

    def trigger(self, name: str, parameters: dict) -> str:
        body = {"parameters": parameters, "state": {"type": "SCHEDULED"}}
        return (
            self.api.post(f"/deployments/{self.deployment_id(name)}/create_flow_run", json=body)
            .raise_for_status()
            .json()["id"]
        )

    def flow_run(self, run_id: str) -> dict:
        return self.api.get(f"/flow_runs/{run_id}").raise_for_status().json()

    def wait(self, run_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            if run["state"]["type"] in FINAL:
                return run
            time.sleep(2)
        raise AssertionError(f"flow run {run_id} not finished after {timeout:.0f} s: {self.flow_run(run_id)['state']}")

    def mlflow(self):
        from mlflow import MlflowClient

        return MlflowClient(self.mlflow_uri, registry_uri=self.mlflow_uri)

    def mlflow_run_of(self, flow_run_id: str):
        client = self.mlflow()
        exp = client.get_experiment_by_name("augment")
        if exp is None:
            return None
        runs = client.search_runs(
            [exp.experiment_id], f"tags.prefect_flow_run_id = '{flow_run_id}'", order_by=["attributes.start_time DESC"]
        )
        return runs[0] if runs else None


@pytest.fixture(scope="session")
def stack():
    folder = Path(tempfile.mkdtemp(prefix="augment-stack-"))
    folder.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data folder
    env = os.environ | PORTS | {"STACK_DIR": str(folder), "STACK_GPU_WORKERS": "2", "STACK_CPU_WORKERS": "1"}
    env |= {"STACK_DASK_WORKERS": "2"}
    prefect_api = f"http://127.0.0.1:{PORTS['STACK_PREFECT_PORT']}/api"
    mlflow_uri = f"http://127.0.0.1:{PORTS['STACK_MLFLOW_PORT']}"
    client_env = env | {
        "PREFECT_API_URL": prefect_api,
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "AUGMENT_PROJECT_DIR": str(ROOT),
    }
    stack = Stack(folder, env, httpx.Client(base_url=prefect_api, timeout=30), mlflow_uri)
    try:
        stack.script("up")
        subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
            cwd=ROOT,
            env=client_env,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )
        yield stack
    finally:
        stack.script("down", timeout=300)
        stack.api.close()


def test_augment_deployment_runs_on_a_worker_and_lands_in_mlflow(stack, tmp_path):
    config = {"data": {"source": "iris", "real_per_class": 10}, "seed": 1, "out_dir": str(tmp_path / "iris")} | TINY
    run = stack.wait(stack.trigger("augment/on-demand", {"config": config}))
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert run["infrastructure_pid"], "the flow run should have run in a worker's process"

    mlflow_run = stack.mlflow_run_of(run["id"])
    assert mlflow_run is not None and mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.tags["augment.trained"] == "true" and "loss" in mlflow_run.data.metrics
    version = stack.mlflow().get_model_version_by_alias("augment-iris", "candidate")
    assert version.run_id == mlflow_run.info.run_id

    augmented = pd.read_parquet(tmp_path / "iris" / "augmented.parquet")
    assert augmented["is_synthetic"].any() and (~augmented["is_synthetic"]).sum() == 30

    # generate-from-champion's flow, here pointed at the candidate: fresh rows scored against the real ones
    params = {
        "model_uri": "models:/augment-iris@candidate",
        "sample": {"per_class": 15},
        "seed": 5,
        "data": {"source": "iris", "real_per_class": 10},
        "out_dir": str(tmp_path / "fresh"),
    }
    run = stack.wait(stack.trigger("augment-generate/from-champion", params))
    assert run["state"]["type"] == "COMPLETED", run["state"]
    fresh = pd.read_parquet(tmp_path / "fresh" / "synthetic.parquet")
    assert len(fresh) >= 45 and {"label_fidelity", "accepted"} <= set(fresh.columns)
    assert fresh.groupby("species")["accepted"].sum().le(15).all()  # rounds until 15 per class, never more
    assert (tmp_path / "fresh" / "augmented.parquet").exists()


def test_cron_schedule_creates_scheduled_runs(stack):
    deployment = stack.deployment_id("augment/nightly-digits")
    body = {"deployments": {"id": {"any_": [deployment]}}, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
    runs = stack.api.post("/flow_runs/filter", json=body).raise_for_status().json()
    assert runs, "the nightly deployment should have scheduled runs"
    assert all(r["expected_start_time"][11:16] == "02:00" for r in runs)


def test_sweep_fans_out_three_datasets_across_workers(stack, tmp_path):
    """The stack's Prefect workers have AUGMENT_DASK_ADDRESS: the sweep sends its data sets to the
    two Dask workers (flows/sweep.py), each an augment subflow named sweep-<data>-seed<seed>."""
    sweep = {
        "datasets": [{"source": s, "real_per_class": 8} for s in ("iris", "wine", "penguins")],
        "seed": 2,
        "out_root": str(tmp_path),
    } | TINY
    run = stack.wait(stack.trigger("augment-sweep/sweep", {"sweep": sweep}), timeout=800)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    for name in ("iris", "wine", "penguins"):  # the CVAE's rows, and the recommended training set beside them
        assert pd.read_parquet(tmp_path / name / "synthetic.parquet")["accepted"].any(), name
        assert (~pd.read_parquet(tmp_path / name / "augmented.parquet")["is_synthetic"]).any(), name
    children = _runs_named(stack, "sweep-")
    assert len(children) == 3 and all(c["state"]["type"] == "COMPLETED" for c in children)
    # the newest lines first (the API returns at most its default limit), and a few seconds for the
    # last batch of the run's logs to arrive after its final state
    body = {"logs": {"flow_run_id": {"any_": [run["id"]]}}, "sort": "TIMESTAMP_DESC", "limit": 200}
    for _ in range(15):
        lines = [log["message"] for log in stack.api.post("/logs/filter", json=body).raise_for_status().json()]
        if sum("ran on Dask worker tcp://127.0.0.1:" in line for line in lines) == 3:
            break
        time.sleep(2)
    assert sum("ran on Dask worker tcp://127.0.0.1:" in line for line in lines) == 3, lines
    # from a worker's pick-up (PENDING) to the end: a process's start-up counts as its work, since
    # under load the flow itself begins many seconds after its worker took it
    spans = sorted((_picked_up_at(stack, c["id"]), datetime.fromisoformat(c["end_time"])) for c in children)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), (
        f"the three jobs should overlap on the two Dask workers: {spans}"
    )


def _picked_up_at(stack: Stack, run_id: str) -> datetime:
    states = stack.api.get("/flow_run_states/", params={"flow_run_id": run_id}).raise_for_status().json()
    return min(datetime.fromisoformat(s["timestamp"]) for s in states if s["type"] == "PENDING")


def _runs_named(stack: Stack, prefix: str) -> list[dict]:
    body = {"flow_runs": {"name": {"like_": prefix}}}
    return stack.api.post("/flow_runs/filter", json=body).raise_for_status().json()


KILLABLE = {
    "data": {"source": "digits", "real_per_class": 20},
    "seed": 4,
    "model": {"latent_dim": 8, "hidden": [128, 64]},
    "sample": {"per_class": 10},
    "train": {"epochs": 400, "checkpoint_every": 10, "patience": 400, "reuse": False},
    "quality": {"evaluate": False},
}


def _wait_for_checkpoint(stack: Stack, run_id: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = stack.mlflow_run_of(run_id)
        if found is not None and "augment.checkpoint_epoch" in found.data.tags:
            return found
        state = stack.flow_run(run_id)["state"]["type"]
        assert state not in FINAL, f"the run ended ({state}) before its first checkpoint"
        time.sleep(0.5)
    raise AssertionError("no checkpoint reached MLflow")


def test_killed_worker_resumes_from_checkpoint_with_the_same_output(stack, tmp_path):
    run_id = stack.trigger("augment/on-demand", {"config": KILLABLE | {"out_dir": str(tmp_path / "killed")}})
    first = _wait_for_checkpoint(stack, run_id)
    flow_pid = int(str(stack.flow_run(run_id)["infrastructure_pid"]).rsplit(":", 1)[-1])
    worker = _worker_of(stack, flow_pid)
    os.killpg(worker, signal.SIGKILL)  # the worker and its session (stack.sh starts each with setsid)
    _kill_quietly(flow_pid)
    assert stack.flow_run(run_id)["state"]["type"] == "RUNNING"  # what a dead worker leaves behind

    # retry the orphaned run (what the UI's Retry does), restart the dead worker: `up` is idempotent
    stack.api.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True}
    ).raise_for_status()
    stack.script("up")
    run = stack.wait(run_id)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    resumed = stack.mlflow_run_of(run_id)
    assert resumed.info.run_id != first.info.run_id
    assert int(resumed.data.tags["augment.resumed_from_epoch"]) >= 10
    assert stack.mlflow().get_run(first.info.run_id).info.status == "KILLED"

    again = stack.wait(stack.trigger("augment/on-demand", {"config": KILLABLE | {"out_dir": str(tmp_path / "whole")}}))
    assert again["state"]["type"] == "COMPLETED", again["state"]
    assert "augment.resumed_from_epoch" not in stack.mlflow_run_of(again["id"]).data.tags
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "killed" / "synthetic.parquet"),
        pd.read_parquet(tmp_path / "whole" / "synthetic.parquet"),
    )


def _worker_of(stack: Stack, pid: int) -> int:
    """The stack's worker process whose descendant pid is (walking up the parent chain)."""
    workers = {int(p.read_text()) for p in (stack.dir / "pids").glob("worker-*.pid")}
    seen = pid
    while seen > 1:
        if seen in workers:
            return seen
        seen = int(Path(f"/proc/{seen}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise AssertionError(f"flow run process {pid} does not belong to a stack worker {workers}")


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_mlflow_outage_fails_clearly_after_retries_and_writes_no_parquet(stack, tmp_path):
    out = tmp_path / "outage"
    run_id = stack.trigger("augment/on-demand", {"config": KILLABLE | {"seed": 6, "out_dir": str(out)}})
    _wait_for_checkpoint(stack, run_id)
    stack.script("stop", "mlflow")
    try:
        run = stack.wait(run_id, timeout=400)
    finally:
        stack.script("up")
    assert run["state"]["type"] == "FAILED", run["state"]
    assert "cannot be reached" in run["state"]["message"], run["state"]["message"]
    body = {"flow_runs": {"id": {"any_": [run_id]}}}
    tasks = [
        t
        for t in stack.api.post("/task_runs/filter", json=body).raise_for_status().json()
        if t["name"].startswith("train-")
    ]
    assert tasks and max(t["run_count"] for t in tasks) == 3, "the train task should have been tried 3 times"
    assert not list(out.rglob("*.parquet")) and not list(out.rglob("*.tmp*")), list(out.rglob("*"))
    assert not list(out.parent.glob(f".{out.name}.*"))  # the failed run's staging folder is gone too
