"""Quality gates on the cleaned frame: what the pandera and the Great Expectations gates share.

The gates themselves are pandera_gate.py and gx_gate.py.

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

import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from dq_platform.contract import CLEANED_DTYPES as _CLEANED_DTYPES
from dq_platform.contract import Column, ColumnType, Contract, Format
from dq_platform.engine.formats import FORMAT_PATTERNS

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "CLEANED_DTYPES",
    "FORMAT_PATTERNS",
    "GateResult",
    "LINEAGE_PREFIX",
    "MAX_ROWS",
    "bounds",
    "dtype_names",
    "failure",
    "finish",
    "gate_result",
    "length_label",
    "positional",
    "quiet_regex_groups",
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

MAX_ROWS = 5  # row positions kept per failure, for debugging
MAX_MD_ROWS = 50  # failures rendered in the markdown table


@contextmanager
def quiet_regex_groups():
    """pandas warns on every str.contains with a pattern that has capturing groups (some
    shared format patterns do); the warning is noise in the platform's logs, not a defect."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="This pattern is interpreted as a regular expression", category=UserWarning
        )
        yield


def now_utc() -> pd.Timestamp:
    """Now as tz-naive UTC, the convention of cleaned timestamps."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def bound(col: Column, value: float | str) -> Any:
    """A contract bound as a scalar comparable with the cleaned column."""
    if col.type in (ColumnType.date, ColumnType.timestamp):
        ts = pd.Timestamp(str(value))
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    value = float(value)
    return int(value) if col.type == ColumnType.integer and value.is_integer() else value


def today_midnight(now: pd.Timestamp | None) -> pd.Timestamp:
    """Midnight of the latest "today": the row rules use the local clock, cleaned values are
    UTC, and the gate must never fail a row the rules accepted (it may run after midnight).
    `now` (tests) pins it."""
    if now is not None:
        return now.normalize()
    return max(pd.Timestamp.now().normalize(), now_utc().normalize())


def bounds(col: Column, now: pd.Timestamp | None) -> list[tuple[str, str, str, Any]]:
    """(rule, op, label, value) of every bound: min, max and not_in_future, which like the
    row rules allows dates up to today and timestamps up to the end of today."""
    out = []
    for rule, op, sign in (("min", "ge", ">="), ("max", "le", "<=")):
        raw = getattr(col, rule)
        if raw is not None:
            shown = int(raw) if isinstance(raw, float) and raw.is_integer() else raw
            out.append((rule, op, f"{rule} {sign} {shown}", bound(col, raw)))
    if col.not_in_future:
        today = today_midnight(now)
        limit = today if col.type == ColumnType.date else today + pd.Timedelta(days=1)
        out.append(("not_in_future", "le", "not in future", limit))
    return out


def length_label(col: Column) -> str:
    if col.min_length is not None and col.max_length is not None:
        return f"length in [{col.min_length}, {col.max_length}]"
    if col.min_length is not None:
        return f"length >= {col.min_length}"
    return f"length <= {col.max_length}"


def positional(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with a 0..n-1 index, so reported row indexes are positions, never labels
    (an index could itself be PII, e.g. a customer id). Cheap: pandas 3 copies lazily."""
    idx = df.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return df
    return df.reset_index(drop=True)


def pct(count: int | None, rows: int) -> float | None:
    return None if count is None or rows == 0 else round(100.0 * count / rows, 4)


def failure(
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
        "percent": pct(count, rows),
        "rows": [int(p) for p in (positions or [])[:MAX_ROWS]],
        "detail": detail,
    }


RULE_ORDER = (
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


def dtype_names(df: pd.DataFrame) -> dict[str, str]:
    """Column name -> dtype name of the caller's frame (names, not data), for `finish`."""
    return {str(c): str(t) for c, t in df.dtypes.items()}


def finish(failures: list[dict], contract: Contract, dtypes: Mapping[str, str]) -> list[dict]:
    """Both gates list failures in the same order (contract column order, then rule order,
    unexpected columns last) and describe a wrong dtype by the dtype seen in the caller's
    frame (`dtype_names`: a dtype name, not data)."""
    order = {c.name: i for i, c in enumerate(contract.columns)}
    for f in failures:
        if f["rule"] == "dtype" and f["kind"] != "error" and f["column"] in dtypes:
            f["detail"] = f"got {dtypes[f['column']]}"
    return sorted(
        failures,
        key=lambda f: (
            order.get(f["column"], len(order)),
            RULE_ORDER.index(f["rule"]) if f["rule"] in RULE_ORDER else len(RULE_ORDER),
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
        for f in self.failures[:MAX_MD_ROWS]:
            pct = None if f["percent"] is None else f"{f['percent']:.4g}"
            lines.append(
                "| "
                + " | ".join(
                    cell(v) for v in (f["rule"], f["column"], f["check"], f["kind"], f["count"], pct, f.get("detail"))
                )
                + " |"
            )
        if len(self.failures) > MAX_MD_ROWS:
            lines.append(f"\n... and {len(self.failures) - MAX_MD_ROWS} more failures")
        return "\n".join(lines)


def gate_result(
    gate: str,
    contract: Contract,
    rows: int,
    evaluated: int,
    failures: list[dict],
    failed_checks: int,
    started: float,
    *,
    seconds: float = 0.0,
) -> GateResult:
    """The result of a gate that started at perf_counter() `started` and had already spent
    `seconds` elsewhere (the chunks' partials, merged here)."""
    unsuccessful = min(failed_checks, evaluated) if evaluated else failed_checks
    stats = {
        "gate": gate,
        "rows": rows,
        "evaluated": evaluated,
        "successful": max(evaluated - unsuccessful, 0),
        "unsuccessful": unsuccessful,
        "duration_s": round(seconds + time.perf_counter() - started, 4),
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
