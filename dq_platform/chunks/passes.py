"""A layer's pass over one file: plan its chunks, run the chunk tasks on the pool, merge their
summaries into the whole file's answers. Publication (one Delta commit per layer and partition)
is the caller's, once it knows the gates' verdict; until then the staged files are invisible.

The cleaned pass is two rounds because two answers need the whole file: which rows repeat an
earlier row (`unique` columns: a bucketed pass over keys spilled to disk, one bucket in memory at a
time) and which values are outliers (thresholds from every cleaned value of the declared columns).
A file that is one chunk runs both rounds in this process without a spill.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow.fs import FileSelector, FileType

from dq_platform import faults, settings
from dq_platform.chunks import pool
from dq_platform.chunks.tasks import (
    BucketTask,
    FinishTask,
    JudgeTask,
    MaskTask,
    RawChunkRef,
    RawTask,
    WorkerKeyError,
    _fs,
    duplicate_rows,
    finish,
    judge,
    key_fingerprint,
    mask,
    read_raw,
)
from dq_platform.contract import Contract
from dq_platform.engine.gx_gate import merge_gx
from dq_platform.engine.pandera_gate import merge_pandera
from dq_platform.engine.profiling import merge_profiles
from dq_platform.io import source_chunks
from dq_platform.io.readers import max_source_bytes
from dq_platform.io.staging import Staged, discard_run

CHUNK_ENV = "DQ_CHUNK_MB"
MIN_SPLIT = 8 << 20  # below this a file is one chunk, processed in the run's own process
KEYS_PER_BUCKET = 4_000_000  # unique keys held in memory at once by the duplicate search


def chunk_bytes(size: int) -> int:
    """Source bytes per chunk: DQ_CHUNK_MB (default 64), and smaller for a file that would
    otherwise leave workers idle (never below 8 MB: a chunk has a fixed cost)."""
    configured = settings.get(CHUNK_ENV)
    try:
        cap = int(float(configured) * 2**20) if configured else 64 << 20
    except ValueError:
        raise ValueError(f"{CHUNK_ENV} must be a number of megabytes, not {configured!r}") from None
    cap = max(cap, 1)
    if not configured:
        cap = max(MIN_SPLIT, min(cap, math.ceil(size / max(1, pool.workers()))))
    return min(cap, max_source_bytes())  # a chunk is read in one piece: never above that limit


def merge_schemas(schemas: list[pa.Schema]) -> pa.Schema:
    return pa.unify_schemas(schemas, promote_options="permissive")


def staging_folder(warehouse_root: str, run_id: str) -> str:
    """The run's scratch space beside the tables (spills, key buckets): deleted when a pass ends."""
    return f"{warehouse_root.rstrip('/')}/_staging/{run_id}"


def remove_folder(uri: str) -> None:
    fs, path = _fs(uri)
    try:
        fs.delete_dir(path)
    except (FileNotFoundError, OSError):
        pass


def sweep_staging(warehouse_root: str, live_runs: set[str]) -> int:
    """Delete scratch folders of runs no longer running (a killed run's spills)."""
    fs, path = _fs(f"{warehouse_root.rstrip('/')}/_staging")
    try:
        found = fs.get_file_info(FileSelector(path, allow_not_found=True))
    except (FileNotFoundError, OSError):
        return 0
    gone = 0
    for info in found:
        if info.type == FileType.Directory and info.base_name not in live_runs:
            fs.delete_dir(info.path)
            gone += 1
    return gone


def _guarded(tables: list[str], partition: str, run_id: str, work: Callable):
    """Run `work`; on any failure delete what this run staged for the partition, then re-raise."""
    try:
        return work()
    except BaseException:
        for t in tables:
            discard_run(t, partition, run_id)
        raise


# -- raw ---------------------------------------------------------------------------------------------


@dataclass
class RawPass:
    staged: list[Staged]
    schema: pa.Schema
    rows: int
    parse_errors: int
    columns: list[str]
    profile: object
    chunks: int
    seconds: dict = field(default_factory=dict)


def raw_pass(
    uri: str, contract: Contract, *, name: str, checksum: str, table: str, partition: str, run_id: str
) -> RawPass:
    """The file's raw rows staged chunk by chunk, and their merged profile."""
    fs, path = _fs(uri)
    size = fs.get_file_info(path).size or 0
    chunks = source_chunks.plan(uri, contract, chunk_bytes(size))

    def tasks(cs):
        return [RawTask(c, contract, name, checksum, table, partition, run_id) for c in cs]

    def work():
        if len(chunks) == 1:  # a small file: read here, no pool or cluster round trip
            return [read_raw(t) for t in tasks(chunks)]
        try:
            return pool.run_tasks(read_raw, tasks(chunks), what=f"read {name}")
        except source_chunks.BoundaryError:
            discard_run(table, partition, run_id)
            whole = source_chunks.Chunk(uri, 0, 0, size, 1, header_end=-1)
            return pool.run_tasks(read_raw, tasks([whole]), what=f"read {name}")

    done = _guarded([table], partition, run_id, work)
    seconds: dict[str, float] = {}
    for d in done:
        for k, v in d.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    return RawPass(
        staged=[d.staged for d in done],
        schema=merge_schemas([d.schema for d in done]),
        rows=sum(d.rows for d in done),
        parse_errors=sum(d.parse_errors for d in done),
        columns=done[0].columns,
        profile=merge_profiles([d.profile for d in done], contract, "raw"),
        chunks=len(done),
        seconds=seconds,
    )


