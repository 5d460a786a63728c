"""Channels over real loopback servers: retries, isolation of a dead endpoint, redaction, SMTP."""

import datetime as dt
import email
import email.policy
import json
import logging

import pytest

from dq_platform.alerts.channels import redact, secret_values
from dq_platform.alerts.policy import CRITICAL, HIGH, LOW, MEDIUM, Alert, Incidents, check_alert, routes
from dq_platform.alerts.sensors import deliver, list_deliveries
from dq_platform.contract import CONTRACTS_DIR, parse_contract

SECRET_PATH = "services/T0001/B0002/verySecretWebhookToken"


def _alert(severity=CRITICAL, kind="trigger") -> Alert:
    return Alert(
        kind=kind,
        severity=severity,
        dataset="customers",
        title=f"[{severity.value}] customers: test",
        incident_key="dq/customers/cleaned_customers/some_check",
        asset="cleaned_customers",
        check="some_check",
        partition="f.csv@abc",
        run_id="r1",
        facts={"rows_failed": 3},
    )


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setenv("DQ_ALERT_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("DQ_ALERT_CONSOLE", "off")


def test_retries_after_500_then_succeeds(monkeypatch, http_receiver, fast_retries, instance):
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{http_receiver.url}/{SECRET_PATH}")
    http_receiver.responses = [500, 503]
    [d] = deliver(_alert(), None, instance)
    assert (d.channel, d.status, d.attempts) == ("slack", "delivered", 3)
    assert len(http_receiver.raw) == 3 and len(http_receiver.posts) == 1
    [rec] = list_deliveries(instance)
    assert rec["status"] == "delivered" and rec["attempts"] == 3 and rec["channel"] == "slack"


def test_dead_endpoint_does_not_stop_other_channels_and_is_recorded_redacted(
    monkeypatch, http_receiver, dead_url, fast_retries, instance, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{dead_url}/{SECRET_PATH}")  # nobody listens
    monkeypatch.setenv("DQ_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    monkeypatch.setenv("DQ_PAGERDUTY_ROUTING_KEY", "routingKeySecret42")
    monkeypatch.setenv("DQ_PAGERDUTY_EVENTS_URL", f"{http_receiver.url}/pd")
    http_receiver.responses = [500, 500, 500, 500]  # PagerDuty keeps failing: gives up after 4 attempts

    class Log:
        lines: list[str] = []

        def warning(self, m):
            self.lines.append(m)

    log = Log()
    out = {d.channel: d for d in deliver(_alert(), None, instance, log=log)}
    assert out["slack"].status == "failed" and out["slack"].attempts == 4
    assert out["pagerduty"].status == "failed" and "HTTP 500" in out["pagerduty"].error
    assert out["webhook"].status == "delivered"
    assert [b["check"] for b in http_receiver.bodies("/hook")] == ["some_check"]
    failed = list_deliveries(instance, status="failed")
    assert {r["channel"] for r in failed} == {"slack", "pagerduty"}
    assert "NOT delivered to slack" in "\n".join(log.lines)
    text = "\n".join([json.dumps(failed), *log.lines, caplog.text, capsys.readouterr().out])
    assert "ConnectionError" in text and "***" in text
    assert "verySecretWebhookToken" not in text and "routingKeySecret42" not in text


def test_email_text_and_html_over_smtp(monkeypatch, smtp_receiver, fast_retries):
    host, port, messages = smtp_receiver
    for k, v in {
        "DQ_SMTP_HOST": host,
        "DQ_SMTP_PORT": str(port),
        "DQ_ALERT_EMAIL_FROM": "dq@example.com",
        "DQ_ALERT_EMAIL_TO": "a@example.com, b@example.com",
    }.items():
        monkeypatch.setenv(k, v)
    contract = parse_contract(
        (CONTRACTS_DIR / "customers.yaml").read_text() + "\nalerts: {email_to: [owner@example.com]}\n"
    )
    [d] = deliver(_alert(HIGH), contract)
    assert d.status == "delivered"
    [raw] = messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "[HIGH] customers: test"
    assert msg["To"] == "a@example.com, b@example.com, owner@example.com"
    kinds = [p.get_content_type() for p in msg.walk() if not p.is_multipart()]
    assert kinds == ["text/plain", "text/html"]
    assert "rows_failed=3" in msg.get_body(("plain",)).get_content()


def test_smtp_down_is_a_failed_delivery_not_an_exception(monkeypatch, fast_retries):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DQ_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DQ_SMTP_PORT", str(port))
    monkeypatch.setenv("DQ_ALERT_EMAIL_TO", "a@example.com")
    monkeypatch.setenv("DQ_SMTP_PASSWORD", "smtpPasswordSecret")
    [d] = deliver(_alert(HIGH), None)
    assert d.status == "failed" and d.attempts == 4 and "smtpPasswordSecret" not in d.error


def test_redact_covers_urls_paths_and_keys(monkeypatch):
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"https://hooks.slack.com/{SECRET_PATH}")
    monkeypatch.setenv("DQ_SMTP_PASSWORD", "p@ss word!")
    monkeypatch.setenv("DQ_PAGERDUTY_ROUTING_KEY", "R0UTINGKEY")
    err = (
        f"HTTPSConnectionPool(host='hooks.slack.com', port=443): Max retries exceeded with url: /{SECRET_PATH} "
        f"(login p@ss word! / p%40ss%20word%21) key R0UTINGKEY; https://hooks.slack.com/{SECRET_PATH}"
    )
    clean = redact(err)
    for s in ("verySecretWebhookToken", "p@ss word!", "p%40ss%20word%21", "R0UTINGKEY"):
        assert s not in clean
    assert "hooks.slack.com" in clean  # the host alone is not secret and helps debugging
    assert len(secret_values()) >= 4


def test_default_routing_follows_seed_001_and_contract_overrides():
    everything = {"console", "slack", "email", "pagerduty", "webhook"}
    assert routes(LOW, None, everything) == ["console", "slack", "webhook"]
    assert routes(MEDIUM, None, everything) == ["console", "slack", "webhook"]
    assert routes(HIGH, None, everything) == ["console", "slack", "email", "webhook"]
    assert routes(CRITICAL, None, everything) == ["console", "slack", "email", "pagerduty", "webhook"]
    assert routes(CRITICAL, None, {"console"}) == ["console"]  # unconfigured channels are skipped
    contract = parse_contract(
        (CONTRACTS_DIR / "customers.yaml").read_text()
        + "\nalerts: {channels: [slack, pagerduty], severities: {pagerduty: HIGH, slack: HIGH}}\n"
    )
    assert routes(MEDIUM, contract, everything) == []
    assert routes(HIGH, contract, everything) == ["slack", "pagerduty"]


def test_severity_map_for_check_outcomes():
    def sev(check, severity):
        return check_alert(
            None,
            dataset="d",
            asset="a",
            check=check,
            severity=severity,
            passed=False,
            partition=None,
            run_id=None,
            description=None,
            metadata={},
        ).severity

    assert sev("failure_rate_within_threshold", "WARN") == MEDIUM
    assert sev("failure_rate_within_threshold", "ERROR") == HIGH
    assert sev("masked_has_no_pii", "ERROR") == CRITICAL
    assert sev("freshness_check", "WARN") == HIGH


def test_alert_carries_numbers_only_from_check_metadata():
    a = check_alert(
        None,
        dataset="d",
        asset="a",
        check="c",
        severity="ERROR",
        passed=False,
        partition="p",
        run_id="r",
        description="3 of 10 rows failed",
        metadata={
            "rows_failed": 3,
            "failure_rate": 0.3,
            "sample": "jane@example.com",
            "flag": True,
            "dagster/row_count": 10,
        },
    )
    assert a.facts == {"rows_failed": 3, "failure_rate": 0.3}


def test_incidents_dedup_remind_escalate_resolve():
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    inc = Incidents()
    period = dt.timedelta(hours=1)
    assert inc.observe(_alert(MEDIUM), False, t0, period).kind == "trigger"
    assert inc.observe(_alert(MEDIUM), False, t0 + dt.timedelta(minutes=10), period) is None
    louder = inc.observe(_alert(HIGH), False, t0 + dt.timedelta(minutes=20), period)
    assert louder.kind == "trigger" and louder.severity == HIGH and louder.occurrences == 3
    assert inc.reminders(t0 + dt.timedelta(minutes=50), lambda d: period) == []
    [r] = inc.reminders(t0 + dt.timedelta(minutes=81), lambda d: period)
    assert r.kind == "reminder" and r.title.startswith("[REMINDER]")
    state = json.loads(json.dumps(inc.to_json()))  # survives the cursor round trip
    again = Incidents(state)
    resolved = again.observe(_alert(LOW), True, t0 + dt.timedelta(hours=2), period)
    assert resolved.kind == "resolve" and resolved.incident_key == _alert().incident_key
    assert again.observe(_alert(LOW), True, t0 + dt.timedelta(hours=3), period) is None
    assert again.to_json() == {}


def test_cli_alerts_test_then_list(monkeypatch, tmp_path, http_receiver, dead_url, fast_retries, capsys):
    from dq_platform.cli import main

    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DQ_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{dead_url}/{SECRET_PATH}")
    assert main(["alerts", "test", "--severity", "LOW"]) == 1  # Slack is down
    assert [b["title"] for b in http_receiver.bodies("/hook")] == ["[LOW] dq_platform: test alert"]
    tested = capsys.readouterr().out
    assert "webhook    delivered" in tested and "slack      failed" in tested
    assert main(["alerts", "list", "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert "failed    slack" in out and "***" in out and "verySecretWebhookToken" not in out
    assert "webhook" not in out  # --status failed lists only the failure
    assert main(["alerts", "list"]) == 0
    assert "delivered webhook" in capsys.readouterr().out


def test_review_required_alert_for_issue_7(monkeypatch, http_receiver, fast_retries):
    from dq_platform.alerts.policy import review_required_alert

    monkeypatch.setenv("DQ_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    contract = parse_contract((CONTRACTS_DIR / "customers.yaml").read_text())
    alert = review_required_alert(
        contract,
        partition="c.csv@1234",
        reason="failure rate 12% between warn and error",
        run_id="r9",
        facts={"rows_failed": 12},
    )
    [d] = deliver(alert, contract)
    assert d.status == "delivered"
    [body] = http_receiver.bodies("/hook")
    assert (body["kind"], body["severity"], body["partition"]) == ("review_required", "MEDIUM", "c.csv@1234")
    assert body["run_url"].endswith("/runs/r9") and body["facts"] == {"rows_failed": 12}


def test_definitions_carry_alert_sensors_and_delivery_asset(tmp_path):
    from dq_platform.definitions import build_definitions

    defs = build_definitions(warehouse_root=str(tmp_path))
    names = {s.name for s in defs.sensors}
    assert {"dq_check_alerts", "dq_run_failure_alerts", "dq_freshness_checks"} <= names
    assert defs.resolve_assets_def("dq_alert_deliveries") is not None


def test_error_messages_from_other_libraries_lose_their_data_values():
    from dq_platform.alerts.policy import scrub_error

    msg = "could not convert string to float: 'Jane Doe' (row jane.doe@mail.com, phone 555-123-4567)"
    clean = scrub_error("ValueError", msg)
    for value in ("Jane Doe", "jane.doe@mail.com", "555-123-4567"):
        assert value not in clean
    assert clean.startswith("could not convert string to float:")
    own = "customers/a.csv: content changed since it was registered as partition 'a.csv@12ab'"
    assert scrub_error("SourceFileError", own) == own


def test_a_channel_that_failed_is_not_retried_for_the_rest_of_the_tick(
    monkeypatch, http_receiver, dead_url, fast_retries
):
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{dead_url}/x")
    monkeypatch.setenv("DQ_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    down: set[str] = set()
    first = {d.channel: d for d in deliver(_alert(), None, down=down)}
    second = {d.channel: d for d in deliver(_alert(), None, down=down)}
    assert first["slack"].attempts == 4 and second["slack"].attempts == 0 and second["slack"].status == "failed"
    assert second["webhook"].status == "delivered" and len(http_receiver.bodies("/hook")) == 2
