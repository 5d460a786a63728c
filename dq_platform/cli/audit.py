"""`dq-platform audit|versions|rollback`: the audit log and table versions, read from run storage and Delta."""

from __future__ import annotations

import argparse
import sys

from dq_platform import settings
from dq_platform.cli.alerts import list_alerts
from dq_platform.contract import load_contract_folder


def _audit_list(args) -> int:
    import dagster as dg

    from dq_platform.ops.audit import AuditError, format_rows, list_runs, parse_since, parse_statuses

    settings.existing_dagster_home()
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

    settings.existing_dagster_home()
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

    settings.existing_dagster_home()
    with dg.DagsterInstance.get() as instance:
        plan = plan_prune(
            instance,
            older_than_days=args.older_than,
            warehouse_root=settings.warehouse_uri(),
            contracts=load_contract_folder(settings.contracts_dir()).contracts,
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
    alerts.set_defaults(func=list_alerts)


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


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    _add_audit(sub)
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
