"""Table versions: list them, read one (time travel), roll a table back.

Everything is Delta Lake's own history, time travel and restore: each version's commit carries
the Dagster run id, partition and gate status that the IO manager stamped into it, so a
version and its audit-log run point at each other.
"""

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import pandas as pd
from deltalake import CommitProperties
from pydantic import Field

from dq_platform import names
from dq_platform.io.warehouse import Warehouse, from_arrow

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
        out.append(
            Version(
                version=int(entry["version"]),
                timestamp=dt.datetime.fromtimestamp(entry["timestamp"] / 1000, tz=dt.UTC),
                operation=str(entry.get("operation", "")),
                run_id=str(entry.get("dagster_run_id", "-")),
                partition=str(entry.get("dagster_partition") or "-"),
                rows=int(rows) if rows is not None else None,
                gates=str(entry.get("dq_gates", "-")),
            )
        )
    return out


def read_as_of(warehouse: Warehouse, table: str, as_of: int | str | dt.datetime) -> pd.DataFrame:
    """The table as it was at a version number or at a timestamp (ISO 8601, UTC if naive)."""
    if isinstance(as_of, str) and as_of.isdigit():
        as_of = int(as_of)
    if isinstance(as_of, int):
        return from_arrow(_table(warehouse, table, as_of).to_pyarrow_table())
    when = as_of if isinstance(as_of, dt.datetime) else dt.datetime.fromisoformat(as_of)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    # The newest version committed at or before `when`, by the commit times `versions` lists: delta-rs'
    # own load_as_version(datetime) goes by the log files' modification times, which can lag them.
    versions = list_versions(warehouse, table)
    chosen = next((v for v in versions if v.timestamp <= when), None)
    if chosen is None:
        raise ValueError(
            f"{table} has no version at or before {when.isoformat()} "
            f"(the first was committed {versions[-1].timestamp.isoformat()})"
        )
    return from_arrow(_table(warehouse, table, chosen.version).to_pyarrow_table())


def rollback(
    warehouse: Warehouse, table: str, to_version: int, *, reason: str, who: str, run_id: str = "", force: bool = False
) -> int:
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
        raise RollbackRefused(
            f"{table} version {to_version} did not pass its gates (gates: {target.gates}); "
            f"use --force to roll back to it anyway"
        )
    meta = {
        "dagster_run_id": run_id,
        "dagster_partition": "",
        "dq_gates": target.gates,
        "dq_rollback_to": str(to_version),
        "dq_rollback_reason": reason,
        "dq_rollback_by": who,
    }
    _table(warehouse, table).restore(to_version, commit_properties=CommitProperties(custom_metadata=meta))
    return _table(warehouse, table).version()


# -- rollback as an audited Dagster run ----------------------------------------------------------

ROLLBACK_OP = "rollback_table"


class RollbackConfig(dg.Config):
    """What the UI's launchpad (or the CLI) asks for."""

    table: str = Field(description="table (asset) name, e.g. masked_customers")
    to_version: int = Field(description="version to restore (see `dq-platform versions TABLE`)")
    reason: str = Field(description="why: recorded in the run's tags and the table's commit")
    who: str = Field(description="who asked for it: recorded in the run's tags and the table's commit")
    force: bool = Field(default=False, description="allow a masked/gold version whose gates failed")


def rollback_tags(config: RollbackConfig) -> dict[str, str]:
    return {
        f"{names.ROLLBACK_TAG}table": config.table,
        f"{names.ROLLBACK_TAG}to_version": str(config.to_version),
        f"{names.ROLLBACK_TAG}who": config.who,
        f"{names.ROLLBACK_TAG}reason": config.reason[:200],
        f"{names.ROLLBACK_TAG}force": str(config.force).lower(),
    }


