"""What the chunked gates share: per-chunk results that merge into the whole file's answer.

A file's cleaned rows arrive as chunks (issue #18). Every check of the pandera schema and the
GX suite is row-local (a failing row count adds up across chunks) or chunk-invariant (column
set, dtype: the same for every chunk of one Arrow schema), except uniqueness. Uniqueness is
answered from 64/128-bit fingerprints of each chunk's non-null values, resolved at merge:

- integers, floats, booleans and datetimes: a keyed *bijection* of their 64 bits (splitmix64
  finalizer over the value XOR a key), so equal values have equal fingerprints and distinct
  values distinct ones: exact, no collisions at all;
- anything else (strings): two independent keyed SipHash-2-4 fingerprints (pandas'
  `hash_array`) = 128 bits; equal values always match (no missed duplicate), and distinct
  values collide with probability below n^2 / 2^129 (6e-25 for 20M rows), so a false
  "duplicate" is not a practical concern. The second half is only compared for rows whose
  first half repeats.

Fingerprints are not values, but a hash of a low-entropy value can be guessed by hashing
candidates: pass a per-run secret `hash_key` to make them unguessable. They stay in worker
memory and the merge; they never reach results, logs or metadata. Cost: 8 bytes per non-null
value of a unique integer/date column, 16 of a unique string column (+1 bit per row if the
column has nulls); every other part of a partial is independent of the row count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dq_platform.engine.validation import MAX_ROWS, failure

_DEFAULT_KEY = "dq-platform-gate"
_C1, _C2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class ColumnHashes:
    """Fingerprints of one column's non-null values in one chunk, in row order."""

    rows: int
    h1: np.ndarray  # uint64, one per non-null row
    h2: np.ndarray | None  # uint64 second half (strings); None where h1 is a bijection
    valid: np.ndarray | None  # np.packbits(notna); None when the chunk has no nulls here

    def positions(self) -> np.ndarray:
        """Chunk-local row positions of the fingerprinted (non-null) rows."""
        if self.valid is None:
            return np.arange(self.rows, dtype=np.int64)
        return np.flatnonzero(np.unpackbits(self.valid, count=self.rows))


def _keys(hash_key: str | None) -> tuple[str, str, np.uint64]:
    """Two 16-character SipHash keys and one 64-bit XOR key derived from `hash_key`."""
    digest = hashlib.blake2b((hash_key or _DEFAULT_KEY).encode(), digest_size=24).digest()
    return digest[:8].hex(), digest[8:16].hex(), np.frombuffer(digest[16:], dtype=np.uint64)[0]


def _mix(bits: np.ndarray, xor: np.uint64) -> np.ndarray:
    """splitmix64's finalizer: a bijection on uint64, so injective on the values."""
    x = bits ^ xor
    x ^= x >> np.uint64(30)
    x *= _C1
    x ^= x >> np.uint64(27)
    x *= _C2
    x ^= x >> np.uint64(31)
    return x


def column_hashes(series: pd.Series, hash_key: str | None = None) -> ColumnHashes:
    """Fingerprint a column's non-null values (nulls are never duplicates: pandera and GX
    both skip them), with equality as pandas' `duplicated` sees it."""
    k1, k2, xor = _keys(hash_key)
    notna = series.notna().to_numpy(dtype=bool)
    valid = None if notna.all() else np.packbits(notna)
    values = series[notna] if valid is not None else series
    dtype = values.dtype
    h2 = None
    with np.errstate(over="ignore"):
        if pd.api.types.is_bool_dtype(dtype):
            h1 = _mix(values.to_numpy(dtype="uint64"), xor)
        elif pd.api.types.is_integer_dtype(dtype):
            h1 = _mix(values.to_numpy(dtype="int64").view(np.uint64), xor)
        elif pd.api.types.is_float_dtype(dtype):
            h1 = _mix((values.to_numpy(dtype="float64") + 0.0).view(np.uint64), xor)  # -0.0 == 0.0
        elif pd.api.types.is_datetime64_dtype(dtype) or isinstance(dtype, pd.DatetimeTZDtype):
            h1 = _mix(values.array.asi8.view(np.uint64), xor)
        else:
            objects = values.to_numpy(dtype=object)
            h1 = pd.util.hash_array(objects, hash_key=k1, categorize=False)
            h2 = pd.util.hash_array(objects, hash_key=k2, categorize=False)
    return ColumnHashes(rows=len(series), h1=np.ascontiguousarray(h1), h2=h2, valid=valid)


