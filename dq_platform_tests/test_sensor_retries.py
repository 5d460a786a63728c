"""Finding 5 of issue 17, the sensor half: a registered file whose run died is not "already
processed". The landing sensor retries it with backoff, a bounded number of times, then gives up
with an error; a file whose run ended with a verdict (SUCCESS, or a step's failure) is not retried."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import dagster as dg
import pytest

from dq_platform.defs.run_state import file_state, worker_tag
from dq_platform_tests.test_sensors import CONTRACTS, CSV, Ticker, reason


@pytest.fixture
def ticker(tmp_path, instance, monkeypatch):
    monkeypatch.setenv("DQ_RETRY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("DQ_RETRY_ATTEMPTS", "3")
    root = tmp_path / "landing"
    (root / "customers").mkdir(parents=True)
    (root / "customers" / "a.csv").write_bytes(CSV)
    t = Ticker(CONTRACTS["customers"], instance, str(root))
    t.tick()
    (first,) = t.tick().run_requests
    t.first = first
    return t


def add_run(instance, request: dg.RunRequest, status=dg.DagsterRunStatus.STARTED, **tags) -> dg.DagsterRun:
    """The run the daemon would create from `request` (not executed: its fate is set by the test)."""
    run = dg.DagsterRun(
        job_name="customers_pipeline",
        run_id=str(uuid.uuid4()),
        status=status,
        tags={**request.tags, "dagster/partition": request.partition_key, **tags},
    )
    return instance.add_run(run)


def test_a_file_whose_run_died_is_retried_with_bounded_attempts(ticker, instance, capsys):
    request = ticker.first
    for attempt in (2, 3):
        instance.report_run_failed(add_run(instance, request))  # died: no step gave a verdict
        assert file_state(instance, "customers", request.partition_key).state == "crashed"
        (retry,) = ticker.tick().run_requests
        assert retry.partition_key == request.partition_key and retry.run_key == f"{request.partition_key}#{attempt}"
        assert retry.tags["dq/attempt"] == str(attempt) and retry.tags["dq/checksum"] == request.tags["dq/checksum"]
        request = retry
    instance.report_run_failed(add_run(instance, request))
    result = ticker.tick()
    assert result.run_requests == [] and "gave up after 3 runs that did not finish" in reason(result)
    assert "ERROR - customers/a.csv" in capsys.readouterr().err  # the sensor log says it gave up
    assert ticker.tick().run_requests == []  # and stays given up


def test_backoff_between_retries(ticker, instance, monkeypatch):
    monkeypatch.setenv("DQ_RETRY_BACKOFF_SECONDS", "3600")
    instance.report_run_failed(add_run(instance, ticker.first))
    result = ticker.tick()
    assert result.run_requests == [] and "retry 1 of 2 due in" in reason(result)


def test_a_started_run_whose_process_is_gone_is_failed_and_retried(ticker, instance):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = add_run(instance, ticker.first, **{"dq/worker": f"{socket.gethostname()}:{gone.pid}:?"})
    alive = worker_tag()  # this test process
    assert file_state(instance, "customers", ticker.first.partition_key).state == "crashed"
    (retry,) = ticker.tick().run_requests
    assert retry.tags["dq/attempt"] == "2"
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    add_run(instance, retry, **{"dq/worker": alive})
    assert ticker.tick().run_requests == []  # its worker lives: being processed, not retried


def test_a_run_that_ended_with_a_verdict_is_not_retried(ticker, instance):
    add_run(instance, ticker.first, status=dg.DagsterRunStatus.SUCCESS)
    assert ticker.tick().run_requests == []
    # the same bytes under another name: processed already
    root = ticker.uri
    with open(f"{root}/customers/copy.csv", "wb") as f:
        f.write(CSV)
    ticker.tick()
    result = ticker.tick()
    assert result.run_requests == [] and "already registered and processed" in reason(result)


def test_a_file_that_failed_on_a_step_is_done_not_crashed(project, instance):
    """An unreadable file fails its raw step: a verdict on the bytes, so no retry would help."""
    path = project.landing / "customers" / "broken.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00\x01\x02 not a csv \xff\xfe" * 50)
    out = project.ingest(instance, "customers", path)
    assert not out.success
    state = file_state(instance, "customers", out.partition)
    assert state.state == "done" and state.reason == "failed on a step's verdict" and state.attempts == 1
