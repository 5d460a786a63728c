"""What a first-day user of the Dagster UI hit (issue #19), each kept fixed at the API level.

The same flows are driven in a real browser by test_ui_browser.py; these tests pin the behaviour
behind each page quickly, on a throw-away instance.
"""

import io
import json

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
