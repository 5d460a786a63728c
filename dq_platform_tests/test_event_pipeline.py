"""Event monitoring end to end through Dagster, on `produce-events` output delivered to the landing zone.

Each file runs the real dataset job (`project.ingest`): raw -> cleaned + quarantine -> masked ->
<name>_anomalies (-> <name>_postgres, which publishes nothing here: DQ_EVENTS_PG_URL is unset).
The expected answers are read off the produced bytes (which line is broken, which event is an
incident), never off the pipeline's own output.
"""

import json
import re

import dagster as dg
import pandas as pd
import pytest

from dq_platform.alerts.sensors import build_check_alert_sensor
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.demo.event_producer import BURST_EVENTS, BURST_SERVICE, build_file
from dq_platform.engine import rules
from dq_platform.io.landing_zones import landing_zone
from dq_platform_tests.conftest import Ticker

pytestmark = pytest.mark.slow
SLACK_SECRET = "T0EVENTS/B0SECRET/xoxEventsSecret"


def events_project(make_project, *names):
    return make_project(*[(CONTRACTS_DIR / f"{n}.yaml").read_text() for n in names])


def deliver(project, stream: str, k: int, files: int, events: int = 240, **options):
    """File k of a stream as `produce-events` writes it (through LandingZone.put); returns (path, lines)."""
    options = {"seed": 7, "start": "2025-01-01T10:00:00Z", "rate": 4.0, "incidents": True, "messy": True, **options}
    rel, data, _, _ = build_file(stream, k, files=files, events=events, **options)
    landing_zone(project.landing).put(rel, data)
    return project.landing / rel, data.decode().splitlines()


def expected_quarantine(lines: list[str], required: list[str], allowed: dict[str, list]) -> dict[int, str]:
    """{line: failed rule} judged from the bytes: broken JSON, a missing required field, a value not allowed."""
    out = {}
    for i, text in enumerate(lines, start=1):
        try:
            obj = json.loads(text)
        except ValueError:
            out[i] = rules.PARSE_RULE
            continue
        for field in required:
            if field not in obj:
                out[i] = f"{field}:required"
        for field, values in allowed.items():
            if field in obj and obj[field] not in values:
                out[i] = f"{field}:allowed_values"
    return out


def quarantined(project, dataset: str, partition: str) -> dict[int, str]:
    q = project.wh().read(f"quarantine_{dataset}", partition=partition)
    return dict(zip(q[rules.SOURCE_LINE].tolist(), q[rules.FAILED_RULES].tolist()))


def checks(outcome) -> dict[str, tuple[bool, str]]:
    return {f"{a}.{c}": (p, s) for a, c, p, s in outcome.checks}


def parse(lines: list[str]) -> tuple[dict[int, dict], set[int]]:
    """{line: object} of the lines that parse, and the numbers of those that do not."""
    good, broken = {}, set()
    for i, text in enumerate(lines, start=1):
        try:
            good[i] = json.loads(text)
        except ValueError:
            broken.add(i)
    return good, broken


