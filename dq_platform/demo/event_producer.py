"""`dq-platform produce-events`: realistic log, metric and transaction streams as JSON-lines files or Kafka records.

Seed 003's producers publish to Kafka: with `--kafka BOOTSTRAP` every line below is one record of the
topic `events.<stream>` (`produce_kafka`; the events_* contracts drain those topics). Without it they
deliver files into the landing zone (a local folder or an S3 prefix, atomically through
`LandingZone.put`), one time slice of one stream per file:

    events/logs/logs_20250101T100000.jsonl                {"timestamp", "service", "level", "message", "user_id"}
    events/metrics/metrics_20250101T100000.jsonl          {"timestamp", "service", "cpu", "latency_ms"}
    events/transactions/transactions_20250101T100000.jsonl {"timestamp", "transaction_id", "user_id", "amount", ...}

File k of a stream covers [start + k * span, start + (k + 1) * span) with span = events / rate, so
consecutive files continue each other in time. Baseline traffic stays under the shipped anomaly rules
(about 1.5 ERROR logs per service and minute, CPU <= 80%, latency <= 380 ms, amounts <= 5,000) and
incidents are injected on purpose: a burst of 25 ERROR logs of auth-service within 40 s that spans
the first two files, a CPU spike and a slow request, two large transactions. Messy lines (a cut-off
JSON line, a missing field, a bad type, an unknown level, a negative amount, a duplicated
transaction) show quarantine at work. Some log messages quote an email or an IP address, which the
masked layer scrubs.

Generation is vectorized with numpy/pandas and deterministic for a seed: the same options write the
same bytes (hence the same partitions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dq_platform.io.landing_zones import LandingZone, landing_zone

STREAMS = ("logs", "metrics", "transactions")
SERVICES = np.array(
    ["auth-service", "inventory-api", "payment-gateway", "order-service", "search-api", "notification-worker"]
)
BURST_SERVICE, BURST_EVENTS, BURST_SECONDS = "auth-service", 25, 40.0
DEFAULT_START = "2025-01-01T10:00:00Z"

_MESSAGES = {
    "DEBUG": ["cache lookup", "connection pool stats collected", "feature flag evaluated"],
    "INFO": [
        "request completed",
        "user login succeeded",
        "order created",
        "health check ok",
        "password reset link sent to {email}",
        "session started from {ip}",
    ],
    "WARN": ["slow downstream response", "retrying request", "rate limit close for client {ip}"],
    "ERROR": [
        "User login failed",
        "database timeout",
        "payment provider returned 502",
        "could not deliver mail to {email}",
    ],
}
_LEVELS = np.array(["DEBUG", "INFO", "WARN", "ERROR"])
_LEVEL_P = [0.06, 0.78, 0.12, 0.04]
_FIRST = np.array(["jane", "john", "maria", "wei", "aisha", "lars", "fatima", "diego", "yuki", "olga"])
_LAST = np.array(["doe", "smith", "garcia", "chen", "khan", "berg", "ali", "lopez", "sato", "ivanova"])
_DOMAINS = np.array(["mail.com", "example.org", "corp.net", "inbox.eu"])
_MERCHANTS = np.array(
    [
        "Acme Books",
        "Northwind Foods",
        "Globex Travel",
        "Initech Software",
        "Umbrella Pharmacy",
        "Stark Hardware",
        "Wayne Fuel",
        "Soylent Grocers",
    ]
)


@dataclass
class Produced:
    stream: str
    relpath: str
    uri: str
    lines: int
    incidents: list[str] = field(default_factory=list)
    messy: list[str] = field(default_factory=list)


def _iso(times: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC with milliseconds, e.g. 2025-01-01T10:20:30.123Z (numpy's C formatter)."""
    return np.char.add(np.datetime_as_string(np.asarray(times, dtype="datetime64[ms]"), unit="ms"), "Z")


def _emails(rng: np.random.Generator, n: int) -> np.ndarray:
    nums = rng.integers(1, 99, n).astype(str)
    return np.char.add(
        np.char.add(np.char.add(np.char.add(rng.choice(_FIRST, n), "."), rng.choice(_LAST, n)), nums),
        np.char.add("@", rng.choice(_DOMAINS, n)),
    )


