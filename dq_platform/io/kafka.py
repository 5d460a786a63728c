"""Kafka topics as landing files: drain a bounded micro-batch, land it as ONE immutable file, then commit.

A batch's file is named by what it holds, `<topic>~p<partition>o<first>-<last>~p...` (gaps in a
partition's offsets add `_<first>-<last>` segments), put where the contract's pattern has its `*`:

    events/logs/events.logs~p0o0-4999~p1o0-5012.jsonl

so line k of the file is exactly one record, in (partition, offset) order, and `record_position`
turns a quarantined row's source line back into topic, partition and offset. From the landing zone on,
the file is an ordinary delivery: checksum, archive, pipeline, audit, review and replays unchanged.

Delivery: the file is written (atomically) before the consumer group's offsets are committed, so a
crash in between re-reads the batch. Landing is made idempotent by the names: before reading, the
drain lists the files already landed for the topic and starts each partition after the highest
offset landed, even when the group's commit says less, so a re-delivered range is recognized, not
landed again (and the commit catches up). Exactly-once into the tables then follows from the file
path's own rules (same bytes, same partition key: processed once; `unique: dataset` keys).

Consumers are assigned their partitions (no group join): a sensor tick is the only reader of a
stream's group, joins cost seconds, and commits with an assignment still land in the group.
Reading messages is a Python loop per record because that is confluent-kafka's API (one Message
object each); everything after the file is written is the vectorized file path.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
import time
import uuid
from dataclasses import dataclass, field

from dq_platform import settings
from dq_platform.contract.sources import KAFKA_SECURITY_PROPERTIES, KafkaStream
from dq_platform.io.landing_zones import LandingZone

SEP = "~"
_PART_RE = re.compile(r"p(\d+)o(\d+-\d+(?:_\d+-\d+)*)")
_NAME_RE = re.compile(
    r"^(?P<topic>[A-Za-z0-9._-]+)(?:~replay(?P<replay>\d{8}T\d{6}Z(?:_\d+)?))?(?P<parts>(?:~p\d+o\d+-\d+(?:_\d+-\d+)*)+)$"
)
FIRST_LINE = 1


class KafkaStreamError(RuntimeError):
    """The broker refused or could not be reached; the message names the topic, never a credential."""


@dataclass(frozen=True)
class BatchName:
    """What a landing file's name says: its topic, replay stamp and per-partition offset segments."""

    topic: str
    ranges: dict[int, list[tuple[int, int]]]  # partition -> [(first, last)] inclusive, ascending
    replay: str | None = None

    @property
    def next_offsets(self) -> dict[int, int]:
        return {p: segs[-1][1] + 1 for p, segs in self.ranges.items()}

    @property
    def records(self) -> int:
        return sum(b - a + 1 for segs in self.ranges.values() for a, b in segs)

    def offsets_text(self) -> str:
        """p0:0-99,p1:0-120 (the run tag and the audit's view)."""
        return ",".join(f"p{p}:" + "_".join(f"{a}-{b}" for a, b in segs) for p, segs in sorted(self.ranges.items()))

    def stem(self) -> str:
        parts = "".join(
            f"{SEP}p{p}o" + "_".join(f"{a}-{b}" for a, b in segs) for p, segs in sorted(self.ranges.items())
        )
        return self.topic + (f"{SEP}replay{self.replay}" if self.replay else "") + parts


def parse_stem(stem: str) -> BatchName | None:
    m = _NAME_RE.match(stem)
    if not m:
        return None
    ranges = {}
    for p, segs in _PART_RE.findall(m["parts"]):
        ranges[int(p)] = [tuple(int(x) for x in s.split("-")) for s in segs.split("_")]
    return BatchName(topic=m["topic"], ranges=ranges, replay=m["replay"])


def parse_file_name(name: str) -> BatchName | None:
    """The batch a landing file's name describes (any extension), or None for any other file."""
    base = name.rsplit("/", 1)[-1]
    return parse_stem(base.split(".jsonl")[0] if base.endswith(".jsonl") else base.rsplit(".", 1)[0])


