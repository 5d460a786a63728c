"""Mergeable summaries of one chunk's column: what a whole-file profile is merged from.

Each summary is small (bounded by the constants below, never by the rows) and picklable, so
chunks can be profiled in other processes or on other machines and merged in any grouping.

- `Moments`: count, min, max, mean and M2, merged with Chan et al.'s parallel formula: exact
  (floating point aside).
- `Distinct`: the 64-bit hashes of a chunk's distinct values, all of them up to DISTINCT_K, else
  the DISTINCT_K smallest (a KMV / theta sketch). Exact while every chunk has at most DISTINCT_K
  distinct values; above, an estimate with relative standard error 1/sqrt(DISTINCT_K - 1)
  (≈1.6%), clipped to what is certain (the largest chunk's count .. the sum of all chunks').
- `Quantiles`: the (value, rows) pairs of a chunk with at most QUANTILE_EXACT distinct values
  (exact, numpy's linear interpolation); above, Apache DataSketches' KLL sketch (rank error
  `quantile_rank_error()`, ≈1.3% at KLL_K = 200) plus the chunk's own exact percentiles, used
  when the chunk is the whole file.
- `Top`: a chunk's values with their counts, all of them up to TOP_EXACT distinct values, else the
  TOP_KEEP most frequent and `rest`, the largest count of a value not kept. Merged counts are
  exact lower bounds; a value's count is at most its lower bound + the `rest` of each chunk that
  did not keep it, so the top values are certified exact or reported with their largest error.

Hashes are pandas' (SipHash for text), not a home-made one; the KMV sketch is a sort and a slice
of them in numpy (DataSketches' theta sketch takes one value per Python call). The quantile sketch
is DataSketches' KLL, which takes numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_doubles_sketch

DISTINCT_K = 4096
QUANTILE_EXACT = 4096
KLL_K = 200
TOP_EXACT = 2048
TOP_KEEP = 256
_TWO64 = float(2**64)


def hash_values(values: pa.Array | np.ndarray) -> np.ndarray:
    """uint64 per value: pandas' SipHash for text (fixed key: equal in every process), its
    integer mix for numbers (-0.0 as 0.0) and datetimes. Text goes in as bytes: the same hash
    as of the str, without encoding each one again (about half the CPU)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        binary = pa.large_binary() if pa.types.is_large_string(values.type) else pa.binary()
        return pd.util.hash_array(values.cast(binary).to_numpy(zero_copy_only=False), categorize=False)
    if isinstance(values, pa.Array):  # booleans and other typed values of a cleaned text-like column
        values = values.to_numpy(zero_copy_only=False)
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = values + 0.0
    elif values.dtype.kind == "M":
        values = values.view("int64")
    return pd.util.hash_array(values, categorize=False)


# -- distinct counts -------------------------------------------------------------------------------


@dataclass
class Distinct:
    count: int  # distinct values in this chunk (exact)
    hashes: np.ndarray  # sorted uint64: all of them, or the DISTINCT_K smallest
    theta: int | None = None  # None: every hash kept; else those kept are the ones below it

    @classmethod
    def of(cls, hashes: np.ndarray) -> Distinct:
        """From the hashes of a chunk's distinct values (one each)."""
        if len(hashes) <= DISTINCT_K:
            return cls(len(hashes), np.sort(hashes))
        low = np.unique(np.partition(hashes, DISTINCT_K)[: DISTINCT_K + 1])
        return cls(len(hashes), low[:DISTINCT_K], int(low[DISTINCT_K]) if len(low) > DISTINCT_K else None)


