"""Column normalizers: raw text in, typed and normalized values out, all vectorized.

Each normalizer returns the typed Series plus a mask of values that were present but could
not be understood, so the rule engine can quarantine them with a precise reason instead of
silently turning them into nulls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .contract import Case, Column, ColumnType, Format
from .formats import DEFAULT_DATE_FORMATS

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


@dataclass
class Typed:
    values: pd.Series  # typed, normalized; NA where missing or unparseable
    missing: pd.Series  # bool: no value was given (after null tokens)
    unparseable: pd.Series  # bool: a value was given but is not of the column's type/format


def clean_text(s: pd.Series, column: Column, null_values: list[str]) -> pd.Series:
    """Trim, collapse whitespace, map null tokens to NA and apply the contract's casing."""
    s = s.astype("string")
    c = column.cleaning
    if c.trim:
        s = s.str.strip()
    if c.collapse_whitespace:
        s = s.str.replace(r"\s+", " ", regex=True)
    if null_values:
        s = s.mask(s.isin(null_values))
    if column.type == ColumnType.string:
        if c.case == Case.lower:
            s = s.str.lower()
        elif c.case == Case.upper:
            s = s.str.upper()
        elif c.case == Case.title:
            s = s.str.title()
    return s


def normalize_phone(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """North-American numbers in any common format -> XXX-XXX-XXXX; returns (values, invalid)."""
    digits = s.str.replace(r"\D", "", regex=True)
    digits = digits.mask((digits.str.len() == 11) & digits.str.startswith("1"), digits.str.slice(1))
    ok = digits.str.fullmatch(r"[2-9]\d{2}[2-9]\d{6}").fillna(False).astype(bool)
    formatted = digits.str.slice(0, 3) + "-" + digits.str.slice(3, 6) + "-" + digits.str.slice(6, 10)
    values = formatted.where(ok)
    invalid = s.notna() & ~ok
    return values.astype("string"), invalid


def parse_dates(s: pd.Series, formats: list[str], keep_time: bool) -> pd.Series:
    """Try each format in order on the values still unparsed; NaT where none fits.

    Impossible dates (2023-02-30) fail every format and stay NaT, so they are reported.
    """
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    todo = s.notna()
    for fmt in formats:
        if not todo.any():
            break
        part = s[todo]
        if fmt == "ISO8601":
            parsed = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=True)
            parsed = parsed.dt.tz_convert(None)
        else:
            parsed = pd.to_datetime(part, format=fmt, errors="coerce")
        parsed = parsed.astype("datetime64[ns]")
        hit = parsed.notna()
        if hit.any():
            out.loc[hit[hit].index] = parsed[hit]
            todo.loc[hit[hit].index] = False
    if not keep_time:
        out = out.dt.normalize()
    return out


def to_number(s: pd.Series, integer: bool) -> tuple[pd.Series, pd.Series]:
    """Numbers, tolerating currency symbols, thousands separators and '42.0' for integers."""
    stripped = s.str.replace(r"[\$€£,\s]", "", regex=True)
    num = pd.to_numeric(stripped, errors="coerce")
    num = pd.Series(num, index=s.index, dtype="Float64")
    bad = s.notna() & num.isna()
    if integer:
        frac = num.notna() & (num != num.round())
        bad = bad | frac.fillna(False)
        big = num.abs() > 2**62
        bad = bad | big.fillna(False)
        num = num.mask(bad).round().astype("Int64")
    else:
        num = num.mask(bad | ~np.isfinite(num.astype("float64")).fillna(True) & num.notna())
        bad = bad | (s.notna() & num.isna())
    return num, bad.astype(bool)


def to_boolean(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    low = s.str.lower()
    t, f = low.isin(_TRUE), low.isin(_FALSE)
    values = pd.Series(pd.NA, index=s.index, dtype="boolean").mask(t, True).mask(f, False)
    bad = s.notna() & ~(t | f)
    return values, bad.astype(bool)


def type_column(raw: pd.Series, column: Column, null_values: list[str]) -> Typed:
    """Raw text of one column -> typed values, with missing and unparseable masks."""
    text = clean_text(raw, column, null_values)
    missing = text.isna()
    t = column.type
    if t in (ColumnType.integer, ColumnType.float):
        values, bad = to_number(text, integer=t == ColumnType.integer)
    elif t in (ColumnType.date, ColumnType.timestamp):
        formats = column.date_formats or DEFAULT_DATE_FORMATS
        values = parse_dates(text, formats, keep_time=t == ColumnType.timestamp)
        bad = text.notna() & values.isna()
    elif t == ColumnType.boolean:
        values, bad = to_boolean(text)
    else:
        values, bad = text, pd.Series(False, index=text.index)
        if column.format == Format.phone:
            values, bad = normalize_phone(text)
    return Typed(values=values, missing=missing.astype(bool), unparseable=bad.astype(bool))


def cleaned_dtype(column: Column) -> str:
    return {
        ColumnType.integer: "Int64",
        ColumnType.float: "Float64",
        ColumnType.string: "string",
        ColumnType.date: "datetime64[ns]",
        ColumnType.timestamp: "datetime64[ns]",
        ColumnType.boolean: "boolean",
    }[column.type]


def fill_default(values: pd.Series, column: Column) -> pd.Series:
    """The contract's default for missing values, typed like the column."""
    default = pd.Series([column.missing.default], dtype="string")
    typed = type_column(default, column, []).values.iloc[0]
    return values.fillna(typed)
