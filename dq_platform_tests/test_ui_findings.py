"""What a first-day user of the Dagster UI hit (issue #19), each kept fixed at the API level.

The same flows are driven in a real browser by test_ui_browser.py; these tests pin the behaviour
behind each page quickly, on a throw-away instance.
"""

import io
import json
import re

import dagster as dg

from dq_platform import names
from dq_platform.alerts.sensors import run_alert_sensors_once, starting_cursors
from dq_platform_tests.test_pipeline import customer_frame


def _step_failures(instance, run_id):
    return [
        e.dagster_event.event_specific_data
        for e in instance.all_logs(run_id)
        if e.dagster_event is not None and e.dagster_event.is_step_failure
    ]


def test_masked_on_a_gate_failed_partition_is_not_a_pii_leak_and_pages_nobody(project, instance, monkeypatch):
    """Finding 1: nothing was published, so the leak gate passes ("nothing to scan"), no CRITICAL alert."""
    monkeypatch.setenv("DQ_ALERT_FILE", "")
    contracts = list(project.contracts.values())
    check_keys = project.defs.resolve_asset_graph().asset_check_keys
    cursors = starting_cursors(instance, check_keys)
    out = project.ingest(instance, "customers", project.write_csv("customers/late.csv", customer_frame(20, bad=15)))
    assert not out.success
    # a user now picks this partition under masked_customers -> Materialize...
    result = project.materialize(instance, ["masked_customers"], out.partition)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals[names.SOURCE_GATES_CHECK].passed is False
    leak = evals[names.MASKED_PII_CHECK]
    assert leak.passed is True and "nothing published, so nothing to scan" in leak.description
    assert out.partition not in project.wh().row_counts("masked_customers")
    stream = io.StringIO()
    run_alert_sensors_once(instance, contracts, check_keys, cursors, console_stream=stream)
    text = stream.getvalue()
    assert "[HIGH] customers: blocking gate failed" in text  # the real finding is still said
    assert "[CRITICAL]" not in text and "PII leak" not in text, text


def test_a_gate_held_run_says_rate_thresholds_and_next_step_and_reports_keep_it(project, instance):
    """Finding 3: a dg.Failure with description + metadata, not Dagster's generic blocking-check message."""
    out = project.ingest(instance, "customers", project.write_csv("customers/bad.csv", customer_frame(20, bad=15)))
    assert not out.success
    (failure,) = _step_failures(instance, out.run_id)
    data = failure.user_failure_data
    assert data is not None, failure.error.message
    text = data.description
    assert "15 of 20 rows failed row rules (75.00%)" in text
    assert "warn above 5%" in text and "error above 25%" in text
    assert "Next step:" in text and "quarantine_customers" in text
    meta = {k: v.value for k, v in data.metadata.items()}
    assert meta["failure_rate"] == 0.75 and meta["error_level"] == 0.25 and meta["rows_in"] == 20
    # the CLI / audit wording stays the gate's own line
    assert "held by cleaned_customers.failure_rate_within_threshold: 15 of 20" in out.error
    # the reports keep the whole error, not its first line
    from dq_platform.reports.run_report import write_reports

    uris = write_reports(instance, out.run_id, project.wh())
    report = json.loads(open(uris["json"]).read())
    (err,) = [f["error"] for f in report["failures"]]
    assert "Next step:" in err and "error above 25%" in err
    assert "Next step:" in open(uris["html"]).read()


def test_a_gate_held_run_does_not_page_as_a_crashed_run(project, instance, monkeypatch):
    """The Failure is a gate's: the run-failure sensor leaves it to the check sensor (HIGH, not CRITICAL)."""
    monkeypatch.setenv("DQ_ALERT_FILE", "")
    contracts = list(project.contracts.values())
    check_keys = project.defs.resolve_asset_graph().asset_check_keys
    cursors = starting_cursors(instance, check_keys)
    out = project.ingest(instance, "customers", project.write_csv("customers/bad2.csv", customer_frame(20, bad=15)))
    assert not out.success
    stream = io.StringIO()
    run_alert_sensors_once(instance, contracts, check_keys, cursors, console_stream=stream)
    assert "[CRITICAL]" not in stream.getvalue()
    assert isinstance(instance.get_run_by_id(out.run_id).status, dg.DagsterRunStatus)


