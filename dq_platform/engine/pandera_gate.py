"""The pandera gate: the cleaned frame against a pandera schema generated from the contract.

One of two independent engines on the same definition (gx_gate.py is the other); what both share
(bounds, rule order, failure rows without values, GateResult) is validation.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from dq_platform.contract import Contract
from dq_platform.engine.formats import FORMAT_PATTERNS
from dq_platform.engine.gate_parts import ColumnHashes, column_hashes, duplicate_rows, merge_failures, merged_dtypes
from dq_platform.engine.validation import (
    CLEANED_DTYPES,
    LINEAGE_PREFIX,
    MAX_ROWS,
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
    import pandera.pandas as pa


def _dtype_is(expected: str):
    def check(series: pd.Series) -> bool:
        return str(series.dtype) == expected

    return check


def pandera_schema(
    contract: Contract, *, now: pd.Timestamp | None = None, uniqueness: bool = True
) -> pa.DataFrameSchema:
    """The pandera schema of the cleaned frame of `contract`.

    Dtypes are checked with an exact custom check rather than pandera's own dtype: pandera
    0.35 on pandas 3 accepts int64 for Int64, datetime64[us] for [ns] and object for string,
    all of which the cleaned convention rejects. strict=True plus a regex column for "_..."
    tolerates lineage columns but rejects any other extra column. `now` pins the day used
    by not_in_future (default: today). uniqueness=False leaves unique to the caller (the
    chunked gate answers it across chunks from fingerprints).
    """
    import pandera.pandas as pa

    columns: dict[str, pa.Column] = {}
    for col in contract.columns:
        dtype = CLEANED_DTYPES[col.type]
        checks = [pa.Check(_dtype_is(dtype), name="dtype", error=f"dtype == {dtype}", ignore_na=False)]
        for rule, op, label, value in bounds(col, now):
            checks.append(getattr(pa.Check, op)(value, name=rule, error=label))
        if col.min_length is not None or col.max_length is not None:
            checks.append(pa.Check.str_length(col.min_length, col.max_length, name="length", error=length_label(col)))
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
            unique=bool(col.unique) and uniqueness,
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


def _pandera_failures(exc: Exception, rows: int) -> tuple[list[dict], set]:
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
                failure(
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
            failures.append(failure(check=label, rule=rule, column=column, kind="error"))
            continue
        fc = err.failure_cases
        if isinstance(fc, pd.DataFrame) and "index" in fc.columns:
            positions = [i for i in fc["index"].head(MAX_ROWS).tolist() if i is not None and not pd.isna(i)]
            failures.append(
                failure(
                    check=label, rule=rule, column=column, kind="rows", count=len(fc), rows=rows, positions=positions
                )
            )
        else:  # a whole-column check (dtype) failed: a scalar False, no rows
            failures.append(failure(check=label, rule=rule, column=column, kind="schema"))
    return failures, keys


@dataclass(frozen=True)
class PanderaPartial:
    """The pandera gate on one chunk, mergeable with the file's other chunks (`merge_pandera`).

    Picklable and free of data values: chunk-local failures (counts, at most MAX_ROWS row
    positions), the dtype names seen, and fingerprints of the unique columns (gate_parts)."""

    rows: int
    evaluated: int
    failures: tuple[dict, ...]
    failed_keys: frozenset
    dtypes: tuple[tuple[str, str], ...]
    unique: tuple[tuple[str, ColumnHashes], ...]
    seconds: float


def pandera_partial(
    contract: Contract, chunk: pd.DataFrame, *, now: pd.Timestamp | None, hash_key: str | None = None
) -> PanderaPartial:
    """Validate one chunk with the schema minus uniqueness, and fingerprint the unique columns
    so `merge_pandera` answers uniqueness over the whole file. Every chunk of a file must get
    the same `now` (and `hash_key`)."""
    import pandera.pandas as pa

    started = time.perf_counter()
    schema = pandera_schema(contract, now=now, uniqueness=False)
    frame = positional(chunk)
    if frame is chunk:  # pandera attaches the schema to the frame it validates: not the caller's
        frame = chunk.copy(deep=False)
    failures: list[dict] = []
    keys: set = set()
    try:
        # inplace: nothing is coerced, so skip pandera's defensive copy of a large frame
        with quiet_regex_groups():
            schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        failures, keys = _pandera_failures(exc, len(frame))
    unique = tuple(
        (c.name, column_hashes(frame[c.name], hash_key)) for c in contract.columns if c.unique and c.name in frame
    )
    return PanderaPartial(
        rows=len(frame),
        evaluated=_pandera_evaluated(schema) + sum(bool(c.unique) for c in contract.columns),
        failures=tuple(failures),
        failed_keys=frozenset(keys),
        dtypes=tuple(dtype_names(chunk).items()),
        unique=unique,
        seconds=time.perf_counter() - started,
    )


def merge_pandera(contract: Contract, parts: list[PanderaPartial]) -> GateResult:
    """The pandera gate over the whole file from its chunks' partials, in file order: the same
    result as `run_pandera` on the concatenated chunks (duration aside)."""
    if not parts:
        raise ValueError("merge_pandera needs at least one chunk (an empty file is one empty chunk)")
    started = time.perf_counter()
    rows = sum(p.rows for p in parts)
    failures = merge_failures(((p.rows, list(p.failures)) for p in parts), rows)
    keys = set().union(*(p.failed_keys for p in parts))
    by_column: dict[str, list[ColumnHashes]] = {}
    for p in parts:
        for name, hashes in p.unique:
            by_column.setdefault(name, []).append(hashes)
    for name, hashes in by_column.items():
        count, positions = duplicate_rows(hashes)
        if count:
            failures.append(
                failure(
                    check="field_uniqueness",
                    rule="unique",
                    column=name,
                    kind="rows",
                    count=count,
                    rows=rows,
                    positions=positions,
                )
            )
            keys.add((name, "field_uniqueness"))
    failures = finish(failures, contract, merged_dtypes([p.dtypes for p in parts]))
    seconds = sum(p.seconds for p in parts)
    return gate_result("pandera", contract, rows, parts[0].evaluated, failures, len(keys), started, seconds=seconds)


def run_pandera(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with pandera, lazily (every failure at once): the one-chunk
    case of `pandera_partial` + `merge_pandera`, so chunked and whole runs share one path."""
    return merge_pandera(contract, [pandera_partial(contract, df, now=now)])
