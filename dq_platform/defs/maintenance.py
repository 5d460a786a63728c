"""Table upkeep per dataset: compaction (Z-ordered where the contract says) and vacuum, as Dagster jobs.

Delta's own optimize and vacuum, nothing home-made. Vacuum always runs with Delta's retention
check on: it refuses a retention shorter than the table's `delta.deletedFileRetentionDuration`
(7 days by default), so it never deletes a file that a version inside retention still needs. It
is a full vacuum, so uncommitted files a crashed or conflicting writer left behind go too.
Each table's bytes and files before/after are recorded as an observation on its asset.
"""

import dagster as dg
import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import CommitProperties

from dq_platform import names
from dq_platform.contract import Contract, Maintenance, modeling_tables
from dq_platform.io.files import filesystem
from dq_platform.io.staging import TABLE_PROPERTIES
from dq_platform.io.warehouse import Warehouse

ZORDERED_PREFIXES = ("cleaned_", "masked_")  # the tables that keep the contract's columns as declared


def dataset_tables(contract: Contract) -> list[str]:
    n = contract.name
    return [
        names.raw(n),
        names.cleaned(n),
        names.quarantine(n),
        names.masked(n),
        *(f"{n}_{a.name}" for a in contract.aggregations),
        *modeling_tables(contract),
        *([names.anomalies(n)] if contract.anomalies else []),
    ]  # one small commit per file: worth compacting


def sizes(warehouse: Warehouse, table: str) -> dict[str, int]:
    """Files/bytes the current version uses, and files/bytes stored (old versions' files included)."""
    dt = warehouse.table(table)
    actions = pa.table(dt.get_add_actions(flatten=True))
    uri = warehouse.table_uri(table)
    fs, path = filesystem(uri if warehouse.is_remote else f"file://{uri}")
    stored = [
        i
        for i in fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        if i.type == pafs.FileType.File and "/_delta_log/" not in i.path
    ]
    return {
        "table_files": actions.num_rows,
        "table_bytes": int(pa.compute.sum(actions["size_bytes"]).as_py() or 0),
        "stored_files": len(stored),
        "stored_bytes": sum(i.size for i in stored),
    }


def _commit(dt, run_id: str) -> CommitProperties:
    """Maintenance does not change data: the new version keeps the gate status of the one it rewrites."""
    gates = next((h["dq_gates"] for h in dt.history() if "dq_gates" in h), None)
    meta = {"dagster_run_id": run_id, "dagster_partition": "", **({"dq_gates": gates} if gates else {})}
    return CommitProperties(custom_metadata=meta)


def optimize(warehouse: Warehouse, table: str, zorder: list[str], run_id: str) -> tuple[dict, list[str]]:
    """Compact small files; Z-order by the `zorder` columns the table has. Delta's metrics, columns used."""
    dt = warehouse.table(table)
    columns = [c for c in zorder if c in dt.schema().to_arrow().names] if table.startswith(ZORDERED_PREFIXES) else []
    if columns:
        return dt.optimize.z_order(columns, commit_properties=_commit(dt, run_id)), columns
    return dt.optimize.compact(commit_properties=_commit(dt, run_id)), []


def vacuum(warehouse: Warehouse, table: str, retention_hours: int, run_id: str) -> list[str]:
    """Delete files no version younger than `retention_hours` needs; Delta's retention check stays on.

    A full vacuum: it also deletes data files no commit ever named (a writer killed between writing
    its files and committing them, or a commit that lost a conflict), once they are older than the
    retention, so a write still in flight is never touched."""
    dt = warehouse.table(table)
    return dt.vacuum(
        retention_hours=retention_hours,
        dry_run=False,
        enforce_retention_duration=True,
        commit_properties=_commit(dt, run_id),
        full=True,
    )


def keep_checkpoints(warehouse: Warehouse, table: str, run_id: str) -> bool:
    """Give a table created before TABLE_PROPERTIES (a checkpoint every 10 commits) those properties;
    whether it needed them."""
    dt = warehouse.table(table)
    if all(dt.metadata().configuration.get(k) == v for k, v in TABLE_PROPERTIES.items()):
        return False
    dt.alter.set_table_properties(TABLE_PROPERTIES, commit_properties=_commit(dt, run_id))
    return True


def maintain(warehouse: Warehouse, table: str, settings: Maintenance, run_id: str) -> dict:
    """Table properties, then optimize then vacuum one table; sizes before/after and what each step did."""
    properties_set = keep_checkpoints(warehouse, table, run_id)
    before = sizes(warehouse, table)
    metrics, zordered = optimize(warehouse, table, settings.zorder, run_id)
    removed = vacuum(warehouse, table, settings.vacuum_retention_hours, run_id)
    after = sizes(warehouse, table)
    return {
        **{f"{k}_before": v for k, v in before.items()},
        **{f"{k}_after": v for k, v in after.items()},
        "files_added_by_optimize": int(metrics.get("numFilesAdded", 0)),
        "files_removed_by_optimize": int(metrics.get("numFilesRemoved", 0)),
        "zorder_columns": ", ".join(zordered) or "-",
        "files_deleted_by_vacuum": len(removed),
        "vacuum_retention_hours": settings.vacuum_retention_hours,
        "checkpoint_interval_set": properties_set,
    }


def build_maintenance(contract: Contract) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    settings = contract.maintenance or Maintenance()
    tables = dataset_tables(contract)

    @dg.op(name=f"maintain_{contract.name}", out=dg.Out(dg.Nothing))
    def maintain_op(context: dg.OpExecutionContext, warehouse: Warehouse):
        for table in tables:
            if warehouse.table(table) is None:
                continue  # not materialized yet
            meta = maintain(warehouse, table, settings, context.run_id)
            context.log_event(
                dg.AssetObservation(asset_key=table, metadata={f"dq/maintenance/{k}": v for k, v in meta.items()})
            )
            context.log.info(f"{table}: stored {meta['stored_bytes_before']} -> {meta['stored_bytes_after']} bytes")

    @dg.job(
        name=names.maintenance_job(contract.name),
        tags={names.KIND_TAG: names.MAINTENANCE_KIND, names.DATASET_TAG: contract.name},
        description=f"Compact/Z-order and vacuum the {contract.name} tables",
    )
    def maintenance_job():
        maintain_op()

    schedule = dg.ScheduleDefinition(
        name=names.maintenance_schedule(contract.name),
        job=maintenance_job,
        cron_schedule=settings.schedule,
        default_status=dg.DefaultScheduleStatus.RUNNING if contract.maintenance else dg.DefaultScheduleStatus.STOPPED,
    )
    return maintenance_job, schedule
