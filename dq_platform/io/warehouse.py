"""The warehouse: every layer is a Delta Lake table under one root (local folder or s3://).

Delta gives versions, time travel, atomic partition replacement and commit metadata without
home-made code. Each commit carries the Dagster run id and partition, so a table version and
its audit-log run point at each other. Partitioned tables are physically partitioned by
`_partition` (one source file each) and a run replaces exactly its own partition.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from dq_platform import faults
from dq_platform.engine.rules import PARTITION
from dq_platform.io.frames import from_arrow, to_arrow
from dq_platform.io.staging import TABLE_PROPERTIES, delta_storage_options


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class WriteInfo:
    uri: str
    version: int
    rows: int
    skipped: str | None = None  # why nothing was committed (a result from newer sources is published)


SOURCES_KEY = "dq_sources"  # commit metadata of a derived table: {source table: Delta version read}


class StaleSourcesError(RuntimeError):
    """A derived result read some sources older and some newer than the published one: recompute."""


def recorded_sources(dt: DeltaTable, depth: int = 50) -> dict[str, int]:
    """The source versions the table's newest result was computed from ({} when none is recorded)."""
    for entry in dt.history(depth):
        if SOURCES_KEY in entry:
            return {k: int(v) for k, v in json.loads(entry[SOURCES_KEY]).items()}
    return {}


def source_order(ours: dict[str, int], published: dict[str, int]) -> str:
    """'newer' (every source at least as new: publish), 'older' (stale: skip) or 'mixed' (recompute)."""
    older = any(v < published[t] for t, v in ours.items() if t in published)
    newer = any(v > published.get(t, -1) for t, v in ours.items())
    if older and newer:
        return "mixed"
    return "older" if older else "newer"


