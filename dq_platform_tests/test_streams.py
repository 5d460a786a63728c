"""Kafka streams into the governed pipeline, on a real Kafka-protocol broker (tansu) on loopback.

Records are produced with confluent-kafka, drained by the stream sensor / io.kafka.drain into landing
files, and run through the real dataset job. Expected answers come from what was produced (counts,
which record is broken, its partition and offset), never from the pipeline's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dq_platform import names
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.defs.streams import build_stream_sensor, drain_request
from dq_platform.engine import rules
from dq_platform.io import kafka
from dq_platform.io.landing_zones import landing_zone
from dq_platform_tests.kafka_broker import unique_topic

pytestmark = pytest.mark.slow

EVENTS_LOGS = (CONTRACTS_DIR / "events_logs.yaml").read_text()


def logs_contract(topic: str, bootstrap: str, max_records: int = 10_000, max_seconds: float = 5) -> str:
    """events_logs with its stream pointed at this test's topic and broker."""
    text = EVENTS_LOGS.replace(
        "kafka: {topic: events.logs, max_records: 10000, max_seconds: 5}",
        f"kafka: {{topic: {topic}, bootstrap_servers: '{bootstrap}', max_records: {max_records}, "
        f"max_seconds: {max_seconds}}}",
    )
    assert topic in text
    return text


def log_lines(n: int, start: int = 0, level: str = "INFO", service: str = "search-api") -> list[bytes]:
    """n distinct, valid log events (the message carries the event's number: rows can be counted)."""
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    return [
        json.dumps(
            {
                "timestamp": (t0 + pd.Timedelta(seconds=i)).isoformat(),
                "service": service,
                "level": level,
                "message": f"event {i}",
                "user_id": 1000 + i,
            }
        ).encode()
        for i in range(start, start + n)
    ]


@dataclass
class Tick:
    run_requests: list
    skip_message: str = ""


def send(bootstrap: str, topic: str, lines: list[bytes]) -> None:
    """Produce keyed records, so they spread over the topic's partitions."""
    kafka.produce(bootstrap, topic, lines, keys=[line[-12:] for line in lines])


def tick(project, instance, dataset: str) -> Tick:
    """One evaluation of the dataset's stream sensor, its partition requests applied as the daemon would."""
    sensor = build_stream_sensor(project.contracts[dataset])
    ctx = dg.build_sensor_context(
        instance=instance, resources={"landing": LandingZoneResource(uri=str(project.landing))}
    )
    result = sensor(ctx)
    if isinstance(result, dg.SkipReason):
        return Tick([], result.skip_message)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return Tick(list(result.run_requests))


def run_requested(project, instance, dataset: str, request: dg.RunRequest):
    """Run the requested partition's file through the dataset job (what the daemon launches)."""
    relpath = project.landing / request.tags[names.SOURCE_URI_TAG].split(str(project.landing) + "/", 1)[1]
    return project.ingest(instance, dataset, relpath)


def published_messages(project, dataset: str = "events_logs") -> list[str]:
    wh = project.wh()
    if wh.table(names.masked(dataset)) is None:
        return []
    return wh.read(names.masked(dataset))["message"].tolist()


def test_batch_names_round_trip_and_locate_every_line():
    batch = kafka.BatchName(topic="events.logs", ranges={0: [(5, 7), (10, 10)], 3: [(0, 1)]})
    stem = batch.stem()
    assert stem == "events.logs~p0o5-7_10-10~p3o0-1"
    assert kafka.parse_file_name(f"events/logs/{stem}.jsonl") == batch
    assert batch.offsets_text() == "p0:5-7_10-10,p3:0-1" and batch.next_offsets == {0: 11, 3: 2}
    where = [kafka.record_position(f"{stem}.jsonl", line) for line in range(1, 7)]
    assert where == [("events.logs", 0, 5), ("events.logs", 0, 6), ("events.logs", 0, 7), ("events.logs", 0, 10)] + [
        ("events.logs", 3, 0),
        ("events.logs", 3, 1),
    ]
    with pytest.raises(ValueError, match="past the 6 records"):
        kafka.record_position(f"{stem}.jsonl", 7)
    replay = kafka.parse_file_name("events.logs~replay20261207T130000Z~p1o4-9.jsonl")
    assert replay.replay == "20261207T130000Z" and replay.ranges == {1: [(4, 9)]}
    assert kafka.parse_file_name("logs_20250101T100000.jsonl") is None