def test_logs_burst_across_two_files_is_one_anomaly_alerted_then_resolved(
    make_project, instance, http_receiver, monkeypatch, capsys
):
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{http_receiver.url}/slack/services/{SLACK_SECRET}")
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    project = events_project(make_project, "events_logs")
    contracts = list(project.contracts.values())
    sensor = build_check_alert_sensor(contracts, project.defs.resolve_asset_graph().asset_check_keys)
    tick = Ticker(sensor, instance)

    def burst_slack():
        return [b for b in http_receiver.bodies("/slack/") if "anomaly_error_burst" in b["text"]]

    outcomes, produced = [], []
    for k in range(3):
        path, lines = deliver(project, "logs", k, files=3)
        produced.append(lines)
        outcomes.append(project.ingest(instance, "events_logs", path))
        out = outcomes[-1]
        assert out.success, out.error

        # nothing lost: every line is cleaned or quarantined, bad lines with their line and rule
        expected = expected_quarantine(lines, ["service"], {"level": ["DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"]})
        assert sorted(set(expected.values())) == ["_file:parse", "level:allowed_values", "service:required"]
        assert out.rows == {"in": len(lines), "cleaned": len(lines) - 3, "quarantined": 3, "masked": len(lines) - 3}
        assert quarantined(project, "events_logs", out.partition) == expected
        tick()
        if k == 0:  # 11 of the 25 burst errors: no anomaly yet
            assert checks(out)["events_logs_anomalies.anomaly_error_burst"] == (True, "ERROR")
            assert burst_slack() == []

    first, second, third = outcomes
    # the second file completes the burst: one anomaly, over both files
    assert checks(second)["events_logs_anomalies.anomaly_error_burst"] == (False, "ERROR")
    assert checks(second)["events_logs_anomalies.anomalies_have_no_pii"] == (True, "ERROR")
    table = project.wh().read("events_logs_anomalies")
    assert len(table) == 1
    row = table.iloc[0]
    burst = [
        json.loads(t)
        for lines in produced
        for t in lines
        if '"User login failed"' in t and f'"{BURST_SERVICE}"' in t and '"ERROR"' in t
    ]
    burst_times = sorted(pd.Timestamp(b["timestamp"]).tz_convert(None) for b in burst)
    assert len(burst_times) >= BURST_EVENTS
    assert row["rule_id"] == "error_burst" and row["event_service"] == BURST_SERVICE and row["kind"] == "window"
    assert row["window_start"] <= burst_times[0] and row["window_end"] >= burst_times[BURST_EVENTS - 1]
    assert row["events"] >= BURST_EVENTS and row["threshold"] == 20
    assert row["partitions"] == f"{first.partition},{second.partition}"
    assert re.fullmatch(
        r"auth-service: \d+ ERROR logs in \d+ s \(2025-01-01 \d\d:\d\d:\d\d to \d\d:\d\d:\d\d\); "
        r"peak \d+ within 1m, threshold 20",
        row["description"],
    )
    # the third file brings no burst: its check passes (the alert resolves)
    assert checks(third)["events_logs_anomalies.anomaly_error_burst"] == (True, "ERROR")

    # the alert: one HIGH trigger with the burst's description, then one resolution
    sent = burst_slack()
    assert [b["text"].split("\n")[0] for b in sent] == [
        "[HIGH] events_logs: anomaly detected: events_logs_anomalies.anomaly_error_burst",
        "[RESOLVED] events_logs: anomaly detected: events_logs_anomalies.anomaly_error_burst",
    ]
    body = json.dumps(sent[0], ensure_ascii=False)
    assert row["description"] in body and second.partition in body and "anomalies_involving_file" in body

    # masked messages are scrubbed; no email, IP or secret reaches the tables, the alerts or the output
    masked = project.wh().read("masked_events_logs")
    emails = [m for lines in produced for t in lines for m in re.findall(r"[\w.]+@[\w.]+", t)]
    assert emails, "the producer writes some emails into messages"
    assert masked["message"].str.contains("[email]", regex=False).sum() > 0
    everything = "\n".join([*http_receiver.raw, masked.to_csv(), table.to_csv(), capsys.readouterr().out])
    assert not [e for e in emails if e in everything]
    assert "203.0.113." not in everything and SLACK_SECRET not in everything


def test_metrics_and_transactions_flag_exactly_the_injected_incidents(make_project, instance, monkeypatch):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    project = events_project(make_project, "events_metrics", "events_transactions")
    got = {}
    for stream, dataset in (("metrics", "events_metrics"), ("transactions", "events_transactions")):
        for k in range(2):
            path, lines = deliver(project, stream, k, files=2)
            out = project.ingest(instance, dataset, path)
            assert out.success, out.error
            got[(stream, k)] = (out, lines, quarantined(project, dataset, out.partition))

    # the quarantine, judged from the bytes: cut-off line, bad type / missing field, negative amount, duplicate
    for k in range(2):
        out, lines, q = got[("metrics", k)]
        parsed, broken = parse(lines)
        assert q == {
            **{i: "_file:parse" for i in broken},
            **{i: "cpu:type" for i, o in parsed.items() if o["cpu"] == "high"},
            **{i: "latency_ms:required" for i, o in parsed.items() if "latency_ms" not in o},
        }
        assert len(q) == 3
        out, lines, q = got[("transactions", k)]
        parsed, broken = parse(lines)
        seen, dupes = set(), {}
        for i, o in parsed.items():
            if o["transaction_id"] in seen:
                dupes[i] = "transaction_id:unique"
            seen.add(o["transaction_id"])
        assert q == {
            **{i: "_file:parse" for i in broken},
            **{i: "amount:min" for i, o in parsed.items() if o["amount"] < 0},
            **dupes,
        }
        assert len(q) == 3

    # anomalies: exactly the produced events above the thresholds, each with its file and line
    def over(stream, test):
        return sorted(
            (got[(stream, k)][0].partition, i)
            for k in range(2)
            for i, o in parse(got[(stream, k)][1])[0].items()
            if test(o)
        )

    hot = over(
        "metrics", lambda o: isinstance(o["cpu"], (int, float)) and (o["cpu"] > 85 or o.get("latency_ms", 0) > 400)
    )
    large = over("transactions", lambda o: o["amount"] > 10000)
    assert len(hot) == 4 and len(large) == 2  # 3 CPU spikes + 1 slow request; 2 large transactions
    m = project.wh().read("events_metrics_anomalies")
    t = project.wh().read("events_transactions_anomalies")
    assert sorted(zip(m["partitions"], m["source_line"])) == hot
    assert sorted(zip(t["partitions"], t["source_line"])) == large
    assert sorted(t["event_amount"].tolist()) == [12400.5, 15250.0] and "event_user_id" not in t.columns
    assert set(m["severity"]) == {"warn"} and set(m["kind"]) == {"row"}

    first_metrics, second_tx = got[("metrics", 0)][0], got[("transactions", 1)][0]
    assert checks(first_metrics)["events_metrics_anomalies.anomaly_slow_or_hot"] == (False, "WARN")
    assert checks(got[("transactions", 0)][0])["events_transactions_anomalies.anomaly_large_amount"] == (True, "WARN")
    assert checks(second_tx)["events_transactions_anomalies.anomaly_large_amount"] == (False, "WARN")
    # the postgres step ran and said it published nothing: no materialization without DQ_EVENTS_PG_URL
    assert instance.get_latest_materialization_event(dg.AssetKey("events_transactions_postgres")) is None


