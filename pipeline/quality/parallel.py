"""The gate's independent fits spread over worker processes, with numbers that do not depend on how many.

Every job is a plain function of (the run's shared state, the job), seeded from the job alone
(seed, fold, repeat, option): never from a stream shared between jobs, so a job gives the same
result whichever process runs it and whatever ran there before. Results come back in the
order the jobs were given, whatever order they finish in. With one worker the jobs run in this
process (no start-up, nothing pickled).

Workers are started by the "forkserver" context (where the platform has it; "spawn" elsewhere),
never by a plain fork of a process that may hold threads (Prefect's, MLflow's). The shared state
(the real rows, the codec, the generator factories) crosses the process boundary once per
worker; each job sends indices and tensors. At most `workers` jobs are in flight, so memory
grows with the workers, not with the jobs. Each worker's torch uses one thread unless the
run's train.threads says otherwise (the job sets it, in every process alike).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable

import torch

_STATE: Any = None  # a worker's copy of the shared state, set once when it starts


def default_workers() -> int:
    """$AUGMENT_WORKERS (checked by flows/settings.py), else the cores this process may run on
    (its CPU affinity), at least 1."""
    if os.environ.get("AUGMENT_WORKERS", "").strip():
        return max(1, int(os.environ["AUGMENT_WORKERS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _start_worker(state: Any) -> None:
    global _STATE
    torch.set_num_threads(1)
    _STATE = state


def _call(fn: Callable[[Any, Any], Any], job: Any) -> Any:
    return fn(_STATE, job)


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pipeline.quality.crossfit"])  # imported once; each worker forks from it
    return context


def _picklable(state: Any) -> bool:
    try:
        pickle.dumps(state)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


class Workers:
    """`workers` processes sharing `state`, started on first use and stopped on exit.

    with Workers(2, state) as pool:
        results = pool.map(fn, jobs, done=lambda: bar.advance())
    """

    def __init__(self, workers: int | None, state: Any) -> None:
        self.workers = max(1, workers or default_workers())
        self.state = state
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(
        self,
        fn: Callable[[Any, Any], Any],
        jobs: Iterable[Any],
        done: Callable[[], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[Any]:
        """[fn(state, job) for job in jobs], in the jobs' order; done() after each finishes,
        check() before each starts (it may raise to stop the run: the jobs in flight finish)."""
        jobs = list(jobs)
        if self.workers == 1 or len(jobs) <= 1:
            out = []
            for job in jobs:
                if check:
                    check()
                out.append(fn(self.state, job))
                if done:
                    done()
            return out
        if self._pool is None and not _picklable(self.state):
            self.workers = 1  # e.g. a caller's lambda factories: the same numbers, in this process
            return self.map(fn, jobs, done, check)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=_start_worker, initargs=(self.state,)
            )
        results: list[Any] = [None] * len(jobs)
        pending: dict[Future, int] = {}
        queue = iter(enumerate(jobs))
        try:
            while True:
                while len(pending) < self.workers:
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    if check:
                        check()
                    pending[self._pool.submit(_call, fn, nxt[1])] = nxt[0]
                if not pending:
                    return results
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    results[pending.pop(future)] = future.result()
                    if done:
                        done()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