def merge_distinct(parts: list[Distinct]) -> tuple[int, float | None]:
    """(distinct count, its relative standard error or None when exact)."""
    if not parts:
        return 0, None
    if len(parts) == 1:
        return parts[0].count, None
    union = np.unique(np.concatenate([p.hashes for p in parts]))
    thetas = [p.theta for p in parts if p.theta is not None]
    if not thetas:
        return len(union), None
    lower, upper = max(len(union), *(p.count for p in parts)), sum(p.count for p in parts)
    kept = union[union < np.uint64(min(thetas))]
    theta = min(thetas)
    if len(kept) > DISTINCT_K:
        kept, theta = kept[:DISTINCT_K], int(kept[DISTINCT_K])
    estimate = round(len(kept) / (theta / _TWO64))
    return int(min(max(estimate, lower), upper)), distinct_error()


def distinct_error() -> float:
    return round(float(1 / np.sqrt(DISTINCT_K - 1)), 4)


# -- moments ---------------------------------------------------------------------------------------


@dataclass
class Moments:
    n: int
    mean: float
    m2: float  # sum of squared deviations from the mean
    lo: float | int
    hi: float | int

    @classmethod
    def weighted(cls, values: np.ndarray, counts: np.ndarray) -> Moments:
        """Of `values` each present `counts` times; integers (dates as ns) about their minimum,
        so their float64 sums keep their precision."""
        lo, hi = values.min(), values.max()
        x = (values - lo).astype(np.float64) if values.dtype.kind in "iu" else values
        w = counts.astype(np.float64)
        n = int(counts.sum())
        mean = float(np.dot(w, x) / n)
        d = x - mean
        m2 = float(np.dot(w, d * d))
        if values.dtype.kind in "iu":
            mean += float(lo)
        return cls(n, mean, m2, lo.item(), hi.item())

    def merge(self, o: Moments) -> Moments:
        """Chan, Golub & LeVeque's pairwise update: stable for any split."""
        n = self.n + o.n
        delta = o.mean - self.mean
        return Moments(
            n,
            self.mean + delta * o.n / n,
            self.m2 + o.m2 + delta * delta * self.n * o.n / n,
            min(self.lo, o.lo),
            max(self.hi, o.hi),
        )

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / (self.n - 1))) if self.n > 1 else 0.0


def merge_moments(parts: list[Moments]) -> Moments | None:
    out = None
    for p in parts:
        out = p if out is None else out.merge(p)
    return out


# -- quantiles -------------------------------------------------------------------------------------


@dataclass
class Quantiles:
    values: np.ndarray | None = None  # sorted distinct values (exact form)
    counts: np.ndarray | None = None
    kll: bytes | None = None  # serialized KLL sketch (above QUANTILE_EXACT distinct values)
    own: np.ndarray | None = None  # this chunk's exact quantiles (used when it is the whole file)

    @classmethod
    def of(cls, values: np.ndarray, counts: np.ndarray, rows, qs: np.ndarray) -> Quantiles:
        """values/counts: the chunk's values with their rows (repeats allowed); rows(): every row's value."""
        if len(values) <= QUANTILE_EXACT:
            u, inv = np.unique(values, return_inverse=True)
            return cls(u, np.bincount(inv.ravel(), weights=counts, minlength=len(u)).astype(np.int64))
        x = rows()
        sketch = kll_doubles_sketch(KLL_K)
        sketch.update(np.ascontiguousarray(x, dtype=np.float64))
        return cls(kll=sketch.serialize(), own=np.quantile(x, qs))


def merge_quantiles(parts: list[Quantiles], qs: np.ndarray) -> tuple[np.ndarray | None, float | None]:
    """(the quantiles qs, normalized rank error or None when exact)."""
    if not parts:
        return None, None
    if len(parts) == 1 and parts[0].own is not None:
        return parts[0].own, None
    if all(p.kll is None for p in parts):
        values = np.concatenate([p.values for p in parts])
        counts = np.concatenate([p.counts for p in parts])
        order = np.argsort(values, kind="stable")
        return weighted_quantiles(values[order], counts[order], qs), None
    sketch = kll_doubles_sketch(KLL_K)
    for p in parts:
        if p.kll is not None:
            sketch.merge(kll_doubles_sketch.deserialize(p.kll))
        else:
            sketch.update(np.repeat(p.values, p.counts).astype(np.float64))
    return np.array([sketch.get_quantile(float(q)) for q in qs]), quantile_rank_error()


