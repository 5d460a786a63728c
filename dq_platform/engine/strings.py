"""The canonical string form of a column's values: what masking hashes and the PII gate compares.

Integer 42, float 42.0 and the string "42" are all "42"; booleans "true"/"false"; dates and
timestamps ISO 8601 (UTC). Masking (engine/masking.py) hashes values in this form, so a join key
typed differently in two datasets gets the same token; the PII gate (engine/pii.py) compares masked
and raw values in it. Both import it from here: masking builds on pii (its `scrub` strategy is the
gate's own patterns), and neither is imported by this module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["canonical_codes", "canonical_strings"]


def _strings_from_arrow(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _canonical_uniques(values) -> np.ndarray:
    """Canonical strings (object ndarray of str) of already-unique, non-null values."""
    dtype = getattr(values, "dtype", None)
    if isinstance(values, pd.Categorical) or isinstance(dtype, pd.CategoricalDtype):
        return _canonical_uniques(np.asarray(values, dtype=object))
    if dtype is not None and (pd.api.types.is_string_dtype(dtype) and dtype != object):  # noqa: E721 - numpy dtype equality, not identity
        return np.asarray(pd.array(values).to_numpy(dtype=object), dtype=object)
    if dtype is not None and pd.api.types.is_bool_dtype(dtype):
        return np.where(np.asarray(values, dtype=bool), "true", "false").astype(object)
    if dtype is not None and pd.api.types.is_integer_dtype(dtype):
        return _strings_from_arrow(pc.cast(pa.array(np.asarray(values)), pa.string()))
    if dtype is not None and pd.api.types.is_float_dtype(dtype):
        v = np.asarray(values, dtype=np.float64)
        integral = np.isfinite(v) & (np.floor(v) == v) & (np.abs(v) < 2.0**63)
        out = _strings_from_arrow(pc.cast(pa.array(v), pa.string()))
        if integral.any():
            out[integral] = _strings_from_arrow(pc.cast(pa.array(v[integral].astype(np.int64)), pa.string()))
        return out
    if dtype is not None and (pd.api.types.is_datetime64_any_dtype(dtype)):
        idx = pd.DatetimeIndex(values)
        if idx.tz is not None:
            idx = idx.tz_convert("UTC").tz_localize(None)
        v = idx.to_numpy()
        midnight = v.astype("datetime64[D]") == v
        whole_s = v.astype("datetime64[s]") == v
        return np.where(
            midnight,
            np.datetime_as_string(v, unit="D"),
            np.where(whole_s, np.datetime_as_string(v, unit="s"), np.datetime_as_string(v, unit="auto")),
        ).astype(object)
    # object (or anything else): infer what the values are, then use the typed path
    obj = np.asarray(values, dtype=object)
    kind = pd.api.types.infer_dtype(obj, skipna=True)
    if kind == "string":
        return obj
    typed = {"integer": "Int64", "floating": "Float64", "mixed-integer-float": "Float64", "boolean": "boolean"}.get(
        kind
    )
    if typed is not None:
        return _canonical_uniques(pd.array(obj, dtype=typed))
    if kind in ("datetime", "datetime64", "date"):
        return _canonical_uniques(pd.to_datetime(obj))
    return pd.Series(obj, dtype=object).astype(str).to_numpy(dtype=object)


def canonical_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, canonical strings of the uniques); code -1 marks a null."""
    values = series.array
    if pd.api.types.is_string_dtype(series.dtype):
        # factorizing the plain object array is faster than the Arrow-backed one
        values = series.to_numpy(dtype=object, na_value=None)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), _canonical_uniques(uniques)


def canonical_strings(series: pd.Series) -> pd.Series:
    """The canonical string form masking hashes (42, 42.0 and "42" -> "42"; dates -> ISO)."""
    codes, canon = canonical_codes(series)
    arr = pd.array(canon, dtype="string") if len(canon) else pd.array([], dtype="string")
    return pd.Series(arr.take(codes, allow_fill=True), index=series.index, name=series.name)
