"""Profiles of the raw and cleaned materializations, per contract column, kept as metadata.

A profile says what a partition looks like so runs can be compared: completeness, declared vs
inferred type, exact distinct count, min/max/mean/std/percentiles (numeric and date columns), the
share of present values matching the declared format (dates: the share that parse as dates) and
the top values. The raw layer is profiled as received (text; values in `source.null_values`
after trimming count as missing); the cleaned layer as typed.

Privacy: for a column with `pii:` the profile holds counts and shares only (completeness,
distinct count, inferred type, format share), never a value (no min/max/mean/percentiles/top
values: the minimum of a date of birth is somebody's birthday).

A profile is the merge of chunk summaries: `profile_summary` turns one chunk (any number of rows)
into counts, moments and sketches of bounded size, `merge_profiles` (engine/profile_merge.py)
turns a file's summaries into its profile, and `profile_frame` is the merge of one summary, so
a whole frame and its chunks take one path. What stays exact and where sketches take over:
engine/sketches.py and docs/contracts.md ("Profiles from chunks").

Vectorized on Arrow compute kernels and numpy, one column per task on a small thread pool
(Arrow releases the GIL). Counts are exact: each column is dictionary-encoded once and formats,
dates, numbers and types are judged on its distinct values weighted by their rows. Only the raw
type inference of a chunk's column with more distinct values than `infer_sample(rows)` (10% of
its rows, 10,000 to 100,000) runs on that many rows drawn with a fixed seed, and the profile says so.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Case, Column, ColumnType, Contract, Format
from dq_platform.engine.cleaning import arrow_strings, parse_dates
from dq_platform.engine.formats import DEFAULT_DATE_FORMATS, FORMAT_PATTERNS
from dq_platform.engine.parallel import map_columns
from dq_platform.engine.profile_merge import (
    INFER_SAMPLE_ROWS,
    INFER_SEED,
    PERCENTILES,
    QS,
    TOP_N,
    ColumnProfile,
    ColumnSummary,
    Profile,
    ProfileSummary,
    infer_sample,
    merge_profiles,
    profile_table,
    round_stat,
)
from dq_platform.engine.sketches import Distinct, Moments, Quantiles, Top, hash_values

__all__ = [
    "INFER_SAMPLE_ROWS",
    "PERCENTILES",
    "TOP_N",
    "ColumnProfile",
    "ColumnSummary",
    "Profile",
    "ProfileSummary",
    "merge_profiles",
    "profile_frame",
    "profile_summary",
    "profile_table",
    "round_stat",
]

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


def profile_frame(frame: pd.DataFrame, contract: Contract, layer: str, threads: int | None = None) -> Profile:
    """Profile every contract column of `frame` ("raw": text as received; "cleaned": typed): the
    merge of one summary, so a whole frame and its chunks take the same path."""
    return merge_profiles([profile_summary(frame, contract, layer, threads)], contract, layer)


def profile_summary(frame: pd.DataFrame, contract: Contract, layer: str, threads: int | None = None) -> ProfileSummary:
    """One chunk's mergeable summary (counts, moments, sketches: its size does not grow with the
    rows); `merge_profiles` of a file's chunks' summaries is the file's profile."""
    if layer not in ("raw", "cleaned"):
        raise ValueError(f"layer must be 'raw' or 'cleaned', not {layer!r}")
    started = time.perf_counter()
    n = len(frame)
    nulls = pa.array(contract.source.null_values, type=pa.large_string())
    one = (lambda c: _raw_column(frame, c, nulls)) if layer == "raw" else (lambda c: _cleaned_column(frame, c))
    columns = map_columns(one, contract.columns, rows=n, threads=threads)
    return ProfileSummary(layer=layer, rows=n, columns=columns, seconds=time.perf_counter() - started)


# -- raw: text as received ----------------------------------------------------------------------
#
# Each column is dictionary-encoded once (the one hash pass an exact distinct count needs anyway);
# formats, dates, numbers and types are then judged on the distinct values and weighted by their
# row counts, so their cost follows the number of distinct values, not of rows.


def _raw_column(frame: pd.DataFrame, col: Column, nulls: pa.Array) -> ColumnSummary:
    s = ColumnSummary(name=col.name, rows=len(frame))
    if col.name not in frame.columns:
        s.missing = True
        return s
    pii = col.pii is not None
    text = pc.utf8_trim_whitespace(arrow_strings(frame[col.name]))
    missing = pc.or_(pc.is_null(text), pc.fill_null(pc.is_in(text, value_set=nulls), False))
    present = pc.filter(text, pc.invert(missing))
    del text, missing
    s.non_null = len(present)
    values, codes, counts = _encode(present)
    del present
    s.distinct = Distinct.of(hash_values(values))
    if not pii:
        s.top = Top.of(values, counts)
        if s.non_null:  # undeclared PII: what the masked gate would refuse, seen early
            from dq_platform.engine.pii.undeclared import pii_counts

            s.pii = pii_counts(values, counts)
    if col.type in (ColumnType.date, ColumnType.timestamp):
        parsed = _parse_temporal(values, col).astype("int64")  # per distinct value, NaT where none fits
        ok = parsed != np.iinfo(np.int64).min
        with_time = ok & (parsed % 86_400_000_000_000 != 0)
        s.format_ok = int(counts[ok].sum())
        s.temporal = (int(counts[ok & ~with_time].sum()), int(counts[with_time].sum()))
        if not pii and ok.any():
            _stats(s, _to_unit(parsed[ok], col.type), counts[ok])
    elif col.format is not None:
        s.format_ok = _weighted(_format_mask(values, col), counts)
    numbers = None  # per distinct value; computed once, shared with the type inference
    if col.type in (ColumnType.integer, ColumnType.float) and not pii and s.non_null:
        numbers = _raw_numbers(values)
        finite = np.isfinite(numbers)
        if finite.any():
            _stats(s, numbers[finite], counts[finite])
    _type_counts(s, values, codes, counts, col, numbers)
    return s


