"""Finding 4 (and the sensor half of 5) of issue 17, under the real Dagster daemon.

A sensor-launched run is paused inside its raw step (a fault point), a second file's run waits
in the queue behind it (embedded mode runs one at a time), then the run's worker and its code
server are SIGKILLed, as an OOM kill or a crash of the process group would. The instance config
the CLI writes (dagster.yaml: run monitoring + the monitored launcher) must mark the dead run
FAILED within a bounded time, the queued run must then go on, and the landing sensor must retry
the killed file (attempt 2) until it is finished: both files in masked, gold = masked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dq_platform.settings import render_instance_config
from dq_platform_tests.crash import CliProject, gold_matches_masked

REPO = Path(__file__).resolve().parents[1]
POLL_SECONDS = 2  # the test's run-monitoring poll interval (dagster.yaml ships 30)
BOUND_SECONDS = 60  # a dead run must be FAILED within this long after the kill
TIMEOUT_S = 600


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _runs(instance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name="customers_pipeline")))


def _wait(what: str, predicate, daemon, log: Path, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert daemon.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    pytest.fail(f"not within {timeout}s: {what}\n" + log.read_text()[-3000:])


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the code server through /proc")
def test_dead_worker_is_failed_the_queue_moves_and_the_file_is_retried(tmp_path):
    project = CliProject(tmp_path)
    home = Path(project.env["DAGSTER_HOME"])
    home.mkdir()
    config = yaml.safe_load(render_instance_config(REPO / "dagster.yaml", env={}))  # embedded, as the CLI writes it
    assert config["run_monitoring"]["enabled"] and "MonitoredRunLauncher" in config["run_launcher"]["class"]
    # one run at a time (the embedded default starts two): the second file's run must queue behind the dead one
    config["concurrency"]["runs"]["max_concurrent_runs"] = 1
    config["run_monitoring"]["poll_interval_seconds"] = POLL_SECONDS
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    point = "write:raw_customers:begin"
    env = {
        **project.env,
        "DQ_SENSOR_INTERVAL_SECONDS": "2",
        "DQ_RETRY_BACKOFF_SECONDS": "1",
        "DQ_FAULT_AT": point,
        "DQ_FAULT_ACTION": "pause",
    }
    log_path = tmp_path / "daemon.log"
    log = open(log_path, "w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first, second = project.files("customers", 2, rows=40, seed=41)
        second_bytes = second.read_bytes()
        second.unlink()
        reached = project.faults / f"{point.replace(':', '_')}.reached"
        _wait("the first run pauses in its raw step", reached.exists, daemon, log_path)
        worker = int(reached.read_text())
        second.write_bytes(second_bytes)
        with project.instance() as instance:
            _wait(
                "the second file's run is queued behind the first",
                lambda: any(r.status == dg.DagsterRunStatus.QUEUED for r in _runs(instance)),
                daemon,
                log_path,
            )
            (killed,) = [r for r in _runs(instance) if r.status == dg.DagsterRunStatus.STARTED]
            code_server = _ppid(worker)
            project.release(point)  # later runs pass the point
            os.kill(worker, signal.SIGKILL)
            os.kill(code_server, signal.SIGKILL)
            killed_at = time.monotonic()

            _wait(
                "the dead run is marked FAILED",
                lambda: instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE,
                daemon,
                log_path,
                timeout=BOUND_SECONDS,
            )
            detected = time.monotonic() - killed_at
            print(f"dead run marked FAILED {detected:.1f}s after the kill (poll interval {POLL_SECONDS}s)")

            def finished():
                runs = _runs(instance)
                ok = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
                return len({r.tags["dagster/partition"] for r in ok}) == 2 and runs

            runs = _wait("both files finished (the queue moved, the killed file retried)", finished, daemon, log_path)
            retried = [r for r in runs if r.tags["dagster/partition"] == killed.tags["dagster/partition"]]
            assert sorted(r.tags.get("dq/attempt") for r in retried) == ["1", "2"]
            assert all(r.tags["dq/trigger"] == "sensor" for r in runs)
        wh = project.warehouse
        assert sorted(k.split("@")[0] for k in wh.row_counts("masked_customers")) == [first.name, second.name]
        assert gold_matches_masked(wh, project.contracts["customers"]) == []
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
