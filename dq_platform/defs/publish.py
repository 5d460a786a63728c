"""Publishing a layer's staged chunks: one Delta commit per table and partition, and the metadata
the UI shows for it (what the IO manager recorded when a layer was written whole).

Before a pass, what killed runs staged for the same partition (and their scratch folders) is
removed; runs still in progress keep theirs.
"""

from __future__ import annotations

import time

import dagster as dg
import pyarrow as pa

from dq_platform import faults
from dq_platform.chunks.passes import staging_folder, sweep_staging
from dq_platform.defs.io_manager import process_peak_mb
from dq_platform.io.frames import from_arrow
from dq_platform.io.staging import Staged, commit_partition, sweep_unreferenced
from dq_platform.io.warehouse import Warehouse


def live_runs(instance: dg.DagsterInstance) -> set[str]:
    """Runs queued or in progress: their staged files and scratch folders are never swept."""
    statuses = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    return set(instance.get_run_ids(dg.RunsFilter(statuses=statuses)))


def prepare(context: dg.AssetExecutionContext, warehouse: Warehouse, tables: list[str], partition: str) -> str:
    """Sweep what dead runs left for these tables' partition; this run's scratch folder."""
    live = live_runs(context.instance) | {context.run_id}
    swept = sum(
        sweep_unreferenced(warehouse.table_uri(t), partition, warehouse.storage_options(), keep_runs=live)
        for t in tables
    )
    swept += sweep_staging(warehouse.root if warehouse.is_remote else str(_local(warehouse)), live)
    if swept:
        context.log.info(f"removed {swept} file(s)/folder(s) an interrupted earlier run left unpublished")
    for t in tables:
        faults.point(f"write:{t}:begin")
    return staging_folder(warehouse.root if warehouse.is_remote else str(_local(warehouse)), context.run_id)


def _local(warehouse: Warehouse):
    from pathlib import Path

    return Path(warehouse.root).resolve()


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    dtypes = from_arrow(schema.empty_table()).dtypes
    return dg.TableSchema(
        columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in dtypes.items() if c != "_partition"]
    )


def publish(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    table: str,
    staged: list[Staged],
    schema: pa.Schema,
    partition: str,
    commit_metadata: dict | None = None,
) -> dict:
    """Commit the staged files as the partition's new content; the materialization's metadata."""
    started = time.perf_counter()
    meta = {"dagster_run_id": context.run_id, "dagster_partition": partition}
    meta.update({k: str(v) for k, v in (commit_metadata or {}).items()})
    uri = warehouse.table_uri(table)
    version = commit_partition(
        uri,
        staged,
        schema,
        partition=partition,
        metadata=meta,
        storage_options=warehouse.storage_options(),
        table_name=table,
    )
    return {
        "seconds/write": round(time.perf_counter() - started, 4),
        "memory/process_peak_mb": process_peak_mb(),
        "dagster/column_schema": column_schema(schema),
        "dagster/uri": uri,
        "delta_version": version,
        "dagster/row_count": sum(s.rows for s in staged),
        "chunks": len(staged),
    }
