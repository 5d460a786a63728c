"""Per-chunk work. Each function runs where the pool puts it (this process, a local worker process
or a Dask worker), reads its chunk itself by URI, writes its rows as staged Delta data files and
returns only small summaries: data never travels through the process that started the run.

raw:      read_raw     source bytes -> raw rows (text as received)          -> staged raw file
cleaned:  judge        raw chunk    -> typed values + every chunk-local rule -> spill, unique keys
          finish       spill + the file-wide answers (duplicates, outliers)  -> staged cleaned + quarantine
masked:   mask         cleaned chunk -> masked + PII scan                   -> staged masked file
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import pickle
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dq_platform.contract import Contract
from dq_platform.engine import rules
from dq_platform.engine.gx_gate import gx_partial
from dq_platform.engine.pandera_gate import pandera_partial
from dq_platform.engine.profiling import profile_summary
from dq_platform.engine.statistics import OUTLIERS
from dq_platform.io.files import _uri, filesystem
from dq_platform.io.frames import from_arrow, to_arrow
from dq_platform.io.source_chunks import Chunk, read_chunk
from dq_platform.io.staging import Staged, stage

_MEMORY: dict[str, object] = {}  # spills of a file processed in this process ("mem:" paths)


def _fs(uri: str):
    return filesystem(_uri(uri))


def put(path: str, obj) -> None:
    """Keep a chunk's intermediate result until its finishing task: in memory for a file processed
    in this process, else as a pickle under the run's staging folder (shared storage for Dask)."""
    if path.startswith("mem:"):
        _MEMORY[path] = obj
        return
    fs, p = _fs(path)
    fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(p) as out:
        out.write(pickle.dumps(obj, protocol=5))


def take(path: str):
    if path.startswith("mem:"):
        return _MEMORY.pop(path)
    fs, p = _fs(path)
    with fs.open_input_stream(p) as f:
        obj = pickle.loads(f.read())
    fs.delete_file(p)
    return obj


