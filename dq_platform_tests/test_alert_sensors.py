"""Alert sensors over real pipeline runs, delivering to real HTTP and SMTP servers on loopback.

The sensors are evaluated with `build_sensor_context` on the instance the runs wrote to, carrying
the cursor from tick to tick as the daemon does; the clock is injected so a reminder needs no sleep.
"""

import datetime as dt
import email
import json
import logging

import dagster as dg
import pytest

from dq_platform.alerts.sensors import build_check_alert_sensor, build_run_failure_alert_sensor, list_deliveries
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.demo.sample_data import generate
from dq_platform_tests.conftest import sensor_tick as tick

SLACK_SECRET = "T0ALERTS/B0SECRET/xoxSlackSecret123"
HOOK_SECRET = "hookSecretToken456"
PD_KEY = "pdRoutingKeySecret789"
CANARY_EMAIL = "zz.canary.person@example.org"
CANARY_NAME = "Zzcanaryname"


def customers_yaml(extra: str) -> str:
    """The shipped customers contract without its own freshness/alerts sections, plus `extra`."""
    return (CONTRACTS_DIR / "customers.yaml").read_text().split("\n# SLA:")[0] + extra


ALERTS = """
alerts:
  owner: data-oncall@example.com
  severities: {pagerduty: HIGH}
  reminder_after: 1h
"""


