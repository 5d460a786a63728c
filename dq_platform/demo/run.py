"""`dq-platform demo`: messy sample files for every contract, the whole graph, a summary.

Pull-source contracts (http, sql) are demoed through their extract job against local stand-ins
(pull_sources.py): a replay server for the API, a SQLite database for the ERP tables.

Each dataset gets two ordinary files (a few percent bad rows of every kind) and one bad batch
whose failure rate breaks the contract's error threshold, so the summary shows gates passing
and a gate stopping publication. Event streams (contracts matching `produce-events` output) get that
command's files instead: two per stream, an ERROR burst spanning both. The first file-fed dataset
then gets seven ordinary files and one ten times their size, which its history checks flag (and
nothing else). Sample data is seeded: a
second demo run produces the same files, the same partitions, and replaces (never duplicates) their
outputs.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import load_contracts
from dq_platform.defs.extract import is_pull_source
from dq_platform.defs.file_runs import RunOutcome, run_file
from dq_platform.defs.partitions import register
from dq_platform.demo.pull_sources import DemoPullSources, partition_source

HISTORY_CHECKS = {
    names.ROW_COUNT_HISTORY_CHECK,
    names.ARRIVAL_HISTORY_CHECK,
    names.FAILURE_RATE_HISTORY_CHECK,
    names.COLUMN_METRICS_HISTORY_CHECK,
}


def _demo_path(contract, folder: Path, label: str) -> Path:
    """A file name the contract's source pattern matches, e.g. customers_late_batch.csv."""
    tail = contract.source.pattern.rsplit("/", 1)[-1]
    return folder / tail.replace("*", f"{contract.name}_{label}" if tail.startswith("*") else label, 1)


