"""Anomaly detection from history: is today's value what the past predicts? (pure numpy, no Dagster)

A metric of a file (rows received, failure rate, a column's null rate or mean, hours since the
previous file) is judged against the same metric of the files that arrived in a trailing window
before it, with robust statistics that a few past anomalies cannot drag along:

- median and MAD (median absolute deviation) of the history points in the window;
- robust scale = 1.4826 * MAD (for normal data this equals the standard deviation);
- expected range = median +- threshold * scale, robust z = (value - median) / scale;
- the value is anomalous when |z| > threshold (one-sided metrics: only z > threshold).

A short history estimates its own spread badly: the MAD of 7 points is often half the true
spread, so (value - median) / scale of an ordinary value exceeds 3.5 for ~7% of files (simulated
on normal data) instead of the 0.05% the threshold means. The MAD-based scale is therefore widened
by a small-sample factor that keeps the threshold's false-alarm rate: (value - median) / (1.4826
MAD) of n normal points follows a Student t with about 0.43 (n - 1) degrees of freedom, scaled by
sqrt(1 + pi / 2n) for the median's own error (fitted by simulation; `small_sample_factor`). At the
default threshold it is ~21 with 4 points, ~6.9 with 7, ~2.2 with 14, ~1.4 with 28 and tends to 1:
a young history judges only gross changes (a 10x volume spike), a long one judges finely. Weekly
seasonality therefore wants a window of 8 weeks or more (4 same-weekday points judge little).
`Verdict.small_sample_factor` reports it.

When MAD is 0 (a history of identical values, common for row counts of fixed extracts) the
scale would be 0 and any change, even 1 row, would be "infinitely" anomalous. So the scale has
a floor: at least `relative_floor` (1%) of |median|, and at least the metric kind's
`absolute_floor` (1 row, 0.5 percentage point of a rate, 15 minutes of arrival time). With the
default threshold 3.5 a constant history of 1,000 rows therefore accepts 965-1,035 rows: a 1%
change passes, a 10% change is flagged. `Verdict.scale_basis` says which of the three applied.

Weekly seasonality compares a value only with past values of the same UTC weekday (weekend
files are small, Monday files large...), with its own minimum history, since a 28-day window
holds at most 4 points of one weekday.

Below the minimum history the verdict is "not judged" and passes: a platform learns before it
alerts. Each file is one point (`one_per_partition`): re-running a file replaces its value
instead of adding a point, and the point is dated by the file's arrival (its first
materialization), so a re-run neither moves it in time nor changes its weekday.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = 86400.0
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): makes the MAD a consistent estimator of sigma for normal data
# Degrees of freedom of the MAD-studentized value (value - median) / (1.4826 MAD) of n normal
# points, fitted by simulation (4M draws per n; tests/test_history.py checks the calibration):
# a table for few points (an even count's median is a mean of two: it steps in pairs), then 0.43 (n - 1).
_MAD_DF = {2: 1.0, 3: 0.95, 4: 1.8, 5: 1.85, 6: 2.6, 7: 2.65, 8: 3.4, 9: 3.45}
MAD_DF_PER_POINT = 0.43
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEASONALITIES = ("none", "weekly")


@dataclass(frozen=True)
class Settings:
    """How history is used (the contract's `history:` section, durations already in seconds)."""

    window_s: float = 28 * DAY
    min_history: int = 7
    min_weekday_history: int = 3
    threshold: float = 3.5
    seasonality: str = "none"  # none | weekly

    def __post_init__(self):
        if self.seasonality not in SEASONALITIES:
            raise ValueError(f"seasonality must be one of {SEASONALITIES}, not {self.seasonality!r}")

    @property
    def window_days(self) -> float:
        return self.window_s / DAY


@dataclass(frozen=True)
class Kind:
    """What values of a metric can be: the floor of their spread, their range, which side is bad."""

    name: str
    absolute_floor: float = 0.0
    relative_floor: float = 0.01
    lower: float | None = None  # clip the expected range here (no negative counts)
    upper: float | None = None  # (no rate above 1)
    one_sided: bool = False  # only values above the range are anomalous


COUNT = Kind("count", absolute_floor=1.0, lower=0.0)
RATE = Kind("rate", absolute_floor=0.005, lower=0.0, upper=1.0)
# Arrival: hours between files. Later than usual is an incident; earlier is not worth an alert.
LATENESS = Kind("hours", absolute_floor=0.25, lower=0.0, one_sided=True)
# Means of numeric columns: any real number; a tiny floor keeps a constant-0 history finite.
LEVEL = Kind("level", absolute_floor=1e-9)


@dataclass(frozen=True)
class Verdict:
    """The outcome of judging one value, with everything needed to explain it."""

    judged: bool  # False: too little history (or nothing to judge); then passed is True
    passed: bool
    value: float | None
    timestamp: float  # the current point's time (window end)
    points: int  # history points compared (inside the window, same weekday if seasonal)
    needed: int  # minimum history for a judgement
    window_start: float
    window_end: float
    window_days: float
    seasonality: str
    weekday: str | None  # the weekday compared with, when seasonality is weekly
    threshold: float
    median: float | None = None
    mad: float | None = None
    scale: float | None = None
    scale_basis: str | None = None  # mad | relative floor | absolute floor
    expected_low: float | None = None
    expected_high: float | None = None
    robust_z: float | None = None
    small_sample_factor: float | None = None  # how much the MAD-based scale was widened for a short history
    reason: str = ""

    @property
    def anomalous(self) -> bool:
        return self.judged and not self.passed


def small_sample_factor(points: int, threshold: float) -> float:
    """How much wider than `threshold` MAD-based scales the range must be, with `points` history
    points, for an ordinary value of normal data to fall outside it no more often (per side) than
    1 - Phi(threshold), as with a known spread."""
    from scipy.special import stdtrit  # already loaded in a run (GX imports scipy.stats); ~0.1 s alone

    tail = 0.5 * math.erfc(threshold / math.sqrt(2))
    df = _MAD_DF.get(points) or MAD_DF_PER_POINT * max(points - 1, 1)
    return max(1.0, float(stdtrit(df, 1 - tail)) * math.sqrt(1 + math.pi / (2 * points)) / threshold)


def weekday_of(timestamps) -> np.ndarray:
    """UTC weekday (Monday = 0) of epoch seconds, vectorized. 1970-01-01 was a Thursday (3)."""
    return ((np.floor_divide(np.asarray(timestamps, dtype=float), DAY) + 3) % 7).astype(int)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def judge(
    timestamps: Sequence[float],
    values: Sequence[float],
    current_ts: float,
    current_value: float | None,
    settings: Settings = Settings(),
    kind: Kind = LEVEL,
) -> Verdict:
    """Judge `current_value` (at `current_ts`) against past points (epoch seconds, values).

    Points count when `current_ts - window <= ts < current_ts` and their value is finite; with
    weekly seasonality only those on the current point's UTC weekday.
    """
    ts = np.asarray(timestamps, dtype=float)
    v = np.asarray(values, dtype=float)
    start = current_ts - settings.window_s
    keep = (ts >= start) & (ts < current_ts) & np.isfinite(v)
    weekday = None
    needed = settings.min_history
    if settings.seasonality == "weekly":
        day = int(weekday_of(current_ts))
        weekday = WEEKDAYS[day]
        keep &= weekday_of(ts) == day
        needed = settings.min_weekday_history
    x = v[keep]
    base = dict(
        timestamp=current_ts,
        points=int(x.size),
        needed=needed,
        window_start=start,
        window_end=current_ts,
        window_days=settings.window_days,
        seasonality=settings.seasonality,
        weekday=weekday,
        threshold=settings.threshold,
    )
    if current_value is None or not math.isfinite(current_value):
        return Verdict(judged=False, passed=True, value=None, reason="no value to judge", **base)
    value = float(current_value)
    if x.size < needed:
        return Verdict(judged=False, passed=True, value=value, reason=f"learning: {x.size} of {needed} points", **base)
    median = float(np.median(x))
    mad = float(np.median(np.abs(x - median)))
    widen = small_sample_factor(int(x.size), settings.threshold)
    candidates = {
        "mad": MAD_TO_SIGMA * mad * widen,
        "relative floor": kind.relative_floor * abs(median),
        "absolute floor": kind.absolute_floor,
    }
    basis = max(candidates, key=candidates.get)  # ties: the first (mad)
    scale = candidates[basis]
    if scale > 0:
        z = (value - median) / scale
    else:  # only a kind without any floor can get here
        z = 0.0 if value == median else math.copysign(math.inf, value - median)
    t = settings.threshold
    passed = z <= t if kind.one_sided else abs(z) <= t
    low, high = median - t * scale, median + t * scale
    if kind.lower is not None:
        low, high = max(low, kind.lower), max(high, kind.lower)
    if kind.upper is not None:
        low, high = min(low, kind.upper), min(high, kind.upper)
    if passed:
        reason = "within the range history predicts"
    elif z > 0:
        reason = "above the range history predicts" if not kind.one_sided else "later than history predicts"
    else:
        reason = "below the range history predicts"
    return Verdict(
        judged=True,
        passed=bool(passed),
        value=value,
        median=median,
        mad=mad,
        scale=scale,
        scale_basis=basis,
        expected_low=low,
        expected_high=high,
        robust_z=float(z),
        small_sample_factor=widen,
        reason=reason,
        **base,
    )


def one_per_partition(
    partitions: Sequence[str], timestamps: Sequence[float], values: Sequence | Mapping[str, Sequence]
) -> pd.DataFrame:
    """One point per file from every materialization of it: dated by its arrival, valued by its latest.

    Input: one row per materialization (partition, time, value; value may be NaN where the
    materialization lacked the metric). `values` may also map metric names to such sequences:
    one pass for every metric. Output columns: partition, arrived (first materialization),
    materializations, and `value` (or one column per metric name) of the latest materialization.
    """
    named = dict(values) if isinstance(values, Mapping) else {"value": values}
    frame = pd.DataFrame(
        {"partition": pd.Series(list(partitions), dtype=object), "ts": np.asarray(timestamps, dtype=float)}
    )
    for name, column in named.items():
        frame[name] = pd.to_numeric(pd.Series(list(column), dtype="object"), errors="coerce").astype(float)
    if frame.empty:
        return pd.DataFrame(
            {
                "partition": pd.Series(dtype=object),
                "arrived": pd.Series(dtype=float),
                "materializations": pd.Series(dtype=int),
                **{name: pd.Series(dtype=float) for name in named},
            }
        )
    frame = frame.sort_values("ts", kind="stable")
    grouped = frame.groupby("partition", sort=False)
    out = pd.DataFrame({"arrived": grouped["ts"].min(), "materializations": grouped["ts"].size()})
    # the latest materialization's values as they are (NaN where it lacked a metric)
    latest = frame.drop_duplicates("partition", keep="last").set_index("partition")
    for name in named:
        out[name] = latest[name]
    out.index.name = "partition"
    return out.reset_index().sort_values("arrived", kind="stable").reset_index(drop=True)


def arrival_gaps(arrivals: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Hours between consecutive arrivals, each dated by the arrival it starts from.

    Dating a gap by its start makes weekly seasonality ask the right question: "after a
    Friday file, how long until the next one?" (over a weekend: long, and normal).
    """
    a = np.sort(np.asarray(arrivals, dtype=float))
    return a[:-1], np.diff(a) / 3600.0
