"""`dq-platform`: the command line. Every command works on the same persistent instance."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dq_platform import names, settings
from dq_platform.contract import ContractError, load_contracts


def _contracts_validate(args) -> int:
    target = Path(args.path) if args.path else settings.contracts_dir()
    try:
        contracts = load_contracts(target)
    except ContractError as e:
        print(f"INVALID contract(s):\n{e}", file=sys.stderr)
        return 1
    for c in contracts:
        pii = ", ".join(f"{x.name}:{x.pii.masking.value}" for x in c.pii_columns) or "-"
        modeling = (f"; {c.model.kind} {c.model.name}" if c.model else "") + (
            f"; {len(c.semantic.metrics)} semantic metrics" if c.semantic else ""
        )
        print(
            f"ok  {c.name:<24} {len(c.columns)} columns, {len(c.rules)} expression rules, "
            f"{len(c.aggregations)} aggregations"
            + (f", {len(c.anomalies)} anomaly rules" if c.anomalies else "")
            + f"; PII {pii}{modeling}"
        )
    return 0


def _demo(args) -> int:
    from dq_platform.demo.run import run_demo

    try:
        run_demo(rows=args.rows)
    except ContractError as e:
        print(f"INVALID contract(s):\n{e}", file=sys.stderr)
        return 1
    return 0


def _ingest(args) -> int:
    import dagster as dg

    from dq_platform.defs.partitions import match_contract, register, registered_content
    from dq_platform.io import landing
    from dq_platform.ops.ingest import run_file

    settings.ensure_dagster_home()
    contracts_dir = settings.contracts_dir()
    contracts = load_contracts(contracts_dir)
    by_name = {c.name: c for c in contracts}
    warehouse = settings.warehouse_uri()
    files: list[Path] = []
    for p in map(Path, args.paths):
        files += sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    failures = 0
    with dg.DagsterInstance.get() as instance:
        for f in files:
            contract = (
                by_name.get(args.dataset) if args.dataset else match_contract(f, contracts, settings.landing_uri())
            )
            if contract is None:
                print(f"skip {f}: no contract's source pattern matches it (use --dataset)")
                continue
            known = registered_content(instance, contract)
            described = landing.describe(contract.name, f)
            sha16 = described.sha256[:16]
            if sha16 in known and not args.force:
                print(f"skip {f}: same content as partition '{known[sha16]}' (already registered; --force reprocesses)")
                continue
            source = register(instance, contract, f, warehouse, source=described)
            tags = {
                names.TRIGGER_TAG: "cli",
                **({names.AUTO_APPROVE_TAG: "true"} if getattr(args, "no_review", False) else {}),
            }
            outcome = run_file(
                instance, contract, source, contracts_dir=contracts_dir, warehouse_root=warehouse, extra_tags=tags
            )
            state = "SUCCESS" if outcome.success else f"FAILURE ({outcome.error})"
            if outcome.held:
                state += " - HELD for human review: dq-platform review list"
            print(f"{contract.name}: {source.partition_key} run {outcome.run_id} {state} rows {outcome.rows}")
            failures += not outcome.success
    return 1 if failures else 0


def _extract(args) -> int:
    import dagster as dg

    from dq_platform.defs.extract import is_pull_source, run_extract

    settings.ensure_dagster_home()
    pulls = {c.name: c for c in load_contracts(settings.contracts_dir()) if is_pull_source(c)}
    contract = pulls.get(args.dataset)
    if contract is None:
        print(
            f"dq-platform: '{args.dataset}' is not a pull-source (http/sql) contract; those are: "
            f"{', '.join(sorted(pulls)) or 'none'}",
            file=sys.stderr,
        )
        return 2
    with dg.DagsterInstance.get() as instance:
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

    try:
        return produce_events(args)
    except ValueError as e:
        print(f"dq-platform produce-events: {e}", file=sys.stderr)
        return 2


def _ui(args) -> int:
    home = settings.ensure_dagster_home()
    env = dict(os.environ)
    if not env.get("DQ_MASKING_KEY"):
        if args.demo_key:
            print(
                "WARNING: DQ_MASKING_KEY is not set: masking uses the fixed, PUBLIC demo key "
                "(fine for the demo's sample data, never for real data).",
                file=sys.stderr,
            )
            env["DQ_ALLOW_DEV_MASKING_KEY"] = "1"
        else:
            print(
                "NOTE: DQ_MASKING_KEY is not set: masked_* assets will refuse to run until it is "
                "(or start with --demo-key for the demo's sample data).",
                file=sys.stderr,
            )
    workspace = settings.project_dir() / "workspace.yaml"
    cmd = ["dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)] if workspace.exists() else ["-m", "dq_platform.definitions"]
    print(f"Dagster UI on http://{args.host}:{args.port}  (DAGSTER_HOME={home})", flush=True)
    bin_dir = Path(sys.executable).parent
    exe = str(bin_dir / "dagster") if (bin_dir / "dagster").exists() else "dagster"
    os.execvpe(exe, [exe, *cmd[1:]], env)
    return 0


def _audit_list(args) -> int:
    import dagster as dg

    from dq_platform.ops.audit import AuditError, format_rows, list_runs, parse_since, parse_statuses

    settings.ensure_dagster_home()
    try:
        statuses, since = parse_statuses(args.status), parse_since(args.since)
    except AuditError as e:
        print(f"audit: {e}", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        rows = list_runs(
            instance,
            dataset=args.dataset,
            statuses=statuses,
            since=since,
            limit=args.limit,
            include_monitoring=args.include_monitoring,
        )
    print(format_rows(rows, args.format))
    return 0


def _audit_show(args) -> int:
    import dagster as dg

    from dq_platform.ops.audit import AuditError, format_detail, run_detail

    settings.ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        try:
            detail = run_detail(instance, args.run_id)
        except AuditError as e:
            print(f"audit: {e}", file=sys.stderr)
            return 1
    print(format_detail(detail, args.format))
    return 0


def _audit_prune(args) -> int:
    import dagster as dg

    from dq_platform.ops.retention import format_plan, plan_prune, prune

    settings.ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        plan = plan_prune(
            instance,
            older_than_days=args.older_than,
            warehouse_root=settings.warehouse_uri(),
            contracts=load_contracts(settings.contracts_dir()),
        )
        print(format_plan(plan, dry_run=not args.yes))
        if args.yes and plan.delete:
            deleted = prune(instance, plan)
            print(f"deleted {deleted} run(s) and their events")
    return 0


def _add_audit(sub) -> None:
    """`dq-platform audit [list|show|prune]`: a group, so more audit views can be appended."""
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--dataset", help="only runs of this dataset (contract name)")
    filters.add_argument(
        "--status",
        action="append",
        help="only runs with this status (success, failure, canceled, started, queued...); repeatable",
    )
    filters.add_argument("--since", help="only runs created since: 7d, 12h, 30m or an ISO date (UTC)")
    filters.add_argument("--limit", type=int, default=50, help="newest N runs (default 50)")
    filters.add_argument(
        "--include-monitoring",
        action="store_true",
        help="also the scheduled runs that write no table: hourly history checks, platform health",
    )
    filters.add_argument("--format", choices=["table", "json", "csv"], default="table")
    a = sub.add_parser("audit", parents=[filters], help="the audit log: runs, rows per layer, checks, errors")
    a.set_defaults(func=_audit_list)
    asub = a.add_subparsers(dest="audit_action")
    ls = asub.add_parser("list", parents=[filters], help="runs, newest first (the default)")
    ls.set_defaults(func=_audit_list)
    show = asub.add_parser("show", help="one run: tags, rows, checks with metadata, errors with tracebacks")
    show.add_argument("run_id", help="a run id, or a unique prefix of one")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.set_defaults(func=_audit_show)
    prune = asub.add_parser("prune", help="delete old runs and their events (dry run unless --yes)")
    prune.add_argument(
        "--older-than", type=float, required=True, metavar="DAYS", help="runs created more than DAYS days ago"
    )
    prune.add_argument("--yes", action="store_true", help="really delete (default: only print what would go)")
    prune.set_defaults(func=_audit_prune)
    alerts = asub.add_parser("alerts", help="alert deliveries on record (delivered and failed), newest first")
    alerts.add_argument("--status", choices=["delivered", "failed"])
    alerts.add_argument("--limit", type=int, default=50)
    alerts.set_defaults(func=_alerts_list)


def _alerts_list(args) -> int:
    import datetime as dt

    import dagster as dg

    from dq_platform.alerts.sensors import list_deliveries

    settings.ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        rows = list_deliveries(instance, status=args.status, limit=args.limit)
    for r in rows:
        when = dt.datetime.fromtimestamp(r["timestamp"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{when}  {r.get('status', '?'):<9} {r.get('channel', '?'):<9} {r.get('severity', '?'):<8} "
            f"{r.get('kind', '?'):<15} {r.get('dataset', '?')}  {r.get('asset', '-')}.{r.get('check', '-')}  "
            f"attempts {r.get('attempts', '?')}" + (f"  error: {r['error']}" if r.get("error", "-") != "-" else "")
        )
    if not rows:
        print("no alert deliveries recorded")
    return 0


def _alerts_test(args) -> int:
    """Send a sample alert through every channel routed for the severity; report each delivery."""
    import dagster as dg

    from dq_platform.alerts.policy import Alert
    from dq_platform.alerts.sensors import deliver
    from dq_platform.contract import Severity

    settings.ensure_dagster_home()
    severity = Severity(args.severity)
    alert = Alert(
        kind="test",
        severity=severity,
        dataset="dq_platform",
        title=f"[{severity.value}] dq_platform: test alert",
        incident_key="dq/dq_platform/test",
        summary="A test from `dq-platform alerts test`: delivery works.",
    )
    with dg.DagsterInstance.get() as instance:
        results = deliver(alert, None, instance)
    for d in results:
        print(f"{d.channel:<10} {d.status:<9} attempts {d.attempts}" + (f"  {d.error}" if d.error else ""))
    return 0 if all(d.status == "delivered" for d in results) else 1


def _versions(args) -> int:
    from dq_platform.defs.versions import list_versions, read_as_of
    from dq_platform.io.warehouse import Warehouse

    warehouse = Warehouse(root=settings.warehouse_uri())
    try:
        if args.as_of is not None:
            if args.asset.startswith("quarantine_"):
                print("quarantine holds raw values: read it inside the warehouse, not on a console", file=sys.stderr)
                return 1
            print(read_as_of(warehouse, args.asset, args.as_of).head(args.limit).to_string())
            return 0
        versions = list_versions(warehouse, args.asset)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"{'version':>7}  {'timestamp (UTC)':<19}  {'operation':<13} {'rows':>8}  {'gates':<6}  {'run id':<36}  partition"
    )
    for v in versions:
        print(
            f"{v.version:>7}  {v.timestamp:%Y-%m-%d %H:%M:%S}  {v.operation:<13} "
            f"{'-' if v.rows is None else v.rows:>8}  {v.gates:<6}  {v.run_id:<36}  {v.partition}"
        )
    return 0


def _rollback(args) -> int:
    """Launches the same `dq_rollback` job as the UI, on the persistent instance: an audited run."""
    import getpass

    import dagster as dg

    from dq_platform.defs.versions import RollbackConfig, launch_rollback

    settings.ensure_dagster_home()
    config = RollbackConfig(
        table=args.asset, to_version=args.to, reason=args.reason, who=args.who or getpass.getuser(), force=args.force
    )
    with dg.DagsterInstance.get() as instance:
        outcome = launch_rollback(
            instance, config, contracts_dir=str(settings.contracts_dir()), warehouse_root=settings.warehouse_uri()
        )
    if not outcome.success:
        print(f"{args.asset}: run {outcome.run_id} FAILURE: {outcome.error}", file=sys.stderr)
        return 1
    print(f"{args.asset}: restored version {args.to} as version {outcome.new_version} (run {outcome.run_id})")
    return 0


def _review_list(args) -> int:
    import json

    import dagster as dg

    from dq_platform.defs.review import held_partitions
    from dq_platform.io.warehouse import Warehouse

    settings.ensure_dagster_home()
    contracts = [c for c in load_contracts(settings.contracts_dir()) if not args.dataset or c.name == args.dataset]
    with dg.DagsterInstance.get() as instance:
        held = held_partitions(instance, Warehouse(root=settings.warehouse_uri()), contracts, include_decided=args.all)
    if args.format == "json":
        from dataclasses import asdict

        print(json.dumps([{**asdict(h), "pending": h.pending} for h in held], indent=2))
        return 0
    if not held:
        print("no file is waiting for review" + ("" if args.all else " (--all shows decided ones too)"))
        return 0
    print(f"{'DATASET':<20} {'PARTITION':<48} {'FAILED':>7} {'ROWS':>7}  {'HELD SINCE (UTC)':<20} {'RUN':<8}  DECISION")
    for h in held:
        rate = "-" if h.failure_rate is None else f"{h.failure_rate:.1%}"
        decision = (
            "pending" if h.pending else f"{h.decision.decision}d by {h.decision.reviewer} ({h.decision.run_id[:8]})"
        )
        print(
            f"{h.dataset:<20} {h.partition:<48} {rate:>7} {h.rows_in if h.rows_in is not None else '-':>7}  "
            f"{h.held_since.replace('T', ' ')[:19]:<20} {h.run_id[:8]:<8}  {decision}"
        )
    return 0


def _review_decide(args) -> int:
    """Launches the same `dq_review` job as the UI (then, on approval, the dataset's publish job)."""
    import getpass

    import dagster as dg

    from dq_platform.defs.review import ReviewConfig, decide, held_partitions
    from dq_platform.io.warehouse import Warehouse

    settings.ensure_dagster_home()
    contracts = {c.name: c for c in load_contracts(settings.contracts_dir())}
    if args.dataset not in contracts:
        print(f"review: no contract '{args.dataset}' ({', '.join(sorted(contracts))})", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        partition = args.partition
        held = [
            h.partition
            for h in held_partitions(instance, Warehouse(root=settings.warehouse_uri()), [contracts[args.dataset]])
        ]
        if partition not in held:  # a unique prefix (e.g. the file name) is enough
            matches = [p for p in held if p.startswith(partition)]
            if len(matches) == 1:
                partition = matches[0]
            elif len(matches) > 1:
                print(
                    f"review: '{args.partition}' matches {len(matches)} held files: {', '.join(matches)}",
                    file=sys.stderr,
                )
                return 2
        config = ReviewConfig(
            dataset=args.dataset,
            partition=partition,
            decision=args.decision,
            reviewer=args.reviewer or getpass.getuser(),
            comment=args.comment or "",
        )
        outcome = decide(
            instance, config, contracts_dir=str(settings.contracts_dir()), warehouse_root=settings.warehouse_uri()
        )
    if not outcome.success:
        print(f"{args.dataset} {partition}: review run {outcome.run_id} FAILURE: {outcome.error}", file=sys.stderr)
        return 1
    if args.decision == "approve":
        report = f"\nreport: {outcome.reports['html']}" if outcome.reports.get("html") else ""
        if not outcome.published:
            print(
                f"{args.dataset} {partition}: approved (review run {outcome.run_id}), but the publish run "
                f"{outcome.publish_run_id} FAILED: {outcome.error}\nThe approval stands: fix the cause, then run this "
                f"command again or materialize masked_{args.dataset} for the partition from the UI.{report}",
                file=sys.stderr,
            )
            return 1
        print(
            f"{args.dataset} {partition}: approved (review run {outcome.run_id}); published by run "
            f"{outcome.publish_run_id}{report}"
        )
        return 0
    print(
        f"{args.dataset} {partition}: rejected (review run {outcome.run_id}); the whole file is in "
        f"{names.quarantine(args.dataset)}, nothing published"
    )
    return 0


def _add_review(sub) -> None:
    r = sub.add_parser("review", help="files held for human review: list them, approve or reject one")
    rsub = r.add_subparsers(dest="review_action", required=True)
    ls = rsub.add_parser("list", help="files waiting for a decision (failure rate above the contract's review level)")
    ls.add_argument("--dataset")
    ls.add_argument("--all", action="store_true", help="also files already decided (for their current version)")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    ls.set_defaults(func=_review_list)
    for decision, helptext in (
        ("approve", "publish a held file (masked + gold), recorded as an audited run"),
        ("reject", "quarantine the whole held file; nothing is published"),
    ):
        p = rsub.add_parser(decision, help=helptext)
        p.add_argument("dataset")
        p.add_argument("partition", help="the held file's partition, or a unique prefix of it (e.g. its file name)")
        p.add_argument("--reviewer", help="who decides (default: the current user)")
        p.add_argument(
            "--comment", required=decision == "reject", help="why" + (" (required)" if decision == "reject" else "")
        )
        p.set_defaults(func=_review_decide, decision=decision)


def _settings(args) -> int:
    """Every environment variable the platform reads: set or not, its default; a secret's value never."""
    rows = settings.describe()
    if args.set_only:
        rows = [r for r in rows if r["set"]]
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            print(f"\n[{group}]")
        if r["set"]:
            state = "set (secret, not shown)" if r["secret"] else f"= {r['value']}"
        else:
            state = f"unset (default {r['default']})" if r["default"] is not None else "unset"
        print(f"  {r['name']:34s} {state}\n      {r['help']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dq-platform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    contracts = sub.add_parser("contracts", help="work with data contracts")
    csub = contracts.add_subparsers(dest="action", required=True)
    v = csub.add_parser("validate", help="check contracts without running anything")
    v.add_argument("path", nargs="?", help="a contract file or folder (default: the shipped contracts)")
    v.set_defaults(func=_contracts_validate)

    st = sub.add_parser("settings", help="every environment variable the platform reads: set or not, defaults")
    st.add_argument("--set-only", action="store_true", help="only the variables that are set")
    st.set_defaults(func=_settings)

    d = sub.add_parser("demo", help="generate messy sample data and materialize every dataset")
    d.add_argument("--rows", type=int, default=2000, help="rows per sample file (default 2000)")
    d.set_defaults(func=_demo)

    i = sub.add_parser("ingest", help="register files (or folders) as partitions and process them now")
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
        "produce-events", help="write realistic log/metric/transaction JSON-lines files into the landing zone"
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
    pe.set_defaults(func=_produce_events)

    u = sub.add_parser("ui", help="start the Dagster UI and daemon on the persistent instance")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.add_argument(
        "--demo-key",
        action="store_true",
        help="allow the public demo masking key when DQ_MASKING_KEY is unset (sample data only)",
    )
    u.set_defaults(func=_ui)

    _add_audit(sub)
    _add_review(sub)

    al = sub.add_parser("alerts", help="alert deliveries: list them, or send a test alert")
    asub = al.add_subparsers(dest="action", required=True)
    ls = asub.add_parser("list", help="recorded delivery attempts, newest first")
    ls.add_argument("--status", choices=["delivered", "failed"])
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=_alerts_list)
    t = asub.add_parser("test", help="send a test alert through the channels configured for a severity")
    t.add_argument("--severity", default="CRITICAL", choices=["LOW", "MEDIUM", "HIGH", "CRITICAL"])
    t.set_defaults(func=_alerts_test)
    vs = sub.add_parser("versions", help="list a table's versions, or read it as of a version/timestamp")
    vs.add_argument("asset", help="table (asset) name, e.g. masked_customers")
    vs.add_argument("--as-of", help="print the table as of a version number or ISO timestamp (time travel)")
    vs.add_argument("--limit", type=int, default=20, help="rows printed with --as-of")
    vs.set_defaults(func=_versions)

    rb = sub.add_parser("rollback", help="restore a table to an earlier version (a new version records who/why)")
    rb.add_argument("asset")
    rb.add_argument("--to", type=int, required=True, help="version to restore")
    rb.add_argument("--reason", required=True)
    rb.add_argument("--who", help="default: the current user")
    rb.add_argument("--force", action="store_true", help="allow a version whose gates failed (masked/gold)")
    rb.set_defaults(func=_rollback)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except settings.SettingsError as e:
        print(f"dq-platform: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