def test_extract_schedules_start_stopped_and_the_demo_key_replays_the_crypto_api(instance, tmp_path, monkeypatch):
    """Finding 2: no schedule calls an external system until someone turns it on (unless the contract
    says so); under `--demo-key` the crypto source answers from the replay server, offline."""
    import contextlib

    from dq_platform.contract import load_contracts
    from dq_platform.definitions import build_definitions
    from dq_platform.defs.extract import run_extract
    from dq_platform.demo.pull_sources import demo_http_servers

    contracts = load_contracts()
    defs = build_definitions(contracts, str(tmp_path / "wh"))
    pulls = [s for s in defs.schedules if s.name.endswith("_extract_schedule")]
    assert {s.name for s in pulls} >= {"crypto_markets_extract_schedule", "erp_orders_extract_schedule"}
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in pulls)

    monkeypatch.delenv("DQ_COINGECKO_BASE_URL", raising=False)
    crypto = next(c for c in contracts if c.name == "crypto_markets")
    with contextlib.ExitStack() as stack:
        env = demo_http_servers(contracts, stack)
        assert set(env) == {"DQ_COINGECKO_BASE_URL"} and env["DQ_COINGECKO_BASE_URL"].startswith("http://127.0.0.1:")
        monkeypatch.setenv("DQ_COINGECKO_BASE_URL", env["DQ_COINGECKO_BASE_URL"])
        out = run_extract(instance, crypto, str(tmp_path / "landing"))
    assert out.success and out.rows > 0, out.error
    # a variable the user set is left alone
    with contextlib.ExitStack() as stack:
        assert demo_http_servers(contracts, stack) == {}


