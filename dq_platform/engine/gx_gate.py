"""The Great Expectations gate: the cleaned frame against a GX suite generated from the contract.

GX is imported on first use (it takes seconds; `dq-platform ingest`'s worker processes are forked
with it already imported, ops/ingest_files.py). The other engine is pandera_gate.py; what both share is validation.py.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dq_platform.contract import ColumnType, Contract
from dq_platform.engine.formats import FORMAT_PATTERNS
from dq_platform.engine.gate_parts import ColumnHashes, column_hashes, duplicate_rows, merged_dtypes
from dq_platform.engine.validation import (
    LINEAGE_PREFIX,
    GateResult,
    bounds,
    dtype_names,
    failure,
    finish,
    gate_result,
    length_label,
    positional,
    quiet_regex_groups,
)

if TYPE_CHECKING:  # pragma: no cover
    import great_expectations as gx

# GX compares `dtype.type` only, so these are as precise as GX can be: Int64 and int64 both
# have type int64, "string" and "str" both str. pandera's exact check is the strict one.
_GX_TYPES: Mapping[ColumnType, str] = MappingProxyType(
    {
        ColumnType.integer: "int64",
        ColumnType.float: "float64",
        ColumnType.string: "str",
        ColumnType.date: "datetime64",
        ColumnType.timestamp: "datetime64",
        ColumnType.boolean: "bool",
    }
)

_GX_LOCK = threading.RLock()
_GX_CONTEXT = None

# BASIC: counts and percents, without the value counts and row positions SUMMARY computes
# (measured ~0.5-1 s more per million rows when values fail); partial_unexpected_count 0 so
# GX does not even collect sample values. Row positions therefore come from pandera only.
_GX_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


def _gx():
    """Import GX on first use (it takes seconds), with analytics off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations

    return great_expectations


def _gx_context():
    """The process-wide ephemeral context, created once: it holds no data between runs
    (each run adds and removes its own datasource) and no suites (they are never saved)."""
    global _GX_CONTEXT
    with _GX_LOCK:
        if _GX_CONTEXT is None:
            gx_ = _gx()
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx_.get_context(mode="ephemeral")
            # no tqdm "Calculating Metrics" bars in the platform's logs
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            try:
                ctx.enable_analytics(False)
            except Exception:  # older/newer GX without the switch: the env var covers it
                pass
            _GX_CONTEXT = ctx
        return _GX_CONTEXT


def gx_suite(contract: Contract, *, now: pd.Timestamp | None = None) -> gx.ExpectationSuite:
    """A GX 1.x suite for the cleaned frame of `contract` (lineage columns dropped first).

    Each expectation's meta carries the contract rule it enforces, so results are reported
    in the same vocabulary as pandera's. The suite is not added to any context.
    """
    gx_ = _gx()
    import great_expectations.expectations as gxe

    expectations = []

    def add(cls, rule: str, label: str, **kwargs) -> None:
        expectations.append(cls(meta={"rule": rule, "label": label}, **kwargs))

    add(
        gxe.ExpectTableColumnsToMatchSet,
        "columns",
        "columns match the contract",
        column_set=[c.name for c in contract.columns],
        exact_match=True,
    )
    for col in contract.columns:
        c = col.name
        add(
            gxe.ExpectColumnValuesToBeOfType,
            "dtype",
            f"type {_GX_TYPES[col.type]}",
            column=c,
            type_=_GX_TYPES[col.type],
        )
        if col.required:
            add(gxe.ExpectColumnValuesToNotBeNull, "required", "not null", column=c)
        if col.unique:
            add(gxe.ExpectColumnValuesToBeUnique, "unique", "unique", column=c)
        for rule, op, label, value in bounds(col, now):
            if isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            bound = {"min_value": value} if op == "ge" else {"max_value": value}
            add(gxe.ExpectColumnValuesToBeBetween, rule, label, column=c, **bound)
        if col.min_length is not None or col.max_length is not None:
            add(
                gxe.ExpectColumnValueLengthsToBeBetween,
                "length",
                length_label(col),
                column=c,
                min_value=col.min_length,
                max_value=col.max_length,
            )
        if col.pattern is not None:
            add(gxe.ExpectColumnValuesToMatchRegex, "pattern", f"pattern {col.pattern}", column=c, regex=col.pattern)
        if col.format is not None:
            add(
                gxe.ExpectColumnValuesToMatchRegex,
                "format",
                f"format {col.format.value}",
                column=c,
                regex=FORMAT_PATTERNS[col.format],
            )
        if col.allowed_values is not None:
            add(
                gxe.ExpectColumnValuesToBeInSet,
                "allowed_values",
                f"in {col.allowed_values}",
                column=c,
                value_set=list(col.allowed_values),
            )
    # Passed to the constructor: add_expectation() would look the suite up in a context's store.
    return gx_.ExpectationSuite(name=f"{contract.name}_cleaned", expectations=expectations)


def _raised(exception_info: Any) -> bool:
    """GX nests exception info per metric when a metric fails; find any raised flag."""
    if not isinstance(exception_info, dict):
        return False
    if "raised_exception" in exception_info:
        return bool(exception_info.get("raised_exception"))
    return any(_raised(v) for v in exception_info.values())


