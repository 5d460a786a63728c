"""Quality gates on the cleaned frame: a pandera schema and a Great Expectations suite.

Both are generated from the contract, so the cleaned layer is checked against the same
definition that produced it, by two independent engines. They run on the frame that passed
the row rules, so in a healthy pipeline they always pass: a failure means the cleaning code
and the contract disagree, not that the source was dirty.

The cleaned-frame convention they check: one column per contract column, dtypes from
`CLEANED_DTYPES`, nulls only where the column is not required, and any number of lineage
columns whose names start with "_" (ignored). Column order is not checked. A contract
`pattern` is searched (JSON Schema semantics: anchor it to constrain the whole value) and
bounds are inclusive, the same way in both engines.

Results are `GateResult`s that never carry a data value: pandera's `failure_cases` and GX's
`partial_unexpected_list` hold raw (PII) values, so only check names, columns, counts,
percents and row positions are kept. pandera and GX are imported on first use (GX takes
seconds), so importing this module stays cheap.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dq_platform.contract import CLEANED_DTYPES as _CLEANED_DTYPES
from dq_platform.contract import Column, ColumnType, Contract, Format
from dq_platform.engine.formats import FORMAT_PATTERNS

if TYPE_CHECKING:  # pragma: no cover
    import great_expectations as gx
    import pandera.pandas as pa

__all__ = [
    "CLEANED_DTYPES",
    "FORMAT_PATTERNS",
    "GateResult",
    "LINEAGE_PREFIX",
    "gx_suite",
    "pandera_schema",
    "run_gx",
    "run_pandera",
]

# -- shared definitions ------------------------------------------------------------------

# Format regexes live in dq_platform.formats (no heavy imports), shared with the row rules so
# a value the rules accept passes the gates; re-exported here. Keys are format names, and
# Format members (a str enum) look them up too. The patterns are anchored, so the rules'
# fullmatch and the gates' search agree (search also lets a trailing newline through: the
# gate can only be more lenient than the rules, never stricter); pandas 3 runs them with Python `re` semantics even
# on pyarrow strings (it falls back from RE2 where the two differ).
assert set(FORMAT_PATTERNS) == {f.value for f in Format}, "every Format needs a pattern"

# Exact dtype of each logical type in the cleaned frame, shared with the normalizers.
CLEANED_DTYPES: Mapping[ColumnType, str] = MappingProxyType(_CLEANED_DTYPES)

LINEAGE_PREFIX = "_"

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

_MAX_ROWS = 5  # row positions kept per failure, for debugging
_MAX_MD_ROWS = 50  # failures rendered in the markdown table


@contextmanager
def _quiet_regex_groups():
    """pandas warns on every str.contains with a pattern that has capturing groups (some
    shared format patterns do); the warning is noise in the platform's logs, not a defect."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="This pattern is interpreted as a regular expression", category=UserWarning
        )
        yield


def _now_utc() -> pd.Timestamp:
    """Now as tz-naive UTC, the convention of cleaned timestamps."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def _bound(col: Column, value: float | str) -> Any:
    """A contract bound as a scalar comparable with the cleaned column."""
    if col.type in (ColumnType.date, ColumnType.timestamp):
        ts = pd.Timestamp(str(value))
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    value = float(value)
    return int(value) if col.type == ColumnType.integer and value.is_integer() else value


def _today(now: pd.Timestamp | None) -> pd.Timestamp:
    """Midnight of the latest "today": the row rules use the local clock, cleaned values are
    UTC, and the gate must never fail a row the rules accepted (it may run after midnight).
    `now` (tests) pins it."""
    if now is not None:
        return now.normalize()
    return max(pd.Timestamp.now().normalize(), _now_utc().normalize())


def _bounds(col: Column, now: pd.Timestamp | None) -> list[tuple[str, str, str, Any]]:
    """(rule, op, label, value) of every bound: min, max and not_in_future, which like the
    row rules allows dates up to today and timestamps up to the end of today."""
    out = []
    for rule, op, sign in (("min", "ge", ">="), ("max", "le", "<=")):
        raw = getattr(col, rule)
        if raw is not None:
            shown = int(raw) if isinstance(raw, float) and raw.is_integer() else raw
            out.append((rule, op, f"{rule} {sign} {shown}", _bound(col, raw)))
    if col.not_in_future:
        today = _today(now)
        limit = today if col.type == ColumnType.date else today + pd.Timedelta(days=1)
        out.append(("not_in_future", "le", "not in future", limit))
    return out


def _length_label(col: Column) -> str:
    if col.min_length is not None and col.max_length is not None:
        return f"length in [{col.min_length}, {col.max_length}]"
    if col.min_length is not None:
        return f"length >= {col.min_length}"
    return f"length <= {col.max_length}"


def _positional(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with a 0..n-1 index, so reported row indexes are positions, never labels
    (an index could itself be PII, e.g. a customer id). Cheap: pandas 3 copies lazily."""
    idx = df.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return df
    return df.reset_index(drop=True)


