"""Profiles of the raw and cleaned materializations, per contract column, kept as metadata.

A profile says what a partition looks like so runs can be compared: completeness, declared vs
inferred type, exact distinct count, min/max/mean/std/percentiles (numeric and date columns), the
share of present values matching the declared format (dates: the share that parse as dates) and
the top values. The raw layer is profiled as received (text; values in `source.null_values`
after trimming count as missing); the cleaned layer as typed.

Privacy: for a column with `pii:` the profile holds counts and shares only (completeness,
distinct count, inferred type, format share), never a value (no min/max/mean/percentiles/top
values: the minimum of a date of birth is somebody's birthday).

Vectorized on Arrow compute kernels and numpy, one column per task on a small thread pool
(Arrow releases the GIL). Counts are exact: each column is dictionary-encoded once and formats,
dates, numbers and types are judged on its distinct values weighted by their rows. Only the raw
type inference of a column with more than INFER_SAMPLE_ROWS distinct values runs on
INFER_SAMPLE_ROWS rows drawn with a fixed seed, and the profile says so.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Case, Column, ColumnType, Contract, Format
from dq_platform.engine.cleaning import arrow_strings, parse_dates
from dq_platform.engine.formats import DEFAULT_DATE_FORMATS, FORMAT_PATTERNS
from dq_platform.engine.parallel import map_columns

INFER_SAMPLE_ROWS = 100_000
INFER_SEED = 0
TOP_N = 5
PERCENTILES = (5, 25, 50, 75, 95)
TYPE_ORDER = ("integer", "float", "date", "timestamp", "boolean")  # tie-break after the declared type

_INTEGER = r"^[+-]?[0-9]+$"
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_NUMBER_DECORATION = r"[\$€£,\s]"  # what the cleaner strips from numbers ($1,234.50)
_NUMBER_CHARS = r"^[0-9.eE+\-\$€£,\s]+$"  # values that could be a number once stripped
_BOOLEAN_TOKENS = ["true", "t", "yes", "y", "1", "false", "f", "no", "n", "0"]
# cheap pre-filter before the (costly) date parsers: only values shaped like some date
_DATE_SHAPE = (
    r"^[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}|^[0-9]{8}$|^[0-9]{1,2}[ -][A-Za-z]{3,9}[ -][0-9]{4}$"
    r"|^[A-Za-z]{3,9}\.? [0-9]{1,2}, [0-9]{4}$"
)
# What normalize_phone accepts, as one RE2 pattern: 10 digits (area and exchange codes 2-9), or 11
# starting with 1, with anything else between them. One regex pass instead of the digit extraction.
_PHONE_NORMALIZABLE = r"^[^0-9]*(?:1[^0-9]*)?[2-9][^0-9]*(?:[0-9][^0-9]*){2}[2-9][^0-9]*(?:[0-9][^0-9]*){6}$"
_HAS_TIME = r"[0-9]{1,2}:[0-9]{2}"
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# what datetime64[ns] (the cleaned dtype) can hold; the cleaner reports dates beyond as unparseable
_NS_MIN, _NS_MAX = np.datetime64(pd.Timestamp.min.ceil("s"), "s"), np.datetime64(pd.Timestamp.max.floor("s"), "s")
_ISO_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}$"
_CASE_SENSITIVE_FORMATS = {Format.currency_code}


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


def profile_frame(frame: pd.DataFrame, contract: Contract, layer: str, threads: int | None = None) -> Profile:
    """Profile every contract column of `frame` ("raw": text as received; "cleaned": typed)."""
    if layer not in ("raw", "cleaned"):
        raise ValueError(f"layer must be 'raw' or 'cleaned', not {layer!r}")
    started = time.perf_counter()
    n = len(frame)
    nulls = pa.array(contract.source.null_values, type=pa.large_string())
    one = (lambda c: _raw_column(frame, c, nulls)) if layer == "raw" else (lambda c: _cleaned_column(frame, c))
    columns = map_columns(one, contract.columns, rows=n, threads=threads)
    sampled = [c.name for c in columns if c.inference_sample]
    inference = (
        "from the cleaned dtypes"
        if layer == "cleaned"
        else "inferred on every value"
        + (
            f" (columns with over {INFER_SAMPLE_ROWS:,} distinct values: on {INFER_SAMPLE_ROWS:,} rows drawn with "
            f"seed {INFER_SEED}: {', '.join(sampled)})"
            if sampled
            else ""
        )
    )
    return Profile(layer=layer, rows=n, columns=columns, inference=inference, seconds=time.perf_counter() - started)


# -- raw: text as received ----------------------------------------------------------------------
#
# Each column is dictionary-encoded once (the one hash pass an exact distinct count needs anyway);
# formats, dates, numbers and types are then judged on the distinct values and weighted by their
# row counts, so their cost follows the number of distinct values, not of rows.


def _raw_column(frame: pd.DataFrame, col: Column, nulls: pa.Array) -> ColumnProfile:
    p = ColumnProfile(name=col.name, declared_type=col.type.value, pii=col.pii is not None, rows=len(frame))
    if col.name not in frame.columns:
        p.note = "column missing from the file"
        p.inferred_type = "-"
        return p
    text = pc.utf8_trim_whitespace(arrow_strings(frame[col.name]))
    missing = pc.or_(pc.is_null(text), pc.fill_null(pc.is_in(text, value_set=nulls), False))
    present = pc.filter(text, pc.invert(missing))
    del text, missing
    p.non_null = len(present)
    values, codes, counts = _encode(present)
    del present
    _distinct_and_top(p, values, counts)
    if not p.pii and p.non_null:  # undeclared PII: what the masked gate would refuse, seen early
        from dq_platform.engine.pii.undeclared import pii_shares

        p.pii_shares = pii_shares(values, counts) or None
    temporal = None
    if col.type in (ColumnType.date, ColumnType.timestamp):
        p.format = col.type.value
        parsed = _parse_temporal(values, col).astype("int64")  # per distinct value, NaT where none fits
        ok = parsed != np.iinfo(np.int64).min
        with_time = ok & (parsed % 86_400_000_000_000 != 0)
        p.format_share = _share(int(counts[ok].sum()), p.non_null)
        temporal = (
            (counts[ok & ~with_time].sum() / p.non_null, counts[with_time].sum() / p.non_null) if p.non_null else None
        )
        if not p.pii and ok.any():
            rows = parsed[codes]
            p.stats = _temporal_stats(rows[rows != np.iinfo(np.int64).min].astype("datetime64[ns]"), col.type)
    elif col.format is not None:
        p.format = col.format.value
        p.format_share = _share(_weighted(_format_mask(values, col), counts), p.non_null)
    numbers = None  # per distinct value; computed once, shared with the type inference
    if col.type in (ColumnType.integer, ColumnType.float) and not p.pii and p.non_null:
        numbers = _raw_numbers(values)
        rows = numbers[codes]
        p.stats = _numeric_stats(rows[np.isfinite(rows)])
    _infer(p, values, codes, counts, col, temporal, numbers)
    return p


def _encode(present: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(distinct values, per-row position in them, rows per distinct value): one hash pass."""
    if pa.types.is_large_string(present.type) and present.nbytes < 2**31:
        present = present.cast(pa.string())  # 32-bit offsets: less to hash and copy
    enc = pc.dictionary_encode(present)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    codes = enc.indices.to_numpy(zero_copy_only=False)  # int32: no copy
    return enc.dictionary, codes, np.bincount(codes, minlength=len(enc.dictionary))