def test_stream_drained_in_bounded_batches_lands_files_commits_and_publishes_once(
    make_project, instance, kafka_broker, monkeypatch
):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    topic = kafka_broker.create_topic(unique_topic("logs"), partitions=2)
    project = make_project(logs_contract(topic, kafka_broker.bootstrap, max_records=700))
    produced = log_lines(1000)
    send(kafka_broker.bootstrap, topic, produced)

    first = tick(project, instance, "events_logs")
    assert len(first.run_requests) == 1
    req = first.run_requests[0]
    batch = kafka.parse_file_name(req.partition_key.split("@")[0])
    assert batch.records == 700 and batch.topic == topic
    assert req.tags[names.STREAM_TOPIC_TAG] == topic and req.tags[names.STREAM_OFFSETS_TAG] == batch.offsets_text()
    assert len(batch.ranges) == 2
    assert kafka_broker.committed("dq-platform.events_logs", topic, 2) == batch.next_offsets
    out = run_requested(project, instance, "events_logs", req)
    assert out.success and out.rows["masked"] == 700

    second = tick(project, instance, "events_logs")
    assert [kafka.parse_file_name(r.partition_key.split("@")[0]).records for r in second.run_requests] == [300]
    assert run_requested(project, instance, "events_logs", second.run_requests[0]).success
    third = tick(project, instance, "events_logs")
    assert not third.run_requests and "no new records" in third.skip_message

    # every produced event published exactly once; the audit shows the offsets on the runs
    assert sorted(published_messages(project)) == sorted(json.loads(x)["message"] for x in produced)
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=names.pipeline_job("events_logs")))
    assert sorted(r.tags[names.STREAM_OFFSETS_TAG] for r in runs) == sorted(
        kafka.parse_file_name(r.partition_key.split("@")[0]).offsets_text() for r in [req, second.run_requests[0]]
    )
    from dq_platform.ops.audit import format_detail, list_runs, run_detail

    audited = list_runs(instance, dataset="events_logs")
    assert sorted(r.source.rsplit("/", 1)[-1] for r in audited) == sorted(
        r.partition_key.split("@")[0] for r in [req, second.run_requests[0]]
    )
    shown = format_detail(run_detail(instance, out.run_id))
    assert f"stream     topic {topic}  offsets {batch.offsets_text()}" in shown