@pytest.fixture
def alert_env(monkeypatch, http_receiver, smtp_receiver, tmp_path):
    host, port, _ = smtp_receiver
    env = {
        "DQ_SLACK_WEBHOOK_URL": f"{http_receiver.url}/slack/services/{SLACK_SECRET}",
        "DQ_ALERT_WEBHOOK_URL": f"{http_receiver.url}/hook?token={HOOK_SECRET}",
        "DQ_PAGERDUTY_ROUTING_KEY": PD_KEY,
        "DQ_PAGERDUTY_EVENTS_URL": f"{http_receiver.url}/pd/v2/enqueue",
        "DQ_SMTP_HOST": host,
        "DQ_SMTP_PORT": str(port),
        "DQ_ALERT_EMAIL_FROM": "dq@example.com",
        "DQ_ALERT_EMAIL_TO": "oncall@example.com",
        "DQ_ALERT_FILE": str(tmp_path / "alerts.log"),
        "DQ_WEBSERVER_URL": "http://dagster.example:3000",
        "DQ_ALERT_RETRY_BACKOFF": "0.01",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

    def __call__(self):
        return self.now


def customer_file(project, contract, name, seed, bad_fraction, canary=False):
    frame = generate(contract, rows=200, seed=seed, bad_fraction=bad_fraction, id_offset=seed * 1000).frame
    if canary:  # raw PII that must never reach an alert: in a row that fails (income out of range)
        frame.loc[0, ["email", "first_name", "income"]] = [CANARY_EMAIL, CANARY_NAME, "-5"]
    return project.write_csv(f"customers/{name}.csv", frame)


@pytest.fixture(params=["sqlite", "postgres"])
def any_instance(request):
    """The embedded default (run-sharded SQLite) and production storage (PostgreSQL) read differently."""
    yield request.getfixturevalue("instance" if request.param == "sqlite" else "pg_instance")


@pytest.mark.slow
def test_gate_failure_alerts_once_reminds_and_resolves(
    make_project, any_instance, alert_env, http_receiver, smtp_receiver, caplog, capsys
):
    instance = any_instance
    caplog.set_level(logging.DEBUG)
    project = make_project(customers_yaml(ALERTS))
    contract = project.contracts["customers"]
    contracts = list(project.contracts.values())
    clock = Clock()
    checks = build_check_alert_sensor(contracts, project.defs.resolve_asset_graph().asset_check_keys, now=clock)
    runs = build_run_failure_alert_sensor(contracts, now=clock)
    check_cursor = run_cursor = None

    # three failing files in a row: the failure-rate gate fails (ERROR -> HIGH) each time
    outcomes = [
        project.ingest(instance, "customers", customer_file(project, contract, f"bad{i}", i, 0.6, canary=True))
        for i in range(3)
    ]
    assert not any(o.success for o in outcomes)
    for _ in outcomes:
        check_cursor = tick(checks, instance, check_cursor)
        run_cursor = tick(runs, instance, run_cursor)

    slack = http_receiver.bodies("/slack/")
    gate = [b for b in slack if "failure_rate_within_threshold" in b["text"]]
    assert len(gate) == 1, [b["text"] for b in slack]  # three failing runs -> one alert
    assert gate[0]["text"].startswith("[HIGH] customers: blocking gate failed: cleaned_customers.")
    body = json.dumps(gate[0])
    first_run = outcomes[0].run_id
    assert f"http://dagster.example:3000/runs/{first_run}" in body
    assert "http://dagster.example:3000/assets/cleaned_customers" in body
    assert outcomes[0].partition in body and "data-oncall@example.com" in body
    assert "rows_failed" in body and "failure_rate" in body and "rows_in: 200" in body
    assert any(b["type"] == "header" for b in gate[0]["blocks"])
    # a run that failed on its gate is not paged a second time by the run-failure sensor
    assert not [b for b in slack if "run of customers_pipeline failed" in b["text"]]

    # HIGH routes to slack, webhook, email, and (contract override) PagerDuty
    hooks = [b for b in http_receiver.bodies("/hook") if b["check"] == "failure_rate_within_threshold"]
    assert len(hooks) == 1 and hooks[0]["severity"] == "HIGH" and hooks[0]["facts"]["rows_in"] == 200
    assert hooks[0]["top_rules"], "top failing rules travel with the alert"
    pd = [b for b in http_receiver.bodies("/pd/") if b["dedup_key"].endswith("failure_rate_within_threshold")]
    assert [p["event_action"] for p in pd] == ["trigger"]
    assert pd[0]["routing_key"] == PD_KEY and pd[0]["payload"]["severity"] == "error"
    mails = [email.message_from_bytes(m) for m in smtp_receiver[2]]
    gate_mail = [m for m in mails if "failure_rate_within_threshold" in m["Subject"]]
    assert len(gate_mail) == 1
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode() for p in gate_mail[0].walk() if not p.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert f"/runs/{first_run}" in parts["text/plain"] and "<table>" in parts["text/html"]

    # quiet for 30 minutes: nothing; after the contract's 1h reminder period: one reminder
    clock.now += dt.timedelta(minutes=30)
    check_cursor = tick(checks, instance, check_cursor)
    assert len([b for b in http_receiver.bodies("/slack/") if "failure_rate_within_threshold" in b["text"]]) == 1
    clock.now += dt.timedelta(minutes=45)
    check_cursor = tick(checks, instance, check_cursor)
    reminders = [
        b
        for b in http_receiver.bodies("/slack/")
        if b["text"].startswith("[REMINDER]") and "failure_rate_within_threshold" in b["text"]
    ]
    assert len(reminders) == 1 and "Occurrences" in json.dumps(reminders[0])

    # a clean file: the gate passes again -> resolution everywhere, PagerDuty resolves the same dedup_key
    good = project.ingest(instance, "customers", customer_file(project, contract, "good", 7, 0.0))
    assert good.success, good.error
    check_cursor = tick(checks, instance, check_cursor)
    run_cursor = tick(runs, instance, run_cursor)
    resolved = [
        b
        for b in http_receiver.bodies("/slack/")
        if b["text"].startswith("[RESOLVED]") and "failure_rate_within_threshold" in b["text"]
    ]
    assert len(resolved) == 1
    pd = [b for b in http_receiver.bodies("/pd/") if b["dedup_key"].endswith("failure_rate_within_threshold")]
    assert [p["event_action"] for p in pd] == ["trigger", "trigger", "resolve"]  # trigger, reminder, resolve
    assert len({p["dedup_key"] for p in pd}) == 1
    # another tick with nothing new sends nothing
    n = len(http_receiver.posts)
    check_cursor = tick(checks, instance, check_cursor)
    assert len(http_receiver.posts) == n

    # every delivery is on record, all delivered
    records = list_deliveries(instance, limit=500)
    assert records and all(r["status"] == "delivered" for r in records)
    assert {r["channel"] for r in records} == {"console", "slack", "webhook", "email", "pagerduty"}
    assert {r["kind"] for r in records} >= {"trigger", "reminder", "resolve"}

    # no raw PII value and no secret in anything delivered, recorded, printed or logged
    console = open(alert_env["DQ_ALERT_FILE"]).read()
    assert "failure_rate_within_threshold" in console
    everything = "\n".join(
        [
            *http_receiver.raw,
            *(m.decode() for m in smtp_receiver[2]),
            console,
            json.dumps(records),
            caplog.text,
            capsys.readouterr().out,
        ]
    )
    for forbidden in (CANARY_EMAIL, CANARY_NAME, SLACK_SECRET, HOOK_SECRET):
        assert forbidden not in everything, forbidden
    assert PD_KEY not in everything.replace(f'"routing_key": "{PD_KEY}"', "")  # only where PagerDuty needs it


@pytest.mark.slow
def test_run_failure_pages_critical_then_resolves(make_project, instance, alert_env, http_receiver):
    project = make_project(customers_yaml(""))
    contract = project.contracts["customers"]
    contracts = list(project.contracts.values())
    runs = build_run_failure_alert_sensor(contracts, now=Clock())
    from dq_platform.defs.partitions import register

    # the file changes after it was registered: raw refuses it with an exception, the run fails
    path = customer_file(project, contract, "changing", 1, 0.0)
    source = register(instance, contract, path, project.warehouse)
    path.write_text(path.read_text() + "\n")
    failed = project.run(instance, "customers", source)
    assert not failed.success and "content changed" in failed.error
    cursor = tick(runs, instance, None)
    pd = http_receiver.bodies("/pd/")
    assert [p["event_action"] for p in pd] == ["trigger"]
    assert pd[0]["payload"]["severity"] == "critical"
    assert pd[0]["payload"]["custom_details"]["run_id"] == failed.run_id
    assert "content changed" in pd[0]["payload"]["custom_details"]["summary"]
    assert any(link["href"].endswith(f"/runs/{failed.run_id}") for link in pd[0]["links"])

    ok = project.ingest(instance, "customers", customer_file(project, contract, "fine", 2, 0.0))
    assert ok.success
    tick(runs, instance, cursor)
    pd = http_receiver.bodies("/pd/")
    assert [p["event_action"] for p in pd] == ["trigger", "resolve"]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"] == "dq/customers/customers_pipeline/run_failure"


@pytest.mark.slow
def test_freshness_sla_miss_alerts_and_the_next_publication_resolves(make_project, instance, alert_env, http_receiver):
    project = make_project(customers_yaml("\nfreshness: {max_lag: 90m}\n"))
    contract = project.contracts["customers"]
    check_keys = project.defs.resolve_asset_graph().asset_check_keys
    freshness = [k for k in check_keys if k.name.startswith("freshness_check")]
    assert [k.asset_key.to_user_string() for k in freshness] == ["masked_customers"]
    assert "dq_freshness_checks" in {s.name for s in project.defs.sensors}
    checks = build_check_alert_sensor(list(project.contracts.values()), check_keys, now=Clock())

    # nothing was ever published: the freshness check (as its sensor would launch it) fails
    result = dg.materialize(
        [*project.defs.assets, *project.defs.asset_checks],
        instance=instance,
        selection=dg.AssetSelection.checks(*freshness),
        resources=project.defs.resources,
    )
    assert [e.passed for e in result.get_asset_check_evaluations()] == [False]
    cursor = tick(checks, instance, None)
    [alert] = http_receiver.bodies("/hook")
    assert alert["severity"] == "HIGH" and alert["check"] == "freshness_check"
    assert alert["title"] == "[HIGH] customers: missed its freshness SLA: masked_customers.freshness_check"

    # a file is published: the pipeline job runs the freshness check too, which now passes
    ok = project.ingest(instance, "customers", customer_file(project, contract, "fresh", 3, 0.0))
    assert ok.success and ("masked_customers", "freshness_check", True, "ERROR") in ok.checks
    tick(checks, instance, cursor)
    assert [b["kind"] for b in http_receiver.bodies("/hook")] == ["trigger", "resolve"]


def test_check_sensor_pages_through_many_evaluations_in_order(instance, monkeypatch, http_receiver):
    """120 failing evaluations of one check (more than a page), between ticks: one trigger, then a resolve."""
    from dq_platform.contract import load_contracts

    monkeypatch.setenv("DQ_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    monkeypatch.setenv("DQ_ALERT_CONSOLE", "off")
    key = dg.AssetCheckKey(dg.AssetKey("cleaned_customers"), "failure_rate_within_threshold")
    other = dg.AssetCheckKey(dg.AssetKey("masked_customers"), "masked_has_no_pii")
    sensor = build_check_alert_sensor(load_contracts(), [key, other], now=Clock())

    def report(k, passed, n):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=k.asset_key,
                check_name=k.name,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"rows_failed": n},
            )
        )

    for n in range(120):
        report(key, False, n)
    report(other, False, 1)
    cursor = tick(sensor, instance, None)
    bodies = http_receiver.bodies("/hook")
    assert sorted((b["check"], b["severity"], b["kind"]) for b in bodies) == [
        ("failure_rate_within_threshold", "HIGH", "trigger"),
        ("masked_has_no_pii", "CRITICAL", "trigger"),
    ]
    assert [b["facts"]["rows_failed"] for b in bodies if b["check"] == "failure_rate_within_threshold"] == [0]
    assert (
        json.loads(cursor)["incidents"]["dq/customers/cleaned_customers/failure_rate_within_threshold"]["occurrences"]
        == 120
    )
    for n in range(60):
        report(key, False, n)
    report(key, True, 0)
    tick(sensor, instance, cursor)
    assert [b["kind"] for b in http_receiver.bodies("/hook")][2:] == ["resolve"]


