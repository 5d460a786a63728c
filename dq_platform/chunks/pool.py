"""Where chunk tasks run: in this process, in a pool of local worker processes, or on a Dask cluster.

One entry point, `run_tasks(fn, items, what=...)`, so the chunked data path never knows which:
- **in-process** when there is at most one item or `DQ_WORKERS=1` (no pickling, no start-up);
- **local processes** otherwise: one `ProcessPoolExecutor` per process, created on first use, reused
  across calls and steps, shut down at exit. Workers are forked from a *forkserver* that imported
  the heavy modules once (`PRELOAD`): safe inside a Dagster run process that has threads (a plain
  fork there can copy a lock held by another thread) and far cheaper than spawn, which would
  import pandas/pyarrow again in every worker (bench/pool_benchmark.py measures the three);
- **Dask** when `DQ_DASK_SCHEDULER` is set, for every call (even of one item: the data is on
  shared storage, not necessarily here): a `distributed.Client` per process and address. Tasks
  may run on any worker machine, so the warehouse and landing zone must be reachable from every
  worker (a shared folder mounted at the same path, or s3://); tasks read and write their data by
  URI themselves and only small results travel back.

`fn` must be a module-level function importable where it runs (workers import it by name) and
items picklable. An exception a task raises arrives here as itself (type and message). A worker
that dies mid-task (SIGKILL, out of memory) is `WorkerDied`: locally at once (and the next call
gets a fresh pool); on Dask only after the scheduler gave up rerunning its task elsewhere
(`distributed.scheduler.allowed-failures` dead workers, 3 by default), so tasks must be
idempotent (write to names of their own, published by the caller after all tasks succeeded).
"""

from __future__ import annotations

import atexit
import copyreg
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from dq_platform import settings

T = TypeVar("T")
R = TypeVar("R")

# Imported once in the forkserver, so every local worker starts with them already loaded.
# A module that does not exist yet is skipped by the forkserver (ImportError is ignored there).
PRELOAD = ["dq_platform.chunks.tasks", "pyarrow", "pandas"]
START_METHOD = "forkserver"
DASK_CONNECT_TIMEOUT = "10s"


class WorkerDied(BrokenProcessPool):
    """A worker process died mid-task (killed, out of memory): one line naming what died, never data."""


def workers() -> int:
    """How many tasks run at once in the current mode (for chunk planning)."""
    address = settings.dask_scheduler()
    if address:
        return max(1, sum(_client(address).nthreads().values()))
    return settings.workers()


def where() -> str:
    """Where tasks run now, for logs and run metadata."""
    address = settings.dask_scheduler()
    if address:
        return f"dask {address}"
    n = settings.workers()
    return "in-process" if n == 1 else f"local processes ({n})"


def run_tasks(fn: Callable[[T], R], items: Sequence[T], *, what: str) -> list[R]:
    """fn over items, results in order (see the module's docstring for where they run)."""
    items = list(items)
    address = settings.dask_scheduler()
    if address:
        return _run_dask(_client(address), address, fn, items, what)
    n = settings.workers()
    if n == 1 or len(items) <= 1:
        return [fn(item) for item in items]
    return _run_local(n, fn, items, what)


# -- local processes ----------------------------------------------------------------------------

_lock = threading.Lock()
_local: tuple[int, int, ProcessPoolExecutor] | None = None  # (owner pid, size, executor)


def _executor(n: int) -> ProcessPoolExecutor:
    """This process's pool of n workers (made on first use; a forked child never reuses its parent's)."""
    global _local
    with _lock:
        # a pool whose idle worker died since the last call (an OOM kill) is replaced, not reported
        if (
            _local is not None
            and _local[0] == os.getpid()
            and _local[1] == n
            and not getattr(_local[2], "_broken", False)
        ):
            return _local[2]
        if _local is not None and _local[0] == os.getpid():
            _close(_local[2])
        context = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            context.set_forkserver_preload(PRELOAD)  # no effect once the forkserver runs (first use wins)
        _local = (os.getpid(), n, ProcessPoolExecutor(max_workers=n, mp_context=context))
        return _local[2]