def _stats(s: ColumnSummary, values: np.ndarray, counts: np.ndarray) -> None:
    """Moments and quantile summary of `values` (repeats allowed), each present `counts` times."""
    s.moments = Moments.weighted(values, counts)
    s.quantiles = Quantiles.of(values, counts, lambda: np.repeat(values, counts), QS)


def _to_unit(ns: np.ndarray, kind: ColumnType) -> np.ndarray:
    """Integer ns truncated to the column's unit (days for dates, seconds for timestamps)."""
    unit = "D" if kind == ColumnType.date else "s"
    return ns.astype("datetime64[ns]").astype(f"datetime64[{unit}]").astype("datetime64[ns]").astype("int64")


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


def _type_counts(
    s: ColumnSummary,
    values: pa.Array,
    codes: np.ndarray,
    counts: np.ndarray,
    col: Column,
    numbers: np.ndarray | None = None,
) -> None:
    """Rows parsing as each type (counts that add over chunks; the merge picks the best type).
    Judged on the distinct values weighted by their rows; above `infer_sample` distinct values,
    on the distinct values of that many rows drawn with a fixed seed. A date
    column's date/timestamp counts come from its exact parse (`s.temporal`)."""
    if len(codes) == 0:
        s.types, s.judged = {}, 0
        return
    sample = infer_sample(len(codes))
    if len(values) > sample:
        rows = np.random.default_rng(INFER_SEED).choice(len(codes), sample, replace=False)
        picked, weights = np.unique(codes[rows], return_counts=True)
        values = values.take(pa.array(picked))
        numbers = numbers[picked] if numbers is not None else None
    else:
        weights = counts
    s.judged = int(weights.sum())
    types = {
        "integer": _weighted(pc.match_substring_regex(values, _INTEGER), weights),
        "float": _weighted(np.isfinite(numbers if numbers is not None else _raw_numbers(values)), weights),
    }
    if s.temporal is None:
        types["date"] = types["timestamp"] = 0
        shape = pc.fill_null(pc.match_substring_regex(values, _DATE_SHAPE), False)
        if pc.any(shape).as_py():
            pos = np.flatnonzero(shape.to_numpy(zero_copy_only=False))
            parsed = _parse_temporal(values.take(pa.array(pos)), col).astype("int64")
            ok = parsed != np.iinfo(np.int64).min
            with_time = ok & (parsed % 86_400_000_000_000 != 0)
            types["date"] = int(weights[pos[ok & ~with_time]].sum())
            types["timestamp"] = int(weights[pos[with_time]].sum())
    lower = pc.utf8_lower(values)
    types["boolean"] = _weighted(pc.is_in(lower, value_set=pa.array(_BOOLEAN_TOKENS, lower.type)), weights)
    s.types = types


# -- cleaned: typed -------------------------------------------------------------------------------


def _cleaned_column(frame: pd.DataFrame, col: Column) -> ColumnSummary:
    s = ColumnSummary(name=col.name, rows=len(frame))
    if col.name not in frame.columns:
        s.missing = True
        return s
    pii = col.pii is not None
    series = frame[col.name]
    s.inferred = _type_of(series, col)
    if col.type in (ColumnType.integer, ColumnType.float, ColumnType.date, ColumnType.timestamp):
        temporal = col.type in (ColumnType.date, ColumnType.timestamp)
        x = series.dropna().to_numpy(dtype="datetime64[ns]" if temporal else "float64")
        s.non_null = len(x)
        distinct, counts = np.unique(x, return_counts=True)  # one sort: distinct values and their rows
        s.distinct = Distinct.of(hash_values(distinct))
        s.top_kind = col.type.value if temporal else "number"
        if not pii:
            s.top = Top.of(distinct, counts)
            if s.non_null:
                _stats(s, _to_unit(distinct.view("int64"), col.type) if temporal else distinct, counts)
        return s
    arr = pa.array(series, from_pandas=True)
    present = (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).drop_null()
    s.non_null = len(present)
    values, _, counts = _encode(present)
    s.distinct = Distinct.of(hash_values(values))
    if not pii:
        s.top = Top.of(values, counts)
    if col.format is not None:
        s.format_ok = _weighted(pc.match_substring_regex(values, FORMAT_PATTERNS[col.format.value]), counts)
    return s


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
