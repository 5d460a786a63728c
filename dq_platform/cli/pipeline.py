"""`dq-platform demo|ingest|extract|produce-events`: commands that run the pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dq_platform import names, settings
from dq_platform.contract import ContractError, load_contract_folder


def _demo(args) -> int:
    from dq_platform.demo.run import run_demo
    from dq_platform.io.kafka import KafkaStreamError

    try:
        run_demo(rows=args.rows, kafka=args.kafka)
    except ContractError as e:
        print(f"INVALID contract(s):\n{e}", file=sys.stderr)
        return 1
    except KafkaStreamError as e:
        print(f"dq-platform demo: {e}", file=sys.stderr)
        return 1
    return 0


def _ingest(args) -> int:

    from dq_platform.defs.partitions import match_contract, register, registered_content
    from dq_platform.defs.run_state import file_state, mark_dead_run_failed
    from dq_platform.io import landing
    from dq_platform.ops.ingest_files import FileJob, run_jobs, warm_up
    from dq_platform.ops.instance import open_instance

    settings.ensure_dagster_home()
    contracts_dir = settings.contracts_dir()
    folder = load_contract_folder(contracts_dir)  # a broken contract disables its own dataset only
    contracts = folder.contracts
    by_name = {c.name: c for c in contracts}
    for name, error in sorted(folder.broken.items()):
        first = error.splitlines()[0]
        print(f"WARNING: contract '{name}' does not load, its files are not ingested: {first}", file=sys.stderr)
    warehouse = settings.warehouse_uri()
    files: list[Path] = []
    for p in map(Path, args.paths):
        files += sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    warm_up([f.stat().st_size for f in files if f.is_file()])
    failures = 0
    jobs = []
    planned: dict[str, Path] = {}  # content -> the file of this ingest that brings it
    with open_instance() as instance:
        for f in files:
            contract = (
                by_name.get(args.dataset) if args.dataset else match_contract(f, contracts, settings.landing_uri())
            )
            if contract is None:
                if args.dataset in folder.broken:
                    print(f"skip {f}: contract '{args.dataset}' does not load (dq-platform contracts validate)")
                    failures += 1
                else:
                    print(f"skip {f}: no contract's source pattern matches it (use --dataset)")
                continue
            known = registered_content(instance, contract)
            described = landing.describe(contract.name, f)
            sha16 = described.content_id
            if sha16 in planned:
                print(f"skip {f}: same content as {planned[sha16]}, processed in this ingest")
                continue
            planned[sha16] = f
            if sha16 in known and not args.force:
                last = file_state(instance, contract.name, known[sha16])
                if last.state in ("done", "canceled"):
                    print(
                        f"skip {f}: same content as partition '{known[sha16]}', already processed by run "
                        f"{last.run.run_id} ({last.run.status.value}; --force reprocesses)"
                    )
                    continue
                if last.state == "running":
                    print(
                        f"skip {f}: partition '{known[sha16]}' is being processed by run {last.run.run_id} "
                        f"({last.run.status.value}); a run whose process died is marked failed by run monitoring, "
                        "then ingest again"
                    )
                    continue
                if last.state == "crashed" and last.ended is None:
                    mark_dead_run_failed(instance, last.run, last.reason)
                print(
                    f"{f}: partition '{known[sha16]}' was registered but "
                    + (
                        "never run"
                        if last.state == "none"
                        else f"its run {last.run.run_id} did not finish ({last.reason})"
                    )
                    + ": processing it again"
                )
            source = register(instance, contract, f, warehouse, source=described)
            tags = {
                names.TRIGGER_TAG: "cli",
                **({names.AUTO_APPROVE_TAG: "true"} if getattr(args, "no_review", False) else {}),
            }
            jobs.append(FileJob(contract, source, tags, str(contracts_dir), warehouse))
        for job, outcome in run_jobs(instance, jobs):  # small files on every core (ops/ingest_files.py)
            key = job.source.partition_key
            if isinstance(outcome, Exception):  # the run's machinery failed or its worker died
                print(f"{job.contract.name}: {key} FAILURE ({outcome})")
                failures += 1
                continue
            state = "SUCCESS" if outcome.success else f"FAILURE ({outcome.error})"
            if outcome.held:
                state += " - HELD for human review: dq-platform review list"
            print(f"{job.contract.name}: {key} run {outcome.run_id} {state} rows {outcome.rows}")
            for warning in outcome.warnings:  # e.g. an empty file: said, not a silent success
                print(f"  WARN {warning}")
            failures += not outcome.success
    return 1 if failures else 0


def _extract(args) -> int:

    from dq_platform.defs.extract import is_pull_source, run_extract
    from dq_platform.ops.instance import open_instance

    settings.ensure_dagster_home()
    pulls = {c.name: c for c in load_contract_folder(settings.contracts_dir()).contracts if is_pull_source(c)}
    contract = pulls.get(args.dataset)
    if contract is None:
        print(
            f"dq-platform: '{args.dataset}' is not a pull-source (http/sql) contract; those are: "
            f"{', '.join(sorted(pulls)) or 'none'}",
            file=sys.stderr,
        )
        return 2
    with open_instance() as instance:
        out = run_extract(
            instance, contract, settings.landing_uri(), full_refresh=args.full_refresh, tags={names.TRIGGER_TAG: "cli"}
        )
    if not out.success:
        print(f"{contract.name}: extract run {out.run_id} FAILURE: {out.error}", file=sys.stderr)
        return 1
    window = (
        f", watermark {out.tags.get(names.WATERMARK_FROM_TAG, 'start')} -> {out.tags[names.WATERMARK_TO_TAG]}"
        if names.WATERMARK_TO_TAG in out.tags
        else ""
    )
    print(
        f"{contract.name}: extract run {out.run_id} SUCCESS: {out.rows} rows{window}; "
        + (f"delivered {out.uri}" if out.uri else "nothing new, no file")
    )
    if out.uri and args.ingest:
        if not out.uri.startswith("file://"):
            print(f"--ingest needs a local landing zone; {contract.name}_landing_sensor picks up {out.uri}")
            return 0
        from urllib.request import url2pathname

        return _ingest(
            argparse.Namespace(
                paths=[url2pathname(out.uri.removeprefix("file://"))], dataset=contract.name, force=False
            )
        )
    return 0


def _produce_events(args) -> int:
    from dq_platform.demo.event_producer import main as produce_events
    from dq_platform.io.kafka import KafkaStreamError

    try:
        return produce_events(args)
    except (ValueError, KafkaStreamError) as e:
        print(f"dq-platform produce-events: {e}", file=sys.stderr)
        return 2


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    d = sub.add_parser("demo", help="generate messy sample data and materialize every dataset")
    d.add_argument("--rows", type=int, default=2000, help="rows per sample file (default 2000)")
    d.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="send the event streams through these brokers (host:port) and drain them, instead of files",
    )
    d.set_defaults(func=_demo)

    i = sub.add_parser(
        "ingest",
        help="register files (or folders) as partitions and process them now (small files on every core, DQ_WORKERS)",
    )
    i.add_argument("paths", nargs="+")
    i.add_argument("--dataset", help="contract name, when the file name does not match its pattern")
    i.add_argument("--force", action="store_true", help="process files whose content is already registered")
    i.add_argument(
        "--no-review",
        action="store_true",
        help="publish files above the review threshold without waiting for a reviewer (the original pipeline's --no-review)",
    )
    i.set_defaults(func=_ingest)

    x = sub.add_parser("extract", help="run a pull source's extract job now (API/SQL -> landing zone)")
    x.add_argument("dataset", help="an http or sql contract, e.g. crypto_markets")
    x.add_argument("--full-refresh", action="store_true", help="incremental SQL: ignore the watermark, read every row")
    x.add_argument(
        "--ingest", action="store_true", help="process the delivered file now instead of waiting for the sensor"
    )
    x.set_defaults(func=_extract)

    pe = sub.add_parser(
        "produce-events",
        help="write realistic log/metric/transaction JSON-lines files into the landing zone (or Kafka topics)",
    )
    pe.add_argument("--files", type=int, default=3, help="files per stream, consecutive in time (default 3)")
    pe.add_argument("--events-per-file", type=int, default=1000, help="events per file (default 1000)")
    pe.add_argument("--seed", type=int, default=7, help="same seed, same bytes (default 7)")
    pe.add_argument("--start", default="2025-01-01T10:00:00Z", help="time of the first event (ISO 8601, UTC)")
    pe.add_argument("--rate", type=float, default=4.0, help="events per second; a file spans events/rate seconds")
    pe.add_argument("--streams", default="logs,metrics,transactions", help="comma-separated subset of the streams")
    pe.add_argument("--no-incidents", action="store_true", help="no error burst, CPU spike or large transaction")
    pe.add_argument("--clean", action="store_true", help="no malformed, incomplete or duplicated lines")
    pe.add_argument("--landing", help="landing zone folder or s3:// URI (default: DQ_LANDING_URI / ./landing)")
    pe.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="send each line as a record to the topics events.logs|metrics|transactions on these brokers "
        "(host:port) instead of writing files",
    )
    pe.set_defaults(func=_produce_events)
