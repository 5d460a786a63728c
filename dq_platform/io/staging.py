"""Staged Delta writes: a layer's partition written as many data files, published in one commit.

A file is processed in chunks (chunks/), each chunk's rows written by whoever processed it, as a
Parquet data file inside the table's folder. Nothing reads those files until the step commits them
all at once (`commit_partition`: one Delta transaction that replaces the partition), so a crash
mid-file publishes nothing and the previous version stays the table's current one. A killed step
leaves its staged files unreferenced; the next run of that partition removes them
(`sweep_unreferenced`), as does the full vacuum of the maintenance job.

Plain functions of a table URI and storage options (no Dagster): chunk tasks call them in worker
processes and on Dask workers. Staged files are named `chunks/<partition>/<run>-<chunk>-<n>.parquet`
so their chunk order, run and partition are readable from the Delta log alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import time
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.schema import Schema
from deltalake.transaction import AddAction, create_table_with_add_actions
from pyarrow.fs import FileSelector

from dq_platform import faults, settings
from dq_platform.engine.rules import PARTITION
from dq_platform.io.files import _uri, filesystem
from dq_platform.io.s3 import sse_options, upload

STAGED_DIR = "chunks"
_NAME = re.compile(r"(?P<run>[0-9a-f]{8})-(?P<chunk>\d{6})-(?P<uid>[0-9a-f]{8})\.parquet$")


@dataclass(frozen=True)
class Staged:
    """One data file written for a partition, not yet part of any table version."""

    path: str  # relative to the table's folder
    size: int
    rows: int
    chunk: int
    stats: str  # Delta's per-file statistics (JSON)
    mtime_ms: int


# The Delta table properties of every table this project creates: a checkpoint every 10 commits
# (Spark's default; delta-rs's is 100). Opening a table replays every JSON commit since its last
# checkpoint (measured: 20 ms at 51 versions, 5 ms after a checkpoint), and one small file's run
# opens its tables about 40 times. Tables created before this get it from the maintenance job.
TABLE_PROPERTIES = {"delta.checkpointInterval": "10"}


def delta_storage_options(root: str) -> dict[str, str] | None:
    """deltalake's options for a table root: the standard AWS variables for s3:// (endpoint for
    S3-compatible stores), conditional puts for safe concurrent commits, server-side encryption."""
    if "://" not in root:
        return None
    opts = {}
    for env in (
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ALLOW_HTTP",
        "AWS_CONDITIONAL_PUT",
    ):
        if settings.is_set(env):
            opts[env] = settings.get(env)
    # the _delta_log entry is written with If-None-Match (S3 conditional writes), so two writers
    # never both create version N
    opts.setdefault("AWS_CONDITIONAL_PUT", "etag")
    opts.update(sse_options())
    return opts


def partition_dir(partition: str) -> str:
    """A folder name for the partition that is safe on every store (the key may hold any character)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", partition)[:48]
    return f"{safe}-{hashlib.sha1(partition.encode()).hexdigest()[:10]}"


def _fs_path(table_uri: str, relative: str) -> tuple[object, str]:
    fs, root = filesystem(_uri(table_uri))
    return fs, f"{root.rstrip('/')}/{relative}"


