"""Declared statistics of a column: outlier flags and distribution drift, as pure functions.

Vectorized on numpy/scipy/Arrow; no Dagster here (defs/statistical_checks.py turns the results into
asset checks). Outliers are flagged, never dropped: `outlier_labels` gives the per-row
`_outliers` lineage column of the cleaned table.

Methods (numeric columns; rates are shares of the present values):
- iqr: outside [Q1 - k*IQR, Q3 + k*IQR];
- zscore: |x - mean| / std > threshold (population std, as scipy.stats.zscore);
- mad: modified z-score |x - median| / (MAD / 0.6745) > threshold (Iglewicz & Hoaglin), robust to the
  outliers themselves. When MAD is 0 (over half the values equal the median) the scale is
  1.2533 * mean absolute deviation from the median instead; when that is 0 too, all values are
  equal and none is an outlier;
- kmeans: 1-D k-means (scipy kmeans2, KMEANS_INITS k-means++ starts from a fixed seed, the lowest
  squared error kept); rows in clusters holding less than `min_cluster_share` of the values are
  unusual (the sales medallion's k-means clustering of amounts).
`log: true` judges sign(x)*log1p(|x|), so right-skewed amounts are not all "outliers" in their tail.

Drift against a reference sample: PSI over categories (categorical) or over bins at the
reference's quantiles (numeric), and the two-sample Kolmogorov-Smirnov statistic (numeric). With
large samples every shift is "significant", so the check judges the KS statistic (an effect
size) and only reports the p-value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Column, ColumnType, Outliers

OUTLIERS = "_outliers"  # lineage column: per row the "<column>:<method>" ids that flagged it, "; "-joined
PSI_EPSILON = 1e-4  # share given to a bin/category that is empty on one side (PSI is undefined at 0)
DEFAULT_KS_STATISTIC = 0.1
KMEANS_SEED = 0
KMEANS_FIT_ROWS = 100_000  # k-means is fitted on at most this many values (fixed seed), then every row is assigned
KMEANS_INITS = 10  # k-means++ restarts, the best (lowest squared error) kept, as scikit-learn's n_init
NORMAL_MAD = 0.6744897501960817  # MAD of the standard normal (its 75th percentile)
_EXACT_KS_LIMIT = 20_000  # effective sample size up to which scipy's ks_2samp computes the p-value


@dataclass
class OutlierResult:
    column: str
    method: str
    flags: np.ndarray  # bool per row of the frame (missing values are never flagged)
    evaluated: int  # present values judged
    max_rate: float
    min_rows: int = 1  # fewer evaluated values: the rate is not judged (passes)
    bounds: dict[str, float] = field(default_factory=dict)  # in the column's units; values of the column
    note: str = ""

    @property
    def rule_id(self) -> str:
        return f"{self.column}:{self.method}"

    @property
    def count(self) -> int:
        return int(self.flags.sum())

    @property
    def rate(self) -> float:
        return self.count / self.evaluated if self.evaluated else 0.0

    @property
    def judged(self) -> bool:
        return self.evaluated >= self.min_rows

    @property
    def passed(self) -> bool:
        return not self.judged or self.rate <= self.max_rate


@dataclass
class DriftResult:
    column: str
    kind: str  # numeric | categorical
    reference: str | None  # the reference's name (partition), None when there is none
    rows_current: int = 0  # present values compared
    rows_reference: int = 0
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    psi_max: float = 0.2
    ks_max: float | None = None
    bins: int = 0  # numeric: bins used (reference quantiles, ties merged); categorical: categories
    note: str = ""

    @property
    def passed(self) -> bool:
        if self.psi is None:  # nothing to compare with: passes, saying so
            return True
        return self.psi <= self.psi_max and (self.ks_max is None or (self.ks_statistic or 0.0) <= self.ks_max)


# -- values --------------------------------------------------------------------------------


def present_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values of the present entries, bool mask of present rows) of a numeric column."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(values)
    return values[present], present


def log_transform(x: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|): monotone, defined for every value, ~log(x) for large amounts."""
    return np.sign(x) * np.log1p(np.abs(x))


def log_inverse(y):
    return np.sign(y) * np.expm1(np.abs(y))


# -- outlier methods (on present values, already transformed) ---------------------------------


def iqr_flags(x: np.ndarray, k: float) -> tuple[np.ndarray, float, float]:
    """Flags outside [Q1 - k*IQR, Q3 + k*IQR] (linear-interpolated quartiles), and the fences."""
    q1, q3 = np.quantile(x, [0.25, 0.75])
    lower, upper = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    return (x < lower) | (x > upper), float(lower), float(upper)


def zscore_flags(x: np.ndarray, threshold: float) -> tuple[np.ndarray, float, float]:
    """Flags with |x - mean| / std > threshold (ddof=0); none when std is 0. Returns mean, std."""
    mean, std = float(x.mean()), float(x.std())
    if std == 0:
        return np.zeros(len(x), bool), mean, std
    return np.abs(x - mean) > threshold * std, mean, std