def _outcome(r) -> dict:
    """One expectation's result on one chunk, without values: success, whether it raised,
    the failing row count (map expectations) and the mismatched column names (column set)."""
    result = r.result or {}
    mismatched = (result.get("details") or {}).get("mismatched") or {}
    return {
        "success": bool(r.success),
        "raised": _raised(r.exception_info),
        "count": result.get("unexpected_count"),
        "missing": tuple(mismatched.get("missing") or ()),
        "unexpected": tuple(mismatched.get("unexpected") or ()),
    }


def _gx_failures(specs: tuple[tuple[str, str, str | None], ...], outcomes: list[dict], rows: int) -> list[dict]:
    """Failures of one chunk, in the vocabulary shared with pandera (no values: GX's
    partial_unexpected_list is never read, and BASIC with partial_unexpected_count 0 leaves
    it empty anyway). Positions are not collected (see _GX_RESULT_FORMAT)."""
    failures = []
    for (name, rule, column), o in zip(specs, outcomes, strict=True):
        if o["success"]:
            continue
        if o["raised"]:
            failures.append(failure(check=name, rule=rule, column=column, kind="error"))
        elif rule == "columns":
            names = [(n, "missing") for n in o["missing"]] + [(n, "unexpected") for n in o["unexpected"]]
            for n, detail in names or [(None, None)]:
                failures.append(failure(check=name, rule=rule, column=n, kind="schema", detail=detail))
        elif o["count"] is not None:
            failures.append(failure(check=name, rule=rule, column=column, kind="rows", count=o["count"], rows=rows))
        else:  # aggregate expectation (dtype): no rows to count
            failures.append(failure(check=name, rule=rule, column=column, kind="schema"))
    return failures


def _gx_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame GX sees: lineage columns dropped, index positional, and nullable numbers
    handed over as numpy where that is lossless.

    GX's pandas ExpectColumnValuesToBeBetween is vectorized only for numpy int/float (and
    datetime64[ns]) columns; on Int64/Float64 it calls a Python function per value (about
    1.7 s per expectation per million rows). Float64 -> float64 (NA -> NaN) and NA-free
    Int64 -> int64 are exact and invisible to GX's type check, which sees int64/float64
    either way. An Int64 column that holds nulls stays Int64 (slow path, still correct).
    """
    frame = df[[c for c in df.columns if not str(c).startswith(LINEAGE_PREFIX)]]
    converted = {}
    for name in frame.columns:
        s = frame[name]
        dtype = str(s.dtype)
        if dtype == "Float64":
            converted[name] = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index, name=name)
        elif dtype == "Int64" and not s.hasnans:
            converted[name] = pd.Series(s.to_numpy(dtype="int64"), index=s.index, name=name)
    if converted:
        frame = frame.assign(**converted)
    return positional(frame)


@contextmanager
def _no_gx_fingerprint():
    """Skip the md5 fingerprint GX's pandas engine takes of every batch under 1 GB.

    It hashes the whole frame (about 1.9 s per million customers rows, twice per
    batch.validate: once for the batch, once for the validator's own batch) only to put a
    batch marker in the result, which this module discards. Restored on exit; callers hold
    _GX_LOCK. If GX renames the constant this silently does nothing (slower, still correct).
    """
    try:
        from great_expectations.execution_engine import pandas_execution_engine as pee
    except ImportError:  # pragma: no cover
        yield
        return
    if not hasattr(pee, "HASH_THRESHOLD"):
        yield
        return
    saved = pee.HASH_THRESHOLD
    pee.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        pee.HASH_THRESHOLD = saved


@dataclass(frozen=True)
class GxPartial:
    """The GX gate on one chunk, mergeable with the file's other chunks (`merge_gx`).

    Picklable and free of data values: per expectation (suite order) its spec (type, rule,
    column) and its outcome on the chunk (success, raised, failing row count, mismatched
    column names); the dtype names seen; fingerprints of the unique columns (gate_parts)."""

    rows: int
    specs: tuple[tuple[str, str, str | None], ...]
    outcomes: tuple[dict, ...]
    dtypes: tuple[tuple[str, str], ...]
    unique: tuple[tuple[int, ColumnHashes | None], ...]  # (expectation index, None if GX could not run it)
    seconds: float


_SUITES: dict[tuple[str, pd.Timestamp | None], tuple[Any, tuple]] = {}


def _suites(contract: Contract, now: pd.Timestamp | None):
    """(the suite GX runs per chunk: without uniqueness, spec per expectation of the full
    suite), cached per process by the contract's content and `now` (a chunk per call adds
    up). GX may return results in another order: meta["index"] is each one's place."""
    key = (contract.model_dump_json(), now)
    cached = _SUITES.get(key)
    if cached is None:
        gx_ = _gx()
        full = gx_suite(contract, now=now)
        local = [
            e.copy(update={"meta": {**e.meta, "index": i}})
            for i, e in enumerate(full.expectations)
            if e.meta["rule"] != "unique"
        ]
        chunked = gx_.ExpectationSuite(name=full.name, expectations=local)
        specs = tuple(
            (e.expectation_type, (e.meta or {})["rule"], getattr(e, "column", None)) for e in full.expectations
        )
        cached = _SUITES[key] = (chunked, specs)
        while len(_SUITES) > 16:  # a few contracts and days per worker process
            _SUITES.pop(next(iter(_SUITES)))
    return cached