def _weighted(mask, counts: np.ndarray) -> int:
    """Rows whose distinct value satisfies `mask` (a bool per distinct value)."""
    m = np.asarray(
        pc.fill_null(mask, False).to_numpy(zero_copy_only=False) if not isinstance(mask, np.ndarray) else mask
    )
    return int(counts[m].sum())


def _raw_numbers(values: pa.Array) -> np.ndarray:
    """float64 per value: numbers as the cleaner reads them (plain, or $1,234.50 stripped), NaN otherwise.
    Only values made of number characters take the (costlier) stripping path."""
    plain = pc.fill_null(pc.match_substring_regex(values, _PLAIN_NUMBER), False)
    out = pc.cast(pc.if_else(plain, values, pa.scalar(None, values.type)), pa.float64())
    out = out.to_numpy(zero_copy_only=False)
    maybe = pc.and_not(pc.fill_null(pc.match_substring_regex(values, _NUMBER_CHARS), False), plain)
    pos = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
    if len(pos):
        stripped = pc.replace_substring_regex(values.take(pa.array(pos)), _NUMBER_DECORATION, "")
        ok = pc.fill_null(pc.match_substring_regex(stripped, _PLAIN_NUMBER), False)
        out[pos] = pc.cast(pc.if_else(ok, stripped, pa.scalar(None, stripped.type)), pa.float64()).to_numpy(
            zero_copy_only=False
        )
    return out


