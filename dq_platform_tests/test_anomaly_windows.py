"""Anomaly rule semantics on constructed events (anomalies.py), with exact expected answers.

Window rule boundary: an event at t is hot when the CLOSED interval [t - size, t] holds more than
`count_above` matching events of its group. For "more than 20 within 1m": 21 events spanning
exactly 60 s are flagged, 21 spanning 60.001 s are not.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dq_platform.contract import CONTRACTS_DIR, load_contract, parse_contract
from dq_platform.engine import anomalies
from dq_platform.engine.rules import PARTITION, SOURCE_LINE

T0 = pd.Timestamp("2025-01-01 10:00:00")
LOGS = load_contract(CONTRACTS_DIR / "events_logs.yaml")
BURST = LOGS.anomalies[0]


def logs(seconds, service="auth-service", level="ERROR", partition="a.jsonl@0000000000000000") -> pd.DataFrame:
    seconds = np.asarray(seconds, dtype=float)
    n = len(seconds)
    return pd.DataFrame(
        {
            "timestamp": pd.Series(T0 + pd.to_timedelta(seconds, unit="s"), dtype="datetime64[ns]"),
            "service": pd.Series([service] * n, dtype="string"),
            "level": pd.Series([level] * n, dtype="string"),
            "message": pd.Series(["User login failed"] * n, dtype="string"),
            "user_id": pd.Series(["tk_x"] * n, dtype="string"),
            PARTITION: partition,
            SOURCE_LINE: np.arange(1, n + 1),
        }
    )


def found(frame) -> list[dict]:
    return anomalies.bursts(frame, BURST).to_dict("records")


def test_the_shipped_rule_is_more_than_20_errors_per_service_within_one_minute():
    assert (BURST.where, BURST.window.size, BURST.window.count_above, BURST.window.group_by) == (
        "level == 'ERROR'",
        "1m",
        20,
        ["service"],
    )


def test_21_errors_within_60_seconds_are_one_anomaly():
    out = found(logs(np.linspace(0, 59, 21)))
    assert len(out) == 1
    assert out[0]["service"] == "auth-service" and out[0]["events"] == 21 and out[0]["peak_count"] == 21
    assert (out[0]["window_start"], out[0]["window_end"]) == (T0, T0 + pd.Timedelta(seconds=59))


def test_20_errors_are_not_an_anomaly():
    assert found(logs(np.linspace(0, 10, 20))) == []


@pytest.mark.parametrize("span,flagged", [(60.0, True), (59.999, True), (60.001, False), (61.0, False)])
def test_boundary_both_ends_of_the_window_are_inclusive(span, flagged):
    out = found(logs(np.linspace(0, span, 21)))
    assert len(out) == (1 if flagged else 0)


def test_21_errors_split_over_two_services_are_not_an_anomaly():
    frame = pd.concat([logs(np.linspace(0, 30, 11)), logs(np.linspace(0, 30, 10), service="inventory-api")])
    assert found(frame) == []


def test_only_matching_events_count():
    frame = pd.concat([logs(np.linspace(0, 30, 20)), logs([15.5], level="INFO")])
    assert found(frame) == []
    assert len(found(pd.concat([frame, logs([16.5])]))) == 1


def test_a_long_storm_is_one_anomaly_with_its_peak():
    out = found(logs(np.linspace(0, 599, 600)))  # one error a second for ten minutes
    assert len(out) == 1
    assert out[0]["events"] == 600 and out[0]["peak_count"] == 61  # [t - 60 s, t] holds 61 whole seconds
    assert out[0]["window_end"] - out[0]["window_start"] == pd.Timedelta(seconds=599)


def test_two_bursts_apart_are_two_anomalies_and_partitions_are_named():
    frame = pd.concat(
        [
            logs(np.linspace(0, 30, 21), partition="a@1"),
            logs(np.linspace(300, 320, 12), partition="b@2"),
            logs(np.linspace(321, 330, 10), partition="c@3"),
        ]
    )
    out = found(frame.sample(frac=1, random_state=3))  # input order does not matter
    assert [(o["events"], o["partitions"]) for o in out] == [(21, "a@1"), (22, "b@2,c@3")]


def test_incremental_recomputation_only_counts_windows_ending_after_since():
    frame = logs(np.linspace(0, 30, 21))
    assert len(anomalies.bursts(frame, BURST, since=T0 + pd.Timedelta(seconds=30))) == 1
    assert len(anomalies.bursts(frame, BURST, since=T0 + pd.Timedelta(seconds=31))) == 0


def test_window_starts_are_exact_per_group():
    codes = np.array([0, 0, 0, 0, 1, 1])
    times = np.array([0, 10, 20, 30, 5, 6])
    assert anomalies.window_starts(codes, times, 10).tolist() == [0, 0, 1, 2, 4, 4]


def test_window_rows_describe_the_burst_for_people():
    rows = anomalies.window_rows(
        anomalies.bursts(logs(np.linspace(1, 43, 25)), BURST), BURST, LOGS, dt.datetime(2025, 1, 2), "run-1"
    )
    assert rows["description"].tolist() == [
        "auth-service: 25 ERROR logs in 42 s (2025-01-01 10:00:01 to 10:00:43); peak 25 within 1m, threshold 20"
    ]
    row = rows.iloc[0]
    assert (row["rule_id"], row["kind"], row["severity"], row["group_values"], row["threshold"]) == (
        "error_burst",
        "window",
        "error",
        "service=auth-service",
        20,
    )
    assert row["event_service"] == "auth-service"
    assert "event_user_id" not in rows.columns and "event_message" not in rows.columns  # PII columns never copied


METRICS = load_contract(CONTRACTS_DIR / "events_metrics.yaml")
TRANSACTIONS = load_contract(CONTRACTS_DIR / "events_transactions.yaml")


def test_row_rules_flag_exactly_the_events_over_the_thresholds():
    metrics = pd.DataFrame(
        {
            "timestamp": pd.Series(T0 + pd.to_timedelta(np.arange(6), unit="s"), dtype="datetime64[ns]"),
            "service": pd.Series(["a", "b", "c", "d", "e", "f"], dtype="string"),
            "cpu": pd.array([85.0, 85.1, 50.0, 50.0, None, 99.0], dtype="Float64"),
            "latency_ms": pd.array([400.0, 10.0, 400.5, 399.9, 401.0, None], dtype="Float64"),
            PARTITION: "m@1",
            SOURCE_LINE: np.arange(1, 7),
        }
    )
    rows = anomalies.row_rows(metrics, METRICS.anomalies[0], METRICS, dt.datetime(2025, 1, 2), "r")
    assert rows["event_service"].tolist() == ["b", "c", "e", "f"]  # cpu > 85 or latency_ms > 400, nulls no match
    assert rows["source_line"].tolist() == [2, 3, 5, 6]
    assert (
        rows["description"].iloc[0]
        == "2025-01-01 10:00:01: service=b, cpu=85.1, latency_ms=10.0 (cpu > 85 or latency_ms > 400)"
    )

    tx = pd.DataFrame(
        {
            "timestamp": pd.Series([T0] * 4, dtype="datetime64[ns]"),
            "transaction_id": pd.Series(["TX00000001", "TX00000002", "TX00000003", "TX00000004"], dtype="string"),
            "user_id": pd.Series(["tk_a"] * 4, dtype="string"),
            "amount": pd.array([10000.0, 10000.01, 15250.0, 9999.99], dtype="Float64"),
            "currency": pd.Series(["USD"] * 4, dtype="string"),
            "status": pd.Series(["completed"] * 4, dtype="string"),
            "merchant": pd.Series(["Acme"] * 4, dtype="string"),
            PARTITION: "t@1",
            SOURCE_LINE: np.arange(1, 5),
        }
    )
    rows = anomalies.row_rows(tx, TRANSACTIONS.anomalies[0], TRANSACTIONS, dt.datetime(2025, 1, 2), "r")
    assert rows["event_transaction_id"].tolist() == ["TX00000002", "TX00000003"]
    assert rows["event_amount"].tolist() == [10000.01, 15250.0]


def test_affected_range_grows_to_the_stored_bursts_it_overlaps():
    stored = pd.DataFrame(
        {
            "window_start": pd.to_datetime(["2025-01-01 09:50", "2025-01-01 10:30"]),
            "window_end": pd.to_datetime(["2025-01-01 09:59:30", "2025-01-01 10:40:00"]),
        }
    )
    lo, hi = anomalies.affected_range(T0, T0 + pd.Timedelta(minutes=5), BURST, stored)
    # [10:00 - 1m, 10:05 + 1m] overlaps the 09:50-09:59:30 burst, not the 10:30 one
    assert (lo, hi) == (pd.Timestamp("2025-01-01 09:50"), pd.Timestamp("2025-01-01 10:06"))


def test_a_rule_without_window_or_where_is_refused():
    with pytest.raises(Exception, match="needs a 'where' condition"):
        parse_contract(
            (CONTRACTS_DIR / "events_logs.yaml")
            .read_text()
            .replace(
                "    where: \"level == 'ERROR'\"\n    window: {time_column: timestamp, size: 1m, group_by: [service], "
                "count_above: 20}\n",
                "",
            )
        )
