"""Dagster's default run launcher, plus the worker health check run monitoring needs.

`DefaultRunLauncher` starts each run in a process of the code server and cannot tell the
monitoring daemon whether that process still lives, so with it `run_monitoring` never fails a run
whose worker died with its code server (a killed process group, an OOM kill, a machine restart):
the run says STARTED forever and, with a run queue limit, every later run waits behind it.
This launcher answers the health check:

- a run launched by it: the code server that owns it (the `dagster/grpc_info` tag) is asked for
  its current runs; a server that does not answer after a few tries, or no longer lists the run,
  means the worker is gone (the server itself fails runs whose process died while it lives);
- a run executed in place (`dq-platform ingest`, tag `dq/worker` = host:pid:start): the process
  is looked up on this host;
- anything else: RUNNING (unknown is never failed).

Configured in dagster.yaml (`run_launcher`), with `run_monitoring` on: the daemon then marks a
dead run FAILED within `poll_interval_seconds` (a worker known only through its code server: one
poll later, so that a busy server is not taken for a dead one), its file becomes unfinished (defs/run_state.py)
and the queue moves on.
"""

from __future__ import annotations

import json
import time

from dagster import DagsterRun
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from dq_platform import names
from dq_platform.defs.run_state import worker_alive
from dq_platform.io.instance_sqlite import tune_instance_sqlite

tune_instance_sqlite()  # the daemon's and the webserver's instance load this module: their SQLite writes too

ATTEMPTS = 3  # health queries per check, a little apart
# A code server that answers none of a check's queries is gone only if it still answers none this
# long after the first such check: a server whose cores are taken by run processes while it evaluates
# sensors on several threads has missed one check's queries (seen: a live batch run marked FAILED,
# a false CRITICAL alert, then the run's SUCCESS). A dead worker is failed one poll later.
UNANSWERED_GRACE_SECONDS = 20.0


class MonitoredRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        alive = worker_alive(run.tags.get(names.WORKER_TAG))
        if alive is not None:
            if alive:
                return CheckRunHealthResult(WorkerStatus.RUNNING)
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run process {run.tags[names.WORKER_TAG]} is gone")
        info = run.tags.get(GRPC_INFO_TAG)
        if not info:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker to check")
        result = _ask_code_server(run.run_id, json.loads(info))
        unanswered = self.__dict__.setdefault("_dq_unanswered", {})  # run id -> first unanswered check
        if result.status != WorkerStatus.FAILED:
            unanswered.pop(run.run_id, None)
            return result
        if len(unanswered) > 1_000:  # runs that ended meanwhile are never checked again: stay bounded
            unanswered.clear()
        waited = time.monotonic() - unanswered.setdefault(run.run_id, time.monotonic())
        if waited < UNANSWERED_GRACE_SECONDS:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING,
                f"its code server has not answered for {waited:.0f}s; asked again at the next poll",
            )
        unanswered.pop(run.run_id, None)
        return result


def _ask_code_server(run_id: str, info: dict) -> CheckRunHealthResult:
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import GetCurrentRunsResult
    from dagster_shared.serdes import deserialize_value

    client = DagsterGrpcClient(
        port=info.get("port"), socket=info.get("socket"), host=info.get("host"), use_ssl=bool(info.get("use_ssl"))
    )
    error = None
    for attempt in range(ATTEMPTS):
        try:
            current = deserialize_value(client.get_current_runs(), GetCurrentRunsResult).current_runs
        except Exception as e:  # noqa: BLE001 - unreachable server: ask again, then call it gone
            error = e
            time.sleep(0.5 * (attempt + 1))
            continue
        if run_id in current:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "its code server no longer runs it")
    return CheckRunHealthResult(
        WorkerStatus.FAILED, f"its code server does not answer ({type(error).__name__}): the worker died with it"
    )
