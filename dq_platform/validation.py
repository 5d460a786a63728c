"""Quality gates on the cleaned frame: a pandera schema and a Great Expectations suite.

Both are generated from the contract, so the cleaned layer is checked against the same
definition that produced it, by two independent engines. They run on the frame that passed
the row rules, so in a healthy pipeline they always pass: a failure means the cleaning code
and the contract disagree, not that the source was dirty.

The cleaned-frame convention they check: one column per contract column, dtypes from
`CLEANED_DTYPES`, nulls only where the column is not required, and any number of lineage
columns whose names start with "_" (ignored).

Results are `GateResult`s that never carry a data value: pandera's `failure_cases` and GX's
`partial_unexpected_list` hold raw (PII) values, so only check names, columns, counts,
percents and row positions are kept. Heavy imports (GX takes seconds) happen on first use,
so importing `FORMAT_PATTERNS` from here stays cheap.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from dq_platform.contract import Column, ColumnType, Contract, Format

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

# Letters of the Latin scripts (Basic Latin, Latin-1, Latin Extended-A/B), minus × and ÷.
_LETTERS = "A-Za-zÀ-ÖØ-öø-ɏ"

# The one place format regexes live; the row-rule engine imports these so a value that passes
# the row rules passes the gates. They are anchored (match, search and fullmatch agree) and
# written in the subset shared by Python `re` and RE2 (pyarrow's engine behind pandas' string
# dtype): no lookarounds, no backreferences, [0-9] rather than \d (Unicode digits in `re`,
# ASCII in RE2), literal Unicode letters rather than \p{L}.
FORMAT_PATTERNS: Mapping[Format, str] = MappingProxyType({
    Format.email: (r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"),
    Format.phone: r"^[0-9]{3}-[0-9]{3}-[0-9]{4}$",  # after normalization to XXX-XXX-XXXX
    # a letter, then letters, spaces, hyphens, apostrophes (' and ’) and periods
    Format.alphabetic: rf"^[{_LETTERS}][{_LETTERS} '’.-]*$",
    Format.alphanumeric: r"^[A-Za-z0-9]+$",
    Format.currency_code: r"^[A-Z]{3}$",  # ISO 4217 shape
    Format.uuid: r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
})
assert set(FORMAT_PATTERNS) == set(Format), "every Format needs a pattern"

# Exact dtype of each logical type in the cleaned frame (str(series.dtype) must equal it).
CLEANED_DTYPES: Mapping[ColumnType, str] = MappingProxyType({
    ColumnType.integer: "Int64",
    ColumnType.float: "Float64",
    ColumnType.string: "string",
    ColumnType.date: "datetime64[ns]",
    ColumnType.timestamp: "datetime64[ns]",
    ColumnType.boolean: "boolean",
})

LINEAGE_PREFIX = "_"

# GX compares `dtype.type` only, so these are as precise as GX can be: Int64 and int64 both
# have type int64, "string" and "str" both str. pandera's exact check is the strict one.
_GX_TYPES: Mapping[ColumnType, str] = MappingProxyType({
    ColumnType.integer: "int64",
    ColumnType.float: "float64",
    ColumnType.string: "str",
    ColumnType.date: "datetime64",
    ColumnType.timestamp: "datetime64",
    ColumnType.boolean: "bool",
})

_MAX_ROWS = 5  # row positions kept per failure, for debugging
_MAX_MD_ROWS = 50  # failures rendered in the markdown table


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


def _bounds(col: Column, now: pd.Timestamp) -> list[tuple[str, str, str, Any]]:
    """(rule, op, label, value) of every bound: min, max, not_in_future (<= now / today)."""
    out = []
    if col.min is not None:
        v = _bound(col, col.min)
        out.append(("min", "ge", f"min >= {col.min}", v))
    if col.max is not None:
        v = _bound(col, col.max)
        out.append(("max", "le", f"max <= {col.max}", v))
    if col.not_in_future:
        limit = now.normalize() if col.type == ColumnType.date else now
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


def _failure(*, check: str, rule: str, column: str | None, kind: str, count: int | None = None,
             rows: int = 0, positions: list | None = None) -> dict:
    """One failed check. kind: rows (count of failing rows), schema (a column is missing,
    unexpected or of the wrong dtype) or error (the check itself could not run)."""
    return {
        "check": check,
        "rule": rule,
        "column": column,
        "kind": kind,
        "count": None if count is None else int(count),
        "percent": _pct(count, rows),
        "rows": [int(p) for p in (positions or [])[:_MAX_ROWS]],
    }


# -- result ------------------------------------------------------------------------------

@dataclass
class GateResult:
    """Outcome of one gate, free of data values so it can go to logs and Dagster metadata.

    failures: one dict per failed check with keys check (pandera check / GX expectation
    name), rule (the contract field it enforces: columns, dtype, required, unique, min, max,
    not_in_future, length, pattern, format, allowed_values), column, kind (rows | schema |
    error), count and percent (failing rows; None unless kind is rows) and rows (at most
    five failing row positions).
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

        lines = ["| rule | column | check | kind | failed | % |", "|---|---|---|---|---:|---:|"]
        for f in self.failures[:_MAX_MD_ROWS]:
            pct = None if f["percent"] is None else f"{f['percent']:.4g}"
            lines.append("| " + " | ".join(cell(v) for v in (
                f["rule"], f["column"], f["check"], f["kind"], f["count"], pct)) + " |")
        if len(self.failures) > _MAX_MD_ROWS:
            lines.append(f"\n... and {len(self.failures) - _MAX_MD_ROWS} more failures")
        return "\n".join(lines)


