"""A fifth event dataset needs only a YAML contract: its assets, checks, job and anomalies follow from it."""

import json

import dagster as dg
import pytest

from dq_platform.contract import CONTRACTS_DIR

AUDIT = """\
name: events_audit
description: Security audit events of the admin console.
owner: team:security
group: events
source: {format: jsonl, pattern: "events/audit/*.jsonl"}
columns:
  - {name: timestamp, type: timestamp, required: true, date_formats: [ISO8601]}
  - {name: action, type: string, required: true, allowed_values: [login, logout, sudo, export]}
  - {name: outcome, type: string, required: true, allowed_values: [success, denied]}
  - {name: user_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: user_id}}
anomalies:
  - id: denied_sudo_burst
    description: More than 3 denied sudo attempts by one user within 5 minutes.
    label: denied sudo attempts
    where: "action == 'sudo' and outcome == 'denied'"
    window: {time_column: timestamp, size: 5m, group_by: [user_id], count_above: 3}
    severity: error
  - id: any_export
    where: "action == 'export'"
publish:
  postgres: {url_env: DQ_EVENTS_PG_URL}
"""


def test_definitions_follow_from_the_contract(make_project):
    project = make_project((CONTRACTS_DIR / "events_logs.yaml").read_text(), AUDIT)
    graph = project.defs.resolve_asset_graph()
    mine = {k.to_user_string() for k in graph.get_all_asset_keys() if "events_audit" in k.to_user_string()}
    assert mine == {
        "raw_events_audit",
        "cleaned_events_audit",
        "quarantine_events_audit",
        "masked_events_audit",
        "events_audit_anomalies",
        "events_audit_postgres",
    }
    assert {graph.get(dg.AssetKey(k)).group_name for k in mine} == {"events"}  # one group with events_logs
    parents = {k: sorted(p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys) for k in mine}
    assert parents["events_audit_anomalies"] == ["masked_events_audit"]
    assert parents["events_audit_postgres"] == ["events_audit_anomalies", "masked_events_audit"]
    assert graph.get(dg.AssetKey("events_audit_postgres")).kinds == {"postgres"}
    checks = {c.name for c in graph.get(dg.AssetKey("events_audit_anomalies")).check_keys}
    assert checks == {"anomaly_denied_sudo_burst", "anomaly_any_export", "anomalies_have_no_pii"}
    job = project.defs.resolve_job_def("events_audit_pipeline")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == mine
    assert "events_audit_landing_sensor" in {s.name for s in project.defs.sensors}


@pytest.mark.slow
def test_a_file_of_the_new_dataset_runs_and_its_rules_fire(make_project, instance, monkeypatch):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    project = make_project(AUDIT)
    lines = [
        {"timestamp": f"2025-03-01T09:0{i}:00Z", "action": "sudo", "outcome": "denied", "user_id": 7} for i in range(4)
    ]  # 4 denied sudo attempts of user 7 within 3 minutes
    lines += [
        {"timestamp": "2025-03-01T09:00:30Z", "action": "sudo", "outcome": "denied", "user_id": 8},
        {"timestamp": "2025-03-01T09:01:30Z", "action": "export", "outcome": "success", "user_id": 8},
        {"timestamp": "2025-03-01T09:02:30Z", "action": "login", "outcome": "success", "user_id": 9},
    ]
    path = project.landing / "events" / "audit" / "audit_0001.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = project.ingest(instance, "events_audit", path)
    assert out.success, out.error
    results = {c: (p, s) for a, c, p, s in out.checks if a == "events_audit_anomalies"}
    assert results == {
        "anomaly_denied_sudo_burst": (False, "ERROR"),
        "anomaly_any_export": (False, "WARN"),
        "anomalies_have_no_pii": (True, "ERROR"),
    }
    table = project.wh().read("events_audit_anomalies").set_index("rule_id")
    masked = project.wh().read("masked_events_audit")
    token = masked.loc[masked["timestamp"].dt.minute == 3, "user_id"].iloc[0]
    burst = table.loc["denied_sudo_burst"]
    assert burst["events"] == 4 and burst["group_values"] == f"user_id={token}"  # grouped by the masked token
    assert burst["description"].startswith(
        f"{token}: 4 denied sudo attempts in 3.0 min (2025-03-01 09:00:00 to 09:03:00)"
    )
    assert table.loc["any_export", "event_action"] == "export"
    assert "user_id=7" not in table.to_csv() and "event_user_id" not in table.columns
