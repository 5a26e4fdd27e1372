"""Fan out: one `augment` flow run per data set, on whichever workers of the pool are free.

Scale-out is more flow runs on more workers (threads inside a run, processes across runs):
the sweep itself only submits runs of the augment deployment and waits for them.

With a Dask engine configured ($AUGMENT_DASK_ADDRESS) the data sets go to that cluster instead:
prefect-dask's DaskTaskRunner sends one task per data set, and each runs the augment flow as
a subflow on the Dask worker it lands on (one data set at a time per worker process; the gate
runs inside it, pipeline/quality/parallel.py). The Dask workers need the project installed,
and PREFECT_API_URL / MLFLOW_TRACKING_URI of the stack (scripts/stack.sh sets them).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from pipeline.config import RunConfig, SweepConfig
from pipeline.errors import cut
from pipeline.quality.parallel import dask_address

AUGMENT_DEPLOYMENT = "augment/on-demand"


@flow(name="augment-sweep")
def sweep_flow(
    sweep: SweepConfig,
    deployment: str = AUGMENT_DEPLOYMENT,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 6 * 3600,
) -> list[dict[str, Any]]:
    """Submit every job at once, then wait until each has finished; fail if any failed."""
    address = dask_address()
    if address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=address)
        return _all_completed(sweep_on_engine.with_options(task_runner=runner)(sweep, timeout_seconds))
    logger = get_run_logger()
    submitted = []
    for job in sweep.jobs():
        run = run_deployment(
            deployment,
            parameters={"config": job.model_dump(mode="json")},
            timeout=0,
            flow_run_name=_run_name(job),
        )
        logger.info("submitted %s as flow run %s", job.data.source, run.id)
        submitted.append((job, run.id))
    deadline = time.monotonic() + timeout_seconds
    results: dict[Any, dict[str, Any]] = {}
    with get_client(sync_client=True) as client:
        while len(results) < len(submitted) and time.monotonic() < deadline:
            for job, run_id in submitted:
                if run_id in results:
                    continue
                state = client.read_flow_run(run_id).state
                if state is not None and state.is_final():
                    results[run_id] = {
                        "data": job.data.source,
                        "flow_run_id": str(run_id),
                        "state": state.type.value,
                        "out_dir": job.out_dir,
                        "message": state.message or "",
                    }
                    logger.info("%s finished: %s", job.data.source, state.type.value)
            if len(results) < len(submitted):
                time.sleep(poll_seconds)
    ordered = [
        results.get(
            run_id,
            {
                "data": job.data.source,
                "flow_run_id": str(run_id),
                "state": "TIMED_OUT",
                "out_dir": job.out_dir,
                "message": f"not finished after {timeout_seconds:.0f} s",
            },
        )
        for job, run_id in submitted
    ]
    return _all_completed(ordered)


def _all_completed(ordered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs' results, or one error naming every job that did not complete."""
    failed = [r for r in ordered if r["state"] != "COMPLETED"]
    if failed:
        raise RuntimeError(
            "sweep jobs did not complete: " + "; ".join(f"{r['data']}: {r['state']} {r['message']}" for r in failed)
        )
    return ordered


def _run_name(job: RunConfig) -> str:
    return f"sweep-{job.data.source.rsplit('/', 1)[-1]}-seed{job.seed}"


@flow(name="augment-sweep-engine")
def sweep_on_engine(sweep: SweepConfig, timeout_seconds: float = 6 * 3600) -> list[dict[str, Any]]:
    """One task per data set on the flow's task runner (sweep_flow gives it the Dask cluster's),
    all submitted at once; results in the data sets' order, a job not done in time TIMED_OUT."""
    logger = get_run_logger()
    jobs = sweep.jobs()
    futures = [augment_data_set.submit(job) for job in jobs]
    deadline = time.monotonic() + timeout_seconds
    ordered = []
    for job, future in zip(jobs, futures):
        try:
            result = future.result(timeout=max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            result = _lost(job, "TIMED_OUT", f"not finished after {timeout_seconds:.0f} s")
        except Exception as exc:  # noqa: BLE001 - the task itself failed (e.g. a worker died): that job's failure
            result = _lost(job, "FAILED", cut(f"{type(exc).__name__}: {exc}", 300))
        logger.info("%s finished on %s: %s", job.data.source, result.get("worker", "the engine"), result["state"])
        ordered.append(result)
    return ordered


def _lost(job: RunConfig, state: str, message: str) -> dict[str, Any]:
    return {"data": job.data.source, "flow_run_id": "", "state": state, "out_dir": job.out_dir, "message": message}


@task(name="augment-data-set")
def augment_data_set(job: RunConfig) -> dict[str, Any]:
    """One data set's augment flow, as a subflow where this task runs (a Dask worker), one at a
    time per process: its training and gate seed torch, numpy and random, which are process-wide."""
    from flows.augment import augment_flow
    from pipeline.quality.parallel import exclusive

    with exclusive():
        state = augment_flow.with_options(flow_run_name=_run_name(job))(job, return_state=True)
    return {
        "data": job.data.source,
        "flow_run_id": str(state.state_details.flow_run_id or ""),
        "state": state.type.value,
        "out_dir": job.out_dir,
        "message": state.message or "",
        "worker": _worker_address(),
    }


def _worker_address() -> str:
    """The Dask worker this runs on ('' outside one): where each data set went, for the log."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""