def _result(gate: str, contract: Contract, rows: int, evaluated: int, failures: list[dict],
            failed_checks: int, started: float) -> GateResult:
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
            parts.append(f"{what} ({f['count']})" if f["count"] is not None else f"{what} ({f['kind']})")
        more = f", +{len(failures) - 5} more" if len(failures) > 5 else ""
        summary = (f"{gate}: FAILED {unsuccessful} of {evaluated} checks on {rows:,} rows of "
                   f"{contract.name}: {', '.join(parts)}{more}")
    return GateResult(passed=not failures, summary=summary, failures=failures, stats=stats)


# -- pandera -----------------------------------------------------------------------------

def _dtype_is(expected: str):
    def check(series: pd.Series) -> bool:
        return str(series.dtype) == expected
    return check


def pandera_schema(contract: Contract, *, now: pd.Timestamp | None = None) -> "pa.DataFrameSchema":
    """The pandera schema of the cleaned frame of `contract`.

    Dtypes are checked with an exact custom check rather than pandera's own dtype: pandera
    0.35 on pandas 3 accepts int64 for Int64, datetime64[us] for [ns] and object for string,
    all of which the cleaned convention rejects. strict=True plus a regex column for "_..."
    tolerates lineage columns but rejects any other extra column. `now` fixes the
    not_in_future limit (default: now, UTC).
    """
    import pandera.pandas as pa

    now = now if now is not None else _now_utc()
    columns: dict[str, pa.Column] = {}
    for col in contract.columns:
        dtype = CLEANED_DTYPES[col.type]
        checks = [pa.Check(_dtype_is(dtype), name="dtype", error=f"dtype == {dtype}", ignore_na=False)]
        for rule, op, label, value in _bounds(col, now):
            checks.append(getattr(pa.Check, op)(value, name=rule, error=label))
        if col.min_length is not None or col.max_length is not None:
            checks.append(pa.Check.str_length(col.min_length, col.max_length, name="length",
                                              error=_length_label(col)))
        if col.pattern is not None:
            checks.append(pa.Check.str_contains(col.pattern, name="pattern", error=f"pattern {col.pattern}"))
        if col.format is not None:
            checks.append(pa.Check.str_contains(FORMAT_PATTERNS[col.format], name="format",
                                                error=f"format {col.format.value}"))
        if col.allowed_values is not None:
            checks.append(pa.Check.isin(col.allowed_values, name="allowed_values",
                                        error=f"in {col.allowed_values}"))
        columns[col.name] = pa.Column(
            None, checks=checks, nullable=not col.required, unique=col.unique,
            report_duplicates="all", required=True, coerce=False, description=col.description or None)
    columns[f"^{LINEAGE_PREFIX}"] = pa.Column(None, regex=True, required=False, nullable=True)
    return pa.DataFrameSchema(columns, strict=True, name=f"{contract.name}_cleaned",
                              description=f"Cleaned layer of {contract.name}")


