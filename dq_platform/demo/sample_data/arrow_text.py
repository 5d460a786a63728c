"""Small vectorized helpers over Arrow/numpy arrays: text from numbers, dates, picks and edits."""

from __future__ import annotations

import functools
import re
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.demo.sample_data.vocabularies import _DATE_DIRECTIVES, _TIME_DIRECTIVES

# --------------------------------------------------------------------------------------
# Small vectorized helpers
# --------------------------------------------------------------------------------------


def _s(values) -> pa.Array:
    """A pyarrow string array from a list / numpy array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    return pa.array(values, type=pa.string())


def _take(vocab, idx: np.ndarray) -> pa.Array:
    vocab = vocab if isinstance(vocab, pa.Array) else pa.array(vocab, type=pa.string())
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _int_text(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def _pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_int_text(values), width, padding="0")


def _money_text(cents: np.ndarray) -> pa.Array:
    """Integer cents -> '1234.50' without float formatting."""
    cents = np.asarray(cents, dtype=np.int64)
    a = np.abs(cents)
    text = _join(_int_text(a // 100), ".", _pad(a % 100, 2))
    neg = cents < 0
    if neg.any():
        text = pc.if_else(pa.array(neg), _join("-", text), text)
    return text


def _weighted(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    """Weighted choice of indexes via a 2**16-entry lookup table: a gather instead of a
    binary search per row (resolution 1/65536 is plenty for sample data)."""
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    cdf /= cdf[-1]
    table = np.minimum(np.searchsorted(cdf, (np.arange(65536) + 0.5) / 65536, side="right"), len(cdf) - 1)
    return table[rng.integers(0, 65536, n, dtype=np.uint16)].astype(np.int64)


def _zipf_weights(k: int, a: float = 1.6) -> np.ndarray:
    """First listed values most common: statuses, currencies, ..."""
    return 1.0 / np.arange(1, k + 1) ** a


def _pick(rng: np.random.Generator, variants: list[pa.Array]) -> pa.Array:
    """Per row, one of several equally long candidate arrays."""
    m = len(variants[0])
    if len(variants) == 1 or m == 0:
        return variants[0]
    choice = rng.integers(0, len(variants), m)
    return pa.concat_arrays([_s(v) for v in variants]).take(pa.array(choice * m + np.arange(m)))


def _codes_to_strings(mat: np.ndarray) -> pa.Array:
    """(n, L) code-point matrix, 0 = no character, -> string array (zeros dropped anywhere)."""
    n = mat.shape[0]
    if n == 0:
        return pa.array([], type=pa.string())
    nz = mat != 0
    if mat.size and mat.max() >= 128:
        order = np.argsort(~nz, axis=1, kind="stable")  # move characters before the holes
        packed = np.take_along_axis(mat, order, axis=1).astype(np.uint32)
        return pa.array(np.ascontiguousarray(packed).view(f"<U{mat.shape[1]}").ravel(), type=pa.string())
    flat = np.ascontiguousarray(mat, dtype=np.uint8).ravel()
    data = flat[nz.ravel()]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(nz, axis=1), out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def _table(strings: list[str]) -> np.ndarray:
    """ASCII strings -> (k, maxlen) byte table, 0-padded; rows are gathered per generated row
    and the zeros dropped by _codes_to_strings: string building as numpy gathers."""
    width = max((len(w) for w in strings), default=0)
    out = np.zeros((len(strings), max(width, 1)), dtype=np.uint8)
    for i, w in enumerate(strings):
        b = w.encode("ascii")
        out[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    return out


def _digits(values: np.ndarray, width: int, pad: bool = False) -> np.ndarray:
    """Non-negative ints -> (n, width) ASCII digits; leading zeros dropped unless ``pad``."""
    values = np.asarray(values, dtype=np.int64)
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values.copy()
    for j in range(width - 1, -1, -1):
        rest, d = np.divmod(rest, 10)
        out[:, j] = 48 + d
    if not pad and width > 1:
        lead = np.ones(len(values), dtype=bool)
        for j in range(width - 1):
            lead &= out[:, j] == 48
            out[lead, j] = 0
    return out


def _apply_edits(base: pa.Array, edits: list[tuple[np.ndarray, pa.Array | None]]) -> pa.Array:
    """Replace rows of ``base``; later edits win. One take for all edits of a column."""
    edits = [(r, v) for r, v in edits if len(r)]
    if not edits:
        return base
    n = len(base)
    idx = np.arange(n, dtype=np.int64)
    pieces, off = [base], n
    for rows, vals in edits:
        vals = pa.nulls(len(rows), pa.string()) if vals is None else _s(vals)
        idx[rows] = off + np.arange(len(rows))
        pieces.append(vals)
        off += len(rows)
    return pa.concat_arrays(pieces).take(pa.array(idx))


def _crc(*parts) -> int:
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


# -- temporal rendering ----------------------------------------------------------------

_UNIT_SECONDS = {"D": 86400, "s": 1}


def _to_ts(values: np.ndarray, unit: str) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64).astype(f"datetime64[{unit}]").astype("datetime64[s]"))


def _strftime(values: np.ndarray, unit: str, fmt: str) -> pa.Array:
    if len(values) == 0:
        return pa.array([], type=pa.string())
    if unit == "D" and fmt == "%Y-%m-%d":
        return pa.array(np.asarray(values, dtype=np.int64).astype("datetime64[D]")).cast(pa.string())
    return pc.strftime(_to_ts(values, unit), format=fmt)


def _render_temporal(values: np.ndarray, unit: str, fmt: str) -> pa.Array:
    """Whole-column rendering via small vocabularies (distinct days, seconds of the day):
    strftime on a million timestamps is slow, a take is not."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) < 5000:
        return _strftime(values, unit, fmt)
    if unit == "D":
        lo, hi = int(values.min()), int(values.max())
        vocab = _strftime(np.arange(lo, hi + 1), "D", fmt)
        return _take(vocab, values - lo)
    m = re.search(r"%[HIMSpTX]", fmt)
    date_part, time_part = (fmt[: m.start()], fmt[m.start() :]) if m else (fmt, "")
    if set(re.findall(r"%(.)", date_part)) & _TIME_DIRECTIVES or set(re.findall(r"%(.)", time_part)) & _DATE_DIRECTIVES:
        return _strftime(values, unit, fmt)
    days, secs = np.divmod(values, 86400)
    out = _render_temporal(days, "D", date_part) if date_part else None
    if time_part:
        t = _take(_time_vocab(time_part), secs)
        out = t if out is None else _join(out, t)
    return out


@functools.lru_cache(maxsize=8)
def _time_vocab(fmt: str) -> pa.Array:
    """The 86400 seconds of a day rendered with ``fmt`` (cached: built once per format)."""
    return pc.strftime(pa.array(np.arange(86400).astype("datetime64[s]")), format=fmt)


def _fmt_parts(fmt: str, parts: dict[str, pa.Array | str]) -> pa.Array | None:
    """Render a strftime format from per-row component strings (for impossible dates, which
    no date type can hold). None when the format uses a directive we have no part for."""
    pieces = []
    for tok in re.split(r"(%.)", fmt):
        if not tok:
            continue
        if tok.startswith("%") and len(tok) == 2:
            if tok == "%%":
                pieces.append("%")
            elif tok[1] in parts:
                pieces.append(parts[tok[1]])
            else:
                return None
        else:
            pieces.append(tok)
    arrays = [p for p in pieces if not isinstance(p, str)]
    if not arrays:
        return None
    return _join(*pieces)


def _parse_bound(v, unit: str) -> int | None:
    if v is None:
        return None
    ts = pd.Timestamp(str(v))
    return int(np.datetime64(ts.to_datetime64(), unit).astype(np.int64))
