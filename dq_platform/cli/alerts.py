"""`dq-platform alerts list|test`: alert deliveries on record, and a test alert through the channels."""

from __future__ import annotations

from dq_platform import settings


def list_alerts(args) -> int:
    import datetime as dt

    import dagster as dg

    from dq_platform.alerts.sensors import list_deliveries

    settings.existing_dagster_home()
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


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    al = sub.add_parser("alerts", help="alert deliveries: list them, or send a test alert")
    asub = al.add_subparsers(dest="action", required=True)
    ls = asub.add_parser("list", help="recorded delivery attempts, newest first")
    ls.add_argument("--status", choices=["delivered", "failed"])
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=list_alerts)
    t = asub.add_parser("test", help="send a test alert through the channels configured for a severity")
    t.add_argument("--severity", default="CRITICAL", choices=["LOW", "MEDIUM", "HIGH", "CRITICAL"])
    t.set_defaults(func=_alerts_test)
