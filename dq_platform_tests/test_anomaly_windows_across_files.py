"""Windows spanning files, through the real dataset job: found once, whatever order the files arrive in.

Each file's run recomputes the bursts of the time range its events can affect, over the published
events of every file, and replaces exactly that range (defs/anomalies.py). These tests deliver
hand-made log files whose errors only form a burst together.
"""

import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dq_platform.contract import CONTRACTS_DIR

from .conftest import Project

pytestmark = pytest.mark.slow
CHECK = "events_logs_anomalies.anomaly_error_burst"
KEY = ["rule_id", "group_values", "window_start", "window_end", "events", "peak_count", "partitions"]


@pytest.fixture
def logs_contracts(tmp_path):
    folder = tmp_path / "contracts"
    folder.mkdir()
    shutil.copy(CONTRACTS_DIR / "events_logs.yaml", folder)
    return folder


def errors(project: Project, name: str, start: str, count: int, every_s: float) -> Path:
    """`count` ERROR logs of auth-service, one every `every_s` seconds from `start`, and INFO noise."""
    t0 = pd.Timestamp(start)
    lines = [
        json.dumps(
            {
                "timestamp": (t0 + pd.Timedelta(seconds=i * every_s)).isoformat() + "Z",
                "service": "auth-service",
                "level": "ERROR",
                "message": "User login failed",
                "user_id": 42,
            }
        )
        for i in range(count)
    ]
    lines += [
        json.dumps(
            {
                "timestamp": (t0 + pd.Timedelta(seconds=i)).isoformat() + "Z",
                "service": "search-api",
                "level": "INFO",
                "message": "request completed",
                "user_id": None,
            }
        )
        for i in range(5)
    ]
    path = project.landing / "events" / "logs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def run(project, instance, path):
    out = project.ingest(instance, "events_logs", path)
    assert out.success, out.error
    return out, {f"{a}.{c}": p for a, c, p, _ in out.checks}[CHECK]


def anomalies_of(project) -> pd.DataFrame:
    return project.wh().read("events_logs_anomalies").sort_values("window_start").reset_index(drop=True)


def test_a_burst_split_over_two_files_is_flagged_once_in_either_order(tmp_path, logs_contracts, instance):
    # 12 errors in a, 9 in b: 21 within 46 s only together
    results = {}
    with dg.instance_for_test() as other:
        for order, inst in (("ab", instance), ("ba", other)):
            project = Project(tmp_path / order, logs_contracts)
            files = {
                "a": errors(project, "logs_a.jsonl", "2025-01-01T10:00:00", 12, 2),
                "b": errors(project, "logs_b.jsonl", "2025-01-01T10:00:30", 9, 2),
            }
            first = run(project, inst, files[order[0]])
            second = run(project, inst, files[order[1]])
            assert first[1] is True and second[1] is False  # the file that completes the burst raises it
            table = anomalies_of(project)
            assert len(table) == 1
            results[order] = (project, inst, files, second[0], table)

        (_, _, _, _, ab), (project, inst, files, last, ba) = results["ab"], results["ba"]
        pd.testing.assert_frame_equal(ab[KEY], ba[KEY])
        row = ab.iloc[0]
        assert (row["events"], row["peak_count"]) == (21, 21)
        assert (row["window_start"], row["window_end"]) == (
            pd.Timestamp("2025-01-01 10:00:00"),
            pd.Timestamp("2025-01-01 10:00:46"),
        )
        assert row["partitions"].count("@") == 2 and row["description"].startswith(
            "auth-service: 21 ERROR logs in 46 s"
        )

        # re-running a file replaces instead of duplicating, and gives the same check answer
        again = run(project, inst, files["a"])
        assert again[1] is False and again[0].partition == last.partition
        pd.testing.assert_frame_equal(anomalies_of(project)[KEY], ba[KEY])