def test_consumer_killed_after_landing_before_commit_is_not_published_twice(
    make_project, instance, kafka_broker, monkeypatch, tmp_path
):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    topic = kafka_broker.create_topic(unique_topic("crash"), partitions=2)
    project = make_project(logs_contract(topic, kafka_broker.bootstrap))
    produced = log_lines(400)
    send(kafka_broker.bootstrap, topic, produced)

    # a real process lands the batch and dies (SIGKILL-like os._exit) before it commits
    script = f"""
import os
from dq_platform.contract import load_contract
from dq_platform.io import kafka
from dq_platform.io.landing_zones import landing_zone
c = load_contract({str(project.contracts_dir / "events_logs.yaml")!r})
kafka.drain(c.source.stream.kafka, landing_zone({str(project.landing)!r}), c.source.pattern, c.name,
            on_landed=lambda d: os._exit(9))
"""
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert crashed.returncode == 9, crashed.stderr.decode()[-2000:]
    landed = kafka.landed_batches(landing_zone(project.landing), "events/logs/*.jsonl", topic)
    assert len(landed) == 1 and landed[0][1].records == 400
    assert all(o < 0 for o in kafka_broker.committed("dq-platform.events_logs", topic, 2).values())

    # the landing sensor runs the file it finds (as after any crash) ...
    path = project.landing / landed[0][0]
    assert project.ingest(instance, "events_logs", path).success
    # ... and the stream sensor recognizes the re-delivered range: no second file, no second run
    again = tick(project, instance, "events_logs")
    assert not again.run_requests
    assert "no new records" in again.skip_message and "caught up" in again.skip_message
    assert kafka_broker.committed("dq-platform.events_logs", topic, 2) == landed[0][1].next_offsets
    assert len(kafka.landed_batches(landing_zone(project.landing), "events/logs/*.jsonl", topic)) == 1
    assert sorted(published_messages(project)) == sorted(json.loads(x)["message"] for x in produced)

    # the stream goes on after the crash
    send(kafka_broker.bootstrap, topic, log_lines(50, start=400))
    more = tick(project, instance, "events_logs")
    assert run_requested(project, instance, "events_logs", more.run_requests[0]).success
    assert len(published_messages(project)) == 450


def test_gate_failing_batch_is_held_while_the_stream_goes_on(make_project, instance, kafka_broker, monkeypatch):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    topic = kafka_broker.create_topic(unique_topic("gate"), partitions=1)
    project = make_project(logs_contract(topic, kafka_broker.bootstrap))
    bad = log_lines(100, level="LOUD")  # level not allowed: 100% quarantined, over failure_rate.error 0.2
    send(kafka_broker.bootstrap, topic, bad)
    held = tick(project, instance, "events_logs").run_requests[0]
    out = run_requested(project, instance, "events_logs", held)
    assert out.rows["quarantined"] == 100 and out.failed_gates
    assert published_messages(project) == []

    send(kafka_broker.bootstrap, topic, log_lines(60, start=100))
    good = tick(project, instance, "events_logs").run_requests[0]
    assert kafka.parse_file_name(good.partition_key.split("@")[0]).ranges == {0: [(100, 159)]}
    assert run_requested(project, instance, "events_logs", good).success
    assert sorted(published_messages(project)) == sorted(f"event {i}" for i in range(100, 160))


def test_poison_record_is_quarantined_with_its_topic_partition_and_offset(
    make_project, instance, kafka_broker, monkeypatch
):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    topic = kafka_broker.create_topic(unique_topic("poison"), partitions=1)
    project = make_project(logs_contract(topic, kafka_broker.bootstrap))
    lines = log_lines(30)
    lines.insert(17, b"<html>not json\nat all</html>")  # offset 17, a newline inside
    send(kafka_broker.bootstrap, topic, lines)
    req = tick(project, instance, "events_logs").run_requests[0]
    out = run_requested(project, instance, "events_logs", req)
    assert out.success and out.rows["quarantined"] == 1 and out.rows["masked"] == 30
    q = project.wh().read(names.quarantine("events_logs"), partition=out.partition)
    (line,) = q[rules.SOURCE_LINE].tolist()
    assert q[rules.FAILED_RULES].tolist() == [rules.PARSE_RULE]
    assert kafka.record_position(req.partition_key.split("@")[0], line) == (topic, 0, 17)


