"""A whole file's profile merged from its chunks' summaries (engine/profiling.py makes them).

Every field of `ColumnProfile` comes from counts that add, moments merged with Chan's formula
or the sketches of engine/sketches.py, so chunks profiled in any process merge into the
profile of the whole file. A field is exact unless it is named in `approximate` (with its error
bound); docs/contracts.md ("Profiles from chunks") says when that happens.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from dq_platform.contract import Column, ColumnType, Contract
from dq_platform.engine.sketches import (
    Distinct,
    Moments,
    Quantiles,
    Top,
    merge_distinct,
    merge_moments,
    merge_quantiles,
    merge_top,
)

# raw type inference of a chunk's column with more distinct values than infer_sample(rows) runs on
# that many of its rows: 10% of them, at least 10,000 and at most 100,000 (a budget per row, so a
# file costs the same whatever its chunking)
INFER_SAMPLE_ROWS = 100_000
INFER_SAMPLE_MIN = 10_000
INFER_SAMPLE_RATE = 0.1
INFER_SEED = 0
TOP_N = 5
PERCENTILES = (5, 25, 50, 75, 95)
QS = np.array([q / 100 for q in PERCENTILES])
TYPE_ORDER = ("integer", "float", "date", "timestamp", "boolean")  # tie-break after the declared type


@dataclass
class ColumnProfile:
    name: str
    declared_type: str
    pii: bool
    rows: int
    non_null: int = 0
    distinct: int = 0
    inferred_type: str = ""
    inferred_share: float | None = None  # share of present values of the inferred type
    type_shares: dict[str, float] | None = None  # raw: share of present values parsing as each type
    inference_sample: int | None = None  # raw: types judged on this many sampled rows (else on all)
    format: str | None = None  # declared format, "date"/"timestamp" for temporal columns
    format_share: float | None = None  # share of present values matching it
    stats: dict[str, float | str] | None = None  # min, max, mean, std, p05..p95 (non-PII only)
    top_values: list[list] | None = None  # [[value, count], ...] (non-PII only)
    # raw, columns without pii: {kind: {share, whole}} of values that look like PII (engine/pii/undeclared.py)
    pii_shares: dict[str, dict[str, float]] | None = None
    note: str = ""
    # fields merged from sketches, with their error: distinct (relative standard error),
    # percentiles (normalized rank error), top_values (largest possible error of a count)
    approximate: dict[str, float] | None = None

    @property
    def completeness(self) -> float | None:
        return self.non_null / self.rows if self.rows else None

    @property
    def null_rate(self) -> float | None:
        return (self.rows - self.non_null) / self.rows if self.rows else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["completeness"], d["null_rate"] = round_stat(self.completeness), round_stat(self.null_rate)
        return {k: v for k, v in d.items() if v not in (None, "")}


@dataclass
class Profile:
    layer: str  # raw | cleaned
    rows: int
    columns: list[ColumnProfile] = field(default_factory=list)
    inference: str = ""  # how the raw types were inferred (all values, or a sample)
    seconds: float = 0.0

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "rows": self.rows,
            "inference": self.inference,
            "columns": {c.name: c.to_dict() for c in self.columns},
        }


@dataclass
class ColumnSummary:
    """One chunk's column: counts, sketches and no row-sized array (picklable, bounded size)."""

    name: str
    rows: int
    missing: bool = False
    non_null: int = 0
    distinct: Distinct | None = None
    top: Top | None = None  # non-PII columns only
    top_kind: str = "text"  # text | number | date | timestamp: how top values print
    format_ok: int | None = None  # present rows matching the declared format
    temporal: tuple[int, int] | None = None  # raw date columns: rows parsing as a date, as a timestamp
    types: dict[str, int] | None = None  # raw: judged rows parsing as each type
    judged: int = 0  # rows the types were judged on (fewer than non_null when sampled)
    moments: Moments | None = None  # non-PII numbers and dates (dates as integer ns)
    quantiles: Quantiles | None = None
    pii: dict | None = None  # raw, columns without pii: engine/pii/undeclared.pii_counts
    inferred: str = ""  # cleaned: the dtype's type


@dataclass
class ProfileSummary:
    layer: str
    rows: int
    columns: list[ColumnSummary]
    seconds: float = 0.0


