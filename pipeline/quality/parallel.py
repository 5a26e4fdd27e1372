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

With an engine address ($AUGMENT_DASK_ADDRESS, e.g. tcp://127.0.0.1:8786) the same jobs go to
that Dask cluster instead (`distributed` is imported only then): the shared state is scattered
to every worker once, at most twice the cluster's threads of jobs are in flight, and results
come back in the jobs' order, so the numbers are those of the local pool. A Dask worker process
runs one of these jobs at a time whatever its thread count (torch's seeds and threads are
process-wide), so give workers one thread each and more processes. Code that already runs on a
Dask worker (a sweep's data set) runs its gate in that process: the cluster's slots are taken
by the data sets, and a task waiting on tasks of its own cluster could hold every slot.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from pipeline.errors import ConfigError, cut
from pipeline.quality.memory import workers_that_fit

ADDRESS_VARIABLE = "AUGMENT_DASK_ADDRESS"
ENGINE_SCHEMES = ("tcp", "tls", "ws", "wss")  # Dask's comms that listen on a TCP port
CONNECT_SECONDS = 5.0
_ADDRESS_FIX = (
    f"set it to the Dask scheduler's address, e.g. {ADDRESS_VARIABLE}=tcp://127.0.0.1:8786, "
    "or unset it to run the gate on local processes"
)

_STATE: Any = None  # a worker's copy of the shared state, set once when it starts
# one job at a time in a Dask worker process, whatever its threads: torch's seeds and thread
# count are process-wide, and a job's numbers must not depend on what runs beside it
_EXCLUSIVE = threading.RLock()
_ENGINE_THREADS_SET = False


def dask_address(value: str | None = None) -> str | None:
    """`value` (default $AUGMENT_DASK_ADDRESS) as a Dask scheduler address, tcp:// added where no
    scheme is given; None when unset or empty. A malformed one is refused by name, with the fix,
    before anything connects to it."""
    text = (os.environ.get(ADDRESS_VARIABLE, "") if value is None else value).strip()
    if not text:
        return None
    full = text if "://" in text else f"tcp://{text}"
    parts = urlsplit(full)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    if parts.scheme not in ENGINE_SCHEMES or not parts.hostname or not port or parts.path.strip("/") or parts.query:
        raise ConfigError(
            f"{ADDRESS_VARIABLE}={cut(text, 160)!r} is not a Dask scheduler address (scheme://host:port, "
            f"scheme one of {', '.join(ENGINE_SCHEMES)})",
            _ADDRESS_FIX,
        )
    return full.rstrip("/")


def check_engine(value: str | None = None, timeout: float = CONNECT_SECONDS) -> str | None:
    """The configured scheduler address (dask_address), once something listens there; a clear
    error naming the variable when nothing does, instead of a client's retries mid-run."""
    import socket

    address = dask_address(value)
    if address is None:
        return None
    parts = urlsplit(address)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"no Dask scheduler answers at {ADDRESS_VARIABLE}={address!r} ({cut(str(exc), 120)})",
            "start the scheduler and its workers (make stack-up starts them; or `dask scheduler` and "
            f"`dask worker {address}`), or unset {ADDRESS_VARIABLE} to run on local processes",
        ) from None
    return address


def exclusive() -> threading.RLock:
    """The lock under which a Dask worker process runs one seeded job at a time (a gate's fit,
    a sweep's data set): hold it around work that seeds torch, numpy or random."""
    return _EXCLUSIVE


def on_engine_worker() -> bool:
    """Whether this code runs inside a task of a Dask worker, or in a daemonic process (which
    may not start processes of its own): then the gate's fits run here, in this process."""
    if multiprocessing.current_process().daemon:
        return True
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def default_workers() -> int:
    """$AUGMENT_WORKERS (checked by flows/settings.py), else the cores this process may run on
    (its CPU affinity), at least 1."""
    if os.environ.get("AUGMENT_WORKERS", "").strip():
        return max(1, int(os.environ["AUGMENT_WORKERS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _start_worker(state: Any, owner: int) -> None:
    import torch

    global _STATE
    torch.set_num_threads(1)
    _STATE = state
    threading.Thread(target=_end_with_owner, args=(owner,), daemon=True).start()


def _end_with_owner(owner: int, every: float = 1.0) -> None:
    """End this worker once the run that started it is gone (killed, even by SIGKILL): a
    worker's parent is the fork server, so nothing else stops a job it is in the middle of."""
    while True:
        time.sleep(every)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid was reused by another user's process: the owner is gone
            os._exit(1)


def _call(fn: Callable[[Any, Any], Any], job: Any) -> Any:
    return fn(_STATE, job)


def _on_engine(fn: Callable[[Any, Any], Any], state: Any, job: Any) -> Any:
    """One job on a Dask worker: one at a time per process, torch on one thread as in the local
    pool's workers unless the job sets its own."""
    global _ENGINE_THREADS_SET
    with _EXCLUSIVE:
        if not _ENGINE_THREADS_SET:
            import torch

            torch.set_num_threads(1)
            _ENGINE_THREADS_SET = True
        return fn(state, job)


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pipeline.quality.crossfit"])  # imported once; each worker forks from it
    return context


def _pickled_size(state: Any, dumps: Callable[[Any], bytes] = pickle.dumps) -> int | None:
    """Bytes of the state as sent to a worker; None when it cannot be sent."""
    try:
        return len(dumps(state))
    except (pickle.PicklingError, AttributeError, TypeError):
        return None


def _picklable(state: Any, dumps: Callable[[Any], bytes] = pickle.dumps) -> bool:
    return _pickled_size(state, dumps) is not None


class Workers:
    """`workers` processes sharing `state`, started on first use and stopped on exit; or, with
    an engine address (default $AUGMENT_DASK_ADDRESS), that Dask cluster's workers.

    with Workers(2, state) as pool:
        results = pool.map(fn, jobs, done=lambda: bar.advance())
    """

    def __init__(self, workers: int | None, state: Any, address: str | None = None) -> None:
        self.workers = max(1, workers or default_workers())
        self.state = state
        self.address = dask_address(address)  # None: $AUGMENT_DASK_ADDRESS
        if on_engine_worker():  # already on a cluster's worker (or a daemonic process): here
            self.workers, self.address = 1, None
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None  # distributed.Client, connected on first use
        self._shared: Any = None  # the state's future on the cluster
        self.memory_note: str | None = None  # why fewer processes run than asked (memory.workers_that_fit)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            client, self._client, self._shared = self._client, None, None
            client.close()

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
        if self.address and len(jobs) > 1:
            if self._client is None and not _picklable(self.state, _cloudpickle_dumps()):
                self.workers, self.address = 1, None  # the same numbers, in this process
            else:
                return self._map_on_engine(fn, jobs, done, check)
        if self.workers == 1 or len(jobs) <= 1:
            out = []
            for job in jobs:
                if check:
                    check()
                out.append(fn(self.state, job))
                if done:
                    done()
            return out
        if self._pool is None:
            size = _pickled_size(self.state)
            # unpicklable (e.g. a caller's lambda factories), or no memory for two: the same numbers, here
            self.workers, self.memory_note = (1, None) if size is None else workers_that_fit(self.workers, size)
            if self.workers == 1:
                return self.map(fn, jobs, done, check)
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=_start_worker, initargs=(self.state, os.getpid())
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

    def _connect(self) -> tuple[Any, Any]:
        """The client of the configured cluster and the shared state on every worker (sent once)."""
        if self._client is None:
            from distributed import Client

            try:
                client = Client(self.address, timeout=CONNECT_SECONDS * 2, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"the Dask scheduler at {ADDRESS_VARIABLE}={self.address!r} cannot be reached "
                    f"({cut(str(exc), 120)})",
                    "start it (make stack-up, or check `scripts/stack.sh status`), or unset "
                    f"{ADDRESS_VARIABLE} to run on local processes",
                ) from None
            try:
                [self._shared] = client.scatter([self.state], broadcast=True, hash=False)
            except BaseException:
                client.close()
                raise
            self._client = client
        return self._client, self._shared

    def _map_on_engine(
        self,
        fn: Callable[[Any, Any], Any],
        jobs: list[Any],
        done: Callable[[], None] | None,
        check: Callable[[], None] | None,
    ) -> list[Any]:
        """map() on the Dask cluster: the same jobs, in flight at most twice the cluster's
        threads (a worker never waits a round trip for its next job), results in the jobs' order."""
        import queue as queues

        client, shared = self._connect()
        window = 2 * max(1, sum(client.nthreads().values()))
        results: list[Any] = [None] * len(jobs)
        pending: dict[Any, int] = {}
        finished: queues.Queue = queues.Queue()  # futures as they end (this client's, not a default one)
        queue = iter(enumerate(jobs))
        try:
            while True:
                while len(pending) < window:
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    if check:
                        check()
                    future = client.submit(_on_engine, fn, shared, nxt[1], pure=False)
                    pending[future] = nxt[0]
                    future.add_done_callback(finished.put)
                if not pending:
                    return results
                future = finished.get()
                results[pending.pop(future)] = future.result()
                if done:
                    done()
        except BaseException:
            if pending:
                client.cancel(list(pending))
            raise


def _cloudpickle_dumps() -> Callable[[Any], bytes]:
    """How Dask sends the state (cloudpickle: lambdas and local functions travel too)."""
    import cloudpickle

    return cloudpickle.dumps
