"""The `anomalies:` and `publish:` contract sections: a wrong rule fails at load with file:line: field: reason."""

import pytest

from dq_platform.contract import ContractError, parse_contract

EVENTS = """\
name: ev
description: Events.
owner: team:sre
source: {format: jsonl, pattern: "ev/*.jsonl"}
columns:
  - {name: timestamp, type: timestamp, required: true}
  - {name: service, type: string}
  - {name: level, type: string}
  - {name: user_id, type: integer, pii: {category: identifier}}
anomalies:
  - id: error_burst
    where: "level == 'ERROR'"
    window: {time_column: timestamp, size: 1m, group_by: [service], count_above: 20}
    severity: error
  - id: debug_seen
    where: "level == 'DEBUG'"
publish:
  postgres: {url_env: DQ_EVENTS_PG_URL}
"""


def error_of(text: str) -> str:
    with pytest.raises(ContractError) as e:
        parse_contract(text, "ev.yaml")
    return str(e.value)


def test_good_section_parses():
    c = parse_contract(EVENTS)
    burst, row = c.anomalies
    assert burst.window.seconds == 60 and burst.severity == "error" and row.window is None and row.severity == "warn"
    assert c.publish.postgres.url_env == "DQ_EVENTS_PG_URL" and c.publish.postgres.table is None


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            ("where: \"level == 'DEBUG'\"", "where: \"levle == 'DEBUG'\""),
            "ev.yaml:16: anomalies[1].where: cannot be evaluated over the masked columns: name 'levle' is not defined",
        ),
        (
            ("group_by: [service]", "group_by: [svc]"),
            "ev.yaml:13: anomalies[0].window.group_by: group_by names unknown column(s): svc",
        ),
        (
            ("time_column: timestamp", "time_column: ts"),
            "ev.yaml:13: anomalies[0].window.time_column: time_column names unknown column(s): ts",
        ),
        (
            ("time_column: timestamp", "time_column: level"),
            "ev.yaml:13: anomalies[0].window.time_column: time_column 'level' must be an unmasked timestamp or date column",
        ),
        (
            ("size: 1m", "size: 1 week"),
            "ev.yaml:13: anomalies[0].window.size: '1 week' is not a window size like '30s'",
        ),
        (
            ("count_above: 20", "count_above: -1"),
            "ev.yaml:13: anomalies[0].window.count_above: Input should be greater",
        ),
        (
            ("where: \"level == 'DEBUG'\"", 'where: "service"'),
            "ev.yaml:16: anomalies[1].where: is not a condition (it must give true or false for each event)",
        ),
        (
            ("where: \"level == 'DEBUG'\"", 'where: "user_id > 3"'),  # user_id is a text token once masked
            "ev.yaml:16: anomalies[1].where: cannot be evaluated over the masked columns",
        ),
        (
            ("  - id: debug_seen\n    where: \"level == 'DEBUG'\"\n", "  - id: debug_seen\n"),
            "ev.yaml:15: anomalies[1]: an anomaly needs a 'where' condition, a 'window', or both",
        ),
        (("id: debug_seen", "id: error_burst"), "ev.yaml:10: anomalies: anomaly ids must be unique: error_burst"),
        (
            ("    severity: error", "    severity: critical"),
            "ev.yaml:14: anomalies[0].severity: Input should be 'warn' or 'error'",
        ),
        (
            ("    severity: error", "    severity: error\n    treshold: 3"),
            "ev.yaml:15: anomalies[0].treshold: unknown field",
        ),
        (
            ("url_env: DQ_EVENTS_PG_URL", "url_env: postgresql://u:p@h/db"),
            "ev.yaml:18: publish.postgres.url_env: String should match pattern",
        ),
    ],
)
def test_errors_name_file_line_field_and_reason(change, expected):
    assert change[0] in EVENTS
    msg = error_of(EVENTS.replace(*change))
    assert expected in msg, msg
    assert "Traceback" not in msg


def test_scrub_masking_needs_a_string_column():
    msg = error_of(EVENTS.replace("pii: {category: identifier}", "pii: {category: other, masking: scrub}"))
    assert "ev.yaml:9: columns[3] (user_id): masking 'scrub' needs a string column" in msg