def test_the_cli_finds_the_project_instance_from_any_folder_and_never_creates_one_by_reading(tmp_path):
    """Finding 8: `audit show` from another folder names the DAGSTER_HOME it looked at, creates nothing;
    from a sub-folder of the project it finds the project's instance."""
    import os
    import subprocess
    import sys

    exe = os.path.join(os.path.dirname(sys.executable), "dq-platform")
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "DQ_PROJECT_DIR")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([exe, "audit", "show", "0123abcd"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert f"no Dagster instance at {elsewhere / '.dagster_home'}" in done.stderr and "DAGSTER_HOME=" in done.stderr
    assert not (elsewhere / ".dagster_home").exists()

    project = tmp_path / "project"
    (project / ".dagster_home").mkdir(parents=True)
    sub = project / "landing" / "customers"
    sub.mkdir(parents=True)
    done = subprocess.run([exe, "audit", "list"], cwd=sub, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (sub / ".dagster_home").exists()
    assert any((project / ".dagster_home").iterdir())  # the project's instance was opened


def test_one_held_file_is_one_alert_listing_its_related_findings(instance, monkeypatch, http_receiver):
    """Finding 8: review required + two history anomalies of the same file arrive as ONE alert that
    lists them; an anomaly of another (published) file still alerts on its own."""
    from dq_platform.alerts.sensors import build_check_alert_sensor
    from dq_platform.contract import load_contracts
    from dq_platform_tests.conftest import sensor_tick

    monkeypatch.setenv("DQ_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    monkeypatch.setenv("DQ_ALERT_CONSOLE", "off")
    cleaned = dg.AssetKey("cleaned_customers")
    review = dg.AssetCheckKey(cleaned, names.REVIEW_CHECK)
    rows = dg.AssetCheckKey(cleaned, names.ROW_COUNT_HISTORY_CHECK)
    rate = dg.AssetCheckKey(cleaned, names.FAILURE_RATE_HISTORY_CHECK)
    sensor = build_check_alert_sensor(load_contracts(), [review, rows, rate])

    def report(key, passed, partition, description, meta=None):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=passed,
                severity=dg.AssetCheckSeverity.WARN,
                description=description,
                metadata=meta or {},
                partition=partition,
            )
        )

    held, other = "customers_0004.csv@1a2b3c4d5e6f", "customers_0005.csv@abcdefabcdef"
    report(review, False, held, "held for human review: 15.0% of rows failed", {names.REVIEW_META: "required"})
    report(rows, False, held, "412 rows, history predicts 480-520")
    report(rate, False, held, "failure rate 15.0%, history predicts at most 4.0%")
    report(rows, False, other, "90 rows, history predicts 480-520")
    sensor_tick(sensor, instance, None)
    bodies = http_receiver.bodies("/hook")
    assert sorted((b["check"], b["partition"]) for b in bodies) == [
        (names.REVIEW_CHECK, held),
        (names.ROW_COUNT_HISTORY_CHECK, other),
    ], [b["title"] for b in bodies]
    (one,) = [b for b in bodies if b["check"] == names.REVIEW_CHECK]
    assert "Related findings on this file" in one["summary"]
    assert "row_count_matches_history: 412 rows" in one["summary"]
    assert "failure_rate_matches_history: failure rate 15.0%" in one["summary"]
    assert one["facts"]["related_findings"] == 2


def test_a_rollback_reports_runless_materializations_so_the_ui_is_current(project, instance):
    """Finding 4: after masked is restored to an older version, the rolled-back partition's latest
    materialization says so (0 rows), instead of the UI showing the old run's row count."""
    from dq_platform.defs.versions import RollbackConfig, launch_rollback

    runs = [
        project.ingest(instance, "customers", project.write_csv(f"customers/r{i}.csv", customer_frame(10, 1 + 10 * i)))
        for i in range(2)
    ]
    assert all(r.success for r in runs)
    key = dg.AssetKey("masked_customers")

    def latest(partition):
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        return record.event_log_entry

    assert latest(runs[1].partition).run_id == runs[1].run_id
    out = launch_rollback(
        instance,
        RollbackConfig(table="masked_customers", to_version=0, reason="bad second file", who="erin"),
        contracts_dir=str(project.contracts_dir),
        warehouse_root=project.warehouse,
    )
    assert out.success, out.error
    entry = latest(runs[1].partition)
    assert entry.run_id == ""  # runless: reported for an out-of-band change
    mat = entry.asset_materialization
    assert mat.metadata["dagster/row_count"].value == 0 and mat.metadata["dq/rollback/rows_before"].value == 10
    assert "rolled back to version 0 by erin" in mat.description
    assert latest(runs[0].partition).run_id == runs[0].run_id  # unchanged partitions are left alone


def test_a_held_file_is_approved_from_its_partition_with_the_default_config(project, instance):
    """Finding 5: `customers_review` is partitioned like the dataset and every config field has a valid
    default: picking the held partition and launching (no YAML, no key typed) approves it, and the
    publisher sensor publishes it."""
    from dq_platform.defs.review import latest_decision

    out = project.ingest(instance, "customers", project.write_csv("customers/held.csv", customer_frame(100, bad=15)))
    assert out.success and out.held
    job = project.defs.resolve_job_def(names.review_job("customers"))
    assert job.partitions_def is not None
    # what "Scaffold missing config" would add: nothing is required
    op_config = job.run_config_schema.config_type.fields["ops"].config_type.fields
    (field,) = [f for name, f in op_config.items() if name.startswith("record_review_decision")]
    assert not field.is_required
    result = job.execute_in_process(instance=instance, partition_key=out.partition, raise_on_error=False)
    assert result.success
    decision = latest_decision(instance, "customers", out.partition)
    assert decision.decision == "approve" and decision.reviewer == "dagster-ui"
    # the publisher sensor launches the publish run for that partition
    sensor = project.defs.resolve_sensor_def(names.REVIEW_PUBLISHER_SENSOR)
    with dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        dagster_event=result.get_run_success_event(),
    ) as ctx:
        request = sensor(ctx)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == out.partition and request.job_name == names.publish_job("customers")


def test_a_report_link_is_a_url_that_the_report_server_serves(project, instance, monkeypatch):
    """Finding 6: the `html` metadata is a MetadataValue.url a browser opens; `dq-platform ui`'s
    report server answers it with the run's counts (and serves nothing outside reports/)."""
    import urllib.error
    import urllib.request
    from pathlib import Path

    from dq_platform.reports.run_report import REPORTS_KEY, write_reports
    from dq_platform.services.report_server import ReportServer

    out = project.ingest(instance, "customers", project.write_csv("customers/rep.csv", customer_frame(30, bad=1)))
    with ReportServer(Path(project.warehouse) / "reports") as server:
        monkeypatch.setenv("DQ_REPORTS_URL", server.url)
        write_reports(instance, out.run_id, project.wh())
        (obs,) = [
            r.asset_observation.metadata
            for r in instance.fetch_observations(REPORTS_KEY, limit=10).records
            if r.asset_observation.metadata["run_id"].value == out.run_id
        ][:1]
        link = obs["html"]
        assert isinstance(link, dg.UrlMetadataValue) and link.value.startswith(server.url + "/customers/")
        page = urllib.request.urlopen(link.value, timeout=10).read().decode()
        text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
        assert out.run_id[:8] in text and "rows in 30" in text, text[:600]
        for outside in ("/../quarantine/", "/customers/"):  # no quarantine extract, no listing
            try:
                urllib.request.urlopen(server.url + outside, timeout=10)
                raise AssertionError(f"{outside} was served")
            except urllib.error.HTTPError as e:
                assert e.code == 404


def test_gold_cards_are_not_skipped_when_a_file_publishes_nothing(project, instance):
    """Finding 7: a held or gate-failed file publishes nothing; its run evaluates the gold leak checks
    as passed and unchanged instead of leaving them "Skipped" (the card read "0 / 1 Passed")."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    contract = project.contracts["customers"]
    keys = [
        dg.AssetCheckKey(dg.AssetKey(names.gold("customers", a.name)), names.GOLD_PII_CHECK)
        for a in contract.aggregations
    ]
    assert keys
    for name, bad in (("held", 15), ("failed", 60)):
        out = project.ingest(
            instance, "customers", project.write_csv(f"customers/{name}.csv", customer_frame(100, bad=bad))
        )
        for key in keys:
            (latest,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert latest.run_id == out.run_id and latest.status == Status.SUCCEEDED, (name, key, latest.status)
            assert "unchanged" in latest.event.dagster_event.event_specific_data.description


def test_the_ui_materializes_platform_health_at_start_once(tmp_path, monkeypatch):
    """Finding 8: platform_health is not "Never materialized" until its hourly schedule first runs."""
    from dq_platform.cli.ui import _health_at_start
    from dq_platform.contract import load_contracts

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path / "wh"))
    contracts = [c for c in load_contracts() if c.name == "customers"]
    key = dg.AssetKey(names.PLATFORM_HEALTH)
    _health_at_start(contracts)
    with dg.DagsterInstance.get() as instance:
        first = instance.get_latest_materialization_event(key)
        assert first is not None
    _health_at_start(contracts)  # a second start leaves it to the schedule
    with dg.DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(key).run_id == first.run_id
