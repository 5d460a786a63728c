"""The pandera gate: the cleaned frame against a pandera schema generated from the contract.

One of two independent engines on the same definition (gx_gate.py is the other); what both share
(bounds, rule order, failure rows without values, GateResult) is validation.py.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd

from dq_platform.contract import Contract
from dq_platform.engine.formats import FORMAT_PATTERNS
from dq_platform.engine.validation import (
    CLEANED_DTYPES,
    LINEAGE_PREFIX,
    MAX_ROWS,
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
    import pandera.pandas as pa


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
    return failures, len(keys)


def run_pandera(contract: Contract, df: pd.DataFrame, *, now: pd.Timestamp | None = None) -> GateResult:
    """Validate the cleaned frame with pandera, lazily (every failure at once)."""
    import pandera.pandas as pa

    started = time.perf_counter()
    schema = pandera_schema(contract, now=now)
    frame = positional(df)
    if frame is df:  # pandera attaches the schema to the frame it validates: not the caller's
        frame = df.copy(deep=False)
    failures: list[dict] = []
    failed_checks = 0
    try:
        # inplace: nothing is coerced, so skip pandera's defensive copy of a large frame
        with quiet_regex_groups():
            schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        failures, failed_checks = _pandera_failures(exc, len(frame))
    failures = finish(failures, contract, df)
    return gate_result("pandera", contract, len(frame), _pandera_evaluated(schema), failures, failed_checks, started)


def pandera_partial(contract: Contract, chunk: pd.DataFrame, *, now: pd.Timestamp | None = None):  # placeholder
    return (chunk, now)


def merge_pandera(contract: Contract, parts: list) -> GateResult:
    frames = [p[0] for p in parts]
    return run_pandera(contract, pd.concat(frames, ignore_index=True), now=parts[0][1] if parts else None)