def _batch_definition():
    """A datasource + whole-dataframe batch definition, added once per process: adding and
    deleting one per call cost ~0.1 CPU-s per call, which a chunk per call multiplies. The
    frame is passed per call as a batch parameter; `_forget_batches` drops GX's own
    references to it after each call. Callers hold _GX_LOCK."""
    global _GX_BATCH_DEF
    if _GX_BATCH_DEF is None:
        ds = _gx_context().data_sources.add_pandas(f"dq-cleaned-{uuid.uuid4().hex}")
        _GX_BATCH_DEF = ds.add_dataframe_asset("cleaned").add_batch_definition_whole_dataframe("whole")
    return _GX_BATCH_DEF


def _forget_batches(batch_def) -> None:
    """Drop the batches (and their frames) GX's execution engine caches per datasource, so no
    frame outlives the call that validated it."""
    manager = batch_def.data_asset.datasource.get_execution_engine().batch_manager
    manager.reset_batch_cache()
    manager.batch_data_cache.clear()


_GX_BATCH_DEF = None


def gx_partial(
    contract: Contract, chunk: pd.DataFrame, *, now: pd.Timestamp | None, hash_key: str | None = None
) -> GxPartial:
    """Run the suite minus uniqueness on one chunk and fingerprint the unique columns, so
    `merge_gx` answers the whole file. Every chunk of a file must get the same `now` (and
    `hash_key`). Lineage columns are dropped first (GX cannot ignore a name prefix)."""
    started = time.perf_counter()
    chunked, specs = _suites(contract, now)
    frame = _gx_frame(chunk)
    with _GX_LOCK, _no_gx_fingerprint(), quiet_regex_groups():
        batch_def = _batch_definition()
        try:
            batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
            res = batch.validate(chunked, result_format=_GX_RESULT_FORMAT)
        finally:
            batch = None
            _forget_batches(batch_def)
    local = {r.expectation_config.meta["index"]: r for r in res.results}
    outcomes, unique = [], []
    for i, (_name, rule, column) in enumerate(specs):
        if rule != "unique":
            outcomes.append(_outcome(local[i]))
            continue
        runs = column in frame.columns
        unique.append((i, column_hashes(frame[column], hash_key) if runs else None))
        outcomes.append({"success": runs, "raised": not runs, "count": None, "missing": (), "unexpected": ()})
    return GxPartial(
        rows=len(frame),
        specs=specs,
        outcomes=tuple(outcomes),
        dtypes=tuple(dtype_names(chunk).items()),
        unique=tuple(unique),
        seconds=time.perf_counter() - started,
    )


def merge_gx(contract: Contract, parts: list[GxPartial]) -> GateResult:
    """The GX gate over the whole file from its chunks' partials, in file order: the same
    result as `run_gx` on the concatenated chunks (duration aside). Per expectation: it
    succeeds if it succeeds on every chunk, could not run if it could not on some chunk,
    failing rows add up; uniqueness is resolved from the fingerprints of all chunks."""
    if not parts:
        raise ValueError("merge_gx needs at least one chunk (an empty file is one empty chunk)")
    started = time.perf_counter()
    rows = sum(p.rows for p in parts)
    specs = parts[0].specs
    merged = []
    for i in range(len(specs)):
        seen = [p.outcomes[i] for p in parts]
        counts = [o["count"] for o in seen if o["count"] is not None]
        merged.append(
            {
                "success": all(o["success"] for o in seen),
                "raised": any(o["raised"] for o in seen),
                "count": sum(counts) if counts else None,
                "missing": tuple(dict.fromkeys(n for o in seen for n in o["missing"])),
                "unexpected": tuple(dict.fromkeys(n for o in seen for n in o["unexpected"])),
            }
        )
    for i, _ in parts[0].unique:
        hashes = [dict(p.unique)[i] for p in parts]
        if merged[i]["raised"]:
            continue
        count, _positions = duplicate_rows(hashes)  # GX reports no positions (BASIC)
        merged[i].update(success=count == 0, count=count)
    failures = finish(_gx_failures(specs, merged, rows), contract, merged_dtypes([p.dtypes for p in parts]))
    unsuccessful = sum(not o["success"] for o in merged)
    seconds = sum(p.seconds for p in parts)
    return gate_result(
        "great_expectations", contract, rows, len(specs), failures, unsuccessful, started, seconds=seconds
    )


def run_gx(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with the contract's GX suite on the ephemeral context: the
    one-chunk case of `gx_partial` + `merge_gx`, so chunked and whole runs share one path.

    Lineage columns are dropped first, then the columns must match the contract exactly.
    GX's context is not thread-safe, so validations are serialized (_GX_LOCK)."""
    return merge_gx(contract, [gx_partial(contract, df, now=now)])