def read_file(table_uri: str, relative: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One data file of a table (a chunk), as the warehouse reads a partition: nullable dtypes."""
    fs, root = _fs(table_uri)
    with fs.open_input_file(f"{root.rstrip('/')}/{relative}") as f:
        table = pq.read_table(f, columns=columns)
    return from_arrow(table)


# -- raw ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawTask:
    chunk: Chunk
    contract: Contract
    name: str  # the file's name as delivered
    checksum: str
    table: str  # raw table URI
    partition: str
    run_id: str


@dataclass
class RawDone:
    staged: Staged
    schema: pa.Schema
    rows: int
    parse_errors: int
    columns: list[str]  # the file's own columns, in its order
    profile: object
    seconds: dict = field(default_factory=dict)


def read_raw(task: RawTask) -> RawDone:
    t0 = time.perf_counter()
    frame = read_chunk(task.chunk, task.contract, task.name, task.checksum)
    t1 = time.perf_counter()
    profile = profile_summary(frame, task.contract, "raw")
    data = to_arrow(frame)
    staged = stage(task.table, data, partition=task.partition, run_id=task.run_id, chunk=task.chunk.index)
    return RawDone(
        staged=staged,
        schema=data.schema,
        rows=len(frame),
        parse_errors=int(frame[rules.PARSE_ERROR].notna().sum()),
        columns=[c for c in frame.columns if not c.startswith("_")],
        profile=profile,
        seconds={"read": t1 - t0, "profile_write": time.perf_counter() - t1},
    )


# -- cleaned ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawChunkRef:
    """A raw chunk file and its place in the file."""

    table: str  # raw table URI
    file: str  # data file, relative to the table
    index: int
    offset: int  # rows of the file before this chunk
    received: tuple[str, ...] | None  # the file's own columns (raw's schema may hold other files' too)
    lineage: tuple[str, ...]  # the raw table's "_" columns


def read_raw_chunk(ref: RawChunkRef) -> pd.DataFrame:
    """The chunk's raw rows shaped as a read of the whole partition gives them (its file's columns)."""
    raw = read_file(ref.table, ref.file)
    keep = list(ref.received) if ref.received is not None else [c for c in raw.columns if not c.startswith("_")]
    for c in keep:
        if c not in raw.columns:
            raw[c] = pd.Series(pd.NA, index=raw.index, dtype="string")
    lineage = [c for c in ref.lineage if c != rules.PARTITION]
    for c in lineage:
        if c not in raw.columns:
            raw[c] = pd.Series(pd.NA, index=raw.index, dtype="Int64" if c == rules.SOURCE_LINE else "string")
    return raw[keep + lineage]


@dataclass(frozen=True)
class JudgeTask:
    ref: RawChunkRef
    contract: Contract
    today: pd.Timestamp
    spill: str  # where the chunk's typed values wait for `finish`
    keys: str  # folder of the unique columns' key files ("" when the file is one chunk)
    buckets: int
    statistics: tuple[str, ...]  # columns with declared statistics (outliers, drift)
    published: dict[str, pd.Series] | None = None  # `unique: dataset` values of other published files


@dataclass
class JudgeDone:
    rows: int
    # per column with statistics: positions (in the chunk) and values of rows that may be cleaned
    values: dict[str, tuple[np.ndarray, pd.Series]]
    seconds: dict = field(default_factory=dict)


def judge(task: JudgeTask) -> JudgeDone:
    t0 = time.perf_counter()
    raw = read_raw_chunk(task.ref)
    judged = rules.judge(raw, task.contract, task.today)
    valid = judged.valid_so_far()
    if task.keys:
        for col in task.contract.columns:
            if col.unique:
                _write_keys(task, col.name, judged.frame[col.name], valid)
    # rows that may end in cleaned (for the statistics): every rule passed, duplicates aside, which
    # the file-wide search removes later (a file of one chunk: found here)
    candidates = valid & ~judged.expression_failed()
    for col in task.contract.columns:
        if col.unique and not task.keys:
            candidates &= ~rules.duplicates(judged.frame[col.name], valid)
        if col.unique == rules.DATASET and task.published and col.name in task.published:
            candidates &= ~judged.frame[col.name].isin(task.published[col.name]).to_numpy(dtype=bool)
    pos = np.flatnonzero(candidates)
    values = {name: (pos, judged.frame[name].iloc[pos].reset_index(drop=True)) for name in task.statistics}
    put(task.spill, judged)
    return JudgeDone(rows=len(raw), values=values, seconds={"judge": time.perf_counter() - t0})


def _bucket_of(values: pd.Series, buckets: int) -> np.ndarray:
    if buckets == 1:
        return np.zeros(len(values), "int64")
    return (pd.util.hash_pandas_object(values, index=False).to_numpy() % np.uint64(buckets)).astype("int64")


def _write_keys(task: JudgeTask, column: str, values: pd.Series, valid: np.ndarray) -> None:
    """The chunk's candidate keys (valid rows, value present), spread over hash buckets on disk, so
    the file-wide duplicate search holds one bucket at a time, never the whole key column."""
    sel = valid & values.notna().to_numpy()
    pos = np.flatnonzero(sel)
    keys = pd.DataFrame({"v": values.iloc[pos].reset_index(drop=True), "row": pos + task.ref.offset})
    bucket = _bucket_of(keys["v"], task.buckets)
    fs, root = _fs(task.keys)
    for b in range(task.buckets):
        part = keys[bucket == b]
        folder = f"{root.rstrip('/')}/{column}/{b}"
        fs.create_dir(folder, recursive=True)
        with fs.open_output_stream(f"{folder}/{task.ref.index:06d}.parquet") as out:
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), out)


@dataclass(frozen=True)
class BucketTask:
    keys: str
    column: str
    bucket: int


def duplicate_rows(task: BucketTask) -> np.ndarray:
    """File row numbers (sorted) of the rows in this bucket whose key an earlier row holds."""
    fs, root = _fs(task.keys)
    folder = f"{root.rstrip('/')}/{task.column}/{task.bucket}"
    from pyarrow.fs import FileSelector

    files = sorted(i.path for i in fs.get_file_info(FileSelector(folder, allow_not_found=True)))
    parts = []
    for path in files:
        with fs.open_input_file(path) as f:
            parts.append(pq.read_table(f))
    if not parts:
        return np.empty(0, "int64")
    keys = from_arrow(pa.concat_tables(parts, promote_options="permissive")).sort_values("row", kind="stable")
    return np.sort(keys["row"].to_numpy(dtype="int64")[keys["v"].duplicated(keep="first").to_numpy()])


@dataclass(frozen=True)
class FinishTask:
    ref: RawChunkRef
    contract: Contract
    spill: str
    duplicates: dict[str, np.ndarray] | None  # per unique column, chunk positions (None: judge in the chunk)
    published: dict[str, pd.Series] | None
    outliers: tuple[np.ndarray, pd.Series] | None  # chunk positions and labels of flagged rows
    outliers_judged: bool  # the contract declares outliers: cleaned gets the _outliers column
    cleaned: str  # table URIs
    quarantine: str
    partition: str
    run_id: str
    date_columns: tuple[str, ...]
    now: pd.Timestamp
    hash_key: str = ""  # the run's secret for the gates' uniqueness fingerprints (never stored)


@dataclass
class FinishDone:
    cleaned: Staged
    quarantine: Staged
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
    seconds: dict = field(default_factory=dict)


def finish(task: FinishTask) -> FinishDone:
    t0 = time.perf_counter()
    raw = read_raw_chunk(task.ref)
    judged = take(task.spill)
    uniques = rules.unique_checks(judged, task.contract, task.published, duplicate_rows=task.duplicates)
    result = rules.split(raw, judged, uniques)
    del raw, judged
    cleaned, quarantine = result.cleaned, result.quarantine
    quarantine[rules.RUN_ID] = task.run_id
    if task.outliers_judged:
        labels = pd.Series(pd.NA, index=cleaned.index, dtype=pd.StringDtype("pyarrow"))
        if task.outliers is not None and len(task.outliers[0]):
            pos, text = task.outliers
            at = np.searchsorted(result.kept, pos)
            labels.iloc[at] = text.to_numpy(dtype=object)
        cleaned[OUTLIERS] = labels
    t1 = time.perf_counter()
    profile = profile_summary(cleaned, task.contract, "cleaned")
    pandera = pandera_partial(task.contract, cleaned, now=task.now, hash_key=task.hash_key or None)
    gx = gx_partial(task.contract, cleaned, now=task.now, hash_key=task.hash_key or None)
    t2 = time.perf_counter()
    c_data, q_data = to_arrow(cleaned, list(task.date_columns)), to_arrow(quarantine)
    index = task.ref.index
    staged_c = stage(task.cleaned, c_data, partition=task.partition, run_id=task.run_id, chunk=index)
    staged_q = stage(task.quarantine, q_data, partition=task.partition, run_id=task.run_id, chunk=index)
    return FinishDone(
        cleaned=staged_c,
        quarantine=staged_q,
        cleaned_schema=c_data.schema,
        quarantine_schema=q_data.schema,
        rows_in=result.rows_in,
        rows_cleaned=len(cleaned),
        rows_quarantined=len(quarantine),
        failures=result.failures,
        rule_ids=result.rule_ids,
        profile=profile,
        pandera=pandera,
        gx=gx,
        seconds={
            "cleaning": judged_seconds(result, "cleaning"),
            "rules": judged_seconds(result, "rules"),
            "gates": t2 - t1,
            "finish": time.perf_counter() - t0,
        },
    )


def judged_seconds(result: rules.RuleResult, key: str) -> float:
    return float(result.seconds.get(key, 0.0))


# -- masked -------------------------------------------------------------------------------------------


def key_fingerprint(secret: bytes) -> str:
    """A one-way fingerprint of the masking key, so a worker can prove it masks with the same key
    without the key ever travelling with a task (workers read DQ_MASKING_KEY themselves)."""
    return hmac.new(secret, b"dq-platform worker key check", hashlib.sha256).hexdigest()[:16]


class WorkerKeyError(RuntimeError):
    """A worker's DQ_MASKING_KEY differs from the run's (or is missing): it must not mask."""


@dataclass(frozen=True)
class MaskTask:
    contract: Contract
    cleaned: str  # cleaned table URI
    file: str
    index: int
    masked: str  # masked table URI
    partition: str
    run_id: str
    allow_dev_key: bool
    fingerprint: str
    reference_date: dt.date
    date_columns: tuple[str, ...]


@dataclass
class MaskDone:
    staged: Staged
    schema: pa.Schema
    rows: int
    findings: dict[str, dict[str, int]]  # column -> PII kind -> values flagged
    echoes: dict[str, int]
    seconds: dict = field(default_factory=dict)


def mask(task: MaskTask, key=None) -> MaskDone:
    """Mask one cleaned chunk and scan the result. `key`: the run's key when masking in this
    process; a worker resolves its own from DQ_MASKING_KEY and checks its fingerprint."""
    from dq_platform.engine.masking import mask_frame, resolve_masking_key
    from dq_platform.engine.pii import raw_value_echo, scan_frame

    if key is None:
        try:
            key = resolve_masking_key(allow_dev_key=task.allow_dev_key)
        except ValueError:  # MaskingKeyError: this worker has no key at all
            raise WorkerKeyError(
                "this worker has no DQ_MASKING_KEY: set the run's masking key on every worker"
            ) from None
        if key_fingerprint(key._secret) != task.fingerprint:
            raise WorkerKeyError(
                "this worker's DQ_MASKING_KEY is not the run's masking key: set the same DQ_MASKING_KEY on every worker"
            )
    t0 = time.perf_counter()
    cleaned = read_file(task.cleaned, task.file).drop(columns=[rules.PARTITION], errors="ignore")
    out = mask_frame(cleaned, task.contract, key, reference_date=task.reference_date)
    t1 = time.perf_counter()
    out = out.drop(columns=[c for c in (rules.SOURCE_FILE, rules.CHECKSUM) if c in out.columns])
    findings = scan_frame(out.drop(columns=[c for c in out.columns if c.startswith("_")]))
    echoes = raw_value_echo(out, cleaned, task.contract)
    del cleaned
    t2 = time.perf_counter()
    data = to_arrow(out, list(task.date_columns))
    staged = stage(task.masked, data, partition=task.partition, run_id=task.run_id, chunk=task.index)
    return MaskDone(
        staged=staged,
        schema=data.schema,
        rows=len(out),
        findings=findings,
        echoes=echoes,
        seconds={"masking": t1 - t0, "check_pii_leak": t2 - t1},
    )