def test_broker_restarted_mid_drain_loses_and_duplicates_nothing(
    make_project, instance, durable_kafka_broker, monkeypatch
):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    broker = durable_kafka_broker
    topic = broker.create_topic(unique_topic("restart"), partitions=2)
    project = make_project(logs_contract(topic, broker.bootstrap, max_records=300, max_seconds=2))
    contract, zone = project.contracts["events_logs"], landing_zone(project.landing)
    produced = log_lines(1200)
    send(broker.bootstrap, topic, produced)
    requests = tick(project, instance, "events_logs").run_requests

    # the broker goes away mid-drain: after the batch is read and landed, before the commit
    with pytest.raises(kafka.KafkaStreamError, match="commit failed"):
        drain_request(contract, zone, instance, on_landed=lambda _: broker.stop())
    # a tick while it is away fails with one clear line (the daemon retries at the next tick)
    with pytest.raises(kafka.KafkaStreamError, match="brokers not reachable"):
        tick(project, instance, "events_logs")
    broker.start()  # same port, same durable log (S3 storage)
    for _ in range(30):
        t = tick(project, instance, "events_logs")
        requests += t.run_requests
        if not t.run_requests:
            break
    assert "no new records" in t.skip_message

    # nothing lost, nothing twice: the landed offsets are exactly the produced ones
    landed = kafka.landed_batches(zone, "events/logs/*.jsonl", topic)
    offsets = [(p, o) for _, b in landed for p, segs in b.ranges.items() for a, z in segs for o in range(a, z + 1)]
    assert len(offsets) == len(set(offsets)) == len(produced)
    landed_to = kafka.landed_offsets(zone, "events/logs/*.jsonl", topic)
    assert len(landed_to) == 2 and broker.committed("dq-platform.events_logs", topic, 2) == landed_to
    # every landed file runs (the landing sensor's job for the one landed before the commit failed)
    for relpath, _ in landed:
        assert project.ingest(instance, "events_logs", project.landing / relpath).success
    assert sorted(published_messages(project)) == sorted(json.loads(x)["message"] for x in produced)


_COMMIT_TIMED_OUT_THEN_BROKER_BACK = """
import sys, time, types
from dq_platform.io import kafka
from dq_platform_tests.kafka_broker import Broker, tansu_binary

broker = Broker(tansu_binary()).start()
broker.create_topic("t", 1)
broker.stop()
stream = types.SimpleNamespace(topic="t", group_id=None, security_env={})
kept = []
try:
    kafka._commit(broker.bootstrap, stream, "g", {0: 5}, 2.0)
except kafka.KafkaStreamError as e:
    kept.append(e)  # the error and its traceback stay alive, as a sensor's error report keeps them
    print(e, flush=True)
broker.start()
time.sleep(6)
broker.stop()
print("alive")
"""