def test_a_fresh_evaluation_continues_the_shared_state_and_does_not_repeat_an_alert(
    make_project, instance, alert_env, http_receiver
):
    """The demo evaluates the sensors outside the daemon; the daemon's first tick (no cursor of its
    own) continues from the state kept in the instance, so an announced incident is not announced twice."""
    project = make_project(customers_yaml(ALERTS))
    contract = project.contracts["customers"]
    contracts = list(project.contracts.values())
    keys = project.defs.resolve_asset_graph().asset_check_keys
    outcome = project.ingest(instance, "customers", customer_file(project, contract, "bad", 7, 0.6))
    assert not outcome.success
    tick(build_check_alert_sensor(contracts, keys), instance, None)  # e.g. `dq-platform demo`
    first = [b for b in http_receiver.bodies("/slack/") if "failure_rate_within_threshold" in b["text"]]
    assert len(first) == 1
    tick(build_check_alert_sensor(contracts, keys), instance, None)  # the daemon's first tick: no cursor
    again = [b for b in http_receiver.bodies("/slack/") if "failure_rate_within_threshold" in b["text"]]
    assert len(again) == 1, [b["text"] for b in http_receiver.bodies("/slack/")]


def test_a_delivery_that_failed_is_retried_on_the_next_tick_until_it_lands(
    make_project, instance, alert_env, http_receiver, monkeypatch
):
    """Slack answers 500 on every attempt of the first tick: the alert stays in the sensor's outbox and
    the next tick delivers it to Slack only (the other channels already have it), exactly once."""
    monkeypatch.setenv("DQ_ALERT_RETRIES", "1")
    project = make_project(customers_yaml(ALERTS))
    contract = project.contracts["customers"]
    contracts = list(project.contracts.values())
    sensor = build_check_alert_sensor(contracts, project.defs.resolve_asset_graph().asset_check_keys)
    assert not project.ingest(instance, "customers", customer_file(project, contract, "bad", 8, 0.6)).success

    def gate_posts(prefix):
        return [b for b in http_receiver.bodies(prefix) if "failure_rate_within_threshold" in json.dumps(b)]

    http_receiver.responses = [500, 500]  # Slack posts first: both of its attempts fail
    cursor = tick(sensor, instance, None)
    assert gate_posts("/slack/") == [] and len(gate_posts("/hook")) == 1
    assert json.loads(cursor)["outbox"][0]["channels"] == ["slack"]
    cursor = tick(sensor, instance, cursor)  # Slack is back
    assert len(gate_posts("/slack/")) == 1 and len(gate_posts("/hook")) == 1
    assert json.loads(cursor)["outbox"] == []
    tick(sensor, instance, cursor)
    assert len(gate_posts("/slack/")) == 1
    slack = [r for r in list_deliveries(instance) if r["channel"] == "slack"]
    assert [r["status"] for r in slack] == ["delivered", "failed"]  # newest first


