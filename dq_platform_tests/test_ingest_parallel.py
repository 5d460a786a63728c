"""`dq-platform ingest` of several small files on every core (ops/ingest_files.py), as real
command-line processes: each file still its own run with its own outcome, a bad file holds only
itself, and a worker process killed mid-file loses nothing (the next ingest finishes its files)."""

from __future__ import annotations

import dagster as dg
import pytest

from dq_platform_tests.crash import CliProject
from dq_platform_tests.test_crash_recovery import check_consistent

pytestmark = pytest.mark.slow


def _project(tmp_path) -> CliProject:
    project = CliProject(tmp_path)
    project.env["DQ_WORKERS"] = "2"
    return project


def test_small_files_run_on_two_worker_processes_each_file_its_own_run(tmp_path):
    project = _project(tmp_path)
    files = project.files("customers", 4, rows=40, seed=41)
    folder = files[0].parent
    bad = folder / "customers_bad.csv"
    bad.write_text('"unterminated,header\n1,2\n')
    copy = folder / "customers_again.csv"
    copy.write_bytes(files[0].read_bytes())

    code, out = project.run("ingest", str(folder))
    assert code == 1, out  # the bad file's run failed: said, and the exit code says so
    assert out.count("SUCCESS") == 4, out
    (bad_line,) = [line for line in out.splitlines() if "customers_bad.csv@" in line]
    assert "FAILURE" in bad_line and "customers_bad.csv:1:" in bad_line, bad_line
    assert f"skip {copy}: same content as {files[0]}" in out  # one run per content, even within one ingest
    check_consistent(project, partitions=4)
    with project.instance() as instance:
        runs = instance.get_runs()
        assert len(runs) == 5 and sorted(r.status.value for r in runs) == ["FAILURE"] + ["SUCCESS"] * 4
        assert {r.tags["dq/trigger"] for r in runs} == {"cli"}
        workers = {r.tags["dq/worker"] for r in runs}
        assert len(workers) == 2, workers  # two processes ran them, each several files in turn
        for run in runs:  # every file's checks recorded in its own run
            if run.status == dg.DagsterRunStatus.SUCCESS:
                checks = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
                assert len(checks.records) >= 20


def test_a_worker_killed_mid_file_loses_nothing_and_the_next_ingest_finishes_every_file(tmp_path):
    project = _project(tmp_path)
    files = project.files("customers", 3, rows=40, seed=43)
    folder = files[0].parent

    code, out = project.run("ingest", str(folder), fault="write:masked_customers:committed")
    assert code == 1, out  # the command itself survives its workers and says what happened to each file
    lines = [line for line in out.splitlines() if line.startswith("customers: ")]
    assert len(lines) == 3 and all("FAILURE" in line and "worker process died" in line for line in lines), out

    code, out = project.run("ingest", str(folder))
    assert code == 0, out
    assert out.count("processing it again") == 3 and out.count("SUCCESS") == 3, out
    check_consistent(project, partitions=3)
    with project.instance() as instance:
        statuses = [r.status.value for r in instance.get_runs()]
        assert statuses.count("SUCCESS") == 3 and set(statuses) <= {"SUCCESS", "FAILURE"}, statuses
