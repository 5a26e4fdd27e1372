"""A sweep's data sets on a Dask cluster: prefect-dask's DaskTaskRunner sends one task per data
set, and each runs the augment flow as a subflow on the Dask worker it lands on (one data set
at a time per worker process; its gate runs inside it, pipeline/quality/parallel.py).

This is a module of its own, not part of flows/sweep.py: a deployment loads its entrypoint
file under a made-up module name ("sweep"), and the tasks and flow Dask sends by reference
must import on the scheduler and the workers as flows.engine. Those need the project
installed, and PREFECT_API_URL / MLFLOW_TRACKING_URI of the stack (scripts/stack.sh sets them).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task

from pipeline.config import RunConfig, SweepConfig
from pipeline.errors import cut


def run_name(job: RunConfig) -> str:
    """The flow run name of a sweep's data set, on either path: sweep-<data>-seed<seed>."""
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
        state = augment_flow.with_options(flow_run_name=run_name(job))(job, return_state=True)
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
