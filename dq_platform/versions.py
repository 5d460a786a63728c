"""Table versions: list them, read one (time travel), roll a table back.

Everything is Delta Lake's own history, time travel and restore: each version's commit carries
the Dagster run id, partition and gate status that the IO manager stamped into it, so a
version and its audit-log run point at each other.
"""

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from deltalake import CommitProperties

from .storage import Warehouse, from_arrow

# Layers that may hold data whose gates failed; every other table (masked, gold) is a
# published layer whose rollback target must have passed its gates unless forced.
UNGATED_PREFIXES = ("raw_", "cleaned_", "quarantine_")


class RollbackRefused(ValueError):
    """A rollback the platform will not do without --force; the message says why."""


@dataclass
class Version:
    version: int
    timestamp: dt.datetime
    operation: str
    run_id: str
    partition: str
    rows: int | None
    gates: str  # passed / failed / - (no gate recorded)


def _table(warehouse: Warehouse, table: str, version=None):
    dt_ = warehouse.table(table, version)
    if dt_ is None:
        raise FileNotFoundError(f"table '{table}' does not exist under {warehouse.root}")
    return dt_


def list_versions(warehouse: Warehouse, table: str) -> list[Version]:
    """Newest first: version, time, operation, writing run, partition, rows written, gate status."""
    out = []
    for entry in _table(warehouse, table).history():
        metrics = entry.get("operationMetrics") or {}
        rows = metrics.get("num_added_rows", metrics.get("numOutputRows"))
        out.append(Version(
            version=int(entry["version"]),
            timestamp=dt.datetime.fromtimestamp(entry["timestamp"] / 1000, tz=dt.timezone.utc),
            operation=str(entry.get("operation", "")),
            run_id=str(entry.get("dagster_run_id", "-")),
            partition=str(entry.get("dagster_partition") or "-"),
            rows=int(rows) if rows is not None else None,
            gates=str(entry.get("dq_gates", "-"))))
    return out


def read_as_of(warehouse: Warehouse, table: str, as_of: int | str | dt.datetime) -> pd.DataFrame:
    """The table as it was at a version number or at a timestamp (ISO 8601, UTC if naive)."""
    if isinstance(as_of, str) and as_of.isdigit():
        as_of = int(as_of)
    if isinstance(as_of, int):
        return from_arrow(_table(warehouse, table, as_of).to_pyarrow_table())
    when = as_of if isinstance(as_of, dt.datetime) else dt.datetime.fromisoformat(as_of)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    table_ = _table(warehouse, table)
    table_.load_as_version(when)
    return from_arrow(table_.to_pyarrow_table())


def rollback(warehouse: Warehouse, table: str, to_version: int, *, reason: str, who: str,
             run_id: str = "", force: bool = False) -> int:
    """Restore `table` to `to_version` as a new version; returns the new version number.

    Published tables (masked, gold) are only rolled back to a version whose gates passed, unless forced.
    """
    if not reason.strip():
        raise RollbackRefused("a rollback needs a reason")
    versions = {v.version: v for v in list_versions(warehouse, table)}
    if to_version not in versions:
        raise RollbackRefused(f"{table} has no version {to_version} (versions: {min(versions)}..{max(versions)})")
    target = versions[to_version]
    if not table.startswith(UNGATED_PREFIXES) and target.gates != "passed" and not force:
        raise RollbackRefused(f"{table} version {to_version} did not pass its gates (gates: {target.gates}); "
                              f"use --force to roll back to it anyway")
    meta = {"dagster_run_id": run_id, "dagster_partition": "", "dq_gates": target.gates,
            "dq_rollback_to": str(to_version), "dq_rollback_reason": reason, "dq_rollback_by": who}
    _table(warehouse, table).restore(to_version, commit_properties=CommitProperties(custom_metadata=meta))
    return _table(warehouse, table).version()