def test_a_timed_out_commit_does_not_abort_the_process_when_the_broker_comes_back(kafka_broker):
    """librdkafka aborts a process holding an admin client whose request timed out once the broker
    answers again (#4605; it took a CI test worker down). Run in a child: a regression is a failed
    test, not a dead worker."""
    out = subprocess.run(
        [sys.executable, "-c", _COMMIT_TIMED_OUT_THEN_BROKER_BACK],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[1],
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.splitlines() == ["topic 't': commit failed (_TIMED_OUT)", "alive"]


def test_replay_relands_a_range_as_tagged_files_without_touching_the_group(
    make_project, instance, kafka_broker, monkeypatch, capsys
):
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    topic = kafka_broker.create_topic(unique_topic("replay"), partitions=2)
    project = make_project(logs_contract(topic, kafka_broker.bootstrap))
    produced = log_lines(300)
    send(kafka_broker.bootstrap, topic, produced)
    drained = tick(project, instance, "events_logs").run_requests[0]
    group_before = kafka_broker.committed("dq-platform.events_logs", topic, 2)
    batch = kafka.parse_file_name(drained.partition_key.split("@")[0])
    (partition, segs), *_ = batch.ranges.items()

    from dq_platform.cli import main

    monkeypatch.setenv("DQ_CONTRACTS_DIR", str(project.contracts_dir))
    monkeypatch.setenv("DQ_LANDING_URI", str(project.landing))
    args = ["stream", "replay", "events_logs", "--from-offset", str(segs[0][0] + 10), "--partition", str(partition)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "consumer group untouched" in out
    zone = landing_zone(project.landing)
    replays = [(r, b) for r, b in kafka.landed_batches(zone, "events/logs/*.jsonl", topic) if b.replay]
    assert len(replays) == 1
    relpath, replayed = replays[0]
    assert replayed.ranges == {partition: [(segs[0][0] + 10, segs[-1][1])]}
    # the bytes are the records at those offsets, exactly as the drain landed them
    original = project.landing / drained.tags[names.SOURCE_URI_TAG].rsplit("/events/", 1)[1].join(["events/", ""])
    assert original.exists()
    first_line = sum(b - a + 1 for p, s in batch.ranges.items() if p < partition for a, b in s) + 10
    assert (project.landing / relpath).read_bytes().splitlines() == original.read_bytes().splitlines()[
        first_line : first_line + replayed.records
    ]
    assert kafka_broker.committed("dq-platform.events_logs", topic, 2) == group_before
    # the drain does not count replays as landed: the stream goes on from the group's offsets
    assert kafka.landed_offsets(zone, "events/logs/*.jsonl", topic) == batch.next_offsets
    # its run says it is a replay (audit)
    run = project.ingest(instance, "events_logs", project.landing / relpath)
    tags = instance.get_run_by_id(run.run_id).tags
    assert (
        tags[names.STREAM_REPLAY_TAG] == replayed.replay and tags[names.STREAM_OFFSETS_TAG] == replayed.offsets_text()
    )

    # --from-time: records at or after that time (all of them from an hour ago, none from tomorrow)
    assert main(["stream", "replay", "events_logs", "--from-time", "2999-01-01T00:00:00Z"]) == 0
    assert "0 replay file(s)" in capsys.readouterr().out
    hour_ago = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)).isoformat()
    assert main(["stream", "replay", "events_logs", "--from-time", hour_ago]) == 0
    assert ", 300 records;" in capsys.readouterr().out
    assert main(["stream", "where", relpath.rsplit("/", 1)[-1], "1"]) == 0
    assert capsys.readouterr().out.strip() == f"topic {topic} partition {partition} offset {segs[0][0] + 10}"


def test_error_burst_produced_to_kafka_alerts_on_slack(
    make_project, instance, kafka_broker, http_receiver, monkeypatch
):
    """produce-events --kafka -> stream sensor -> pipeline -> anomaly check -> alert sensor -> Slack."""
    from dq_platform.alerts.sensors import build_check_alert_sensor
    from dq_platform.demo.event_producer import BURST_SERVICE, produce_kafka
    from dq_platform_tests.conftest import Ticker

    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{http_receiver.url}/slack/services/T0/B0/secret")
    monkeypatch.delenv("DQ_EVENTS_PG_URL", raising=False)
    topic = kafka_broker.create_topic(unique_topic("burst"), partitions=3)
    project = make_project(logs_contract(topic, kafka_broker.bootstrap))
    alerts = Ticker(
        build_check_alert_sensor(list(project.contracts.values()), project.defs.resolve_asset_graph().asset_check_keys),
        instance,
    )
    alerts()

    started = time.monotonic()
    produced = produce_kafka(
        kafka_broker.bootstrap, files=2, events_per_file=240, topics={"logs": topic}, streams=("logs",)
    )
    assert sum(p.lines for p in produced) >= 480
    runs = 0
    while requests := tick(project, instance, "events_logs").run_requests:
        for req in requests:
            assert run_requested(project, instance, "events_logs", req).success
            runs += 1
    alerts()
    sent = [b for b in http_receiver.bodies("/slack/") if "anomaly_error_burst" in b["text"]]
    latency = time.monotonic() - started
    assert runs >= 1
    assert [b["text"].split("\n")[0] for b in sent] == [
        "[HIGH] events_logs: anomaly detected: events_logs_anomalies.anomaly_error_burst"
    ]
    assert BURST_SERVICE in json.dumps(sent[0])
    print(f"produced -> Slack without sensor intervals: {latency:.1f} s over {runs} run(s)")


