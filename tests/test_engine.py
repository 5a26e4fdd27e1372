"""The Dask engine (AUGMENT_DASK_ADDRESS): the gate's fits and a sweep's data sets on a cluster.

The cluster is a two-worker distributed.LocalCluster of local processes, started once for the
module: the same numbers as the local pool (pipeline/quality/parallel.py), and the sweep flow's
data sets spread over its workers by prefect-dask (flows/sweep.py).
"""

from __future__ import annotations

import json
import operator
import socket
from pathlib import Path

import pytest

from pipeline import job
from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.quality.parallel import Workers, check_engine, dask_address

ADDRESS = "AUGMENT_DASK_ADDRESS"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine():
    """The scheduler address of a two-worker cluster (one thread each, separate processes)."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address
        # a loaded machine's worker can take over the nanny's 4 s to exit (torch, Prefect): it is
        # then killed, which Dask logs as a warning to a console the test run has closed by now
        logging.getLogger("distributed.nanny").setLevel(logging.ERROR)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("  tls://scheduler.example:8786/ ", "tls://scheduler.example:8786"),
        ("", None),
    ],
)
def test_addresses_that_are_taken(given, expected):
    assert dask_address(given) == expected


@pytest.mark.parametrize(
    "given", ["http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:port", "tcp://:8786", "tcp://h:8786/x"]
)
def test_a_malformed_address_is_refused_by_name(given):
    with pytest.raises(ConfigError, match=f"{ADDRESS}=.* is not a Dask scheduler address") as caught:
        dask_address(given)
    assert "tcp://127.0.0.1:8786" in caught.value.fix and "unset it" in caught.value.fix


def test_an_address_nothing_answers_at_is_refused_by_name():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError, match=f"no Dask scheduler answers at {ADDRESS}='tcp://127.0.0.1:{port}'"):
        check_engine(f"127.0.0.1:{port}")


def test_jobs_on_the_engine_come_back_in_order(engine):
    done = []
    with Workers(1, 10, address=engine) as pool:
        assert pool.map(operator.mul, range(7), done=lambda: done.append(1)) == [10 * j for j in range(7)]
        with pytest.raises(ZeroDivisionError):
            pool.map(operator.truediv, [1, 2, 0, 4])
    assert len(done) == 7


def _gate(tmp_path, name: str) -> dict:
    """The gate section of a small iris run (6 rows per class, the CVAE as product, tiny training)."""
    config = RunConfig.model_validate(
        {
            "data": {"source": "iris", "real_per_class": 6},
            "sample": {"per_class": 8},
            "train": {"target_steps": 40, "min_epochs": 2, "max_epochs": 40},
            "quality": {"workers": 1, "folds": 3, "repeats": 1, "class_scores": 0},
            "seed": 3,
        }
    )
    work = tmp_path / name
    work.mkdir()
    return job.evaluate_gate(config, job.stage_data(config, work)).to_json()


def test_the_same_seed_gives_the_same_gate_locally_and_on_the_engine(engine, tmp_path, monkeypatch):
    from distributed import Client, get_task_stream

    local = _gate(tmp_path, "local")
    monkeypatch.setenv(ADDRESS, engine)
    with Client(engine, set_as_default=False) as client, get_task_stream(client=client) as stream:
        on_engine = _gate(tmp_path, "engine")
    assert local["options"] and json.dumps(local, sort_keys=True) == json.dumps(on_engine, sort_keys=True)
    ran = [t for t in stream.data if t["key"].startswith("_on_engine")]
    assert len({t["worker"] for t in ran}) == 2, "the fits should have run on both workers of the cluster"


@pytest.mark.flow
@pytest.mark.timeout(900)
def test_a_sweep_spreads_its_data_sets_over_the_engine(engine, artifacts_root, tmp_path, monkeypatch, capfd):
    """Two tiny data sets, one subflow each on a worker of the cluster; the Dask workers report to
    this session's Prefect server (its address travels in the task's settings). The flow is
    loaded as a deployment loads it, from its file under a module name no worker can import."""
    from mlflow import MlflowClient
    from prefect.flows import load_flow_from_entrypoint
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipeline.config import SweepConfig
    from pipeline.tracking import default_tracking_uri

    server = SubprocessASGIServer()
    server.start()
    # the workers share this session's MLflow SQLite file: made here first, as two processes that
    # both create a new one race on its schema (a tracking server, as the stack has, has no such race)
    MlflowClient(default_tracking_uri(artifacts_root)).search_experiments()
    sweep = SweepConfig.model_validate(
        {
            "datasets": [{"source": s, "real_per_class": 8} for s in ("iris", "wine")],
            "train": {"epochs": 5, "batch_size": 32},
            "model": {"latent_dim": 4, "hidden": [32]},
            "sample": {"per_class": 5},
            "quality": {"evaluate": False},
            "seed": 2,
            "out_root": str(tmp_path),
        }
    )
    monkeypatch.setenv(ADDRESS, engine)
    sweep_flow = load_flow_from_entrypoint(f"{ROOT / 'flows' / 'sweep.py'}:sweep_flow")
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        results = sweep_flow(sweep)
    assert [r["state"] for r in results] == ["COMPLETED", "COMPLETED"], results
    assert {r["worker"] for r in results} <= set(_workers(engine)) and all(r["worker"] for r in results)
    for name in ("iris", "wine"):
        assert (tmp_path / name / "synthetic.parquet").exists(), name
    output = capfd.readouterr()
    text = output.out + output.err
    assert "Traceback" not in text and " ERROR " not in text and "| ERROR" not in text, text[-3000:]
    assert "distributed." not in text, text[-3000:]  # Dask's own INFO lines stay off the console


def _workers(address: str) -> list[str]:
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return list(client.scheduler_info()["workers"])