def _close(executor: ProcessPoolExecutor) -> None:
    """Stop a pool. A healthy one is shut down and waited for; a broken one (a worker died) is not
    joined without a bound: CPython's shutdown(wait=True) of a broken pool can wait forever on its
    management thread (seen: a pool whose idle worker was killed), so that thread is given a few
    seconds and the pool's processes are killed if it is still stuck."""
    if not getattr(executor, "_broken", False):
        executor.shutdown(wait=True, cancel_futures=True)
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    thread = getattr(executor, "_executor_manager_thread", None)
    if thread is not None:
        thread.join(timeout=5)  # it terminates the broken pool's workers itself, normally at once
    if thread is None or thread.is_alive():
        for process in processes:  # it did not: no worker of a discarded pool may linger
            try:
                process.kill()
            except Exception:  # already gone
                pass
        if thread is not None:
            # unblocked, it now joins the processes, reading their exit statuses: let it finish first
            # (a status read by two threads at once is lost to one of them as exit code 255)
            thread.join(timeout=5)


def shutdown(dask: bool = True) -> None:
    """Stop this process's local pool (at exit; also after a worker died, so the next call starts
    afresh) and, unless told not to, close its Dask clients."""
    global _local
    with _lock:
        if _local is not None and _local[0] == os.getpid():
            _close(_local[2])
        _local = None
        if dask:
            _stop_forkserver()
            for key in [k for k in _clients if k[0] == os.getpid()]:
                try:
                    _clients.pop(key).close(timeout=5)
                except Exception:  # a client of a scheduler that is gone: nothing left to close
                    pass