def _pandera_evaluated(schema: "pa.DataFrameSchema") -> int:
    """Checks the schema runs: per contract column presence, its checks, nullability and
    uniqueness; plus one for "no unexpected columns"."""
    n = 1
    for name, c in schema.columns.items():
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
            failures.append(_failure(check=str(check), rule="columns", column=name, kind="schema"))
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
            failures.append(_failure(check=label, rule=rule, column=column, kind="rows",
                                     count=len(fc), rows=rows, positions=positions))
        else:  # a whole-column check (dtype) failed: a scalar False, no rows
            failures.append(_failure(check=label, rule=rule, column=column, kind="schema"))
    return failures, len(keys)


def run_pandera(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with pandera, lazily (every failure at once)."""
    import pandera.pandas as pa

    started = time.perf_counter()
    schema = pandera_schema(contract, now=now)
    frame = _positional(df)
    failures: list[dict] = []
    failed_checks = 0
    try:
        # inplace: nothing is coerced, so skip pandera's defensive copy of a large frame
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        failures, failed_checks = _pandera_failures(exc, len(frame))
    return _result("pandera", contract, len(frame), _pandera_evaluated(schema), failures,
                   failed_checks, started)


# -- Great Expectations ------------------------------------------------------------------

_GX_LOCK = threading.RLock()
_GX_CONTEXT = None

# BASIC: counts and percents without the per-value counts SUMMARY computes; no sample values
# kept (partial_unexpected_count 0), but GX still returns the first row positions.
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


def gx_suite(contract: Contract, *, now: pd.Timestamp | None = None) -> "gx.ExpectationSuite":
    """A GX 1.x suite for the cleaned frame of `contract` (lineage columns dropped first).

    Each expectation's meta carries the contract rule it enforces, so results are reported
    in the same vocabulary as pandera's. The suite is not added to any context.
    """
    gx_ = _gx()
    import great_expectations.expectations as gxe

    now = now if now is not None else _now_utc()
    expectations = []

    def add(cls, rule: str, label: str, **kwargs) -> None:
        expectations.append(cls(meta={"rule": rule, "label": label}, **kwargs))

    add(gxe.ExpectTableColumnsToMatchSet, "columns", "columns match the contract",
        column_set=[c.name for c in contract.columns], exact_match=True)
    for col in contract.columns:
        c = col.name
        add(gxe.ExpectColumnValuesToBeOfType, "dtype", f"type {_GX_TYPES[col.type]}", column=c,
            type_=_GX_TYPES[col.type])
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
            add(gxe.ExpectColumnValueLengthsToBeBetween, "length", _length_label(col), column=c,
                min_value=col.min_length, max_value=col.max_length)
        if col.pattern is not None:
            add(gxe.ExpectColumnValuesToMatchRegex, "pattern", f"pattern {col.pattern}", column=c,
                regex=col.pattern)
        if col.format is not None:
            add(gxe.ExpectColumnValuesToMatchRegex, "format", f"format {col.format.value}", column=c,
                regex=FORMAT_PATTERNS[col.format])
        if col.allowed_values is not None:
            add(gxe.ExpectColumnValuesToBeInSet, "allowed_values", f"in {col.allowed_values}", column=c,
                value_set=list(col.allowed_values))
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
            names = list(mismatched.get("missing") or []) + list(mismatched.get("unexpected") or [])
            for n in names or [None]:
                failures.append(_failure(check=name, rule=rule, column=n, kind="schema"))
        elif "unexpected_count" in result:
            failures.append(_failure(check=name, rule=rule, column=column, kind="rows",
                                     count=result["unexpected_count"], rows=rows,
                                     positions=result.get("partial_unexpected_index_list")))
        else:  # aggregate expectation (dtype): no rows to count
            failures.append(_failure(check=name, rule=rule, column=column, kind="schema"))
    return failures


def run_gx(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with the contract's GX suite on the ephemeral context.

    Lineage columns are dropped first (GX cannot ignore a name prefix), then the columns
    must match the contract exactly. Each run uses its own datasource, deleted afterwards,
    so no frame or batch outlives the call; runs are serialized because GX's context is not
    thread-safe.
    """
    started = time.perf_counter()
    suite = gx_suite(contract, now=now)
    frame = _positional(df[[c for c in df.columns if not str(c).startswith(LINEAGE_PREFIX)]])
    with _GX_LOCK:
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
    failures = _gx_failures(res.results, len(frame))
    stats = res.statistics or {}
    evaluated = int(stats.get("evaluated_expectations", len(res.results)))
    unsuccessful = int(stats.get("unsuccessful_expectations", sum(not r.success for r in res.results)))
    return _result("great_expectations", contract, len(frame), evaluated, failures, unsuccessful, started)
