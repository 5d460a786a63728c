"""The Dagster IO manager: each asset (partition) is stored as the warehouse's Delta table named after it.

A Dagster definition, so it lives with the other definitions; the storage it writes through (the
`Warehouse` resource, Delta reads and writes) is io/warehouse.py. `process_peak_mb` and
`column_schema` are the output metadata each write records.
"""

import json
import sys
import time

import dagster as dg
import pandas as pd

from dq_platform import names
from dq_platform.io.warehouse import SOURCES_KEY, Warehouse


def process_peak_mb() -> float:
    """Peak resident memory of this process so far (a step's own peak when it runs alone)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return -1.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 1024 / (1024 if sys.platform == "darwin" else 1), 1)


def column_schema(df: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in df.dtypes.items()])


class DeltaIOManager(dg.ConfigurableIOManager):
    """Stores each asset (partition) as a Delta table named after the asset."""

    warehouse: Warehouse

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        table = context.asset_key.path[-1]
        # The run's partition key is visible to unpartitioned assets too (gold in a file's run):
        # only a partitioned asset writes a partition.
        partition = context.asset_partition_key if context.has_asset_partitions else None
        date_columns = (context.definition_metadata or {}).get("dq/date_columns", [])
        # Output metadata under dq/commit/ travels into the Delta commit (e.g. gate status).
        commit_meta = {
            k.removeprefix(names.COMMIT_PREFIX): str(getattr(v, "value", v))
            for k, v in (context.output_metadata or {}).items()
            if k.startswith(names.COMMIT_PREFIX)
        }
        # A whole-table result that names the source versions it read is published in source order.
        sources = commit_meta.pop(SOURCES_KEY, None) if partition is None else None
        started = time.perf_counter()
        info = self.warehouse.write(
            table,
            obj,
            partition=partition,
            run_id=context.run_id,
            date_columns=list(date_columns),
            extra_metadata=commit_meta,
            sources=json.loads(sources) if sources else None,
        )
        meta = {
            "seconds/write": round(time.perf_counter() - started, 4),
            "memory/process_peak_mb": process_peak_mb(),
            "dagster/column_schema": column_schema(obj),
            "dagster/uri": info.uri,
            "delta_version": info.version,
        }
        if info.skipped:  # a concurrent run already published a result from newer sources
            context.log.info(f"{table}: not written, {info.skipped}")
            meta.update({"dq/published": False, "dq/skipped": info.skipped})
        else:
            meta["dagster/row_count"] = info.rows
        context.add_output_metadata(meta)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = context.asset_key.path[-1]
        if context.has_asset_partitions:
            return self.warehouse.read(table, partition=list(context.asset_partition_keys))
        return self.warehouse.read(table)