def test_demo_events_through_kafka_land_every_produced_line(kafka_broker, tmp_path, monkeypatch):
    """`dq-platform demo --kafka`: the three streams produced to their topics and drained into files."""
    from dq_platform.contract import load_contracts
    from dq_platform.demo.event_producer import STREAMS, build_file, demo_kafka_files

    monkeypatch.setenv("DQ_KAFKA_BOOTSTRAP_SERVERS", "")
    landing = tmp_path / "landing"
    files = demo_kafka_files(kafka_broker.bootstrap, landing, load_contracts(CONTRACTS_DIR))
    assert sorted(files) == ["events_logs", "events_metrics", "events_transactions"]
    for stream in STREAMS:
        expected = []
        for k in range(2):
            _, data, _, _ = build_file(
                stream,
                k,
                files=2,
                events=600,
                seed=7,
                start="2025-01-01T10:00:00Z",
                rate=4.0,
                incidents=True,
                messy=True,
            )
            expected += data.decode().splitlines()
        landed = [line for path in files[f"events_{stream}"] for line in path.read_text().splitlines()]
        assert sorted(landed) == sorted(expected)

    # `dq-platform produce-events --kafka`: the CLI sends to the same topics; the next drain gets exactly those
    from dq_platform.cli import main

    args = ["produce-events", "--kafka", kafka_broker.bootstrap, "--files", "1", "--events-per-file", "50"]
    assert main([*args, "--streams", "logs", "--clean", "--seed", "3"]) == 0
    logs = next(c for c in load_contracts(CONTRACTS_DIR) if c.name == "events_logs")
    drained = kafka.drain(logs.source.stream.kafka, landing_zone(landing), logs.source.pattern, logs.name)
    _, data, _, _ = build_file(
        "logs", 0, files=1, events=50, seed=3, start="2025-01-01T10:00:00Z", rate=4.0, incidents=True, messy=False
    )
    assert sorted((landing / drained.relpath).read_text().splitlines()) == sorted(data.decode().splitlines())


def test_security_settings_come_from_the_environment_never_the_contract(monkeypatch):
    from dq_platform.contract import KafkaStream

    monkeypatch.setenv("DQ_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DQ_KAFKA_SASL_PASSWORD", "pw-from-default-variable")
    monkeypatch.setenv("ORDERS_KAFKA_PW", "pw-from-contract-variable")
    monkeypatch.setenv("ORDERS_BROKERS", "k1:9092,k2:9092")
    plain = KafkaStream(topic="t")
    named = KafkaStream(
        topic="t", bootstrap_servers_env="ORDERS_BROKERS", security_env={"sasl.password": "ORDERS_KAFKA_PW"}
    )
    assert kafka.security_config(plain) == {
        "security.protocol": "SASL_SSL",
        "sasl.password": "pw-from-default-variable",
    }
    assert kafka.security_config(named)["sasl.password"] == "pw-from-contract-variable"
    assert kafka.bootstrap_servers(named) == "k1:9092,k2:9092"
    monkeypatch.delenv("DQ_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert kafka.bootstrap_servers(plain) is None


def test_shipped_event_contracts_skip_their_stream_until_brokers_are_set(instance, tmp_path, monkeypatch):
    """Files stay the default: without DQ_KAFKA_BOOTSTRAP_SERVERS the stream sensors say what to set."""
    from dq_platform.contract import load_contracts

    monkeypatch.delenv("DQ_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    streams = [c for c in load_contracts(CONTRACTS_DIR) if c.source.stream is not None]
    assert sorted(c.source.stream.kafka.topic for c in streams) == [
        "events.logs",
        "events.metrics",
        "events.transactions",
    ]
    for contract in streams:
        ctx = dg.build_sensor_context(instance=instance, resources={"landing": LandingZoneResource(uri=str(tmp_path))})
        result = build_stream_sensor(contract)(ctx)
        assert isinstance(result, dg.SkipReason)
        assert result.skip_message.startswith("DQ_KAFKA_BOOTSTRAP_SERVERS is not set")