def merge_profiles(parts: list[ProfileSummary], contract: Contract, layer: str) -> Profile:
    """The profile of the whole file whose chunks `parts` summarize (in file order)."""
    started = time.perf_counter()
    if not parts:
        raise ValueError("no summaries to merge: an empty file is one empty chunk")
    if any(p.layer != layer for p in parts):
        raise ValueError(f"cannot merge summaries of layers {sorted({p.layer for p in parts})} into {layer!r}")
    columns = [_merge_column(col, [p.columns[i] for p in parts], layer) for i, col in enumerate(contract.columns)]
    sampled = [c.name for c in columns if c.inference_sample]
    inference = (
        "from the cleaned dtypes"
        if layer == "cleaned"
        else "inferred on every value"
        + (
            f" (a chunk's columns with more distinct values than 10% of its rows, at least {INFER_SAMPLE_MIN:,}: on "
            f"that many rows, at most {INFER_SAMPLE_ROWS:,}, drawn with seed {INFER_SEED}: {', '.join(sampled)})"
            if sampled
            else ""
        )
    )
    seconds = sum(p.seconds for p in parts) + time.perf_counter() - started
    return Profile(layer, sum(p.rows for p in parts), columns, inference, seconds)


def infer_sample(rows: int) -> int:
    """Rows of a chunk of `rows` present rows its raw types are judged on (when it has more distinct values)."""
    return min(INFER_SAMPLE_ROWS, max(INFER_SAMPLE_MIN, int(np.ceil(INFER_SAMPLE_RATE * rows))))


def _merge_column(col: Column, parts: list[ColumnSummary], layer: str) -> ColumnProfile:
    p = ColumnProfile(
        name=col.name, declared_type=col.type.value, pii=col.pii is not None, rows=sum(s.rows for s in parts)
    )
    present = [s for s in parts if not s.missing]
    if not present:
        p.note = "column missing from the file" if layer == "raw" else "column missing"
        p.inferred_type = "-"
        return p
    approx: dict[str, float] = {}
    p.non_null = sum(s.non_null for s in present)
    p.distinct, error = merge_distinct([s.distinct for s in present if s.distinct is not None])
    if error is not None:
        approx["distinct"] = error
    if not p.pii and p.distinct:
        _top_values(p, [s.top for s in present if s.top is not None], present[0].top_kind, error is None, approx)
    temporal = col.type in (ColumnType.date, ColumnType.timestamp)
    if layer == "cleaned":
        p.inferred_type, p.inferred_share = present[0].inferred, 1.0
        if temporal:
            p.format, p.format_share = col.type.value, 1.0 if p.non_null else None
    elif temporal:
        p.format = col.type.value
    if col.format is not None and not temporal and present[0].top_kind == "text":
        p.format = col.format.value
    if any(s.format_ok is not None for s in present):
        p.format_share = _share(sum(s.format_ok or 0 for s in present), p.non_null)
    moments = merge_moments([s.moments for s in present if s.moments is not None])
    if not p.pii and moments is not None and moments.n:
        qs, rank_error = merge_quantiles([s.quantiles for s in present if s.quantiles is not None], QS)
        if rank_error is not None:
            approx["percentiles"] = rank_error
        p.stats = _temporal_stats(moments, qs, col.type) if temporal else _numeric_stats(moments, qs)
    if layer == "raw":
        _types(p, present, col, temporal)
        pii = [s.pii for s in present if s.pii is not None]
        if pii and not p.pii and p.non_null:
            from dq_platform.engine.pii.undeclared import merge_pii_counts

            p.pii_shares = merge_pii_counts(pii) or None
    p.approximate = approx or None
    return p


def _top_values(p: ColumnProfile, tops: list[Top], kind: str, exact_distinct: bool, approx: dict) -> None:
    """Top values unless nothing repeats; withheld when they look like PII (the leak gates' scanner)."""
    if exact_distinct and p.distinct == p.non_null:  # nothing repeats: top values would be noise
        p.note = "every value is distinct"
        return
    values, counts, error = merge_top(tops, TOP_N)
    if not len(counts):
        return
    if int(counts.max()) <= 1:
        p.note = "every value is distinct" if error is None else "values barely repeat: no top values"
        return
    if kind == "date":
        values = np.asarray(values).astype("datetime64[D]")
    vals = (values if isinstance(values, pa.Array) else pa.array(values)).to_pylist()
    if kind == "text":
        # a column not declared PII may still hold some (a free-text note with an email in it): the
        # leak gates' scanner judges the top values before any of them becomes metadata
        import pandas as pd

        from dq_platform.engine.pii import scan_frame

        found = scan_frame(pd.DataFrame({"v": pd.Series(vals, dtype="string")}))
        if found:
            p.note = (
                f"top values withheld: they look like PII ({', '.join(sorted(found['v']))}); declare the column's pii"
            )
            return
    p.top_values = [[_jsonable(v), int(k)] for v, k in zip(vals, counts.tolist())]
    if error is not None:
        approx["top_values"] = error