def _stats(table: pa.Table) -> str:
    """numRecords, and per column nullCount, min and max, as Delta's own writer records them: what
    readers skip files by (a filter on a column without bounds would skip the file)."""
    mins, maxs, nulls = {}, {}, {}
    for field, col in zip(table.schema, table.columns):
        t = field.type
        nulls[field.name] = col.null_count
        kind = (
            "number"
            if pa.types.is_integer(t) or pa.types.is_floating(t)
            else "date"
            if pa.types.is_date(t)
            else "timestamp"
            if pa.types.is_timestamp(t)
            else "text"
            if pa.types.is_string(t) or pa.types.is_large_string(t)
            else None
        )
        if kind is None or col.null_count == len(col):
            continue
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if kind == "number" and pa.types.is_floating(t) and (lo != lo or hi != hi):
            continue  # NaN: no usable bounds
        if kind == "text":
            if max(len(lo), len(hi)) > 64:
                continue  # long text: no bounds rather than truncated ones
        elif kind in ("date", "timestamp"):
            if kind == "timestamp" and t.tz is None:
                lo, hi = lo.isoformat(timespec="microseconds"), hi.isoformat(timespec="microseconds")
            elif kind == "timestamp":
                lo = lo.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                hi = hi.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            else:
                lo, hi = lo.isoformat(), hi.isoformat()
        mins[field.name], maxs[field.name] = lo, hi
    return json.dumps({"numRecords": table.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def stage(table_uri: str, data: pa.Table, *, partition: str, run_id: str, chunk: int) -> Staged:
    """Write `data` (without the partition column) as one Parquet file in the table's folder."""
    if PARTITION in data.column_names:
        data = data.drop_columns([PARTITION])
    relative = f"{STAGED_DIR}/{partition_dir(partition)}/{run_id[:8]}-{chunk:06d}-{uuid.uuid4().hex[:8]}.parquet"
    fs, path = _fs_path(table_uri, relative)
    if table_uri.startswith("s3://"):  # through boto3: Arrow's S3 filesystem cannot encrypt with SSE-KMS
        buffer = io.BytesIO()
        pq.write_table(data, buffer, compression="snappy")
        buffer.seek(0)
        upload(buffer, f"{table_uri.rstrip('/')}/{relative}")
    else:
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as out:
            pq.write_table(data, out, compression="snappy")
    info = fs.get_file_info(path)
    faults.point(f"chunk:{table_uri.rstrip('/').rsplit('/', 1)[-1]}:{chunk}")
    return Staged(
        path=relative,
        size=info.size,
        rows=data.num_rows,
        chunk=chunk,
        stats=_stats(data),
        mtime_ms=int((info.mtime.timestamp() if info.mtime else time.time()) * 1000),
    )


def discard(table_uri: str, staged: list[Staged]) -> None:
    """Delete staged files that will not be committed (a gate failed, a step failed)."""
    for s in staged:
        fs, path = _fs_path(table_uri, s.path)
        try:
            fs.delete_file(path)
        except (FileNotFoundError, OSError):
            pass


def _schema(current: DeltaTable | None, staged_schema: pa.Schema) -> pa.Schema:
    """The table's schema after this commit: its columns, then any new ones (a file with extra columns)."""
    with_partition = staged_schema.append(pa.field(PARTITION, pa.large_string()))
    if current is None:
        return with_partition
    return pa.unify_schemas([pa.schema(current.schema().to_arrow()), with_partition], promote_options="permissive")


def commit_partition(
    table_uri: str,
    staged: list[Staged],
    schema: pa.Schema,
    *,
    partition: str,
    metadata: dict[str, str],
    storage_options: dict[str, str] | None,
    table_name: str,
) -> int:
    """Replace the partition with exactly the staged files, in one Delta commit; the new version.

    Conflicting concurrent commits are retried against the newest version (the partition is
    replaced as a whole, so the last writer's files are the partition's content)."""
    adds = [
        AddAction(s.path, s.size, {PARTITION: partition}, s.mtime_ms, True, s.stats)
        for s in sorted(staged, key=lambda s: s.chunk)
    ]
    faults.point(f"write:{table_name}:inside")
    for attempt in range(6):
        try:
            current = DeltaTable(table_uri, storage_options=storage_options)
        except TableNotFoundError:
            current = None
        props = CommitProperties(custom_metadata=metadata)
        try:
            if current is None:
                create_table_with_add_actions(
                    table_uri,
                    Schema.from_arrow(_schema(None, schema)),
                    adds,
                    mode="error",
                    partition_by=[PARTITION],
                    configuration=TABLE_PROPERTIES,
                    storage_options=storage_options,
                    commit_properties=props,
                )
            else:
                current.create_write_transaction(
                    adds,
                    mode="overwrite",
                    schema=Schema.from_arrow(_schema(current, schema)),
                    partition_by=[PARTITION],
                    partition_filters=[(PARTITION, "=", partition)],
                    commit_properties=props,
                )
            break
        except CommitFailedError:
            if attempt == 5:
                raise
            time.sleep(0.2 * 2**attempt)
        except Exception:  # noqa: BLE001 - a racing creator made the table first: commit against it
            if current is None and attempt < 5:
                continue
            raise
    faults.point(f"write:{table_name}:committed")
    return DeltaTable(table_uri, storage_options=storage_options).version()


def chunk_files(dt: DeltaTable, partition: str) -> list[tuple[str, int]]:
    """The partition's data files in chunk order, with their row counts.

    Files this module staged carry their chunk number in their name; a partition written whole
    (before chunking, or by Delta's own writer) is ordered by its rows' first source line."""
    actions = pa.table(dt.get_add_actions(flatten=True))
    col = f"partition.{PARTITION}"
    if col in actions.column_names:
        actions = actions.filter(pc.equal(actions[col], partition))
    paths = actions["path"].to_pylist()
    rows = actions["num_records"].to_pylist()
    first = actions["min._source_line"].to_pylist() if "min._source_line" in actions.column_names else [0] * len(paths)

    def order(i: int):
        m = _NAME.search(paths[i])
        return (0, int(m["chunk"]), 0) if m else (1, first[i] or 0, paths[i])

    return [(paths[i], int(rows[i] or 0)) for i in sorted(range(len(paths)), key=order)]


def sweep_unreferenced(table_uri: str, partition: str, storage_options: dict[str, str] | None, keep_runs=()) -> int:
    """Delete staged files of this partition that no table version references and that no live run
    (`keep_runs`, run ids) is still writing: what a killed step left behind. The number deleted."""
    try:
        dt = DeltaTable(table_uri, storage_options=storage_options)
    except TableNotFoundError:
        return 0
    fs, folder, found = _staged_files(table_uri, partition)
    if not found:
        return 0
    # A run that committed this table left no strays here; one killed before its commit left all of its files.
    committed = {str(h.get("dagster_run_id", ""))[:8] for h in dt.history(500)}
    current = _current_paths(dt)
    live = {r[:8] for r in keep_runs}
    deleted = 0
    for info in found:
        m = _NAME.search(info.base_name)
        if m is None or f"{folder}/{info.base_name}" in current or m["run"] in committed or m["run"] in live:
            continue
        fs.delete_file(info.path)
        deleted += 1
    return deleted


def _staged_files(table_uri: str, partition: str) -> tuple[object, str, list]:
    """The partition's staged folder (relative), its filesystem and the files in it ([] if none)."""
    folder = f"{STAGED_DIR}/{partition_dir(partition)}"
    fs, path = _fs_path(table_uri, folder)
    try:
        return fs, folder, fs.get_file_info(FileSelector(path, allow_not_found=True))
    except (FileNotFoundError, OSError):
        return fs, folder, []


def _current_paths(dt: DeltaTable) -> set[str]:
    """The data files the table's current version references (relative paths)."""
    return set(pa.table(dt.get_add_actions(flatten=True))["path"].to_pylist())


def discard_run(table_uri: str, partition: str, run_id: str, version: int | None = None) -> int:
    """Delete what `run_id` staged for the partition that the table (at `version`: the one this run
    committed) does not reference: a failed pass's files, or a chunk staged twice because its
    worker died after writing it and the task ran again elsewhere."""
    fs, folder, found = _staged_files(table_uri, partition)
    if not found:
        return 0
    try:
        current = _current_paths(
            DeltaTable(table_uri, version=version, storage_options=delta_storage_options(table_uri))
        )
    except TableNotFoundError:
        current = set()
    deleted = 0
    for info in found:
        m = _NAME.search(info.base_name)
        relative = f"{folder}/{info.base_name}"
        if m and m["run"] == run_id[:8] and relative not in current:
            fs.delete_file(info.path)
            deleted += 1
    return deleted