def _ips(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.char.add("203.0.113.", rng.integers(1, 255, n).astype(str))


class _Slice:
    """One file of one stream: its time range and its random generator."""

    def __init__(self, stream: str, k: int, files: int, n: int, seed: int, start: pd.Timestamp, rate: float):
        self.stream, self.k, self.files, self.n = stream, k, files, n
        self.rng = np.random.default_rng([seed, STREAMS.index(stream), k])
        self.span = pd.Timedelta(seconds=n / rate)
        self.t0 = start + k * self.span
        self.t1 = self.t0 + self.span
        offsets = np.sort(self.rng.uniform(0, self.span.total_seconds(), n))
        self.times = (self.t0 + pd.to_timedelta(np.round(offsets * 1000), unit="ms")).to_numpy()


def _logs(s: _Slice, incidents: bool, notes: list[str]) -> pd.DataFrame:
    rng, n = s.rng, s.n
    level = rng.choice(_LEVELS, n, p=_LEVEL_P)
    message = np.empty(n, dtype=object)
    for lv in _LEVELS:  # one vectorized draw per level (four levels, not one per event)
        rows = np.flatnonzero(level == lv)
        message[rows] = rng.choice(np.array(_MESSAGES[lv], dtype=object), len(rows))
    msg = pd.Series(message, dtype="string")
    has_email, has_ip = msg.str.contains("{email}", regex=False), msg.str.contains("{ip}", regex=False)
    msg[has_email] = msg[has_email].str.replace("{email}", "", regex=False) + _emails(rng, int(has_email.sum()))
    msg[has_ip] = msg[has_ip].str.replace("{ip}", "", regex=False) + _ips(rng, int(has_ip.sum()))
    user = pd.Series(rng.integers(1000, 99999, n), dtype="Int64").mask(rng.random(n) < 0.25)
    frame = pd.DataFrame(
        {"timestamp": s.times, "service": rng.choice(SERVICES, n), "level": level, "message": msg, "user_id": user}
    )
    if incidents:
        # 25 ERROR logs of one service within 40 s, straddling the boundary of the first two files
        origin = s.t0 - s.k * s.span  # where the stream's first file starts
        first = origin + s.span - pd.Timedelta(seconds=18) if s.files > 1 else origin + s.span / 2
        times = first + pd.to_timedelta(np.linspace(0, BURST_SECONDS, BURST_EVENTS), unit="s")
        mine = times[(times >= s.t0) & (times < s.t1)]
        if len(mine):
            burst = pd.DataFrame(
                {
                    "timestamp": mine.to_numpy(),
                    "service": BURST_SERVICE,
                    "level": "ERROR",
                    "message": "User login failed",
                    "user_id": pd.Series(rng.integers(1000, 99999, len(mine)), dtype="Int64"),
                }
            )
            frame = pd.concat([frame, burst], ignore_index=True).sort_values("timestamp", kind="stable")
            notes.append(
                f"{len(mine)} of a burst of {BURST_EVENTS} ERROR logs of {BURST_SERVICE} within {BURST_SECONDS:.0f} s"
            )
    return frame.reset_index(drop=True)


def _metrics(s: _Slice, incidents: bool, notes: list[str]) -> pd.DataFrame:
    rng, n = s.rng, s.n
    frame = pd.DataFrame(
        {
            "timestamp": s.times,
            "service": rng.choice(SERVICES, n),
            "cpu": np.round(np.clip(rng.normal(42, 12, n), 2, 80), 1),
            "latency_ms": np.round(np.clip(rng.lognormal(np.log(120), 0.45, n), 5, 380), 1),
        }
    )
    if incidents and n >= 10:
        if s.k == 0:  # a CPU spike: three hot samples of one service
            at = rng.choice(n, 3, replace=False)
            frame.loc[at, ["service", "cpu"]] = list(zip(["inventory-api"] * 3, [91.5, 94.2, 97.0]))
            notes.append("CPU spike: 3 samples of inventory-api above 85%")
        if s.k == s.files - 1:  # one slow request
            at = int(rng.integers(0, n))
            frame.loc[at, ["service", "latency_ms"]] = ["payment-gateway", 650.0]
            notes.append("a 650 ms request of payment-gateway")
    return frame


def _transactions(s: _Slice, incidents: bool, notes: list[str], seed: int) -> pd.DataFrame:
    rng, n = s.rng, s.n
    first_id = 10_000_000 + (seed % 100) * 100_000 + s.k * n
    frame = pd.DataFrame(
        {
            "timestamp": s.times,
            "transaction_id": "TX" + pd.Series(np.arange(first_id, first_id + n)).astype(str),
            "user_id": rng.integers(1000, 99999, n),
            "amount": np.round(np.clip(rng.lognormal(np.log(60), 1.0, n), 1, 5000), 2),
            "currency": rng.choice(["USD", "EUR", "GBP"], n, p=[0.6, 0.3, 0.1]),
            "status": rng.choice(["completed", "pending", "failed"], n, p=[0.9, 0.07, 0.03]),
            "merchant": rng.choice(_MERCHANTS, n),
        }
    )
    if incidents and n >= 10 and s.k == s.files - 1:
        at = rng.choice(n, 2, replace=False)
        frame.loc[at, "amount"] = [15250.0, 12400.5]
        notes.append("2 transactions above 10,000")
    return frame


def _messy(lines: list[str], stream: str, rng: np.random.Generator, notes: list[str]) -> list[str]:
    """A few broken lines, at seeded positions; each kind once per file."""
    n = len(lines)
    if n < 10:
        return lines
    at = sorted(rng.choice(np.arange(1, n - 1), 3, replace=False).tolist(), reverse=True)

    def edit(i: int, **change) -> None:
        obj = json.loads(lines[i])
        for k, v in change.items():
            if v is _DROP:
                obj.pop(k, None)
            else:
                obj[k] = v
        lines[i] = json.dumps(obj)

    lines[at[0]] = lines[at[0]][: len(lines[at[0]]) // 2]  # cut off mid-object
    notes.append("a cut-off JSON line")
    if stream == "logs":
        edit(at[1], level="VERBOSE")
        edit(at[2], service=_DROP)
        notes += ["an unknown level", "a log without a service"]
    elif stream == "metrics":
        edit(at[1], cpu="high")
        edit(at[2], latency_ms=_DROP)
        notes += ["cpu 'high' (not a number)", "a sample without latency_ms"]
    else:
        edit(at[1], amount=-42.5)
        lines.insert(at[2] + 1, lines[at[2]])  # the same transaction delivered twice
        notes += ["a negative amount", "a duplicated transaction"]
    return lines


_DROP = object()


def build_file(
    stream: str,
    k: int,
    *,
    files: int,
    events: int,
    seed: int,
    start: str | pd.Timestamp,
    rate: float,
    incidents: bool,
    messy: bool,
) -> tuple[str, bytes, list[str], list[str]]:
    """(relpath, JSON-lines bytes, incident notes, messy notes) of file k of a stream."""
    start_ts = pd.Timestamp(start)
    start_ts = start_ts.tz_convert(None) if start_ts.tzinfo else start_ts
    s = _Slice(stream, k, files, events, seed, start_ts, rate)
    notes: list[str] = []
    if stream == "logs":
        frame = _logs(s, incidents, notes)
    elif stream == "metrics":
        frame = _metrics(s, incidents, notes)
    else:
        frame = _transactions(s, incidents, notes, seed)
    frame["timestamp"] = _iso(frame["timestamp"].to_numpy())
    text = frame.to_json(orient="records", lines=True, force_ascii=False)
    lines = text.rstrip("\n").split("\n")
    mess: list[str] = []
    if messy:
        lines = _messy(lines, stream, s.rng, mess)
    relpath = f"events/{stream}/{stream}_{s.t0.strftime('%Y%m%dT%H%M%S')}.jsonl"
    return relpath, ("\n".join(lines) + "\n").encode("utf-8"), notes, mess


def _slices(streams, files: int, events: int, rate: float, **kw):
    """(stream, relpath, JSON-lines bytes, notes, mess) of each of `files` slices per stream, in the
    order both `produce` (landing files) and `produce_kafka` (topics) deliver them."""
    if files < 1 or events < 1 or rate <= 0:
        raise ValueError("files and events_per_file must be at least 1, rate above 0")
    unknown = [s for s in streams if s not in STREAMS]
    if unknown:
        raise ValueError(f"unknown stream(s) {', '.join(unknown)}: choose from {', '.join(STREAMS)}")
    # checked now, not on the first slice: nothing is written or sent for a bad request
    return (
        (stream, *build_file(stream, k, files=files, events=events, rate=rate, **kw))
        for stream in streams
        for k in range(files)
    )


def produce(
    zone: LandingZone | str,
    *,
    files: int = 3,
    events_per_file: int = 1000,
    seed: int = 7,
    start: str = DEFAULT_START,
    rate: float = 4.0,
    streams=STREAMS,
    incidents: bool = True,
    messy: bool = True,
) -> list[Produced]:
    """Write `files` files per stream into the landing zone; returns what was written, in time order."""
    slices = _slices(streams, files, events_per_file, rate, seed=seed, start=start, incidents=incidents, messy=messy)
    zone = landing_zone(zone) if isinstance(zone, (str, Path)) else zone
    out = []
    for stream, rel, data, notes, mess in slices:
        uri = zone.put(rel, data)
        out.append(Produced(stream, rel, uri, data.count(b"\n"), notes, mess))
    return out


TOPICS = {stream: f"events.{stream}" for stream in STREAMS}  # the topics the events_* contracts drain


def produce_kafka(
    bootstrap: str,
    *,
    files: int = 3,
    events_per_file: int = 1000,
    seed: int = 7,
    start: str = DEFAULT_START,
    rate: float = 4.0,
    streams=STREAMS,
    incidents: bool = True,
    messy: bool = True,
    topics: dict[str, str] | None = None,
) -> list[Produced]:
    """The same slices as `produce`, each line sent as one record to its stream's topic, keyed by
    service where the stream has one (a service's events stay in order on one partition)."""
    from dq_platform.io.kafka import produce as send

    topics = {**TOPICS, **(topics or {})}
    out = []
    slices = _slices(streams, files, events_per_file, rate, seed=seed, start=start, incidents=incidents, messy=messy)
    for stream, _, data, notes, mess in slices:
        text = pd.Series(data.decode("utf-8").rstrip("\n").split("\n"), dtype="string")
        lines = text.str.encode("utf-8").tolist()
        keys = None
        if stream != "transactions":
            service = text.str.extract(r'"service":"([a-z0-9-]+)"', expand=False).fillna("")
            keys = service.str.encode("utf-8").tolist()
        send(bootstrap, topics[stream], lines, keys=keys)
        out.append(
            Produced(
                stream, f"kafka:{topics[stream]}", f"kafka://{bootstrap}/{topics[stream]}", len(lines), notes, mess
            )
        )
    return out


def demo_files(landing_dir: str | Path, contracts) -> dict[str, list[Path]]:
    """The demo's event files (2 files per stream, a burst across them), by the contract that reads them."""
    from dq_platform.defs.partitions import match_contract

    produced = produce(str(landing_dir), files=2, events_per_file=600, seed=7)
    out: dict[str, list[Path]] = {}
    for p in produced:
        path = Path(landing_dir) / p.relpath
        contract = match_contract(path, contracts, landing_dir)
        if contract is not None:
            out.setdefault(contract.name, []).append(path)
    return out


def demo_kafka_files(bootstrap: str, landing_dir: str | Path, contracts) -> dict[str, list[Path]]:
    """The demo's events through Kafka: the same streams produced to their topics, then drained by each
    stream contract into landing files (io/kafka.py), by the contract that reads them."""
    import os

    from dq_platform.io import kafka

    os.environ["DQ_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap  # the contracts' streams name no brokers of their own
    produce_kafka(bootstrap, files=2, events_per_file=600, seed=7)
    zone = landing_zone(str(landing_dir))
    out: dict[str, list[Path]] = {}
    for c in contracts:
        if c.source.stream is None or c.source.stream.kafka.topic not in TOPICS.values():
            continue
        while (drained := kafka.drain(c.source.stream.kafka, zone, c.source.pattern, c.name)).batch is not None:
            out.setdefault(c.name, []).append(Path(landing_dir) / drained.relpath)
    return out


def main(args) -> int:
    """The CLI's entry (cli/pipeline.py adds the options)."""
    from dq_platform import settings

    options = dict(
        files=args.files,
        events_per_file=args.events_per_file,
        seed=args.seed,
        start=args.start,
        rate=args.rate,
        streams=tuple(args.streams.split(",")),
        incidents=not args.no_incidents,
        messy=not args.clean,
    )
    if getattr(args, "kafka", None):
        produced = produce_kafka(args.kafka, **options)
    else:
        produced = produce(args.landing or settings.landing_uri(), **options)
    for p in produced:
        extra = "; ".join(p.incidents + p.messy)
        print(f"{p.uri}  {p.lines} lines" + (f"  ({extra})" if extra else ""))
    return 0
