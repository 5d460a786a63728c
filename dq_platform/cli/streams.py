"""`dq-platform stream drain|replay|where`: Kafka streams landed as files (io/kafka.py, defs/streams.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from dq_platform import names, settings
from dq_platform.contract import load_contracts


def _stream_contract(dataset: str):
    streams = {c.name: c for c in load_contracts(settings.contracts_dir()) if c.source.stream is not None}
    contract = streams.get(dataset)
    if contract is None:
        print(
            f"dq-platform: '{dataset}' has no source.stream; stream datasets are: {', '.join(sorted(streams)) or 'none'}",
            file=sys.stderr,
        )
    return contract


def _drain(args) -> int:
    from dq_platform.io import kafka
    from dq_platform.io.landing_zones import landing_zone

    contract = _stream_contract(args.dataset)
    if contract is None:
        return 2
    zone = landing_zone(settings.landing_uri())
    try:
        drained = kafka.drain(contract.source.stream.kafka, zone, contract.source.pattern, contract.name)
    except kafka.KafkaStreamError as e:
        print(f"dq-platform stream drain: {e}", file=sys.stderr)
        return 1
    if drained.batch is None:
        print(f"{contract.name}: topic '{drained.topic}': no new records")
        return 0
    print(
        f"{contract.name}: landed {drained.batch.records} records ({drained.batch.offsets_text()}) "
        f"as {drained.uri} in {drained.seconds:.2f} s; offsets committed"
    )
    if not args.ingest:
        print(f"{names.landing_sensor(contract.name)} picks it up")
        return 0
    if not drained.uri.startswith("file://"):
        print(f"--ingest needs a local landing zone; {names.landing_sensor(contract.name)} picks up {drained.uri}")
        return 0
    from urllib.request import url2pathname

    from dq_platform.cli.pipeline import _ingest

    return _ingest(
        argparse.Namespace(
            paths=[url2pathname(drained.uri.removeprefix("file://"))], dataset=contract.name, force=False
        )
    )


def _replay(args) -> int:
    from dq_platform.io import kafka
    from dq_platform.io.landing_zones import landing_zone

    contract = _stream_contract(args.dataset)
    if contract is None:
        return 2
    since = None
    if args.from_time is not None:
        try:
            since = dt.datetime.fromisoformat(args.from_time.replace("Z", "+00:00"))
        except ValueError:
            print(f"dq-platform stream replay: --from-time '{args.from_time}' is not an ISO 8601 time", file=sys.stderr)
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    zone = landing_zone(args.landing or settings.landing_uri())
    try:
        files = kafka.replay(
            contract.source.stream.kafka,
            zone,
            contract.source.pattern,
            from_offset=args.from_offset,
            from_time=since,
            partition=args.partition,
            max_seconds=args.max_seconds,
        )
    except (kafka.KafkaStreamError, ValueError) as e:
        print(f"dq-platform stream replay: {e}", file=sys.stderr)
        return 1
    for relpath, batch in files:
        print(f"{zone.uri(relpath)}  {batch.records} records ({batch.offsets_text()})")
    print(
        f"{contract.name}: {len(files)} replay file(s), {sum(b.records for _, b in files)} records; "
        f"consumer group untouched; {names.landing_sensor(contract.name)} runs them"
    )
    return 0


def _where(args) -> int:
    from dq_platform.io.kafka import record_position

    try:
        topic, partition, offset = record_position(args.file, args.line)
    except ValueError as e:
        print(f"dq-platform stream where: {e}", file=sys.stderr)
        return 2
    print(f"topic {topic} partition {partition} offset {offset}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    s = sub.add_parser("stream", help="Kafka streams: drain a batch now, replay a range, locate a record")
    ssub = s.add_subparsers(dest="stream_command", required=True)

    d = ssub.add_parser("drain", help="drain one batch of a stream dataset into the landing zone and commit")
    d.add_argument("dataset")
    d.add_argument(
        "--ingest", action="store_true", help="process the landed file now instead of waiting for the sensor"
    )
    d.set_defaults(func=_drain)

    r = ssub.add_parser(
        "replay", help="re-land a range of a stream into new files tagged as a replay (consumer group untouched)"
    )
    r.add_argument("dataset")
    start = r.add_mutually_exclusive_group(required=True)
    start.add_argument("--from-offset", type=int, help="first offset (every partition, or --partition)")
    start.add_argument("--from-time", help="first record at or after this time (ISO 8601, UTC if no zone)")
    r.add_argument("--partition", type=int, help="only this partition")
    r.add_argument("--max-seconds", type=float, default=60.0, help="longest the replay reads (default 60)")
    r.add_argument("--landing", help="landing zone folder or s3:// URI (default: DQ_LANDING_URI / ./landing)")
    r.set_defaults(func=_replay)

    w = ssub.add_parser("where", help="topic, partition and offset of line LINE of a stream batch file")
    w.add_argument("file", help="the batch file's name (as in quarantine's source file)")
    w.add_argument("line", type=int)
    w.set_defaults(func=_where)