def test_a_file_over_the_failure_threshold_holds_masked_anomalies_and_publication(make_project, instance, monkeypatch):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    project = events_project(make_project, "events_logs")
    path, _ = deliver(project, "logs", 0, files=2)
    ok = project.ingest(instance, "events_logs", path)
    assert ok.success
    version = project.wh().table("events_logs_anomalies").version()

    lines = [
        json.dumps(
            {
                "timestamp": f"2025-01-01T11:00:{i:02d}Z",
                "service": "auth-service",
                "level": "ERROR" if i % 3 else "PANIC",
                "message": "User login failed",
                "user_id": 7,
            }
        )
        for i in range(60)
    ]  # a third of the levels unknown: 33% > error threshold 20%, and 40 errors a minute
    bad = project.landing / "events/logs/logs_bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    held = project.ingest(instance, "events_logs", bad)
    assert not held.success
    assert checks(held)["cleaned_events_logs.failure_rate_within_threshold"] == (False, "ERROR")
    assert held.rows["quarantined"] == 20 and "masked" not in held.rows
    assert held.partition not in project.wh().row_counts("masked_events_logs")
    # the 40 published-looking errors were never published, so they are no anomaly: the table did not move
    assert project.wh().table("events_logs_anomalies").version() == version
    assert not [c for c in held.checks if c[0] == "events_logs_anomalies"]


def test_the_anomalies_pii_gate_holds_anomalies_that_look_like_pii(make_project, instance, monkeypatch):
    """Defence in depth: a defect that copied an email into an anomaly's description is caught by the
    blocking `anomalies_have_no_pii` gate (the defect is injected into our own code): nothing is written
    or published, and the check's metadata names the column and kind, never the value."""
    from dq_platform.engine import anomalies

    real = anomalies.window_rows

    def leaky(*args, **kwargs):
        rows = real(*args, **kwargs)
        rows["description"] = rows["description"] + " (ask jane.doe@mail.com)"
        return rows

    monkeypatch.setattr(anomalies, "window_rows", leaky)
    monkeypatch.setenv("DQ_EVENTS_PG_URL", "postgresql://nobody@127.0.0.1:1/never")  # must never be reached
    project = events_project(make_project, "events_logs")
    first = project.ingest(instance, "events_logs", deliver(project, "logs", 0, files=2)[0])
    held = project.ingest(instance, "events_logs", deliver(project, "logs", 1, files=2)[0])
    assert first.success is False and held.success is False  # postgres never ran: its URL is unreachable
    assert checks(first)["events_logs_anomalies.anomalies_have_no_pii"] == (True, "ERROR")
    assert checks(held)["events_logs_anomalies.anomalies_have_no_pii"] == (False, "ERROR")
    assert held.failed_gates[0].startswith("events_logs_anomalies.anomalies_have_no_pii: ")
    assert checks(held)["events_logs_anomalies.anomaly_error_burst"] == (False, "ERROR")
    assert "jane.doe" not in "\n".join(held.failed_gates)  # the rule's check withholds the descriptions
    assert len(project.wh().read("events_logs_anomalies")) == 0
    key = dg.AssetCheckKey(dg.AssetKey("events_logs_anomalies"), "anomalies_have_no_pii")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    text = str(record.event.dagster_event.event_specific_data)
    assert "description/email" in text and "jane.doe" not in text
    assert instance.get_latest_materialization_event(dg.AssetKey("events_logs_postgres")) is None