def quantile_rank_error() -> float:
    return round(float(kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)), 4)


def weighted_quantiles(values: np.ndarray, counts: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """np.quantile (linear) of `values` each repeated `counts` times (sorted), without repeating."""
    n = int(counts.sum())
    virtual = (n - 1) * qs
    prev = np.floor(virtual)
    gamma = virtual - prev
    ends = np.cumsum(counts)
    lo = np.searchsorted(ends, prev.astype(np.int64), side="right")
    hi = np.searchsorted(ends, np.minimum(prev.astype(np.int64) + 1, n - 1), side="right")
    a, b = values[lo], values[hi]
    diff = b - a
    out = a + diff * gamma
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), out)


# -- top values ------------------------------------------------------------------------------------


@dataclass
class Top:
    values: pa.Array | np.ndarray  # kept values in tie order (text: first appearance; else sorted)
    counts: np.ndarray  # int64, exact within the chunk
    rest: int = 0  # the largest count of a value not kept (0: every value kept)

    @classmethod
    def of(cls, values: pa.Array | np.ndarray, counts: np.ndarray) -> Top:
        if len(counts) <= TOP_EXACT:
            return cls(values, counts.astype(np.int64))
        # the TOP_KEEP largest counts, ties at the cut broken by position: O(n), no sort of ties
        kth = np.partition(counts, len(counts) - TOP_KEEP)[len(counts) - TOP_KEEP]
        above = np.flatnonzero(counts > kth)
        keep = np.sort(np.concatenate([above, np.flatnonzero(counts == kth)[: TOP_KEEP - len(above)]]))
        dropped = np.ones(len(counts), bool)
        dropped[keep] = False
        take = pa.array(keep) if isinstance(values, pa.Array) else keep
        return cls(values.take(take), counts[keep].astype(np.int64), int(counts[dropped].max()))


def merge_top(parts: list[Top], n: int) -> tuple[pa.Array | np.ndarray, np.ndarray, int | None]:
    """(the n most frequent values, their counts, None when exact else the largest error of a
    count). Ties keep the parts' tie order."""
    if not parts:
        return np.zeros(0), np.zeros(0, np.int64), None
    counts = np.concatenate([p.counts for p in parts])
    rests = np.concatenate([np.full(len(p.counts), p.rest, np.int64) for p in parts])
    if isinstance(parts[0].values, pa.Array):
        texts = all(pa.types.is_string(p.values.type) or pa.types.is_large_string(p.values.type) for p in parts)
        target = pa.large_string() if texts else parts[0].values.type  # booleans stay booleans
        values = pa.concat_arrays([p.values.cast(target) for p in parts])
        enc = pc.dictionary_encode(values)
        uniq, codes = enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)
    else:
        uniq, codes = np.unique(np.concatenate([p.values for p in parts]), return_inverse=True)
        codes = codes.ravel()
    lower = np.bincount(codes, weights=counts, minlength=len(uniq)).astype(np.int64)
    rest_total = sum(p.rest for p in parts)
    upper = lower + rest_total - np.bincount(codes, weights=rests, minlength=len(uniq)).astype(np.int64)
    order = np.lexsort((np.arange(len(lower)), -lower))
    top, others = order[:n], order[n:]
    if len(parts) == 1 or rest_total == 0:
        error = None
    else:
        bound = max(rest_total, int(upper[others].max()) if len(others) else 0)
        certified = bool(len(top)) and (upper[top] == lower[top]).all() and lower[top].min() > bound
        error = None if certified else int(max(bound, (upper[top] - lower[top]).max(initial=0)))
    take = pa.array(top) if isinstance(uniq, pa.Array) else top
    return uniq.take(take), lower[top], error