def _distinct_and_top(p: ColumnProfile, values: pa.Array, counts: np.ndarray) -> None:
    """Exact distinct count of present values; top values too unless the column is PII."""
    p.distinct = len(values)
    if p.pii or p.distinct == 0:
        return
    if p.distinct == p.non_null:  # nothing repeats: top values would be noise
        p.note = "every value is distinct"
        return
    # the TOP_N largest counts; ties broken by position (value order for numbers and dates, first
    # appearance for text), so the same data always shows the same top values
    kth = np.partition(counts, len(counts) - TOP_N)[len(counts) - TOP_N] if len(counts) > TOP_N else 0
    cand = np.flatnonzero(counts >= kth)
    top = cand[np.lexsort((cand, -counts[cand]))][:TOP_N]
    vals = values.take(pa.array(top)).to_pylist()
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        # a column not declared PII may still hold some (a free-text note with an email in it): the
        # leak gates' scanner judges the top values before any of them becomes metadata
        from dq_platform.engine.pii import scan_frame

        found = scan_frame(pd.DataFrame({"v": pd.Series(vals, dtype="string")}))
        if found:
            p.note = (
                f"top values withheld: they look like PII ({', '.join(sorted(found['v']))}); declare the column's pii"
            )
            return
    p.top_values = [[_jsonable(v), int(k)] for v, k in zip(vals, counts[top].tolist())]


def _format_mask(values: pa.Array, col: Column):
    """Per value: does it match the declared format (as the cleaner and rules judge it)?"""
    if col.format == Format.phone:  # valid = normalizes to a North-American number, as the cleaner does
        return pc.match_substring_regex(values, _PHONE_NORMALIZABLE)
    if col.format in _CASE_SENSITIVE_FORMATS and col.cleaning.case != Case.keep:
        values = {Case.lower: pc.utf8_lower, Case.upper: pc.utf8_upper, Case.title: pc.utf8_title}[col.cleaning.case](
            values
        )
    return pc.match_substring_regex(values, FORMAT_PATTERNS[col.format.value])


