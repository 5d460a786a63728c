"""`dq-platform produce-events`: deterministic, realistic JSON-lines streams delivered to a landing zone."""

import json

import boto3
import pandas as pd

from dq_platform.cli import main
from dq_platform.demo.event_producer import BURST_SERVICE, produce


def read_lines(path) -> list[dict | None]:
    out = []
    for text in path.read_text().splitlines():
        try:
            out.append(json.loads(text))
        except ValueError:
            out.append(None)  # a broken line, on purpose
    return out


def test_cli_writes_consecutive_files_with_incidents_and_messy_lines(tmp_path, capsys):
    landing = tmp_path / "landing"
    assert (
        main(
            [
                "produce-events",
                "--landing",
                str(landing),
                "--files",
                "2",
                "--events-per-file",
                "400",
                "--seed",
                "3",
                "--start",
                "2025-06-01T08:00:00Z",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    names = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*.jsonl"))
    assert names == [
        "events/logs/logs_20250601T080000.jsonl",
        "events/logs/logs_20250601T080140.jsonl",
        "events/metrics/metrics_20250601T080000.jsonl",
        "events/metrics/metrics_20250601T080140.jsonl",
        "events/transactions/transactions_20250601T080000.jsonl",
        "events/transactions/transactions_20250601T080140.jsonl",
    ]
    assert "a cut-off JSON line" in printed and "ERROR logs of auth-service" in printed

    logs = [read_lines(landing / n) for n in names[:2]]
    for lines in logs:
        assert sum(x is None for x in lines) == 1  # one cut-off line per file
        assert sum(1 for x in lines if x and x.get("level") == "VERBOSE") == 1
        assert sum(1 for x in lines if x and "service" not in x) == 1
        times = [pd.Timestamp(x["timestamp"]) for x in lines if x]
        assert times == sorted(times)
    # file 2 starts where file 1 ends (400 events at 4/s = 100 s each)
    assert max(pd.Timestamp(x["timestamp"]) for x in logs[0] if x) < pd.Timestamp("2025-06-01T08:01:40Z")
    assert min(pd.Timestamp(x["timestamp"]) for x in logs[1] if x) >= pd.Timestamp("2025-06-01T08:01:40Z")
    burst = [
        pd.Timestamp(x["timestamp"])
        for lines in logs
        for x in lines
        if x and x["message"] == "User login failed" and x.get("service") == BURST_SERVICE and x["level"] == "ERROR"
    ]
    in_first = sum(t < pd.Timestamp("2025-06-01T08:01:40Z") for t in burst)
    assert in_first >= 1 and len(burst) - in_first >= 1  # it spans both files
    assert any("@" in x["message"] for lines in logs for x in lines if x)  # messages quote emails, on purpose

    metrics = [x for n in names[2:4] for x in read_lines(landing / n) if x]
    hot = [x for x in metrics if isinstance(x["cpu"], float) and (x["cpu"] > 85 or x.get("latency_ms", 0) > 400)]
    assert sorted(x["cpu"] for x in hot)[-3:] == [91.5, 94.2, 97.0] and len(hot) == 4
    tx = [x for n in names[4:] for x in read_lines(landing / n) if x]
    assert sorted(x["amount"] for x in tx if x["amount"] > 10000) == [12400.5, 15250.0]
    ids = [x["transaction_id"] for x in tx]
    assert len(ids) - len(set(ids)) == 2  # one duplicated transaction per file, ids otherwise unique across files


def test_same_seed_same_bytes_and_clean_streams_have_no_incident(tmp_path):
    a = produce(str(tmp_path / "a"), files=2, events_per_file=300, seed=5)
    b = produce(str(tmp_path / "b"), files=2, events_per_file=300, seed=5)
    assert [(p.relpath, (tmp_path / "a" / p.relpath).read_bytes()) for p in a] == [
        (p.relpath, (tmp_path / "b" / p.relpath).read_bytes()) for p in b
    ]
    clean = produce(
        str(tmp_path / "c"),
        files=2,
        events_per_file=300,
        seed=5,
        incidents=False,
        messy=False,
        streams=("logs", "transactions"),
    )
    assert [p.stream for p in clean] == ["logs", "logs", "transactions", "transactions"]
    for p in clean:
        lines = read_lines(tmp_path / "c" / p.relpath)
        assert None not in lines and len(lines) == 300 and not p.incidents and not p.messy
        if p.stream == "transactions":
            assert max(x["amount"] for x in lines) <= 5000
        else:
            per_minute = (
                pd.Series(
                    1,
                    index=[
                        (x["service"], pd.Timestamp(x["timestamp"]).floor("min"))
                        for x in lines
                        if x["level"] == "ERROR"
                    ],
                )
                .groupby(level=0)
                .sum()
            )
            assert per_minute.max() < 20


def test_files_land_atomically_in_an_s3_landing_zone(s3_bucket):
    produced = produce(f"s3://{s3_bucket}/incoming", files=1, events_per_file=100, streams=("metrics",))
    assert [p.uri for p in produced] == [f"s3://{s3_bucket}/incoming/events/metrics/metrics_20250101T100000.jsonl"]
    s3 = boto3.session.Session().client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["incoming/events/metrics/metrics_20250101T100000.jsonl"]
    body = s3.get_object(Bucket=s3_bucket, Key=keys[0])["Body"].read().decode()
    assert len(body.splitlines()) == produced[0].lines == 100