def _write_demo_files(contract, landing_dir: Path, rows: int, seed: int) -> list[Path]:
    from dq_platform.demo.sample_data import generate, write_files

    files = write_files(contract, landing_dir, files=2, rows_per_file=rows, seed=seed)
    folder = files[0].parent
    bad = generate(contract, rows=max(rows // 4, 50), seed=seed + 999, bad_fraction=0.45, id_offset=10 * rows)
    path = _demo_path(contract, folder, "late_batch")
    bad.frame.to_csv(path, index=False)
    if contract.failure_rate.review is None:
        return files + [path]
    # between the review and the error level: held until someone decides (see _decide_reviews)
    doubtful = generate(
        contract,
        rows=max(rows // 4, 50),
        seed=seed + 555,
        id_offset=20 * rows,
        bad_fraction=(contract.failure_rate.review + contract.failure_rate.error) / 2,
    )
    review_path = _demo_path(contract, folder, "review_batch")
    doubtful.frame.to_csv(review_path, index=False)
    return files + [path, review_path]


def _write_history_feed(contract, folder: Path, rows: int, seed: int) -> list[Path]:
    """The feed as it usually is, file after file (rows within 3% of usual), then a file ten times that.

    Enough ordinary files for the contract's `history.min_history`, so the last file is judged:
    `raw_<name>.row_count_matches_history` flags it (a warning, never blocking) with the range the
    other files predict, and the alert says so.
    """
    import numpy as np

    from dq_platform.demo.sample_data import generate

    sizes = np.random.default_rng(seed).uniform(0.97, 1.03, contract.history.min_history) * rows
    paths = []
    for k, size in enumerate([*sizes.astype(int), 10 * rows]):
        label = "feed_spike" if k == len(sizes) else f"feed_{k + 1:02d}"
        path = _demo_path(contract, folder, label)
        generate(contract, rows=int(size), seed=seed + k, id_offset=(30 + k) * rows).frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def run_demo(rows: int = 2000, out=sys.stdout, kafka: str | None = None) -> list[RunOutcome]:
    """`kafka`: brokers (host:port) to send the event streams through, drained into the landing zone."""
    home = settings.ensure_dagster_home()
    # The bad batch is meant to fail its gate: the summary explains it, the event log keeps it all.
    os.environ.setdefault("DQ_LOG_LEVEL", "CRITICAL")
    if not settings.is_set("DQ_MASKING_KEY"):
        os.environ["DQ_ALLOW_DEV_MASKING_KEY"] = "1"
        print(
            "WARNING: DQ_MASKING_KEY is not set; the demo masks with the PUBLIC development key "
            "(fine for sample data, never for real data).",
            file=out,
        )
        logging.getLogger("dq_platform.engine.masking").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="DQ_MASKING_KEY is not set")
    contracts_dir = settings.contracts_dir()
    contracts = load_contracts(contracts_dir)
    warehouse = settings.warehouse_uri()
    landing_dir = Path(settings.landing_uri())
    outcomes: list[RunOutcome] = []
    started = time.time()
    with (
        dg.DagsterInstance.get() as instance,
        DemoPullSources(instance, str(landing_dir), settings.project_dir(), out) as pull,
    ):
        check_keys, cursors = _alert_cursors(instance, contracts, warehouse)
        from dq_platform.demo.event_producer import demo_files, demo_kafka_files

        # event streams: `produce-events` output, not CSV samples; through Kafka when brokers are given
        events = demo_kafka_files(kafka, landing_dir, contracts) if kafka else demo_files(landing_dir, contracts)
        # one file-fed dataset also gets a run of ordinary files and a spike: the history checks judge it
        feed = next(
            (c for c in contracts if not is_pull_source(c) and c.name not in events and c.history.enabled), None
        )
        # dimensions first: a fact's references and a gold join then find their rows on the first run
        order = sorted(enumerate(contracts), key=lambda ic: not (ic[1].model and ic[1].model.kind == "dimension"))
        for i, contract in order:
            # pull sources (http / sql) deliver through their extract job, against local stand-ins
            paths = (
                pull.deliver(contract)
                if is_pull_source(contract)
                else events.get(contract.name) or _write_demo_files(contract, landing_dir, rows, seed=100 * (i + 1))
            )
            if contract is feed:
                paths = paths + _write_history_feed(contract, paths[0].parent, rows, seed=100 * (i + 1) + 7000)
            for path in paths:
                source = register(
                    instance,
                    contract,
                    path,
                    warehouse,
                    partition_source(instance, contract, path) if is_pull_source(contract) else None,
                )
                outcome = run_file(
                    instance,
                    contract,
                    source,
                    contracts_dir=contracts_dir,
                    warehouse_root=warehouse,
                    extra_tags={names.TRIGGER_TAG: "demo"},
                )
                outcomes.append(outcome)
                mark = (
                    "held for review"
                    if outcome.held
                    else "ok"
                    if outcome.success
                    else "held by a gate"
                    if outcome.failed_gates
                    else "FAILED"
                )
                anomalies = [f"{a}.{c}" for a, c, passed, _ in outcome.checks if not passed and c in HISTORY_CHECKS]
                if anomalies:
                    mark += f"; history anomaly: {', '.join(anomalies)}"
                print(f"  {contract.name:<22} {source.partition_key:<48} {mark}", file=out, flush=True)
        print_summary(outcomes, contracts, warehouse, home, time.time() - started, out)
        show_semantic_layer(contracts, warehouse, out)
        from dq_platform.defs.anomalies import show_anomalies

        show_anomalies(warehouse, contracts, out)
        cursors = _show_alerts(instance, contracts, check_keys, cursors, out)
        if any(o.held for o in outcomes):
            _decide_reviews(instance, [o for o in outcomes if o.held], warehouse, contracts_dir, out)
            _show_alerts(instance, contracts, check_keys, cursors, out, title="== alerts after the decisions")
        if contracts:
            first = next((c for c in contracts if not is_pull_source(c)), contracts[0])
            show_versions_and_rollback(instance, first, warehouse, contracts_dir, out)
    return outcomes


def show_semantic_layer(contracts, warehouse: str, out=sys.stdout) -> None:
    """The semantic metrics as a BI tool sees them: a plain Delta table read with deltalake + pyarrow."""
    import pyarrow.compute as pc

    from dq_platform import names
    from dq_platform.io.warehouse import Warehouse

    wh = Warehouse(root=warehouse)
    for c in (c for c in contracts if c.semantic is not None and wh.table(names.semantic_metrics(c.name)) is not None):
        t = wh.table(names.semantic_metrics(c.name)).to_pyarrow_table()
        print(
            f"\n== semantic layer of {c.name}: {len(c.semantic.metrics)} metrics, {t.num_rows} rows; BI tools and "
            f"AI assistants read the Delta tables\n   {wh.table_uri(names.semantic_metrics(c.name))}  "
            f"({', '.join(t.column_names)})\n   {wh.table_uri(names.metric_definitions(c.name))}  "
            f"(label, description, owner, formula per metric)",
            file=out,
        )
        for m in c.semantic.metrics:  # its latest period, a few dimension values
            rows = t.filter(pc.equal(t["metric"], m.name))
            if rows.num_rows:
                last = pc.max(rows["period"])
                shown = [
                    (" ".join(str(r[d]) for d in m.dimensions), r["value"])
                    for r in rows.filter(pc.equal(rows["period"], last)).to_pylist()[:3]
                ]
                fmt = {"ratio": "{:.1%}", "count": "{:,.0f}"}.get(m.resolved_unit, "{:,.2f}")
                values = ", ".join(f"{d + ' ' if d else ''}{'-' if v is None else fmt.format(v)}" for d, v in shown)
                print(f"   {m.name:<22} {m.grain:<6} {last.as_py()}  {values}", file=out)


def _alert_cursors(instance, contracts, warehouse):
    """Alert sensor cursors that start now: the demo shows alerts for its own runs only."""
    from dq_platform.alerts.sensors import starting_cursors
    from dq_platform.definitions import build_definitions

    check_keys = build_definitions(contracts, warehouse).resolve_asset_graph().asset_check_keys
    return check_keys, starting_cursors(instance, check_keys)


def _show_alerts(instance, contracts, check_keys, cursors, out, title: str | None = None) -> dict:
    """Evaluate the alert sensors once, as the daemon would after these runs (console channel by default)."""
    from dq_platform.alerts.sensors import run_alert_sensors_once
    from dq_platform.io.warehouse import Warehouse

    w = lambda s="": print(s, file=out)  # noqa: E731
    w()
    w(
        title
        or "== alerts (what dq_check_alerts / dq_run_failure_alerts send; console channel by default,\n"
        "   set DQ_SLACK_WEBHOOK_URL, DQ_SMTP_HOST, DQ_PAGERDUTY_ROUTING_KEY... to deliver elsewhere)"
    )
    cursors = run_alert_sensors_once(
        instance, contracts, check_keys, cursors, console_stream=out, warehouse=Warehouse(root=settings.warehouse_uri())
    )
    w("Delivery records: .venv/bin/dq-platform alerts list")
    return cursors


def _decide_reviews(instance, held: list[RunOutcome], warehouse: str, contracts_dir, out) -> None:
    """What a reviewer does with `dq-platform review approve|reject`: approve one file, reject the next."""
    from dq_platform.defs.review import ReviewConfig, decide

    print("\n== human review (dq-platform review list | approve | reject, or the dq_review job in the UI)", file=out)
    for i, o in enumerate(held):
        decision = "approve" if i % 2 == 0 else "reject"
        config = ReviewConfig(
            dataset=o.dataset,
            partition=o.partition,
            decision=decision,
            reviewer="demo",
            comment="demo: failures are known supplier typos"
            if decision == "approve"
            else "demo: too many bad rows to trust this file",
        )
        r = decide(instance, config, contracts_dir=str(contracts_dir), warehouse_root=warehouse, trigger="demo")
        state = (
            ("published" if r.published else f"NOT published: {r.error}")
            if decision == "approve"
            else "whole file moved to quarantine, nothing published"
        )
        print(
            f"   {'approved' if decision == 'approve' else 'rejected'} {o.dataset} {o.partition}: {state if r.success else 'FAILED: ' + str(r.error)} "
            f"(review run {r.run_id[:8]})",
            file=out,
        )
        if r.reports.get("html"):
            print(f"   publication report: {r.reports['html']}", file=out)


def _print_versions(versions, out, limit: int = 6) -> None:
    print(f"   {'version':>7}  {'operation':<10} {'rows':>6}  {'gates':<6}  run", file=out)
    for v in versions[:limit]:
        print(
            f"   {v.version:>7}  {v.operation:<10} {'-' if v.rows is None else v.rows:>6}  {v.gates:<6}  "
            f"{v.run_id[:8]}",
            file=out,
        )


def show_versions_and_rollback(instance, contract, warehouse: str, contracts_dir, out=sys.stdout):
    """Versions grew with each run; undo the latest one with the audited rollback job (as the CLI does)."""
    from dq_platform.defs.versions import RollbackConfig, launch_rollback, list_versions
    from dq_platform.io.warehouse import Warehouse

    table = names.masked(contract.name)
    wh = Warehouse(root=warehouse)
    written = [v for v in list_versions(wh, table) if v.operation in ("WRITE", "CREATE TABLE") and v.gates == "passed"]
    if len(written) < 2:
        return None
    print(f"\n== versions of {table} (one per published run; the held batch added none)", file=out)
    _print_versions(list_versions(wh, table), out)
    config = RollbackConfig(table=table, to_version=written[1].version, who="demo", reason="demo: undo the latest run")
    outcome = launch_rollback(
        instance, config, contracts_dir=str(contracts_dir), warehouse_root=warehouse, trigger="demo"
    )
    state = (
        f"restored version {config.to_version} as version {outcome.new_version}"
        if outcome.success
        else f"FAILURE: {outcome.error}"
    )
    print(
        f"   rollback to version {config.to_version}: {state} (audited run {outcome.run_id[:8]}, tags dq/rollback/*)",
        file=out,
    )
    _print_versions(list_versions(wh, table), out, limit=3)
    print(f"   undo it: dq-platform rollback {table} --to {written[0].version} --reason '...'", file=out)
    return outcome


def print_summary(outcomes, contracts, warehouse, home, seconds, out=sys.stdout) -> None:
    w = lambda s="": print(s, file=out)  # noqa: E731
    w()
    w(f"dq_platform demo: {len(outcomes)} runs in {seconds:.1f}s")
    for contract in contracts:
        mine = [o for o in outcomes if o.dataset == contract.name]
        w()
        w(f"== {contract.name}  (owner {contract.owner})")
        w(f"   {'partition (file@sha256)':<48} {'in':>7} {'cleaned':>8} {'quarant.':>8} {'masked':>7}  run")
        for o in mine:
            r = o.rows
            masked = "review" if o.held else r.get("masked", "-") if o.success else "held"
            w(
                f"   {o.partition:<48} {r.get('in', '-'):>7} {r.get('cleaned', '-'):>8} {r.get('quarantined', '-'):>8} "
                f"{masked:>7}  {o.run_id[:8]} {'SUCCESS' if o.success else 'FAILURE'}"
            )
        w("   checks:")
        seen: dict[tuple[str, str], list[bool]] = {}
        sev: dict[tuple[str, str], str] = {}
        for o in mine:
            for asset, check, passed, severity in o.checks:
                seen.setdefault((asset, check), []).append(passed)
                if not passed:
                    if sev.get((asset, check)) != "ERROR":  # the worst failure says it
                        sev[(asset, check)] = severity
        for (asset, check), results in seen.items():
            ok = sum(results)
            state = "PASS" if ok == len(results) else f"{sev.get((asset, check), 'ERROR')}"
            w(f"     [{state:<5}] {asset}.{check}  ({ok}/{len(results)} passed)")
        for o in mine:
            if not o.success:
                w(f"   held back: {o.partition}")
                for gate in o.failed_gates or [o.error]:
                    w(f"     {gate}")
                w(f"     -> masked/gold keep their last good version; rejected rows are in quarantine_{contract.name}")
        gold = ", ".join(f"{contract.name}_{a.name}" for a in contract.aggregations)
        w(f"   gold: {gold or '-'}")
    w()
    w(f"Tables (Delta Lake): {warehouse}")
    w(f"Dagster instance (audit log): {home}")
    w("Open the UI:  make ui   (or: .venv/bin/dq-platform ui)  -> http://127.0.0.1:3000")