def record_position(file_name: str, line: int) -> tuple[str, int, int]:
    """(topic, partition, offset) of line `line` (1-based) of a batch file: where a quarantined row came from."""
    batch = parse_file_name(file_name)
    if batch is None:
        raise ValueError(f"'{file_name}' is not a Kafka batch file name (<topic>~p<partition>o<first>-<last>...)")
    k = line - FIRST_LINE
    for p, segs in sorted(batch.ranges.items()):
        for a, b in segs:
            if k <= b - a:
                return batch.topic, p, a + k
            k -= b - a + 1
    raise ValueError(f"line {line} is past the {batch.records} records of '{file_name}'")


def batch_relpath(pattern: str, batch: BatchName) -> str:
    return pattern.replace("*", batch.stem(), 1)


def _stem_of(relpath: str, pattern: str) -> str | None:
    if not fnmatch.fnmatch(relpath, pattern):
        return None
    head, tail = pattern.split("*", 1)
    return relpath[len(head) : len(relpath) - len(tail) if tail else None]


def landed_batches(zone: LandingZone, pattern: str, topic: str) -> list[tuple[str, BatchName]]:
    """(relpath, batch) of every file of `topic` in the landing zone, replays included."""
    out = []
    for f in zone.list(pattern):
        stem = _stem_of(f.relpath, pattern)
        batch = parse_stem(stem) if stem else None
        if batch is not None and batch.topic == topic:
            out.append((f.relpath, batch))
    return out


def landed_offsets(zone: LandingZone, pattern: str, topic: str) -> dict[int, int]:
    """partition -> the offset after the highest one landed by a drain (replays do not count)."""
    out: dict[int, int] = {}
    for _, batch in landed_batches(zone, pattern, topic):
        if batch.replay is None:
            for p, nxt in batch.next_offsets.items():
                out[p] = max(out.get(p, 0), nxt)
    return out


# -- clients ----------------------------------------------------------------------------------------


def bootstrap_servers(stream: KafkaStream) -> str | None:
    """The brokers: the contract's variable, else its literal, else DQ_KAFKA_BOOTSTRAP_SERVERS (None: unset)."""
    if stream.bootstrap_servers_env and os.environ.get(stream.bootstrap_servers_env, "").strip():
        return os.environ[stream.bootstrap_servers_env].strip()
    return stream.bootstrap_servers or settings.get("DQ_KAFKA_BOOTSTRAP_SERVERS")


def security_config(stream: KafkaStream | None = None) -> dict[str, str]:
    """librdkafka security properties from the environment: the contract's variable per property, else DQ_KAFKA_<PROP>."""
    out = {}
    for prop in KAFKA_SECURITY_PROPERTIES:
        name = (stream.security_env.get(prop) if stream else None) or f"DQ_KAFKA_{prop.upper().replace('.', '_')}"
        value = os.environ.get(name, "").strip() if name not in settings.VARIABLES else settings.get(name)
        if value:
            out[prop] = value
    return out


def group_id(stream: KafkaStream, dataset: str) -> str:
    return stream.group_id or f"dq-platform.{dataset}"


def _commit(bootstrap: str, stream: KafkaStream, group: str, offsets: dict[int, int], timeout: float) -> None:
    """Store the group's offsets through the admin API: it answers within `timeout`, where a consumer's
    commit to a broker that went away blocks its close for ~40 s (librdkafka waits for the request).

    The admin client is destroyed before any error leaves: one kept alive after a timed-out request
    (by the error's traceback, say) aborts the whole process when the broker answers again
    (librdkafka #4605, `rd_kafka_enq_once_del_source_return` assertion; test_streams reproduces it).
    """
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, **security_config(stream)}, logger=_QUIET)
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(stream.topic, p, o) for p, o in offsets.items()])
    failed: str | None = None
    try:
        for future in admin.alter_consumer_group_offsets([request], request_timeout=timeout).values():
            answer = future.result(timeout=timeout + 1)
            error = next((tp.error for tp in answer.topic_partitions if tp.error is not None), None)
            if error is not None:
                failed = error.name()
    except KafkaException as e:
        failed = e.args[0].name()
    except TimeoutError:
        failed = f"no answer within {timeout:g} s"
    finally:
        del admin  # the only reference: the handle and its threads end here, not at a later collection
    if failed is not None:
        raise KafkaStreamError(f"topic '{stream.topic}': commit failed ({failed})")


