"""Fan out: one `augment` flow run per data set, on whichever workers of the pool are free.

Scale-out is more flow runs on more workers (threads inside a run, processes across runs):
the sweep itself only submits runs of the augment deployment and waits for them.

With a Dask engine configured ($AUGMENT_DASK_ADDRESS) the data sets go to that cluster instead,
through prefect-dask's DaskTaskRunner (flows/engine.py); otherwise the sweep is as above.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from flows.engine import run_name, sweep_on_engine
from pipeline.config import SweepConfig
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
        ordered = sweep_on_engine.with_options(task_runner=runner)(sweep, timeout_seconds)
        for r in ordered:
            get_run_logger().info("%s ran on Dask worker %s: %s", r["data"], r.get("worker") or "?", r["state"])
        return _all_completed(ordered)
    logger = get_run_logger()
    submitted = []
    for job in sweep.jobs():
        run = run_deployment(
            deployment,
            parameters={"config": job.model_dump(mode="json")},
            timeout=0,
            flow_run_name=run_name(job),
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