def duplicate_rows(parts: Sequence[ColumnHashes]) -> tuple[int, list[int]]:
    """(rows whose value occurs more than once, first MAX_ROWS such row positions) over the
    chunks in file order: every occurrence counts, like duplicated(keep=False)."""
    if not parts:
        return 0, []
    h1 = np.concatenate([p.h1 for p in parts])
    flagged = pd.Series(h1, copy=False).duplicated(keep=False).to_numpy(copy=True)
    if flagged.any() and all(p.h2 is not None for p in parts):
        h2 = np.concatenate([p.h2 for p in parts])
        both = pd.DataFrame({"a": h1[flagged], "b": h2[flagged]}).duplicated(keep=False).to_numpy()
        flagged[flagged] = both
    count = int(flagged.sum())
    if not count:
        return 0, []
    positions, offset = [], 0
    firsts = np.flatnonzero(flagged)[:MAX_ROWS]
    bounds = np.cumsum([0] + [len(p.h1) for p in parts])
    for i, p in enumerate(parts):
        mine = firsts[(firsts >= bounds[i]) & (firsts < bounds[i + 1])] - bounds[i]
        if len(mine):
            positions.extend(int(x) + offset for x in p.positions()[mine])
        offset += p.rows
    return count, positions[:MAX_ROWS]


def merge_failures(per_chunk: Iterable[tuple[int, list[dict]]], rows: int) -> list[dict]:
    """Chunk failures (chunk rows, failures with chunk-local counts/positions) as one list over
    `rows` rows: counts add up, positions shift by the chunk's offset and the first MAX_ROWS
    stay, schema failures (the same in every chunk) appear once, and a check that could not
    run on some chunk is reported as not run (kind error), as it would be on the whole file."""
    merged: dict[tuple, dict] = {}
    errored: set[tuple] = set()
    offset = 0
    for chunk_rows, failures in per_chunk:
        for f in failures:
            ident = (f["check"], f["rule"], f["column"])
            if f["kind"] == "error":
                errored.add(ident)
            key = (*ident, f["kind"], f["detail"])
            m = merged.setdefault(key, {**f, "count": None, "rows": []})
            if f["count"] is not None:
                m["count"] = (m["count"] or 0) + f["count"]
            if len(m["rows"]) < MAX_ROWS:
                m["rows"] = m["rows"] + [p + offset for p in f["rows"]][: MAX_ROWS - len(m["rows"])]
        offset += chunk_rows
    out = []
    for (check, rule, column, kind, detail), m in merged.items():
        if (check, rule, column) in errored and kind != "error":
            continue
        out.append(
            failure(
                check=check,
                rule=rule,
                column=column,
                kind=kind,
                count=m["count"],
                rows=rows,
                positions=m["rows"],
                detail=detail,
            )
        )
    return out


def merged_dtypes(per_chunk: Sequence[Iterable[tuple[str, str]]]) -> dict[str, str]:
    """The dtype name of each column of the concatenated chunks: the chunks' own when they
    agree (chunks of one Arrow schema always do), else what pd.concat makes of them."""
    seen = [dict(d) for d in per_chunk]
    if all(s == seen[0] for s in seen):
        return seen[0]
    empties = [pd.DataFrame({c: pd.Series([], dtype=t) for c, t in s.items()}) for s in seen]
    return {str(c): str(t) for c, t in pd.concat(empties, ignore_index=True).dtypes.items()}