def _consumer(bootstrap: str, group: str, stream: KafkaStream | None):
    """A consumer that only reads: offsets are committed by `_commit`."""
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
            "socket.connection.setup.timeout.ms": 5000,
            "socket.timeout.ms": 10000,  # a request to a broker that went away fails within a tick
            **security_config(stream),
        },
        logger=_QUIET,
    )


class _Quiet:
    """librdkafka's log lines (connection refused, retries) stay out of the console; errors surface as ours."""

    def log(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return self.log


_QUIET = _Quiet()


def _partitions(consumer, topic: str, timeout: float) -> list[int]:
    from confluent_kafka import KafkaException

    try:
        meta = consumer.list_topics(topic, timeout=timeout)
    except KafkaException as e:
        raise KafkaStreamError(f"topic '{topic}': brokers not reachable ({e.args[0].name()})") from None
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise KafkaStreamError(f"topic '{topic}' does not exist on the brokers (or has no partitions)")
    return sorted(info.partitions)


def _segments(offsets: list[int]) -> list[tuple[int, int]]:
    segs: list[list[int]] = []
    for o in offsets:
        if segs and o == segs[-1][1] + 1:
            segs[-1][1] = o
        else:
            segs.append([o, o])
    return [(a, b) for a, b in segs]


def _line(value: bytes | None) -> bytes:
    # one record, one line: a JSON document's newlines can only be whitespace between tokens
    if value is None:
        return b"null"
    return value.replace(b"\r", b" ").replace(b"\n", b" ")


def _read(consumer, topic: str, start: dict[int, int], max_records: int, max_seconds: float, since_ms: int = 0):
    """Records from `start` until every partition is at its end, max_records or max_seconds.

    `since_ms`: records with an earlier timestamp are skipped (a replay --from-time; some brokers, tansu
    among them, answer a time after the last record with offset 0 instead of the end)."""
    from confluent_kafka import KafkaError, TopicPartition

    consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in start}
    done: set[int] = set()
    deadline, n = time.monotonic() + max_seconds, 0
    while n < max_records and len(done) < len(start):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for m in consumer.consume(min(max_records - n, 5000), timeout=min(0.25, left)):
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                elif err.fatal():
                    raise KafkaStreamError(f"topic '{topic}': {err.name()}")
                continue  # transient (a broker restarting): librdkafka reconnects and resumes
            if n < max_records and m.timestamp()[1] >= since_ms:
                got[m.partition()].append((m.offset(), _line(m.value())))
                n += 1
    return got


def _write(zone: LandingZone, pattern: str, topic: str, got, replay: str | None):
    ranges = {p: _segments([o for o, _ in recs]) for p, recs in sorted(got.items()) if recs}
    if not ranges:
        return None, None
    batch = BatchName(topic=topic, ranges=ranges, replay=replay)
    relpath = batch_relpath(pattern, batch)
    data = b"\n".join(v for p in sorted(got) for _, v in got[p]) + b"\n"
    uri = zone.uri(relpath) if zone.exists(relpath) else zone.put(relpath, data)  # the same range: landed once
    return batch, (relpath, uri)


@dataclass
class Drained:
    """What one drain did: the batch it landed (if any) and the offsets it committed."""

    topic: str
    batch: BatchName | None = None
    relpath: str | None = None
    uri: str | None = None
    committed: dict[int, int] = field(default_factory=dict)  # partition -> next offset, as committed now
    recovered: dict[int, int] = field(default_factory=dict)  # partitions whose landed files were ahead of the group
    seconds: float = 0.0