@dg.op(name=ROLLBACK_OP, out=dg.Out(dg.Nothing))
def rollback_op(context: dg.OpExecutionContext, config: RollbackConfig, warehouse: Warehouse):
    """Restore the table; the new version's commit carries this run's id, the run carries dq/rollback/* tags."""
    # Launched from the UI the run has no tags yet: add them so every rollback run is findable by tag.
    context.instance.add_run_tags(context.run_id, rollback_tags(config))
    before = warehouse.row_counts(config.table) if warehouse.table(config.table) is not None else {}
    try:
        new = rollback(
            warehouse,
            config.table,
            config.to_version,
            reason=config.reason,
            who=config.who,
            run_id=context.run_id,
            force=config.force,
        )
    except (RollbackRefused, FileNotFoundError) as e:
        raise dg.Failure(description=f"rollback refused: {e}", allow_retries=False) from None
    # An observation, not a materialization: it shows on the asset's page without triggering downstream runs.
    context.log_event(
        dg.AssetObservation(
            asset_key=config.table,
            metadata={
                f"{names.ROLLBACK_TAG}new_version": new,
                f"{names.ROLLBACK_TAG}to_version": config.to_version,
                f"{names.ROLLBACK_TAG}who": config.who,
                f"{names.ROLLBACK_TAG}reason": config.reason,
                f"{names.ROLLBACK_TAG}force": config.force,
            },
        )
    )
    changed = report_restored(context.instance, warehouse, config, new, before, context.run_id)
    context.log.info(
        f"{config.table}: restored version {config.to_version} as version {new}; "
        f"{changed} partition(s) now show the restored rows"
    )


def report_restored(
    instance: dg.DagsterInstance, warehouse: Warehouse, config: RollbackConfig, new: int, before: dict, run_id: str
) -> int:
    """The restore changed the table outside any asset's run: one runless materialization per partition
    whose rows changed (Dagster's convention for out-of-band changes), so the UI shows what the table
    now holds, not the rolled-back version. A partition the restore removed is reported with 0 rows."""
    after = warehouse.row_counts(config.table)
    changed = 0
    for partition in sorted(set(before) | set(after)):
        if before.get(partition) == after.get(partition):
            continue
        changed += 1
        rows = after.get(partition, 0)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=config.table,
                partition=partition or None,
                description=f"rolled back to version {config.to_version} by {config.who}: {config.reason}"
                + ("" if partition in after else " (this partition is not in the restored version)"),
                metadata={
                    "dagster/row_count": rows,
                    "delta_version": new,
                    f"{names.ROLLBACK_TAG}to_version": config.to_version,
                    f"{names.ROLLBACK_TAG}run_id": run_id,
                    f"{names.ROLLBACK_TAG}who": config.who,
                    f"{names.ROLLBACK_TAG}rows_before": before.get(partition, 0),
                },
            )
        )
    return changed


@dg.job(
    name=names.ROLLBACK_JOB,
    tags={names.KIND_TAG: names.ROLLBACK_KIND},
    description="Roll a table back to an earlier version; the run is the audit record",
)
def rollback_job():
    rollback_op()


@dataclass
class RollbackOutcome:
    run_id: str
    success: bool
    new_version: int | None
    error: str | None


def launch_rollback(
    instance: dg.DagsterInstance,
    config: RollbackConfig,
    *,
    contracts_dir: str,
    warehouse_root: str,
    trigger: str = "cli",
) -> RollbackOutcome:
    """Run the rollback job on `instance` (the CLI's path), so the rollback is an audited run as from the UI."""
    from dq_platform.reports.errors import root_cause

    job = dg.build_reconstructable_job(
        "dq_platform.definitions",
        "pipeline_job",
        reconstructable_args=(names.ROLLBACK_JOB, str(contracts_dir), warehouse_root),
    )
    run_config = {
        "ops": {ROLLBACK_OP: {"config": config.model_dump()}},
        "execution": {"config": {"in_process": {}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    result = dg.execute_job(
        job,
        instance,
        run_config=run_config,
        tags={**rollback_tags(config), names.TRIGGER_TAG: trigger},
        raise_on_error=False,
    )
    new_version, error = None, None
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_OBSERVATION":
            new_version = ev.event_specific_data.asset_observation.metadata[f"{names.ROLLBACK_TAG}new_version"].value
        elif ev.is_step_failure and error is None:
            error = root_cause(ev.event_specific_data.error)
    return RollbackOutcome(run_id=result.run_id, success=result.success, new_version=new_version, error=error)