def test_an_undeliverable_alert_is_given_up_after_the_redelivery_window(
    make_project, instance, alert_env, http_receiver, monkeypatch
):
    monkeypatch.setenv("DQ_ALERT_RETRIES", "0")
    monkeypatch.setenv("DQ_ALERT_REDELIVER_WITHIN", "1h")
    project = make_project(customers_yaml(ALERTS.replace("reminder_after: 1h", "reminder_after: 1d")))
    contract = project.contracts["customers"]
    contracts = list(project.contracts.values())
    clock = Clock()
    sensor = build_check_alert_sensor(contracts, project.defs.resolve_asset_graph().asset_check_keys, now=clock)
    assert not project.ingest(instance, "customers", customer_file(project, contract, "bad", 9, 0.6)).success
    http_receiver.responses = [500]  # one attempt per channel: Slack (first to post) fails, the rest land
    cursor = tick(sensor, instance, None)
    assert json.loads(cursor)["outbox"][0]["channels"] == ["slack"]
    clock.now += dt.timedelta(minutes=30)
    http_receiver.responses = [500]
    cursor = tick(sensor, instance, cursor)  # still failing, still inside the window: kept
    assert json.loads(cursor)["outbox"][0]["channels"] == ["slack"]
    clock.now += dt.timedelta(hours=1)
    http_receiver.responses = [500]
    cursor = tick(sensor, instance, cursor)  # fails again, past the window: given up
    assert json.loads(cursor)["outbox"] == []
    assert [r["status"] for r in list_deliveries(instance) if r["channel"] == "slack"] == ["failed"] * 3