# -- cleaned -----------------------------------------------------------------------------------------


@dataclass
class CleanPass:
    cleaned: list[Staged]
    quarantine: list[Staged]
    cleaned_schema: pa.Schema
    quarantine_schema: pa.Schema
    rows_in: int
    rows_cleaned: int
    rows_quarantined: int
    failures: dict[str, int]
    rule_ids: list[str]
    profile: object
    pandera: object
    gx: object
    chunks: int
    seconds: dict = field(default_factory=dict)


def clean_pass(
    contract: Contract,
    *,
    raw_files: list[tuple[str, int]],
    raw: str,
    cleaned: str,
    quarantine: str,
    partition: str,
    run_id: str,
    received: list[str] | None,
    lineage: list[str],
    scratch: str,
    published: dict[str, pd.Series] | None,
    statistics: Callable[[pd.DataFrame], pd.Series | None],
    date_columns: list[str],
    today: pd.Timestamp,
    now: pd.Timestamp,
) -> CleanPass:
    """Type and judge every raw chunk, find the file's duplicates and outliers, split each chunk
    into cleaned and quarantine rows (staged), and merge profiles and gate results.

    `statistics(values)`: given the declared-statistics columns of every row that is cleaned (in
    file order), evaluates them and returns the `_outliers` labels (or None)."""
    offsets = np.concatenate(([0], np.cumsum([n for _, n in raw_files])))
    refs = [
        RawChunkRef(raw, f, i, int(offsets[i]), tuple(received) if received is not None else None, tuple(lineage))
        for i, (f, _) in enumerate(raw_files)
    ]
    single = len(refs) <= 1
    stat_columns = tuple(c.name for c in contract.columns if c.statistics is not None)
    outliers_judged = any(c.statistics is not None and c.statistics.outliers for c in contract.columns)
    unique = [c.name for c in contract.columns if c.unique]
    total = int(offsets[-1])
    buckets = max(1, math.ceil(total / KEYS_PER_BUCKET))
    tag = uuid.uuid4().hex[:8]
    hash_key = secrets.token_hex(16)  # fingerprints of unique values are unguessable outside this pass
    spill = [f"mem:{tag}-{r.index}" if single else f"{scratch}/spill/{tag}/{r.index:06d}.pickle" for r in refs]
    keys = "" if single or not unique else f"{scratch}/keys/{tag}"

    # a file of one chunk runs here, with its spill in memory (and no pool or cluster round trip)
    run = (lambda fn, items, what: [fn(i) for i in items]) if single else pool.run_tasks

    def work() -> list:
        judged = run(
            judge,
            [JudgeTask(r, contract, today, spill[r.index], keys, buckets, stat_columns, published) for r in refs],
            what="type and judge",
        )
        faults.point(f"chunks:{cleaned.rstrip('/').rsplit('/', 1)[-1]}:judged")
        duplicates = None
        if keys:
            found = run(
                duplicate_rows, [BucketTask(keys, c, b) for c in unique for b in range(buckets)], what="duplicates"
            )
            per_column = {
                c: np.sort(np.concatenate(found[i * buckets : (i + 1) * buckets])) for i, c in enumerate(unique)
            }
            duplicates = [
                {c: rows[(rows >= offsets[i]) & (rows < offsets[i + 1])] - offsets[i] for c, rows in per_column.items()}
                for i in range(len(refs))
            ]
        labels = _outliers(judged, duplicates, stat_columns, statistics, contract)
        return run(
            finish,
            [
                FinishTask(
                    ref=r,
                    contract=contract,
                    spill=spill[r.index],
                    duplicates=None if duplicates is None else duplicates[r.index],
                    published=published,
                    outliers=labels[r.index] if labels is not None else None,
                    outliers_judged=outliers_judged,
                    cleaned=cleaned,
                    quarantine=quarantine,
                    partition=partition,
                    run_id=run_id,
                    date_columns=tuple(date_columns),
                    now=now,
                    hash_key=hash_key,
                )
                for r in refs
            ],
            what="clean and split",
        )

    try:
        done = _guarded([cleaned, quarantine], partition, run_id, work)
    finally:
        if not single:
            remove_folder(scratch)  # spills and key buckets: only this pass of this run writes there
    failures: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for d in done:
        for k, v in d.failures.items():
            failures[k] = failures.get(k, 0) + v
        for k, v in d.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    order = {rid: i for i, rid in enumerate(done[0].rule_ids)} if done else {}
    failures = dict(
        sorted(failures.items(), key=lambda kv: order.get(kv[0], len(order)))
    )  # rule order, as in one piece
    return CleanPass(
        cleaned=[d.cleaned for d in done],
        quarantine=[d.quarantine for d in done],
        cleaned_schema=merge_schemas([d.cleaned_schema for d in done]),
        quarantine_schema=merge_schemas([d.quarantine_schema for d in done]),
        rows_in=sum(d.rows_in for d in done),
        rows_cleaned=sum(d.rows_cleaned for d in done),
        rows_quarantined=sum(d.rows_quarantined for d in done),
        failures=failures,
        rule_ids=done[0].rule_ids if done else [],
        profile=merge_profiles([d.profile for d in done], contract, "cleaned"),
        pandera=merge_pandera(contract, [d.pandera for d in done]),
        gx=merge_gx(contract, [d.gx for d in done]),
        chunks=len(done),
        seconds=seconds,
    )


