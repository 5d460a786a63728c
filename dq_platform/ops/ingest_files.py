"""`dq-platform ingest` of many files: the small ones on every core, a process per core.

A small file's run is nearly all fixed cost on one core (Dagster's steps and events, GX's
validation: ~2 CPU-s for a 1,000-row file, of which the data work is a tenth), and each file is a
run of its own, independent of the others. So when several files are each one chunk (read and
processed in their run's own process, chunks/passes.py), `DQ_WORKERS` processes (default: the
cores) take them in turn, each with the instance opened once. A file cut into several chunks
already spreads over every core through the chunk pool: those run afterwards in this process, one
at a time.

Workers are forked from the forkserver (as the chunk pool's are) after it imported Dagster, the
pipeline and Great Expectations once; each worker keeps them for every file it runs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from dq_platform import settings
from dq_platform.chunks import pool
from dq_platform.chunks.passes import MIN_SPLIT, chunk_bytes
from dq_platform.contract import Contract
from dq_platform.defs.file_runs import RunOutcome, run_file
from dq_platform.io.landing import SourceFile

# the chunk pool's preload (it shares this forkserver) and what a file's whole run imports
PRELOAD = [*pool.PRELOAD, "dq_platform.ops.ingest_files", "great_expectations"]


@dataclass(frozen=True)
class FileJob:
    """One registered file to run: what `run_file` needs, picklable for a worker."""

    contract: Contract
    source: SourceFile
    tags: dict
    contracts_dir: str
    warehouse: str


def warm_up(sizes: list[int]) -> None:
    """Several small files coming: start the forkserver now, so its imports (GX's alone ~3 s) overlap
    the registration of the files in this process (wasted, in the background, if all turn out known)."""
    if sum(size <= MIN_SPLIT for size in sizes) >= 2 and settings.workers() >= 2:
        _context()
        multiprocessing.forkserver.ensure_running()


def _context():
    """The forkserver context, with this module's preload (no effect once this process's server runs)."""
    context = multiprocessing.get_context(pool.START_METHOD)
    context.set_forkserver_preload(PRELOAD)
    return context


def run_jobs(instance, jobs: list[FileJob]) -> Iterator[tuple[FileJob, RunOutcome | Exception]]:
    """Each job's outcome, or the exception its run raised (WorkerDied: its worker process died),
    the small files' in their order first, then the others'."""
    one_chunk = [j.source.size <= chunk_bytes(j.source.size) for j in jobs]
    small = [j for j, one in zip(jobs, one_chunk) if one]
    others = [j for j, one in zip(jobs, one_chunk) if not one]
    n = min(settings.workers(), len(small))
    if n < 2:
        small, others = [], jobs
    if small:
        # a forkserver started earlier (by the chunk pool) holds the environment of its own start
        env = dict(os.environ)
        with ProcessPoolExecutor(n, mp_context=_context(), initializer=_start_worker, initargs=(env,)) as workers:
            futures = [(job, workers.submit(_run_in_worker, job)) for job in small]
            for job, future in futures:
                try:
                    yield job, future.result()
                except BrokenProcessPool:  # a worker was killed (out of memory, a signal): the pool is gone
                    yield (
                        job,
                        pool.WorkerDied(
                            "a worker process died before this file's run finished (killed, e.g. out of memory): "
                            "`dq-platform ingest` again finishes it"
                        ),
                    )
                except Exception as e:  # noqa: BLE001 - said per file by the caller, the rest go on
                    yield job, e
    for job in others:
        yield job, _run(instance, job)


def _run(instance, job: FileJob) -> RunOutcome:
    return run_file(
        instance,
        job.contract,
        job.source,
        contracts_dir=job.contracts_dir,
        warehouse_root=job.warehouse,
        extra_tags=job.tags,
    )


_worker: dict = {}  # in a worker process: its instance, opened once


def _start_worker(env: dict) -> None:
    from dq_platform.ops.instance import open_instance

    os.environ.clear()
    os.environ.update(env)
    # the files are the parallelism: per-column threads inside each worker would only oversubscribe the cores
    os.environ["DQ_THREADS"] = "1"
    stack = contextlib.ExitStack()
    _worker["instance"] = stack.enter_context(open_instance())
    # a pool's worker ends through multiprocessing (no atexit): its finalizers close the instance
    multiprocessing.util.Finalize(None, stack.close, exitpriority=10)


def _run_in_worker(job: FileJob) -> RunOutcome:
    return _run(_worker["instance"], job)
