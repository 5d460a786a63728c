"""The Great Expectations gate: the cleaned frame against a GX suite generated from the contract.

GX is imported on first use (it takes seconds) and can be prewarmed in a thread while the raw
read and the row rules run. The other engine is pandera_gate.py; what both share is validation.py.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dq_platform.contract import ColumnType, Contract
from dq_platform.engine.formats import FORMAT_PATTERNS
from dq_platform.engine.validation import (
    LINEAGE_PREFIX,
    GateResult,
    bounds,
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


def prewarm() -> threading.Thread:
    """Import pandera and GX and build the GX context in a background thread, now.

    Importing GX costs ~3 s of a run (a run is a fresh process). Started when the clean step
    begins, it overlaps the raw read and the row rules, which spend most of their time in
    Arrow/NumPy kernels that release the GIL; `_gx_context` waits on the same lock if the
    gate needs GX before the thread is done. Failures are left to the gate itself to raise.
    """

    def warm() -> None:
        try:
            import pandera.pandas  # noqa: F401

            _gx_context()
        except Exception:  # pragma: no cover - the gate reports the real error when it runs
            pass

    thread = threading.Thread(target=warm, name="dq-gx-prewarm", daemon=True)
    thread.start()
    return thread


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


def _gx_failures(results: list, rows: int) -> list[dict]:
    """Failures from GX results, dropping partial_unexpected_list/observed values."""
    failures = []
    for r in results:
        if r.success:
            continue
        cfg = r.expectation_config
        name, meta = cfg.type, (cfg.meta or {})
        rule = meta.get("rule", name)
        column = cfg.kwargs.get("column")
        if _raised(r.exception_info):
            failures.append(failure(check=name, rule=rule, column=column, kind="error"))
            continue
        result = r.result or {}
        if rule == "columns":
            mismatched = (result.get("details") or {}).get("mismatched") or {}
            names = [(n, "missing") for n in mismatched.get("missing") or []]
            names += [(n, "unexpected") for n in mismatched.get("unexpected") or []]
            for n, detail in names or [(None, None)]:
                failures.append(failure(check=name, rule=rule, column=n, kind="schema", detail=detail))
        elif "unexpected_count" in result:
            failures.append(
                failure(
                    check=name,
                    rule=rule,
                    column=column,
                    kind="rows",
                    count=result["unexpected_count"],
                    rows=rows,
                    positions=result.get("partial_unexpected_index_list"),
                )
            )
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


def run_gx(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with the contract's GX suite on the ephemeral context.

    Lineage columns are dropped first (GX cannot ignore a name prefix), then the columns
    must match the contract exactly. Each run uses its own datasource, deleted afterwards,
    so no frame or batch outlives the call; runs are serialized because GX's context is not
    thread-safe.
    """
    started = time.perf_counter()
    suite = gx_suite(contract, now=now)
    frame = _gx_frame(df)
    with _GX_LOCK, _no_gx_fingerprint(), quiet_regex_groups():
        ctx = _gx_context()
        ds_name = f"{contract.name}-{uuid.uuid4().hex}"
        ds = ctx.data_sources.add_pandas(ds_name)
        try:
            batch_def = ds.add_dataframe_asset("cleaned").add_batch_definition_whole_dataframe("whole")
            batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
            res = batch.validate(suite, result_format=_GX_RESULT_FORMAT)
        finally:
            ctx.data_sources.delete(ds_name)
            batch = ds = batch_def = None  # noqa: F841 - drop references to the frame
    failures = finish(_gx_failures(res.results, len(frame)), contract, df)
    stats = res.statistics or {}
    evaluated = int(stats.get("evaluated_expectations", len(res.results)))
    unsuccessful = int(stats.get("unsuccessful_expectations", sum(not r.success for r in res.results)))
    return gate_result("great_expectations", contract, len(frame), evaluated, failures, unsuccessful, started)


def gx_partial(contract: Contract, chunk: pd.DataFrame, *, now: pd.Timestamp | None = None):  # placeholder
    return (chunk, now)


def merge_gx(contract: Contract, parts: list) -> GateResult:
    frames = [p[0] for p in parts]
    return run_gx(contract, pd.concat(frames, ignore_index=True), now=parts[0][1] if parts else None)