def _outliers(judged, duplicates, stat_columns, statistics, contract) -> list | None:
    """The declared statistics over every cleaned value of the file; per chunk, the positions and
    labels of the rows flagged as outliers."""
    if not stat_columns:
        statistics(pd.DataFrame())
        return None
    per_chunk_rows, frames = [], []
    for i, j in enumerate(judged):
        positions = j.values[stat_columns[0]][0]  # the same candidate rows for every column
        cols = {name: j.values[name][1] for name in stat_columns}
        if duplicates is not None:  # rows repeating an earlier row of the file are not cleaned
            dup = np.concatenate([duplicates[i][c] for c in duplicates[i]] or [np.empty(0, "int64")])
            keep = ~np.isin(positions, dup)
            positions = positions[keep]
            cols = {name: values[keep].reset_index(drop=True) for name, values in cols.items()}
        per_chunk_rows.append(positions)
        frames.append(pd.DataFrame(cols))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    labels = statistics(frame)
    if labels is None:
        return None
    out, start = [], 0
    for pos in per_chunk_rows:
        mine = labels.iloc[start : start + len(pos)].reset_index(drop=True)
        flagged = mine.notna().to_numpy()
        out.append((pos[flagged], mine[flagged].reset_index(drop=True)))
        start += len(pos)
    return out


# -- masked ------------------------------------------------------------------------------------------


@dataclass
class MaskPass:
    staged: list[Staged]
    schema: pa.Schema | None
    rows: int
    findings: dict[str, dict[str, int]]
    echoes: dict[str, int]
    chunks: int
    where: str
    seconds: dict = field(default_factory=dict)


def mask_pass(
    contract: Contract,
    *,
    cleaned_files: list[tuple[str, int]],
    cleaned: str,
    masked: str,
    partition: str,
    run_id: str,
    key,
    allow_dev_key: bool,
    reference_date,
    date_columns: list[str],
) -> MaskPass:
    """Mask and scan every cleaned chunk (staged). Workers mask with their own DQ_MASKING_KEY,
    proven equal to the run's by a fingerprint; if they cannot, this process masks."""
    tasks = [
        MaskTask(
            contract,
            cleaned,
            f,
            i,
            masked,
            partition,
            run_id,
            allow_dev_key,
            key_fingerprint(key._secret),
            reference_date,
            tuple(date_columns),
        )
        for i, (f, _) in enumerate(cleaned_files)
    ]

    def work():
        if len(tasks) > 1:
            try:
                return pool.run_tasks(mask, tasks, what="mask and scan"), pool.where()
            except WorkerKeyError as e:
                discard_run(masked, partition, run_id)
                return [mask(t, key) for t in tasks], f"in-process ({e})"
        return [mask(t, key) for t in tasks], "in-process"

    done, where = _guarded([masked], partition, run_id, work)
    findings: dict[str, dict[str, int]] = {}
    echoes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for d in done:
        for col, kinds in d.findings.items():
            for kind, n in kinds.items():
                findings.setdefault(col, {})[kind] = findings.get(col, {}).get(kind, 0) + n
        for col, n in d.echoes.items():
            echoes[col] = echoes.get(col, 0) + n
        for k, v in d.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    return MaskPass(
        staged=[d.staged for d in done],
        schema=merge_schemas([d.schema for d in done]) if done else None,
        rows=sum(d.rows for d in done),
        findings=findings,
        echoes=echoes,
        chunks=len(done),
        where=where,
        seconds=seconds,
    )