def _types(p: ColumnProfile, parts: list[ColumnSummary], col: Column, temporal: bool) -> None:
    """Share of present values parsing as each type, and the best fitting one (ties: the declared
    type first). A sampled chunk's counts are scaled to its present rows."""
    if not p.non_null:
        p.inferred_type, p.type_shares = "-", {}
        return
    shares = dict.fromkeys(TYPE_ORDER, 0.0)
    for s in parts:
        if not s.judged:
            continue
        scale = 1 if s.judged == s.non_null else s.non_null / s.judged
        for t, hits in (s.types or {}).items():
            shares[t] += hits * scale
        if temporal and s.temporal is not None:
            shares["date"] += s.temporal[0]
            shares["timestamp"] += s.temporal[1]
    shares = {t: v / p.non_null for t, v in shares.items()}
    sampled = sum(s.judged for s in parts if s.judged != s.non_null)
    p.inference_sample = sampled or None
    p.type_shares = {t: round(float(v), 6) for t, v in shares.items()}
    order = sorted(TYPE_ORDER, key=lambda t: (t != col.type.value, TYPE_ORDER.index(t)))
    best = max(order, key=lambda t: shares[t])  # max() keeps the first of equal shares
    p.inferred_type = best if shares[best] > 0.5 else "string"
    p.inferred_share = round(float(shares[best] if p.inferred_type != "string" else 1 - shares[best]), 6)


# -- statistics -------------------------------------------------------------------------------------


def _numeric_stats(m: Moments, qs: np.ndarray) -> dict[str, float]:
    out = {"min": float(m.lo), "max": float(m.hi), "mean": m.mean, "std": m.std}
    out.update({f"p{q:02d}": float(v) for q, v in zip(PERCENTILES, qs)})
    return {k: round_stat(v) for k, v in out.items()}


def _temporal_stats(m: Moments, qs: np.ndarray, kind: ColumnType) -> dict[str, str | float]:
    """Dates as integer ns truncated to the column's unit (days or seconds), as ISO text."""
    unit = "D" if kind == ColumnType.date else "s"

    def iso(v: float) -> str:
        return str(np.datetime64(int(round(v)), "ns").astype(f"datetime64[{unit}]"))

    out: dict[str, str | float] = {
        "min": iso(m.lo),
        "max": iso(m.hi),
        "mean": iso(round(m.mean, -3)),  # to the microsecond: a mean on midnight stays there whatever the split
        "std_days": round_stat(m.std / 86_400e9) if m.n > 1 else 0.0,
    }
    out.update({f"p{q:02d}": iso(v) for q, v in zip(PERCENTILES, qs)})
    return out


def _share(k: int, n: int) -> float | None:
    return round(k / n, 6) if n else None


def round_stat(v: float | None, digits: int = 10) -> float | None:
    if v is None or not np.isfinite(v):
        return None
    return float(f"{v:.{digits}g}") if abs(v) >= 1 else round(v, digits)


def _jsonable(v):
    if isinstance(v, float):
        return round_stat(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


# -- metadata -------------------------------------------------------------------------------------


def _cell(v) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return f"{v:,.6g}" if abs(v) < 1e15 else f"{v:.3e}"
    return str(v).replace("|", "\\|").replace("\n", " ")[:40]


def profile_table(profile: Profile) -> str:
    """Markdown: one row per column; PII columns show counts and shares only."""
    header = (
        "column",
        "type (declared → inferred)",
        "complete",
        "distinct",
        "format ok",
        "min",
        "p50",
        "max",
        "mean",
        "top values",
    )
    lines = [
        f"**{profile.layer}**: {profile.rows:,} rows; types {profile.inference}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for c in profile.columns:
        inferred = c.inferred_type + (f" ({c.inferred_share:.1%})" if c.inferred_share not in (None, 1.0) else "")
        fmt = f"{c.format_share:.2%} {c.format}" if c.format_share is not None else "-"
        if c.pii:
            stats = ["(PII)"] * 4
            top = "(PII: not shown)"
        else:
            st = c.stats or {}
            stats = [_cell(st.get(k)) for k in ("min", "p50", "max", "mean")]
            top = ", ".join(f"{_cell(v)} ({k:,})" for v, k in c.top_values) if c.top_values else (c.note or "-")
        complete = f"{c.completeness:.2%}" if c.completeness is not None else "-"
        distinct = ("≈" if c.approximate and "distinct" in c.approximate else "") + f"{c.distinct:,}"
        lines.append(
            "| "
            + " | ".join(
                [
                    c.name + (" 🔒" if c.pii else ""),
                    f"{c.declared_type} → {inferred}",
                    complete,
                    distinct,
                    fmt,
                    *stats,
                    top,
                ]
            )
            + " |"
        )
    return "\n".join(lines)