def _parse_temporal(values: pa.Array, col: Column) -> np.ndarray:
    """datetime64[ns] per value (time of day kept; NaT where no format fits), with the cleaner's
    formats in the cleaner's order. Canonical ISO values (YYYY-MM-DD, YYYY-MM-DD[T ]HH:MM:SS) take
    Arrow's strptime, checked against the day and time written in the text (strptime rolls
    2023-02-30 over to March); every other value goes to the cleaner's own parser, so what parses
    here is exactly what cleaning accepts. (pandas tries each format in turn: 1M ISO timestamps
    failing the eight formats before ISO8601 cost ~20 s; Arrow parses them in ~0.2 s.)"""
    formats = col.date_formats or DEFAULT_DATE_FORMATS
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    todo = np.ones(len(values), bool)
    fast = []
    if "%Y-%m-%d" in formats or "ISO8601" in formats:
        fast.append((_ISO_DATE, "%Y-%m-%d", ()))
    if {"ISO8601", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"} & set(formats):
        fast.append((_ISO_DATETIME, "%Y-%m-%dT%H:%M:%S", ((pc.hour, 11), (pc.minute, 14), (pc.second, 17))))
    for pattern, fmt, parts in fast if len(values) else ():
        shaped = pc.fill_null(pc.match_substring_regex(values, pattern), False)
        pos = np.flatnonzero(shaped.to_numpy(zero_copy_only=False))
        if not len(pos):
            continue
        cand = values.take(pa.array(pos))
        if parts:
            cand = pc.replace_substring(cand, " ", "T", max_replacements=1)
        parsed = pc.strptime(cand, format=fmt, unit="s", error_is_null=True)
        ok = pc.equal(pc.day(parsed), pc.cast(pc.utf8_slice_codeunits(cand, 8, 10), pa.int64()))
        for part, at in parts:
            ok = pc.and_(ok, pc.equal(part(parsed), pc.cast(pc.utf8_slice_codeunits(cand, at, at + 2), pa.int64())))
        seconds = parsed.to_numpy(zero_copy_only=False)  # datetime64[s]; NaT where strptime failed
        ok = pc.fill_null(ok, False).to_numpy(zero_copy_only=False) & (seconds >= _NS_MIN) & (seconds <= _NS_MAX)
        out[pos[ok]] = seconds[ok].astype("datetime64[ns]")
        todo[pos[ok]] = False  # ISO-shaped values Arrow refused (2023-02-30) still go to the cleaner's parser
    rest = np.flatnonzero(todo)
    if len(rest):
        text = pd.Series(pd.arrays.ArrowStringArray(values.take(pa.array(rest)).cast(pa.large_string())))
        out[rest] = parse_dates(text, formats, keep_time=True).to_numpy(dtype="datetime64[ns]")
    return out


def _infer(
    p: ColumnProfile,
    values: pa.Array,
    codes: np.ndarray,
    counts: np.ndarray,
    col: Column,
    temporal: tuple[float, float] | None,
    numbers: np.ndarray | None = None,
) -> None:
    """Share of present values parsing as each type, and the best fitting one (ties: the declared
    type first). Judged on the distinct values weighted by their rows; above INFER_SAMPLE_ROWS
    distinct values, on the distinct values of INFER_SAMPLE_ROWS rows drawn with a fixed seed. A
    date column's date/timestamp shares come from its exact parse (`temporal`)."""
    if len(codes) == 0:
        p.inferred_type, p.type_shares = "-", {}
        return
    if len(values) > INFER_SAMPLE_ROWS:
        rows = np.random.default_rng(INFER_SEED).choice(len(codes), INFER_SAMPLE_ROWS, replace=False)
        picked, weights = np.unique(codes[rows], return_counts=True)
        values = values.take(pa.array(picked))
        numbers = numbers[picked] if numbers is not None else None
        p.inference_sample = INFER_SAMPLE_ROWS
    else:
        weights = counts
    m = weights.sum()

    def share(mask) -> float:
        return _weighted(mask, weights) / m

    shares = {
        "integer": share(pc.match_substring_regex(values, _INTEGER)),
        "float": share(np.isfinite(numbers if numbers is not None else _raw_numbers(values))),
    }
    if temporal is not None:
        shares["date"], shares["timestamp"] = temporal
    else:
        shares["date"] = shares["timestamp"] = 0.0
        shape = pc.fill_null(pc.match_substring_regex(values, _DATE_SHAPE), False)
        if pc.any(shape).as_py():
            pos = np.flatnonzero(shape.to_numpy(zero_copy_only=False))
            parsed = _parse_temporal(values.take(pa.array(pos)), col).astype("int64")
            ok = parsed != np.iinfo(np.int64).min
            with_time = ok & (parsed % 86_400_000_000_000 != 0)
            shares["date"] = weights[pos[ok & ~with_time]].sum() / m
            shares["timestamp"] = weights[pos[with_time]].sum() / m
    shares["boolean"] = share(pc.is_in(pc.utf8_lower(values), value_set=pa.array(_BOOLEAN_TOKENS, values.type)))
    p.type_shares = {t: round(float(v), 6) for t, v in shares.items()}
    order = sorted(TYPE_ORDER, key=lambda t: (t != col.type.value, TYPE_ORDER.index(t)))
    best = max(order, key=lambda t: shares[t])  # max() keeps the first of equal shares
    p.inferred_type = best if shares[best] > 0.5 else "string"
    p.inferred_share = round(float(shares[best] if p.inferred_type != "string" else 1 - shares[best]), 6)


# -- cleaned: typed -------------------------------------------------------------------------------


def _cleaned_column(frame: pd.DataFrame, col: Column) -> ColumnProfile:
    p = ColumnProfile(name=col.name, declared_type=col.type.value, pii=col.pii is not None, rows=len(frame))
    if col.name not in frame.columns:
        p.note, p.inferred_type = "column missing", "-"
        return p
    s = frame[col.name]
    p.inferred_type, p.inferred_share = _type_of(s, col), 1.0
    if col.type in (ColumnType.integer, ColumnType.float, ColumnType.date, ColumnType.timestamp):
        temporal = col.type in (ColumnType.date, ColumnType.timestamp)
        x = s.dropna().to_numpy(dtype="datetime64[ns]" if temporal else "float64")
        p.non_null = len(x)
        distinct, counts = np.unique(x, return_counts=True)  # one sort: distinct values and their rows
        if temporal and col.type == ColumnType.date:
            distinct = distinct.astype("datetime64[D]")
        _distinct_and_top(p, pa.array(distinct), counts)
        if temporal:
            p.format, p.format_share = col.type.value, 1.0 if p.non_null else None  # typed: each present value is one
        if not p.pii and p.non_null:
            p.stats = _temporal_stats(x, col.type) if temporal else _numeric_stats(x)
        return p
    arr = pa.array(s, from_pandas=True)
    present = (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).drop_null()
    p.non_null = len(present)
    values, _, counts = _encode(present)
    _distinct_and_top(p, values, counts)
    if col.format is not None:
        p.format = col.format.value
        p.format_share = _share(
            _weighted(pc.match_substring_regex(values, FORMAT_PATTERNS[col.format.value]), counts), p.non_null
        )
    return p


def _type_of(s: pd.Series, col: Column) -> str:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "timestamp" if col.type == ColumnType.timestamp else "date"
    return "string"


# -- numbers ----------------------------------------------------------------------------------------


def _numeric_stats(x: np.ndarray) -> dict[str, float] | None:
    if not len(x):
        return None
    qs = np.quantile(x, [q / 100 for q in PERCENTILES])
    out = {
        "min": float(x.min()),
        "max": float(x.max()),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
    }
    out.update({f"p{q:02d}": float(v) for q, v in zip(PERCENTILES, qs)})
    return {k: round_stat(v) for k, v in out.items()}


def _temporal_stats(x: np.ndarray, kind: ColumnType) -> dict[str, str | float]:
    unit = "D" if kind == ColumnType.date else "s"
    ns = x.astype(f"datetime64[{unit}]").astype("datetime64[ns]").astype("int64")

    def iso(v: float) -> str:
        return str(np.datetime64(int(round(v)), "ns").astype(f"datetime64[{unit}]"))

    qs = np.quantile(ns, [q / 100 for q in PERCENTILES])
    out: dict[str, str | float] = {
        "min": iso(ns.min()),
        "max": iso(ns.max()),
        "mean": iso(ns.mean()),
        "std_days": round_stat(float(ns.std(ddof=1)) / 86_400e9) if len(ns) > 1 else 0.0,
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
        lines.append(
            "| "
            + " | ".join(
                [
                    c.name + (" 🔒" if c.pii else ""),
                    f"{c.declared_type} → {inferred}",
                    complete,
                    f"{c.distinct:,}",
                    fmt,
                    *stats,
                    top,
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def profile_summary(frame: pd.DataFrame, contract: Contract, layer: str):  # placeholder: the mergeable form lands next
    return frame


def merge_profiles(parts: list, contract: Contract, layer: str) -> Profile:
    return profile_frame(pd.concat(parts, ignore_index=True) if len(parts) != 1 else parts[0], contract, layer)