def _pct(count: int | None, rows: int) -> float | None:
    return None if count is None or rows == 0 else round(100.0 * count / rows, 4)


def _failure(
    *,
    check: str,
    rule: str,
    column: str | None,
    kind: str,
    count: int | None = None,
    rows: int = 0,
    positions: list | None = None,
    detail: str | None = None,
) -> dict:
    """One failed check. kind: rows (count of failing rows), schema (a column is missing,
    unexpected or of the wrong dtype) or error (the check itself could not run)."""
    if detail is None and kind == "error":
        detail = "check could not run"
    return {
        "check": check,
        "rule": rule,
        "column": column,
        "kind": kind,
        "count": None if count is None else int(count),
        "percent": _pct(count, rows),
        "rows": [int(p) for p in (positions or [])[:_MAX_ROWS]],
        "detail": detail,
    }


_RULE_ORDER = (
    "columns",
    "dtype",
    "required",
    "unique",
    "min",
    "max",
    "not_in_future",
    "length",
    "pattern",
    "format",
    "allowed_values",
)


def _finish(failures: list[dict], contract: Contract, df: pd.DataFrame) -> list[dict]:
    """Both gates list failures in the same order (contract column order, then rule order,
    unexpected columns last) and describe a wrong dtype by the dtype seen in the caller's
    frame (a dtype name, not data)."""
    order = {c.name: i for i, c in enumerate(contract.columns)}
    for f in failures:
        if f["rule"] == "dtype" and f["kind"] != "error" and f["column"] in df.columns:
            f["detail"] = f"got {df[f['column']].dtype}"
    return sorted(
        failures,
        key=lambda f: (
            order.get(f["column"], len(order)),
            _RULE_ORDER.index(f["rule"]) if f["rule"] in _RULE_ORDER else len(_RULE_ORDER),
            str(f["check"]),
        ),
    )


# -- result ------------------------------------------------------------------------------


@dataclass
class GateResult:
    """Outcome of one gate, free of data values so it can go to logs and Dagster metadata.

    failures: one dict per failed check with keys check (pandera check / GX expectation
    name), rule (the contract field it enforces: columns, dtype, required, unique, min, max,
    not_in_future, length, pattern, format, allowed_values), column, kind (rows | schema |
    error), count and percent (failing rows; None unless kind is rows), rows (at most five
    failing row positions; pandera only) and detail (missing / unexpected column, the dtype
    found, or why a check could not run).
    stats: gate, rows, evaluated, successful, unsuccessful, duration_s.
    """

    passed: bool
    summary: str
    failures: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    def to_metadata(self) -> dict:
        """Plain values for Dagster metadata (bool, int, float, str), with a markdown table."""
        md: dict[str, Any] = {"passed": bool(self.passed), "summary": self.summary}
        for key in ("gate", "rows", "evaluated", "successful", "unsuccessful", "duration_s"):
            if key in self.stats:
                md[key] = self.stats[key]
        md["failed_checks"] = len(self.failures)
        md["failed_rows_max"] = max((f["count"] for f in self.failures if f["count"] is not None), default=0)
        md["failures_markdown"] = self.failures_markdown()
        return md

    def failures_markdown(self) -> str:
        if not self.failures:
            return "No failures."

        def cell(v: Any) -> str:
            if v is None:
                return "-"
            return str(v).replace("|", "\\|").replace("\n", " ")

        lines = ["| rule | column | check | kind | failed | % | detail |", "|---|---|---|---|---:|---:|---|"]
        for f in self.failures[:_MAX_MD_ROWS]:
            pct = None if f["percent"] is None else f"{f['percent']:.4g}"
            lines.append(
                "| "
                + " | ".join(
                    cell(v) for v in (f["rule"], f["column"], f["check"], f["kind"], f["count"], pct, f.get("detail"))
                )
                + " |"
            )
        if len(self.failures) > _MAX_MD_ROWS:
            lines.append(f"\n... and {len(self.failures) - _MAX_MD_ROWS} more failures")
        return "\n".join(lines)


