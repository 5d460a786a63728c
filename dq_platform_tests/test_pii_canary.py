"""A PII canary through every error path (issue #17): raw values never reach errors, logs,
metadata, reports or alerts.

Canary values (an email, an SSN, a card number, a phone number) are planted in files that fail in
each way a file can fail — unparseable rows, wrong types, broken rules, a missing column, a file
without a header, a record above the length limit — and ingested through the real CLI in a
subprocess. Then every place a person or a tool reads is searched for them: the CLI's stdout and
stderr, Dagster's run storage and compute logs (the whole DAGSTER_HOME), the run reports,
`dq-platform audit` (table and JSON), and the alerts the sensors send. Only the tables that are
meant to hold raw values (raw, quarantine, the archive of originals, the quarantine extract) may
hold them; masked and gold must not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dq_platform_tests.test_pipeline import customer_frame

pytestmark = pytest.mark.slow

CANARIES = {
    "email": "zelda.canary.7731@gmail.com",
    "ssn": "512-44-8712",
    "card": "4539 1488 0343 6467",
    "phone": "(312) 555-7731",
}
RAW_PLACES = ("raw_", "quarantine_", "cleaned_", "_sources", "quarantine")  # meant to hold raw values


def _files(landing: Path) -> None:
    folder = landing / "customers"
    folder.mkdir(parents=True)
    good = customer_frame(40)
    # 1. parse errors (extra fields), type errors, rule failures, with canaries in the bad cells
    rules = good.copy()
    rules.loc[0, "date_of_birth"] = CANARIES["email"]  # a type error carrying an email
    rules.loc[1, "email"] = f"contact {CANARIES['ssn']}"  # a rule failure carrying an SSN
    rules.loc[2, "income"] = CANARIES["card"]  # a number column holding a card
    rules.loc[3, "account_status"] = CANARIES["phone"]  # an allowed-values failure carrying a phone
    text = rules.to_csv(index=False)
    text += f"41,{CANARIES['email']},{CANARIES['ssn']},x,y,z,w,v,u,t,s,r\n"  # too many fields
    (folder / "canary_rules.csv").write_text(text)
    # 2. a declared column missing, canaries in the rows that remain
    shape = good.drop(columns=["income"]).copy()
    shape.loc[5, "address"] = f"{CANARIES['ssn']} Main St"
    (folder / "canary_shape.csv").write_text(shape.to_csv(index=False))
    # 3. a file without its header: line 1 is data
    (folder / "canary_noheader.csv").write_text(
        good.to_csv(index=False, header=False).replace("1,", f"{CANARIES['email']},", 1)
    )
    # 4. a record above the length limit (DQ_MAX_RECORD_BYTES=64K below), a quote never closed
    long = (
        good.to_csv(index=False)
        + f'99,"{CANARIES["ssn"]}\n'
        + "".join(f"{i},{CANARIES['email']}\n" for i in range(5000))
    )
    (folder / "canary_long.csv").write_text(long)


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "dq-platform"), *args], env=env, capture_output=True, text=True, timeout=600
    )


def _hits(text: str) -> list[str]:
    return [kind for kind, value in CANARIES.items() if value in text]


def test_canary_pii_reaches_no_error_log_metadata_report_or_alert(tmp_path):
    landing, home, warehouse = tmp_path / "landing", tmp_path / "home", tmp_path / "warehouse"
    _files(landing)
    alert_file = tmp_path / "alerts.txt"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DQ_WAREHOUSE_URI": str(warehouse),
        "DQ_LANDING_DIR": str(landing),
        "DQ_PROJECT_DIR": str(tmp_path),
        "DQ_MAX_RECORD_BYTES": "64K",
        "DQ_ALLOW_DEV_MASKING_KEY": "1",
        "DQ_LOG_LEVEL": "INFO",  # the most the console ever shows
        "DQ_ALERT_FILE": str(alert_file),
    }
    ingest = _run(["ingest", "--dataset", "customers", str(landing / "customers")], env)
    outputs = {"ingest stdout": ingest.stdout, "ingest stderr": ingest.stderr}
    runs = [line for line in ingest.stdout.splitlines() if line.startswith("customers: ")]
    assert len(runs) == 4, ingest.stdout + ingest.stderr[-3000:]
    assert "canary_noheader.csv@" in ingest.stdout and "the header names none of the contract" in ingest.stdout
    assert "canary_long.csv@" in ingest.stdout and "DQ_MAX_RECORD_BYTES" in ingest.stdout

    # the alerts the daemon's sensors would send for these runs (console channel -> DQ_ALERT_FILE)
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "DQ_WAREHOUSE_URI", "DQ_ALERT_FILE")})
    try:
        from dq_platform.alerts.sensors import run_alert_sensors_once
        from dq_platform.contract import load_contracts
        from dq_platform.definitions import build_definitions
        from dq_platform.io.warehouse import Warehouse

        contracts = [c for c in load_contracts() if c.name == "customers"]
        check_keys = build_definitions(contracts, str(warehouse)).resolve_asset_graph().asset_check_keys
        with dg.DagsterInstance.get() as instance:
            run_alert_sensors_once(instance, contracts, check_keys, {}, warehouse=Warehouse(root=str(warehouse)))
            run_ids = [r.run_id for r in instance.get_runs()]
    finally:
        for k in ("DAGSTER_HOME", "DQ_WAREHOUSE_URI", "DQ_ALERT_FILE"):
            os.environ.pop(k, None)
    assert len(run_ids) == 4
    outputs["alerts"] = alert_file.read_text() if alert_file.exists() else ""
    assert outputs["alerts"].count("[") >= 2, "the failed runs raised no alert: the alert path was not exercised"

    for fmt in ("table", "json"):
        audit = _run(["audit", "list", "--format", fmt], env)
        assert audit.returncode == 0, audit.stderr
        outputs[f"audit list {fmt}"] = audit.stdout + audit.stderr
    for run_id in run_ids:
        for fmt in ("text", "json"):
            show = _run(["audit", "show", run_id, *(["--format", "json"] if fmt == "json" else [])], env)
            assert show.returncode == 0, show.stderr
            outputs[f"audit show {run_id[:8]} {fmt}"] = show.stdout + show.stderr
            if fmt == "json":
                json.loads(show.stdout)

    leaks = {where: _hits(text) for where, text in outputs.items() if _hits(text)}
    # run storage, event log, compute logs: every file under DAGSTER_HOME, as bytes
    for path in home.rglob("*"):
        if path.is_file():
            found = _hits(path.read_bytes().decode("utf-8", errors="replace"))
            if found:
                leaks[str(path.relative_to(home))] = found
    # reports (HTML, JSON, markdown, check results); the quarantine extract is raw values by design
    for path in (warehouse / "reports").rglob("*"):
        if path.is_file():
            found = _hits(path.read_text(errors="replace"))
            if found:
                leaks[str(path.relative_to(warehouse))] = found
    assert not leaks, f"canary PII found in: {leaks}"

    # the quarantine keeps every original (nothing lost), and masked/gold hold none of it
    from dq_platform.io.warehouse import Warehouse

    wh = Warehouse(root=str(warehouse))
    quarantined = wh.read("quarantine_customers").astype("string").to_csv()
    assert set(_hits(quarantined)) == set(CANARIES)
    for table in ("masked_customers", "customers_by_age_band", "customers_by_city", "customers_by_status"):
        if wh.table(table) is not None:
            assert not _hits(wh.read(table).astype("string").to_csv()), table
