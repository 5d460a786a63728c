"""The monitored run launcher's health check against a code server that does not answer (a real
gRPC client on a Unix socket nothing listens on): a dead server only after a grace period."""

from __future__ import annotations

import json
import time

import dagster as dg
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from dq_platform.ops import run_launcher
from dq_platform.ops.run_launcher import MonitoredRunLauncher


def _run(tmp_path, run_id: str) -> dg.DagsterRun:
    info = json.dumps({"host": "localhost", "socket": str(tmp_path / "gone.sock")})
    return dg.DagsterRun(job_name="customers_pipeline", run_id=run_id, tags={GRPC_INFO_TAG: info})


def test_a_code_server_that_misses_one_check_is_not_yet_dead_one_still_silent_after_the_grace_is(tmp_path, monkeypatch):
    monkeypatch.setattr(run_launcher, "UNANSWERED_GRACE_SECONDS", 1.0)
    monkeypatch.setattr(run_launcher, "ATTEMPTS", 1)
    launcher = MonitoredRunLauncher()
    run = _run(tmp_path, "aaaaaaaa-0000-0000-0000-000000000001")

    first = launcher.check_run_worker_health(run)
    assert first.status == WorkerStatus.RUNNING and "has not answered" in first.msg
    time.sleep(1.1)
    later = launcher.check_run_worker_health(run)
    assert later.status == WorkerStatus.FAILED and "does not answer" in later.msg

    # the count starts again for each run, and after a verdict
    other = launcher.check_run_worker_health(_run(tmp_path, "aaaaaaaa-0000-0000-0000-000000000002"))
    assert other.status == WorkerStatus.RUNNING
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
