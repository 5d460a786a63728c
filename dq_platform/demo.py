"""`dq-platform demo`: messy sample files for every contract, the whole graph, a summary.

Each dataset gets two ordinary files (a few percent bad rows of every kind) and one bad batch
whose failure rate breaks the contract's error threshold, so the summary shows gates passing
and a gate stopping publication. Sample data is seeded: a second demo run produces the same
files, the same partitions, and replaces (never duplicates) their outputs.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
import time
from pathlib import Path

import dagster as dg

from . import settings
from .contract import load_contracts
from .ingest import RunOutcome, register, run_file


def _write_demo_files(contract, landing_dir: Path, rows: int, seed: int) -> list[Path]:
    from .sample_data import generate, write_files

    files = write_files(contract, landing_dir, files=2, rows_per_file=rows, seed=seed)
    folder = files[0].parent
    bad = generate(contract, rows=max(rows // 4, 50), seed=seed + 999, bad_fraction=0.45, id_offset=10 * rows)
    tail = contract.source.pattern.rsplit("/", 1)[-1]
    stem = tail.replace("*", f"{contract.name}_late_batch" if tail.startswith("*") else "late_batch", 1)
    path = folder / stem
    bad.frame.to_csv(path, index=False)
    return files + [path]


def run_demo(rows: int = 2000, out=sys.stdout) -> list[RunOutcome]:
    home = settings.ensure_dagster_home()
    # The bad batch is meant to fail its gate: the summary explains it, the event log keeps it all.
    os.environ.setdefault("DQ_LOG_LEVEL", "CRITICAL")
    if not os.environ.get("DQ_MASKING_KEY"):
        os.environ["DQ_ALLOW_DEV_MASKING_KEY"] = "1"
        print("WARNING: DQ_MASKING_KEY is not set; the demo masks with the PUBLIC development key "
              "(fine for sample data, never for real data).", file=out)
        logging.getLogger("dq_platform.masking").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="DQ_MASKING_KEY is not set")
    contracts_dir = settings.contracts_dir()
    contracts = load_contracts(contracts_dir)
    warehouse = settings.warehouse_uri()
    landing_dir = Path(settings.landing_uri())
    outcomes: list[RunOutcome] = []
    started = time.time()
    with dg.DagsterInstance.get() as instance:
        check_keys, cursors = _alert_cursors(instance, contracts, warehouse)
        for i, contract in enumerate(contracts):
            for path in _write_demo_files(contract, landing_dir, rows, seed=100 * (i + 1)):
                source = register(instance, contract, path, warehouse)
                outcome = run_file(instance, contract, source, contracts_dir=contracts_dir,
                                   warehouse_root=warehouse, extra_tags={"dq/trigger": "demo"})
                outcomes.append(outcome)
                mark = "ok" if outcome.success else "held by a gate" if outcome.failed_gates else "FAILED"
                print(f"  {contract.name:<22} {source.partition_key:<48} {mark}", file=out, flush=True)
        print_summary(outcomes, contracts, warehouse, home, time.time() - started, out)
        _show_alerts(instance, contracts, check_keys, cursors, out)
    return outcomes


def _alert_cursors(instance, contracts, warehouse):
    """Alert sensor cursors that start now: the demo shows alerts for its own runs only."""
    from .alert_sensors import starting_cursors
    from .definitions import build_definitions

    check_keys = build_definitions(contracts, warehouse).resolve_asset_graph().asset_check_keys
    return check_keys, starting_cursors(instance, check_keys)


def _show_alerts(instance, contracts, check_keys, cursors, out) -> None:
    """Evaluate the alert sensors once, as the daemon would after these runs (console channel by default)."""
    from .alert_sensors import run_alert_sensors_once

    w = lambda s="": print(s, file=out)  # noqa: E731
    w()
    w("== alerts (what dq_check_alerts / dq_run_failure_alerts send; console channel by default,")
    w("   set DQ_SLACK_WEBHOOK_URL, DQ_SMTP_HOST, DQ_PAGERDUTY_ROUTING_KEY... to deliver elsewhere)")
    run_alert_sensors_once(instance, contracts, check_keys, cursors, console_stream=out)
    w("Delivery records: .venv/bin/dq-platform alerts list")


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
            masked = r.get("masked", "-") if o.success else "held"
            w(f"   {o.partition:<48} {r.get('in', '-'):>7} {r.get('cleaned', '-'):>8} {r.get('quarantined', '-'):>8} "
              f"{masked:>7}  {o.run_id[:8]} {'SUCCESS' if o.success else 'FAILURE'}")
        w("   checks:")
        seen: dict[tuple[str, str], list[bool]] = {}
        sev: dict[tuple[str, str], str] = {}
        for o in mine:
            for asset, check, passed, severity in o.checks:
                seen.setdefault((asset, check), []).append(passed)
                if not passed:
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
