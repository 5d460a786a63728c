"""Did a file's run finish? Liveness of run processes and the outcome of a file's newest run.

A registered partition alone does not mean a file was processed: its run may have been killed
mid-way (raw written, cleaned not; masked committed, gold and checks not). A file counts as
processed only when its newest pipeline run ended with a verdict: SUCCESS, or FAILURE raised by a
step (a bad file, a failed gate; the same bytes would fail the same way). A run that died (no
step verdict: the process was killed, the machine stopped, a step process crashed) leaves the
file *unfinished*: the landing sensor retries it with backoff and the CLI reprocesses it.

A run executing in place (the CLI's `ingest`) carries `dq/worker` = host:pid:start-time, so the
daemon's run monitoring (ops/run_launcher.py) and the CLI can tell a live run from a dead one.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import dagster as dg

from dq_platform import names

# Errors that mean the step's process died, not that the step judged the data.
# Failures of the machinery, not verdicts on the data: the file is processed again (the next ingest,
# the sensor's retries). WorkerDied: a chunk's worker process died (chunks/pool.py); the run removed
# what it had staged.
CRASH_ERRORS = frozenset({"ChildProcessCrashException", "DagsterExecutionInterruptedError", "WorkerDied"})
IN_PROGRESS = frozenset(
    {
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    }
)


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not mistaken."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def worker_tag() -> str:
    """This process as the worker of a run it executes in place."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def worker_alive(tag: str | None) -> bool | None:
    """True/False for a worker on this host; None when unknown (no tag, another host)."""
    if not tag:
        return None
    host, _, rest = tag.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    return started in ("?", "") or _start_time(pid) in ("?", started)


@dataclass(frozen=True)
class FileRun:
    """The newest pipeline run of a file: its outcome and how many runs the file has had."""

    state: str  # none | done | running | crashed | canceled
    run: dg.DagsterRun | None = None
    attempts: int = 0
    ended: float | None = None  # end time (unix seconds) of the newest run, when it ended
    reason: str = ""


def file_runs(instance: dg.DagsterInstance, dataset: str, partitions: list[str]) -> dict[str, list[dg.RunRecord]]:
    """Each file's pipeline runs, newest first, in one query."""
    out: dict[str, list[dg.RunRecord]] = {p: [] for p in partitions}
    if not partitions:
        return out
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=names.pipeline_job(dataset), tags={names.PARTITION_TAG: list(partitions)}),
        order_by="create_timestamp",
        ascending=False,
    )
    for r in records:
        key = r.dagster_run.tags.get(names.PARTITION_TAG)
        if key in out:
            out[key].append(r)
    return out


def step_verdict(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a failed run failed on a step's own error (a verdict on the data), not a crash."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    for r in records:
        data = r.event_log_entry.dagster_event.event_specific_data
        err = getattr(data, "error", None)
        while err is not None and err.cls_name not in CRASH_ERRORS and err.cause is not None:
            err = err.cause  # the step's error wraps the user code's (DagsterExecutionStepExecutionError)
        if err is not None and err.cls_name not in CRASH_ERRORS:
            return True
    return False


def file_states(instance: dg.DagsterInstance, dataset: str, partitions: list[str]) -> dict[str, FileRun]:
    """The state of each file (partition) from its newest run: one run query for them all."""
    return {key: _state(instance, records) for key, records in file_runs(instance, dataset, partitions).items()}


def file_state(instance: dg.DagsterInstance, dataset: str, partition: str) -> FileRun:
    return file_states(instance, dataset, [partition])[partition]


def _state(instance: dg.DagsterInstance, records: list[dg.RunRecord]) -> FileRun:
    if not records:
        return FileRun("none")
    newest = records[0]
    run = newest.dagster_run
    ended = newest.end_time
    n = len(records)
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return FileRun("done", run, n, ended)
    if run.status == dg.DagsterRunStatus.CANCELED:
        return FileRun("canceled", run, n, ended, "canceled")
    if run.status == dg.DagsterRunStatus.FAILURE:
        if step_verdict(instance, run.run_id):
            return FileRun("done", run, n, ended, "failed on a step's verdict")
        return FileRun("crashed", run, n, ended, "its run process died before the run finished")
    if run.status in IN_PROGRESS and worker_alive(run.tags.get(names.WORKER_TAG)) is False:
        return FileRun("crashed", run, n, None, "its run process is gone (killed?) but the run says STARTED")
    return FileRun("running", run, n, None)


def mark_dead_run_failed(instance: dg.DagsterInstance, run: dg.DagsterRun, reason: str) -> None:
    """Record a run whose process is gone as FAILURE (what run monitoring does for the daemon's runs)."""
    fresh = instance.get_run_by_id(run.run_id)
    if fresh is not None and fresh.status in IN_PROGRESS:
        instance.report_run_failed(fresh, f"Run worker {run.tags.get(names.WORKER_TAG, '?')} is gone: {reason}")