def mad_flags(x: np.ndarray, threshold: float) -> tuple[np.ndarray, float, float, str]:
    """Modified z-score flags; returns (flags, median, scale, note). Scale = MAD / 0.6745, as
    scipy.stats.median_abs_deviation(scale="normal") (tested equal), in numpy: importing
    scipy.stats costs 1.5-3 s per process here, more than the statistics themselves."""
    median = float(np.median(x))
    scale = float(np.median(np.abs(x - median))) / NORMAL_MAD
    note = ""
    if scale == 0:
        mean_ad = float(np.mean(np.abs(x - median)))
        scale = 1.253314 * mean_ad
        note = "MAD is 0 (over half the values equal the median): scaled by 1.2533 x mean absolute deviation"
        if scale == 0:
            return np.zeros(len(x), bool), median, 0.0, "all values are equal: no outlier"
    return np.abs(x - median) > threshold * scale, median, scale, note


def kmeans_flags(
    x: np.ndarray, k: int, min_cluster_share: float, seed: int = KMEANS_SEED, fit_rows: int = KMEANS_FIT_ROWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """1-D k-means (scipy kmeans2, KMEANS_INITS k-means++ starts from a fixed seed, the lowest
    squared error kept); flags values in clusters holding less than `min_cluster_share` of all
    values. Returns (flags, centers, shares, note), clusters ordered by center. Fitted on at most
    `fit_rows` values drawn with the same seed, then every value is assigned to its nearest
    center, so the cost stays flat with size and the answer repeats run after run."""
    from scipy.cluster.vq import kmeans2, vq

    n = len(x)
    if n < k or np.ptp(x) == 0:
        return np.zeros(n, bool), np.array([]), np.array([]), f"fewer than {k} values, or all equal: no clusters"
    rng = np.random.default_rng(seed)
    fit = (x if n <= fit_rows else x[np.sort(rng.choice(n, fit_rows, replace=False))]).reshape(-1, 1)
    best, best_sse = None, np.inf
    with warnings.catch_warnings():  # an empty cluster is a valid answer here (it just holds no rows)
        warnings.simplefilter("ignore")
        for _ in range(KMEANS_INITS):  # k-means finds local optima: keep the lowest squared error
            centers, labels = kmeans2(fit, k, minit="++", rng=rng)
            sse = float(((fit[:, 0] - centers[labels, 0]) ** 2).sum())
            if sse < best_sse:
                best, best_sse = centers, sse
    centers = np.sort(best[:, 0])
    labels, _ = vq(x.reshape(-1, 1), centers.reshape(-1, 1))
    shares = np.bincount(labels, minlength=len(centers)) / n
    tiny = shares < min_cluster_share
    note = "" if n <= fit_rows else f"fitted on {fit_rows:,} sampled values (seed {seed}), all values assigned"
    return tiny[labels], centers, shares, note


def outliers(series: pd.Series, column: Column) -> list[OutlierResult]:
    """Every outlier method the contract declares for this column, on its present values."""
    values, present = present_values(series)
    specs = column.statistics.outliers if column.statistics else []
    logged = log_transform(values) if any(spec.log for spec in specs) else None
    out = []
    for spec in specs:
        result = _one_method(logged if spec.log else values, present, spec, column.name)
        result.min_rows = column.statistics.min_rows
        out.append(result)
    return out


def _one_method(x: np.ndarray, present: np.ndarray, spec: Outliers, name: str) -> OutlierResult:
    """One method on the present values `x` (already log-transformed when the spec says log)."""
    back = log_inverse if spec.log else (lambda v: v)
    flags_all = np.zeros(len(present), bool)
    result = OutlierResult(
        column=name, method=spec.method.value, flags=flags_all, evaluated=len(x), max_rate=spec.max_rate
    )
    if len(x) == 0:
        result.note = "no values"
        return result
    method = spec.method.value
    if method == "iqr":
        flags, lo, hi = iqr_flags(x, spec.k)
        result.bounds = {"lower": float(back(lo)), "upper": float(back(hi))}
    elif method == "zscore":
        flags, mean, std = zscore_flags(x, spec.threshold)
        result.bounds = {
            "lower": float(back(mean - spec.threshold * std)),
            "upper": float(back(mean + spec.threshold * std)),
        }
    elif method == "mad":
        flags, median, scale, result.note = mad_flags(x, spec.threshold)
        result.bounds = {
            "lower": float(back(median - spec.threshold * scale)),
            "upper": float(back(median + spec.threshold * scale)),
        }
    else:
        flags, centers, shares, result.note = kmeans_flags(x, int(spec.k), spec.min_cluster_share)
        for i, (c, s) in enumerate(zip(back(centers), shares)):
            result.bounds[f"cluster_{i}_center"] = float(c)
            result.bounds[f"cluster_{i}_share"] = float(s)
        if len(centers):
            kept = back(x[~flags]) if (~flags).any() else np.array([np.nan])
            result.bounds.update({"lower": float(np.min(kept)), "upper": float(np.max(kept))})
    flags_all[present] = flags
    return result


def outlier_labels(results: list[OutlierResult], n: int) -> pd.Series:
    """Per row, the rule ids ("income:iqr; income:mad") of the methods that flagged it; NA if none.

    Each row's combination of flags is a small integer; the labels are built once per combination
    that occurs and spread to the rows by Arrow (a million rows: milliseconds, no Python objects).
    """
    combo = np.zeros(n, dtype=np.int64)
    for i, r in enumerate(results):
        combo |= r.flags.astype(np.int64) << i
    codes = np.flatnonzero(np.bincount(combo, minlength=1))  # the combinations that occur (no sort)
    position = np.zeros(codes.max() + 1 if len(codes) else 1, dtype=np.int64)
    position[codes] = np.arange(len(codes))
    labels = ["; ".join(r.rule_id for i, r in enumerate(results) if c >> i & 1) or None for c in codes.tolist()]
    arr = pa.array(labels, type=pa.large_string()).take(pa.array(position[combo]))
    return pd.Series(pd.arrays.ArrowStringArray(arr))


# -- drift --------------------------------------------------------------------------------------


def psi(reference_counts: np.ndarray, current_counts: np.ndarray, eps: float = PSI_EPSILON) -> float:
    """Population stability index sum((q - p) * ln(q / p)) over aligned bins; an empty bin counts eps."""
    p = reference_counts / max(reference_counts.sum(), 1)
    q = current_counts / max(current_counts.sum(), 1)
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


def category_counts(series: pd.Series) -> dict:
    """Present value -> count, with Arrow's hash kernel (strings, booleans, numbers)."""
    counts = pc.value_counts(pa.array(series.dropna(), from_pandas=True))
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def categorical_psi(reference: pd.Series, current: pd.Series) -> tuple[float, int]:
    """PSI over the union of categories (present values); returns (psi, categories)."""
    ref, cur = category_counts(reference), category_counts(current)
    cats = list(ref.keys() | cur.keys())
    p = np.array([ref.get(c, 0) for c in cats], dtype="float64")
    q = np.array([cur.get(c, 0) for c in cats], dtype="float64")
    return psi(p, q), len(cats)


def numeric_psi(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[float, int]:
    """PSI over `bins` bins cut at the reference's quantiles (ties merged); returns (psi, bins used)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    q = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return psi(p.astype("float64"), q.astype("float64")), len(edges) + 1


def ks_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and p-value.

    Small samples: scipy's ks_2samp. Large ones: the same statistic (max distance between the two
    empirical CDFs, by binary search over the sorted samples) with the p-value of the limiting
    Kolmogorov distribution (scipy.special.kolmogorov = kstwobign.sf): ks_2samp's finite-sample
    p-value alone costs ~0.8 s per million rows here, for a number that is ~0 at that size anyway.
    """
    n1, n2 = len(reference), len(current)
    en = n1 * n2 / (n1 + n2)
    if en <= _EXACT_KS_LIMIT:
        from scipy.stats import ks_2samp

        r = ks_2samp(reference, current)
        return float(r.statistic), float(r.pvalue)
    from scipy.special import kolmogorov

    a, b = np.sort(reference), np.sort(current)
    both = np.concatenate([a, b])
    d = np.abs(np.searchsorted(a, both, side="right") / n1 - np.searchsorted(b, both, side="right") / n2).max()
    return float(d), float(kolmogorov(np.sqrt(en) * d))


def drift(current: pd.Series, reference: pd.Series | None, column: Column, reference_name: str | None) -> DriftResult:
    """Compare a column of this partition with the same column of the reference partition."""
    spec = column.statistics.drift
    numeric = column.type in (ColumnType.integer, ColumnType.float)
    result = DriftResult(
        column=column.name,
        kind="numeric" if numeric else "categorical",
        reference=reference_name,
        psi_max=spec.psi,
        ks_max=(spec.ks_statistic or DEFAULT_KS_STATISTIC) if numeric else None,
    )
    if reference is None:
        result.note = "no earlier partition passed its gates: nothing to compare with yet"
        result.reference = None
        return result
    if numeric:
        cur, _ = present_values(current)
        ref, _ = present_values(reference)
    else:
        cur, ref = current.dropna(), reference.dropna()
    result.rows_current, result.rows_reference = len(cur), len(ref)
    min_rows = column.statistics.min_rows
    if min(len(cur), len(ref)) < min_rows:
        result.note = (
            f"too few values to judge drift (current {len(cur):,}, reference {len(ref):,}; min_rows {min_rows:,})"
        )
        return result
    if numeric:
        result.psi, result.bins = numeric_psi(ref, cur, spec.bins)
        result.ks_statistic, result.ks_pvalue = ks_two_sample(ref, cur)
    else:
        result.psi, result.bins = categorical_psi(ref, cur)
    return result
