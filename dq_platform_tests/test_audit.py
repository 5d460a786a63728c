"""`dq-platform audit`: the audit log read back from Dagster's run storage, on PostgreSQL and SQLite.

Real pipelines run on each backend: a clean file (run from the CLI path), a file whose failure
rate breaks the contract's gate (check failed, run held), and a gzip file named .csv (step error
with traceback). The command's table, JSON and CSV output, its filters and `show` are asserted
against what those runs did.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from dq_platform.cli import main
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.file_runs import run_file
from dq_platform.defs.partitions import register
from dq_platform_tests.conftest import PG_TEST_PASSWORD, REPO, Project, instance_env, open_instance
from dq_platform_tests.test_pipeline import customer_frame

pytestmark = pytest.mark.slow


class Audited:
    """One backend's instance after three real runs, and how to call the CLI on it."""

    def __init__(self, kind, home, env, project, instance, runs):
        self.kind, self.home, self.env, self.project, self.instance, self.runs = (
            kind,
            home,
            env,
            project,
            instance,
            runs,
        )

    def cli(self, *args: str, capsys) -> tuple[int, str, str]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(self.home))
            mp.setenv("DQ_PROJECT_DIR", str(REPO))
            mp.setenv("DQ_WAREHOUSE_URI", self.project.warehouse)
            mp.delenv("DAGSTER_PG_URL", raising=False)
            for k, v in self.env.items():
                mp.setenv(k, v)
            capsys.readouterr()
            code = main(list(args))
            out = capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def audited(request, tmp_path_factory, pg_databases):
    kind = request.param
    root = tmp_path_factory.mktemp(f"audit_{kind}")
    env = instance_env(kind, pg_databases, "list")
    instance = open_instance(root / "home", env)
    project = Project(root, CONTRACTS_DIR)
    contract = project.contracts["customers"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DQ_MASKING_KEY", "audit-test-masking-key-0123456789")
        good = project.write_csv("customers/good.csv", customer_frame(40, bad=2))
        source = register(instance, contract, good, project.warehouse)
        ok = run_file(
            instance,
            contract,
            source,
            contracts_dir=project.contracts_dir,
            warehouse_root=project.warehouse,
            extra_tags={"dq/trigger": "cli"},
        )
        held = project.ingest(
            instance, "customers", project.write_csv("customers/held.csv", customer_frame(40, start=100, bad=20))
        )
        corrupt = project.landing / "customers" / "corrupt.csv"
        corrupt.write_bytes(gzip.compress(b"customer_id,email\n1,a@b.co\n"))
        broken = project.ingest(instance, "customers", corrupt)
    assert ok.success and not held.success and not broken.success
    yield Audited(kind, root / "home", env, project, instance, {"ok": ok, "held": held, "broken": broken})
    instance.dispose()


def test_table_lists_runs_newest_first_with_rows_checks_and_trigger(audited, capsys):
    code, out, err = audited.cli("audit", capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["RUN", "DATASET", "PARTITION", "TRIGGER", "STATUS", "STARTED"]
    body = lines[1:]
    assert [line.split()[0] for line in body] == [audited.runs[k].run_id[:8] for k in ("broken", "held", "ok")]
    ok_line = body[2].split()
    assert ok_line[1:5] == ["customers", audited.runs["ok"].partition, "cli", "SUCCESS"]
    # in, cleaned, quarantined, published, checks (incl. freshness, review, 3 statistics, the 4 history checks, still
    # learning, and raw's undeclared-PII check)
    assert ok_line[-5:] == ["40", "38", "2", "38", "22/0"]
    held_line = body[1].split()
    # held at cleaned's gate: raw's 2 history checks and its undeclared-PII check ran, cleaned's were skipped; gold's
    # three leak checks are recorded as passed ("unchanged": the file published nothing)
    assert held_line[3:5] == ["ui", "FAILURE"] and held_line[-5:] == ["40", "20", "20", "-", "16/1"]
    assert body[0].split()[-5:] == ["-", "-", "-", "-", "0/0"]


def test_json_and_csv_give_every_field_of_the_same_runs(audited, capsys):
    code, out, _ = audited.cli("audit", "--format", "json", capsys=capsys)
    assert code == 0
    rows = {r["run_id"]: r for r in json.loads(out)}
    ok, held, broken = (rows[audited.runs[k].run_id] for k in ("ok", "held", "broken"))
    assert (ok["rows_in"], ok["rows_cleaned"], ok["rows_quarantined"], ok["rows_published"]) == (40, 38, 2, 38)
    assert ok["status"] == "SUCCESS" and ok["trigger"] == "cli" and ok["error"] is None
    assert ok["source"].endswith("/customers/good.csv") and ok["duration_s"] > 0
    assert held["checks_failed"] == 1 and held["rows_published"] is None
    assert held["error"].startswith(
        "clean_customers: held by cleaned_customers.failure_rate_within_threshold: 20 of 40"
    )
    assert broken["error"] == (
        "raw_customers: dq_platform.io.landing.SourceFileError: corrupt.csv:1: "
        "gzip-compressed data, not a CSV text file: decompress it first"
    )

    code, out, _ = audited.cli("audit", "list", "--format", "csv", capsys=capsys)
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["run_id"] for r in table] == list(rows)  # same runs, same order
    by_id = {r["run_id"]: r for r in table}
    assert by_id[audited.runs["ok"].run_id]["rows_published"] == "38"
    assert by_id[audited.runs["held"].run_id]["rows_published"] == ""
    assert by_id[audited.runs["broken"].run_id]["error"] == broken["error"]


def test_filters_by_status_dataset_since_and_limit(audited, capsys):
    def ids(*args):
        code, out, err = audited.cli("audit", *args, "--format", "json", capsys=capsys)
        assert code == 0, err
        return [r["run_id"] for r in json.loads(out)]

    runs = audited.runs
    assert ids("--status", "failure") == [runs["broken"].run_id, runs["held"].run_id]
    assert ids("--status", "SUCCESS") == [runs["ok"].run_id]
    assert ids("--status", "success,failure", "--limit", "2") == [runs["broken"].run_id, runs["held"].run_id]
    assert len(ids("--dataset", "customers")) == 3
    assert ids("--dataset", "sales_transactions") == []
    assert len(ids("--since", "1h")) == 3
    assert ids("--since", "2999-01-01") == []
    code, _, err = audited.cli("audit", "--status", "exploded", capsys=capsys)
    assert code == 2 and "unknown status 'exploded'" in err
    code, _, err = audited.cli("audit", "--since", "last tuesday", capsys=capsys)
    assert code == 2 and "--since 'last tuesday'" in err


def test_show_a_failed_run_prints_its_error_and_traceback(audited, capsys):
    run = audited.runs["broken"]
    code, out, _ = audited.cli("audit", "show", run.run_id[:8], capsys=capsys)
    assert code == 0
    assert f"run        {run.run_id}" in out and "status     FAILURE" in out
    assert "error      raw_customers: dq_platform.io.landing.SourceFileError: corrupt.csv:1: gzip-compressed" in out
    assert "source     file://" in out and out.count("checksum   ") == 1
    tb = out.split("failures:", 1)[1]
    assert "Stack Trace:" in tb and 'dq_platform/io/csv_reader.py", line' in tb and "raise SourceFileError" in tb


def test_show_a_check_failed_run_prints_failed_checks_with_their_metadata(audited, capsys):
    run = audited.runs["held"]
    code, out, _ = audited.cli("audit", "show", run.run_id, "--format", "json", capsys=capsys)
    assert code == 0
    detail = json.loads(out)
    failed = [c for c in detail["checks"] if not c["passed"]]
    assert [(c["check"], c["severity"]) for c in failed] == [("failure_rate_within_threshold", "ERROR")]
    assert failed[0]["metadata"]["failure_rate"] == 0.5 and failed[0]["metadata"]["rows_failed"] == 20
    assert "email:format" in failed[0]["metadata"]["top_failing_rules"]
    assert {m["asset"] for m in detail["materializations"]} == {
        "raw_customers",
        "cleaned_customers",
        "quarantine_customers",
    }

    code, text, _ = audited.cli("audit", "show", run.run_id, capsys=capsys)
    assert "[ERROR] cleaned_customers.failure_rate_within_threshold: 20 of 40 rows failed" in text
    assert "failed check metadata:" in text and "rows_failed: 20" in text
    assert "rows       in 40  cleaned 20  quarantined 20  published -" in text


def test_unknown_run_is_a_clear_error_and_no_password_is_ever_printed(audited, capsys):
    code, out, err = audited.cli("audit", "show", "0000dead-beef", capsys=capsys)
    assert code == 1 and "no run '0000dead-beef'" in err
    outputs = [err, out]
    for args in (["audit"], ["audit", "--format", "json"], ["audit", "show", audited.runs["broken"].run_id]):
        outputs += audited.cli(*args, capsys=capsys)[1:]
    assert not any(PG_TEST_PASSWORD in text for text in outputs)
    assert PG_TEST_PASSWORD not in (audited.home / "dagster.yaml").read_text()


def test_the_instance_is_the_backend_the_environment_selects(audited):
    storage = type(audited.instance.run_storage).__name__
    assert storage == {"sqlite": "SqliteRunStorage", "postgres": "PostgresRunStorage"}[audited.kind]
    assert type(audited.instance.event_log_storage).__name__.startswith(storage[: -len("RunStorage")])


def test_two_concurrent_ingests_on_postgres_are_both_recorded(tmp_path, pg_databases, capsys):
    """Two `dq-platform ingest` processes at once on one PostgreSQL instance: both runs, both right."""
    env = instance_env("postgres", pg_databases, "conc")
    home = tmp_path / "home"
    proc_env = {
        **os.environ,
        **env,
        "DAGSTER_HOME": str(home),
        "DQ_PROJECT_DIR": str(REPO),
        "DQ_WAREHOUSE_URI": str(tmp_path / "warehouse"),
        "DQ_LANDING_DIR": str(tmp_path / "landing"),
        "DQ_MASKING_KEY": "audit-test-masking-key-0123456789",
    }
    files = []
    for i, (n, bad) in enumerate([(30, 1), (50, 4)]):
        path = tmp_path / "landing" / "customers" / f"part_{i}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        customer_frame(n, start=1000 * (i + 1), bad=bad).to_csv(path, index=False)
        files.append(path)
    # the instance's schema is created once, as a deployment's first start does
    open_instance(home, env).dispose()
    exe = [sys.executable, "-c", "import sys; from dq_platform.cli import main; sys.exit(main(sys.argv[1:]))"]
    procs = [
        subprocess.Popen(
            [*exe, "ingest", str(f)],
            env=proc_env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in files
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs

    with pytest.MonkeyPatch.context() as mp:
        for k, v in {**env, "DAGSTER_HOME": str(home), "DQ_PROJECT_DIR": str(REPO)}.items():
            mp.setenv(k, v)
        capsys.readouterr()
        assert main(["audit", "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    by_file = {r["partition"].split("@")[0]: r for r in rows}
    assert {
        k: (r["status"], r["trigger"], r["rows_in"], r["rows_quarantined"], r["rows_published"])
        for k, r in by_file.items()
    } == {"part_0.csv": ("SUCCESS", "cli", 30, 1, 29), "part_1.csv": ("SUCCESS", "cli", 50, 4, 46)}
    # the runs overlapped in time (both started before either ended)
    with open_instance(home, env) as instance:
        records = instance.get_run_records()
        assert len(records) == 2 and type(instance.run_storage).__name__ == "PostgresRunStorage"
        starts, ends = [r.start_time for r in records], [r.end_time for r in records]
    assert max(starts) < min(ends), "the two runs did not overlap: the test did not exercise concurrency"


@pytest.mark.parametrize(
    "tags, trigger",
    [
        ({"dagster/sensor_name": "customers_landing", "dq/trigger": "sensor"}, "sensor:customers_landing"),
        ({"dagster/schedule_name": "platform_health_schedule"}, "schedule:platform_health_schedule"),
        ({"dagster/backfill": "abcd"}, "backfill:abcd"),
        ({"dq/trigger": "cli"}, "cli"),
        ({"user": "ada@example.com"}, "ui:ada@example.com"),
        ({}, "ui"),
    ],
)
def test_trigger_is_read_from_the_tags_dagster_and_dq_platform_set(tags, trigger):
    from dq_platform.ops.audit import trigger_of

    assert trigger_of(tags) == trigger


def test_partial_postgres_settings_stop_the_command_naming_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DQ_PROJECT_DIR", str(REPO))
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    monkeypatch.setenv("DAGSTER_PG_HOST", "db.internal")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "hunter2-secret")
    for name in ("DAGSTER_PG_USER", "DAGSTER_PG_DB"):
        monkeypatch.delenv(name, raising=False)
    assert main(["audit"]) == 2
    err = capsys.readouterr().err
    assert "DAGSTER_PG_USER, DAGSTER_PG_DB not set" in err and "hunter2" not in err


def test_monitoring_runs_stay_out_of_the_default_page_unless_asked_for(tmp_path):
    """Hourly history checks (24 a day per dataset) and health runs write no table: the default page
    pages past them to the file runs; --include-monitoring lists them too."""
    import uuid

    from dagster._core.storage.dagster_run import DagsterRun

    from dq_platform.ops.audit import list_runs

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:

        def add(job, tags):
            return instance.add_run(
                DagsterRun(job_name=job, run_id=str(uuid.uuid4()), tags=tags, status=dg.DagsterRunStatus.SUCCESS)
            ).run_id

        file_run = add("customers_pipeline", {"dq/dataset": "customers", "dagster/partition": "a.csv@0123"})
        monitoring = [
            add("customers_history_checks", {"dq/dataset": "customers", "dq/kind": "history_checks"})
            for _ in range(130)
        ]
        monitoring.append(add("platform_health_job", {}))  # a health run stored before it had its tag
        review = add("dq_review", {"dq/kind": "review"})
        assert [r.run_id for r in list_runs(instance)] == [review, file_run]
        assert [r.run_id for r in list_runs(instance, limit=1)] == [review]
        assert [r.run_id for r in list_runs(instance, dataset="customers")] == [file_run]
        everything = [r.run_id for r in list_runs(instance, include_monitoring=True, limit=500)]
        assert everything == [review, *reversed(monitoring), file_run]
