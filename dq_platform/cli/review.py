"""`dq-platform review list|approve|reject`: decisions on files held for human review."""

from __future__ import annotations

import sys

from dq_platform import names, settings
from dq_platform.contract import load_contract_folder


def _review_list(args) -> int:
    import json

    import dagster as dg

    from dq_platform.defs.review import held_partitions
    from dq_platform.io.warehouse import Warehouse

    settings.existing_dagster_home()
    contracts = [
        c
        for c in load_contract_folder(settings.contracts_dir()).contracts
        if not args.dataset or c.name == args.dataset
    ]
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

    settings.existing_dagster_home()
    contracts = {c.name: c for c in load_contract_folder(settings.contracts_dir()).contracts}
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


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    _add_review(sub)