def _stop_forkserver() -> None:
    """At exit: stop the forkserver and wait for it, so its workers' CPU time is accounted to this
    process's children (getrusage, `time`, schedulers) and no server outlives the run."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is None:
        return
    try:
        time.sleep(0.05)  # the server reaps the workers that just exited
        server._stop()  # private in 3.11 (public behaviour: close its pipe, waitpid)
    except Exception:  # an interpreter without it, or a server already gone: nothing to wait for
        pass


def _run_local(n: int, fn, items: list, what: str) -> list:
    executor, futures = _executor(n), []
    try:
        for item in items:  # one by one: those submitted before the pool broke are waited for below
            futures.append(executor.submit(_call, fn, item))
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            for f in failed:  # a dead worker wins over the errors it caused in the other tasks
                if isinstance(f.exception(), BrokenProcessPool):
                    raise f.exception()
            raise failed[0].exception()
        return [f.result() for f in futures]
    except BrokenProcessPool as e:
        # submit() fails at once when the pool broke meanwhile, before the pool has failed the
        # futures already submitted with the reason: wait for those and take their reason
        wait(futures, timeout=10)
        settled = [f.exception() for f in futures if f.done() and not f.cancelled()]
        e = next((b for b in settled if isinstance(b, BrokenProcessPool)), e)
        finished = sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)
        # exit codes only once the pool's own thread has joined its processes: two threads reading
        # the same process's exit status race, and the loser sees 255
        processes = dict(getattr(executor, "_processes", None) or {})  # private, the only record of them
        shutdown(dask=False)
        dead = _dead_workers(processes)
        # no worker died of a signal or an exit code: the pool broke otherwise (e.g. a result that
        # cannot be unpickled), and the pool's own message says how
        cause = [line.strip() for line in str(e.__cause__ or "").splitlines() if line.strip() not in ("", "'''")]
        what_broke = (
            f"local worker process {dead} died mid-task"
            if dead
            else f"the local pool broke ({cause[-1] if cause else e}; a task's result or exception must be "
            f"picklable, and an exception rebuildable from its args)"
        )
        raise WorkerDied(
            f"{what}: {what_broke}; {finished} of {len(items)} tasks had finished, none is returned; "
            f"the next call starts a fresh pool"
        ) from None


def _call(fn, item):
    """fn(item) in a worker; an exception it raises travels back as itself even when its class's
    constructor does not take its message (pickle would rebuild it by calling cls(*args) and fail,
    which breaks the whole pool): it is rebuilt without calling __init__, with its args and attributes."""
    # the pool is the parallelism: per-column threads inside each worker would only oversubscribe the cores
    os.environ["DQ_THREADS"] = "1"
    try:
        return fn(item)
    except Exception as e:
        copyreg.pickle(type(e), _reduce_exception)
        raise


def _reduce_exception(e: BaseException):
    return _rebuild_exception, (type(e), e.args, e.__dict__ or None)


def _rebuild_exception(cls, args, state):
    e = cls.__new__(cls, *args)
    e.args = args
    if state:
        e.__dict__.update(state)
    return e


def _dead_workers(processes: dict) -> str:
    """'pid 123 (SIGKILL: killed, e.g. out of memory)' from the pool's processes' exit codes."""
    codes = {pid: p.exitcode for pid, p in processes.items() if p.exitcode not in (None, 0)}
    # the pool terminates (SIGTERM) the survivors itself once it broke: those are not culprits
    culprits = {pid: c for pid, c in codes.items() if c != -signal.SIGTERM}
    if not culprits:
        return ""
    return ", ".join(f"pid {pid} ({_describe_exit(code)})" for pid, code in sorted(culprits.items()))


def _describe_exit(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        return f"{name}: killed, e.g. out of memory" if -code == signal.SIGKILL else name
    return f"exit code {code}"


atexit.register(lambda: shutdown())


# -- Dask ---------------------------------------------------------------------------------------

_clients: dict[tuple[int, str], object] = {}  # (pid, address) -> distributed.Client


def _client(address: str):
    """This process's client of the scheduler at `address` (connected on first use, reused)."""
    key = (os.getpid(), address)
    with _lock:
        client = _clients.get(key)
        if client is not None and client.status == "running":
            return client
        from distributed import Client

        try:
            client = Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
        except OSError as e:
            reason = " ".join(str(e).split())
            raise ConnectionError(
                f"DQ_DASK_SCHEDULER={address}: no Dask scheduler answers within {DASK_CONNECT_TIMEOUT} ({reason})"
            ) from None
        _clients[key] = client
        return client


def _forget_client(client) -> None:
    with _lock:
        for key in [k for k, c in _clients.items() if c is client]:
            del _clients[key]
    try:
        client.close(timeout=2)
    except Exception:  # its scheduler is gone: nothing left to close
        pass


def _run_dask(client, address: str, fn, items: list, what: str) -> list:
    """Each item one Dask task; a task whose worker dies is rerun elsewhere by the scheduler."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError

    if not items:
        return []
    # keys name the work in the scheduler's and workers' records: <what>-<index>-<call id>
    prefix, call = re.sub(r"[^A-Za-z0-9_.]+", "_", what).strip("_") or "task", uuid.uuid4().hex[:8]
    futures = client.map(fn, items, key=[f"{prefix}-{i}-{call}" for i in range(len(items))], pure=False)
    try:
        return client.gather(futures)
    except KilledWorker as e:
        last = getattr(e.last_worker, "address", "?")
        raise WorkerDied(
            f"{what}: Dask gave up on task {e.task!r}: {e.allowed_failures + 1} workers died while running it, "
            f"the last {last} (distributed.scheduler.allowed-failures)"
        ) from None
    except FutureCancelledError as e:  # the scheduler went away: the cluster forgot every task
        if getattr(e, "reason", None) != "scheduler-connection-lost":
            raise
        _forget_client(client)
        raise ConnectionError(
            f"{what}: lost the Dask scheduler DQ_DASK_SCHEDULER={address} mid-run; nothing of this call is returned"
        ) from None
    finally:
        if client.status == "running":
            client.cancel(futures)  # release results held by the workers, and stop what is still queued