def drain(
    stream: KafkaStream,
    zone: LandingZone,
    pattern: str,
    dataset: str,
    *,
    on_landed=None,
    timeout: float = 10.0,
) -> Drained:
    """Read one bounded batch after what the group committed and what is already landed; land it; commit.

    `on_landed(drained)`: called between landing and committing (tests crash the process there).
    """
    from confluent_kafka import KafkaException, TopicPartition

    bootstrap = bootstrap_servers(stream)
    if not bootstrap:
        raise KafkaStreamError(f"topic '{stream.topic}': no brokers configured (DQ_KAFKA_BOOTSTRAP_SERVERS)")
    started = time.perf_counter()
    topic = stream.topic
    group = group_id(stream, dataset)
    consumer = _consumer(bootstrap, group, stream)
    try:
        parts = _partitions(consumer, topic, timeout)
        try:
            committed = {
                tp.partition: tp.offset
                for tp in consumer.committed([TopicPartition(topic, p) for p in parts], timeout=timeout)
            }
        except KafkaException as e:
            raise KafkaStreamError(f"topic '{topic}': committed offsets unreadable ({e.args[0].name()})") from None
        landed = landed_offsets(zone, pattern, topic)
        start, out = {}, Drained(topic=topic)
        for p in parts:
            group_at = committed.get(p, -1)
            if landed.get(p, -1) > max(group_at, 0):
                out.recovered[p] = landed[p]
            start[p] = max(group_at, landed.get(p, 0), 0)
        got = _read(consumer, topic, start, stream.max_records, stream.max_seconds)
    finally:
        consumer.close()
    out.batch, where = _write(zone, pattern, topic, got, None)
    if where:
        out.relpath, out.uri = where
    if on_landed is not None:
        on_landed(out)
    nxt = {p: start[p] for p in parts if start[p] > committed.get(p, -1)}  # catch the group up
    if out.batch is not None:
        nxt.update(out.batch.next_offsets)
    if nxt:  # landed, not committed (an error or a crash): the next drain recognizes the file
        _commit(bootstrap, stream, group, nxt, timeout)
    out.committed = nxt
    out.seconds = time.perf_counter() - started
    return out


def replay(
    stream: KafkaStream,
    zone: LandingZone,
    pattern: str,
    *,
    from_offset: int | None = None,
    from_time: dt.datetime | None = None,
    partition: int | None = None,
    max_seconds: float = 30.0,
    timeout: float = 10.0,
) -> list[tuple[str, BatchName]]:
    """Re-land the topic from an offset or a time up to its current end into new files named as replays.

    Reads with a throw-away group id and never commits, so the stream's consumer group is untouched.
    Files hold at most `stream.max_records` records each.
    """
    from confluent_kafka import TopicPartition

    if (from_offset is None) == (from_time is None):
        raise ValueError("give exactly one of from_offset or from_time")
    bootstrap = bootstrap_servers(stream)
    if not bootstrap:
        raise KafkaStreamError(f"topic '{stream.topic}': no brokers configured (DQ_KAFKA_BOOTSTRAP_SERVERS)")
    topic = stream.topic
    consumer = _consumer(bootstrap, f"dq-platform.replay.{uuid.uuid4().hex}", stream)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        parts = _partitions(consumer, topic, timeout)
        if partition is not None:
            if partition not in parts:
                raise ValueError(f"topic '{topic}' has no partition {partition} (partitions {parts})")
            parts = [partition]
        ms = 0
        if from_time is not None:
            ms = int(from_time.timestamp() * 1000)
            found = consumer.offsets_for_times([TopicPartition(topic, p, ms) for p in parts], timeout=timeout)
            start = {tp.partition: tp.offset for tp in found if tp.offset >= 0}
        else:
            start = {p: from_offset for p in parts}
        out, deadline, n = [], time.monotonic() + max_seconds, 0
        while start and time.monotonic() < deadline:
            got = _read(consumer, topic, start, stream.max_records, deadline - time.monotonic(), ms)
            n += 1
            batch, where = _write(zone, pattern, topic, got, stamp if n == 1 else f"{stamp}_{n}")
            if batch is None:
                break
            out.append((where[0], batch))
            start = {**start, **batch.next_offsets}
            if batch.records < stream.max_records:  # every partition reached its end
                break
        return out
    finally:
        consumer.close()


def produce(bootstrap: str, topic: str, lines: list[bytes], *, keys: list[bytes] | None = None, timeout=30.0) -> int:
    """Send one record per line to `topic` and wait until the brokers acknowledged all of them."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **security_config()}, logger=_QUIET)
    failed: list[str] = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(err.name())

    for i, line in enumerate(lines):
        while True:
            try:
                producer.produce(topic, value=line, key=keys[i] if keys else None, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
    left = producer.flush(timeout)
    if left or failed:
        raise KafkaStreamError(
            f"topic '{topic}': {left + len(failed)} of {len(lines)} records not acknowledged"
            + (f" ({failed[0]})" if failed else "")
        )
    return len(lines)