def _result(
    gate: str, contract: Contract, rows: int, evaluated: int, failures: list[dict], failed_checks: int, started: float
) -> GateResult:
    unsuccessful = min(failed_checks, evaluated) if evaluated else failed_checks
    stats = {
        "gate": gate,
        "rows": rows,
        "evaluated": evaluated,
        "successful": max(evaluated - unsuccessful, 0),
        "unsuccessful": unsuccessful,
        "duration_s": round(time.perf_counter() - started, 4),
    }
    if not failures:
        summary = f"{gate}: passed {evaluated} checks on {rows:,} rows of {contract.name}"
    else:
        parts = []
        for f in failures[:5]:
            what = f"{f['column']} {f['rule']}" if f["column"] else f["rule"]
            note = f["count"] if f["count"] is not None else (f.get("detail") or f["kind"])
            parts.append(f"{what} ({note})")
        more = f", +{len(failures) - 5} more" if len(failures) > 5 else ""
        summary = (
            f"{gate}: FAILED {unsuccessful} of {evaluated} checks on {rows:,} rows of "
            f"{contract.name}: {', '.join(parts)}{more}"
        )
    return GateResult(passed=not failures, summary=summary, failures=failures, stats=stats)


# -- pandera -----------------------------------------------------------------------------


def _dtype_is(expected: str):
    def check(series: pd.Series) -> bool:
        return str(series.dtype) == expected

    return check


def pandera_schema(contract: Contract, *, now: pd.Timestamp | None = None) -> pa.DataFrameSchema:
    """The pandera schema of the cleaned frame of `contract`.

    Dtypes are checked with an exact custom check rather than pandera's own dtype: pandera
    0.35 on pandas 3 accepts int64 for Int64, datetime64[us] for [ns] and object for string,
    all of which the cleaned convention rejects. strict=True plus a regex column for "_..."
    tolerates lineage columns but rejects any other extra column. `now` pins the day used
    by not_in_future (default: today).
    """
    import pandera.pandas as pa

    columns: dict[str, pa.Column] = {}
    for col in contract.columns:
        dtype = CLEANED_DTYPES[col.type]
        checks = [pa.Check(_dtype_is(dtype), name="dtype", error=f"dtype == {dtype}", ignore_na=False)]
        for rule, op, label, value in _bounds(col, now):
            checks.append(getattr(pa.Check, op)(value, name=rule, error=label))
        if col.min_length is not None or col.max_length is not None:
            checks.append(pa.Check.str_length(col.min_length, col.max_length, name="length", error=_length_label(col)))
        if col.pattern is not None:
            checks.append(pa.Check.str_contains(col.pattern, name="pattern", error=f"pattern {col.pattern}"))
        if col.format is not None:
            checks.append(
                pa.Check.str_contains(FORMAT_PATTERNS[col.format], name="format", error=f"format {col.format.value}")
            )
        if col.allowed_values is not None:
            checks.append(pa.Check.isin(col.allowed_values, name="allowed_values", error=f"in {col.allowed_values}"))
        columns[col.name] = pa.Column(
            None,
            checks=checks,
            nullable=not col.required,
            unique=bool(col.unique),
            report_duplicates="all",
            required=True,
            coerce=False,
            description=col.description or None,
        )
    columns[f"^{LINEAGE_PREFIX}"] = pa.Column(None, regex=True, required=False, nullable=True)
    return pa.DataFrameSchema(
        columns, strict=True, name=f"{contract.name}_cleaned", description=f"Cleaned layer of {contract.name}"
    )


def _pandera_evaluated(schema: pa.DataFrameSchema) -> int:
    """Checks the schema runs: per contract column presence, its checks, nullability and
    uniqueness; plus one for "no unexpected columns"."""
    n = 1
    for _name, c in schema.columns.items():
        if c.regex:
            continue
        n += 1 + len(c.checks) + (0 if c.nullable else 1) + (1 if c.unique else 0)
    return n


_PANDERA_BUILTIN_RULES = {"not_nullable": "required", "field_uniqueness": "unique"}