def test_a_storm_over_three_files_arriving_out_of_order_merges_into_one_anomaly(tmp_path, logs_contracts, instance):
    project = Project(tmp_path / "storm", logs_contracts)
    # an error every 2 s (30 a minute) for 15 minutes, cut into three 5-minute files
    c = errors(project, "logs_c.jsonl", "2025-01-01T10:10:00", 150, 2)
    d = errors(project, "logs_d.jsonl", "2025-01-01T10:15:00", 150, 2)
    e = errors(project, "logs_e.jsonl", "2025-01-01T10:20:00", 150, 2)
    run(project, instance, e)
    run(project, instance, c)
    apart = anomalies_of(project)  # c and e are 5 minutes apart: two bursts so far
    assert apart["window_start"].tolist() == [pd.Timestamp("2025-01-01 10:10:00"), pd.Timestamp("2025-01-01 10:20:00")]
    assert apart["events"].tolist() == [150, 150]
    out, failed = run(project, instance, d)  # the middle file joins them
    assert failed is False
    [row] = anomalies_of(project).to_dict("records")
    assert (row["window_start"], row["window_end"]) == (
        pd.Timestamp("2025-01-01 10:10:00"),
        pd.Timestamp("2025-01-01 10:24:58"),
    )
    assert (row["events"], row["peak_count"]) == (450, 31)  # [t - 60 s, t] holds 31 errors 2 s apart
    assert len(row["partitions"].split(",")) == 3
    scopes = json.loads(project.wh().last_commit("events_logs_anomalies")["dq_scopes"])
    assert scopes == [
        {
            "rule_id": "error_burst",
            "kind": "window",
            "start": "2025-01-01T10:10:00",
            "end": "2025-01-01T10:24:58",
            "anomalies": 1,
        }
    ]


def test_of_two_runs_racing_over_adjacent_files_the_one_that_read_stale_events_recomputes(tmp_path, monkeypatch):
    """Run a reads its events; meanwhile run b publishes the rest of the burst and commits it; run a's
    commit (which never saw b's events) is refused and a recomputes, so the burst survives."""
    from dq_platform.contract import load_contract
    from dq_platform.defs import anomalies as anomaly_assets
    from dq_platform.io.warehouse import Warehouse

    contract = load_contract(CONTRACTS_DIR / "events_logs.yaml")
    wh = Warehouse(root=str(tmp_path / "warehouse"))

    def publish(partition: str, start_s: float, count: int) -> None:
        t = pd.Timestamp("2025-01-01 10:00:00") + pd.to_timedelta([start_s + 2 * i for i in range(count)], unit="s")
        wh.write(
            "masked_events_logs",
            pd.DataFrame(
                {
                    "timestamp": pd.Series(t, dtype="datetime64[ns]"),
                    "service": pd.Series(["auth-service"] * count, dtype="string"),
                    "level": pd.Series(["ERROR"] * count, dtype="string"),
                    "message": pd.Series(["x"] * count, dtype="string"),
                    "user_id": pd.Series(["tk_1"] * count, dtype="string"),
                    "_source_line": range(1, count + 1),
                }
            ),
            partition=partition,
            run_id=f"run-{partition}",
        )

    real, calls = anomaly_assets._recompute, []

    def racing(warehouse, snapshot, contract, partition, run_id, now):
        result = real(warehouse, snapshot, contract, partition, run_id, now)
        calls.append(partition)
        if calls == ["a"]:  # a has read (its 12 errors alone: no burst); now b runs start to end
            publish("b", 30, 9)
            anomaly_assets.refresh(warehouse, contract, "b", "run-b")
        return result

    publish("a", 0, 12)
    monkeypatch.setattr(anomaly_assets, "_recompute", racing)
    out = anomaly_assets.refresh(wh, contract, "a", "run-a")
    assert calls == ["a", "b", "a"] and out.retries == 1
    [row] = wh.read("events_logs_anomalies").to_dict("records")
    assert (row["events"], row["partitions"], row["run_id"]) == (21, "a,b", "run-a")