class Warehouse(dg.ConfigurableResource):
    """Where tables live. `root` is a folder or an s3://bucket/prefix URI."""

    root: str

    # -- locations -----------------------------------------------------------------------
    def table_uri(self, table: str) -> str:
        if self.is_remote:
            return f"{self.root.rstrip('/')}/{table}"
        return str(Path(self.root).resolve() / table)

    @property
    def is_remote(self) -> bool:
        return "://" in self.root

    def storage_options(self) -> dict[str, str] | None:
        """Standard AWS variables for s3:// roots (endpoint for S3-compatible stores)."""
        return delta_storage_options(self.root)

    def table(self, table: str, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(self.table_uri(table), version=version, storage_options=self.storage_options())
        except TableNotFoundError:
            return None

    # -- writing -------------------------------------------------------------------------
    def write(
        self,
        table: str,
        df: pd.DataFrame,
        *,
        partition: str | None,
        run_id: str,
        date_columns: list[str] = (),
        extra_metadata: dict[str, str] | None = None,
        sources: dict[str, int] | None = None,
    ) -> WriteInfo:
        """Replace the partition (or the whole table) atomically, retrying commit conflicts.

        `sources`: a whole-table result computed from these source table versions (gold, models,
        semantic layer): published only in source order (`write_ordered`)."""
        if partition is not None:
            df = df.assign(**{PARTITION: partition})
        data = to_arrow(df, date_columns)
        meta = {"dagster_run_id": run_id, "dagster_partition": partition or "", **(extra_metadata or {})}
        if sources is not None and partition is None:
            return self.write_ordered(table, data, meta, sources)
        faults.point(f"write:{table}:begin")
        kwargs = dict(
            mode="overwrite",
            schema_mode="merge" if partition is not None else "overwrite",
            configuration=TABLE_PROPERTIES,  # applied when the write creates the table
            commit_properties=CommitProperties(custom_metadata=meta),
            storage_options=self.storage_options(),
        )
        if partition is not None:
            kwargs.update(partition_by=[PARTITION], predicate=f"{PARTITION} = {_sql_literal(partition)}")
        uri = self.table_uri(table)
        for attempt in range(6):
            try:
                write_deltalake(uri, _fault_stream(data, f"write:{table}:inside"), **kwargs)
                break
            except CommitFailedError:
                if attempt == 5:
                    raise
                time.sleep(0.2 * 2**attempt)
        faults.point(f"write:{table}:committed")
        dt = self.table(table)
        return WriteInfo(uri=uri, version=dt.version(), rows=len(df))

    def versions(self, tables: list[str]) -> dict[str, int]:
        """The current Delta version of each table (-1: not created yet): what a derived result reads."""
        out = {}
        for t in dict.fromkeys(tables):
            dt = self.table(t)
            out[t] = -1 if dt is None else dt.version()
        return out

    def write_ordered(self, table: str, data: pa.Table, meta: dict[str, str], sources: dict[str, int]) -> WriteInfo:
        """Replace a derived table with a result computed from `sources`, never over a newer one.

        The ordering rule of concurrent runs (docs/reliability.md): the commit records the source
        versions it was computed from, and is made only if none of them is older than the ones the
        published result records; it is made against the exact table version checked (no
        rebase: `max_commit_retries=0`), so a result committed in between sends it back to the check.
        A stale result is skipped (WriteInfo.skipped); one both older and newer raises
        StaleSourcesError so the step recomputes from fresh reads.
        """
        uri = self.table_uri(table)
        meta = {**meta, SOURCES_KEY: json.dumps(sources, sort_keys=True)}
        faults.point(f"write:{table}:begin")
        for attempt in range(20):
            dt = self.table(table)
            if dt is not None:
                published = recorded_sources(dt)
                order = source_order(sources, published)
                if order == "older":
                    return WriteInfo(
                        uri=uri,
                        version=dt.version(),
                        rows=0,
                        skipped=f"version {dt.version()} was computed from newer sources {published}",
                    )
                if order == "mixed":
                    raise StaleSourcesError(
                        f"{table}: sources {sources} are partly older than the published {published}; recompute"
                    )
            props = CommitProperties(custom_metadata=meta, max_commit_retries=0)
            try:
                write_deltalake(
                    dt if dt is not None else uri,
                    _fault_stream(data, f"write:{table}:inside"),
                    mode="overwrite",
                    schema_mode="overwrite",
                    configuration=TABLE_PROPERTIES,
                    commit_properties=props,
                    storage_options=None if dt is not None else self.storage_options(),
                )
            except CommitFailedError:
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            except Exception:  # noqa: BLE001 - a racing creator made the table first: check again
                if dt is None and self.table(table) is not None:
                    continue
                raise
            faults.point(f"write:{table}:committed")
            return WriteInfo(uri=uri, version=self.table(table).version(), rows=data.num_rows)
        raise RuntimeError(f"{table}: 20 concurrent commits in a row; giving up")

    def replace_where(
        self,
        table: str,
        df: pd.DataFrame,
        predicate: str | None,
        *,
        run_id: str,
        snapshot: DeltaTable | None = None,
        date_columns: list[str] = (),
        extra_metadata: dict[str, str] | None = None,
    ) -> WriteInfo:
        """Replace the rows matching a SQL predicate with `df` in one commit (the whole table when None).

        For unpartitioned tables updated piecewise, e.g. the anomalies of one time range. `snapshot`:
        the table version the caller read; the commit is checked against every commit since, and one
        that added or removed rows the predicate covers raises CommitFailedError, so the caller
        recomputes from fresh reads (no blind retry: a result computed from stale reads never wins).
        """
        meta = {"dagster_run_id": run_id, "dagster_partition": "", **(extra_metadata or {})}
        kwargs = dict(
            mode="overwrite", configuration=TABLE_PROPERTIES, commit_properties=CommitProperties(custom_metadata=meta)
        )
        if predicate is not None:
            kwargs.update(predicate=predicate, schema_mode="merge")
        else:
            kwargs.update(schema_mode="overwrite")
        if snapshot is None:
            target = self.table_uri(table)
            kwargs["storage_options"] = self.storage_options()
            if self.table(table) is None:
                kwargs.pop("predicate", None)
                kwargs["schema_mode"] = "overwrite"
        else:
            target = snapshot
        write_deltalake(target, to_arrow(df, date_columns), **kwargs)
        return WriteInfo(uri=self.table_uri(table), version=self.table(table).version(), rows=len(df))

    def create_empty(self, table: str, like: pd.DataFrame, *, run_id: str) -> None:
        """Create a table with `like`'s columns and no row, unless it exists (of racing creators, one wins)."""
        meta = {"dagster_run_id": run_id, "dagster_partition": ""}
        try:
            write_deltalake(
                self.table_uri(table),
                to_arrow(like.head(0)),
                mode="error",
                configuration=TABLE_PROPERTIES,
                commit_properties=CommitProperties(custom_metadata=meta),
                storage_options=self.storage_options(),
            )
        except Exception:  # noqa: BLE001 - "already exists", or another run created it first
            if self.table(table) is None:
                raise

    # -- reading -------------------------------------------------------------------------
    def read(
        self,
        table: str,
        partition: str | list[str] | None = None,
        version: int | None = None,
        columns: list[str] | None = None,
        filters: list[tuple] | None = None,
    ) -> pd.DataFrame:
        """The table, or one partition, or several partitions in one scan; `filters`: more
        (column, op, value) conditions, e.g. a time range (Delta skips files by their statistics)."""
        dt = self.table(table, version)
        if dt is None:
            raise FileNotFoundError(f"table '{table}' does not exist yet under {self.root}")
        if partition is None:
            filters = list(filters) if filters else None
        elif isinstance(partition, str):
            filters = [(PARTITION, "=", partition), *(filters or [])]
        else:
            filters = [(PARTITION, "in", list(partition)), *(filters or [])]
        table = dt.to_pyarrow_table(filters=filters, columns=columns)
        del dt
        return from_arrow(table)

    def row_counts(self, table: str) -> dict[str, int]:
        """Rows per partition from the Delta log's file statistics: no data file is read."""
        dt = self.table(table)
        if dt is None:
            return {}
        actions = pa.table(dt.get_add_actions(flatten=True))
        col = f"partition.{PARTITION}"
        if col not in actions.column_names:
            return {"": int(pa.compute.sum(actions["num_records"]).as_py() or 0)}
        grouped = actions.group_by(col).aggregate([("num_records", "sum")])
        return dict(zip(grouped[col].to_pylist(), grouped["num_records_sum"].to_pylist()))

    def last_commit(self, table: str, partition: str | None = None) -> dict | None:
        """Newest commit that wrote this partition (or the table), with its custom metadata."""
        dt = self.table(table)
        if dt is None:
            return None
        for entry in dt.history():
            if entry.get("operation") not in ("WRITE", "CREATE TABLE", "RESTORE"):
                continue
            if partition is None or entry.get("dagster_partition") == partition:
                return entry
        return None


def _fault_stream(data: pa.Table, point: str):
    """`data` as is; for a crash test armed at `point`, a stream that fires it once the Delta
    writer has taken every row and before it commits (faults.py)."""
    if not faults.armed(point):
        return data

    def batches():
        yield from data.to_batches()
        faults.point(point)

    return pa.RecordBatchReader.from_batches(data.schema, batches())