def _pandera_failures(exc: Exception, rows: int) -> tuple[list[dict], int]:
    """Failures from pandera's SchemaErrors, dropping every failure_case value (raw data)."""
    from pandera.errors import SchemaErrorReason

    failures, keys = [], set()
    for err in exc.schema_errors:
        reason = err.reason_code
        check = err.check
        if reason in (SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME, SchemaErrorReason.COLUMN_NOT_IN_SCHEMA):
            # failure_cases is the column's name here, not a value
            missing = reason == SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME
            name = str(err.failure_cases)
            failures.append(
                _failure(
                    check=str(check),
                    rule="columns",
                    column=name,
                    kind="schema",
                    detail="missing" if missing else "unexpected",
                )
            )
            keys.add((name, "column_in_dataframe") if missing else (None, "column_in_schema"))
            continue
        column = err.column_name if err.column_name is not None else getattr(err.schema, "name", None)
        if isinstance(check, str):
            label, rule = check, _PANDERA_BUILTIN_RULES.get(check, check)
        elif check is not None:
            label, rule = (check.error or str(check)), (check.name or str(check))
        else:
            label = rule = reason.name.lower() if reason is not None else "unknown"
        keys.add((column, label))
        if reason == SchemaErrorReason.CHECK_ERROR:
            failures.append(_failure(check=label, rule=rule, column=column, kind="error"))
            continue
        fc = err.failure_cases
        if isinstance(fc, pd.DataFrame) and "index" in fc.columns:
            positions = [i for i in fc["index"].head(_MAX_ROWS).tolist() if i is not None and not pd.isna(i)]
            failures.append(
                _failure(
                    check=label, rule=rule, column=column, kind="rows", count=len(fc), rows=rows, positions=positions
                )
            )
        else:  # a whole-column check (dtype) failed: a scalar False, no rows
            failures.append(_failure(check=label, rule=rule, column=column, kind="schema"))
    return failures, len(keys)


def run_pandera(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with pandera, lazily (every failure at once)."""
    import pandera.pandas as pa

    started = time.perf_counter()
    schema = pandera_schema(contract, now=now)
    frame = _positional(df)
    if frame is df:  # pandera attaches the schema to the frame it validates: not the caller's
        frame = df.copy(deep=False)
    failures: list[dict] = []
    failed_checks = 0
    try:
        # inplace: nothing is coerced, so skip pandera's defensive copy of a large frame
        with _quiet_regex_groups():
            schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        failures, failed_checks = _pandera_failures(exc, len(frame))
    failures = _finish(failures, contract, df)
    return _result("pandera", contract, len(frame), _pandera_evaluated(schema), failures, failed_checks, started)


# -- Great Expectations ------------------------------------------------------------------

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
        for rule, op, label, value in _bounds(col, now):
            if isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            bound = {"min_value": value} if op == "ge" else {"max_value": value}
            add(gxe.ExpectColumnValuesToBeBetween, rule, label, column=c, **bound)
        if col.min_length is not None or col.max_length is not None:
            add(
                gxe.ExpectColumnValueLengthsToBeBetween,
                "length",
                _length_label(col),
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
            failures.append(_failure(check=name, rule=rule, column=column, kind="error"))
            continue
        result = r.result or {}
        if rule == "columns":
            mismatched = (result.get("details") or {}).get("mismatched") or {}
            names = [(n, "missing") for n in mismatched.get("missing") or []]
            names += [(n, "unexpected") for n in mismatched.get("unexpected") or []]
            for n, detail in names or [(None, None)]:
                failures.append(_failure(check=name, rule=rule, column=n, kind="schema", detail=detail))
        elif "unexpected_count" in result:
            failures.append(
                _failure(
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
            failures.append(_failure(check=name, rule=rule, column=column, kind="schema"))
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
    return _positional(frame)


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
    with _GX_LOCK, _no_gx_fingerprint(), _quiet_regex_groups():
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
    failures = _finish(_gx_failures(res.results, len(frame)), contract, df)
    stats = res.statistics or {}
    evaluated = int(stats.get("evaluated_expectations", len(res.results)))
    unsuccessful = int(stats.get("unsuccessful_expectations", sum(not r.success for r in res.results)))
    return _result("great_expectations", contract, len(frame), evaluated, failures, unsuccessful, started)
