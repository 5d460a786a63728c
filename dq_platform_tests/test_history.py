"""history.judge and friends on constructed data whose answers are worked out by hand here.

Robust scale = 1.4826 * MAD * K(n), expected range = median +- 3.5 * scale (the defaults), where
K(n) is the small-sample factor for n history points; its values at threshold 3.5 are written out
below (K14, K10...) and checked against a simulation in `test_the_small_sample_factor_keeps_...`.
Every expected number is written out from that arithmetic, not recomputed with the code under test.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from dq_platform.engine.history import (
    COUNT,
    DAY,
    LATENESS,
    LEVEL,
    RATE,
    Settings,
    arrival_gaps,
    judge,
    one_per_partition,
    small_sample_factor,
    weekday_of,
)

HOUR = 3600.0


def ts(y, m, d, h=6) -> float:
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp()


NOW = ts(2026, 3, 2)
DAILY = [NOW - (14 - i) * DAY for i in range(14)]  # 14 files, one a day, the last one yesterday
ALTERNATING = [980.0, 1020.0] * 7  # median 1000; every |deviation| is 20 -> MAD 20 -> 1.4826 MAD 29.652
# small-sample factors at threshold 3.5: Student t quantile (1 - 2.326e-4) with 0.43 (n - 1) df (a
# table below 10 points) times sqrt(1 + pi / 2n), over 3.5
K4, K10, K12, K14 = 22.344, 3.3759, 2.6072, 2.1986
S14 = 29.652 * K14  # 65.193: the scale of ALTERNATING


def test_small_sample_factors_written_out():
    for n, k in ((4, K4), (10, K10), (12, K12), (14, K14)):
        assert small_sample_factor(n, 3.5) == pytest.approx(k, rel=1e-4), n
    assert small_sample_factor(10_000, 3.5) == pytest.approx(1.0, abs=1e-3)  # a long history: the plain MAD


@pytest.mark.parametrize("n", [5, 7, 9, 14, 28])
def test_the_small_sample_factor_keeps_the_thresholds_false_alarm_rate(n):
    """Ordinary values of normal data fall outside the range no more often than the threshold means.

    Without the factor, 7 history points put an ordinary value beyond 3 robust z on one side in ~4.7%
    of files instead of 0.135% (simulated here too). With it the rate stays within 0.3x-1.5x of that.
    """
    rng = np.random.default_rng(n)
    trials, t = 400_000, 3.0
    history, value = rng.normal(size=(trials, n)), rng.normal(size=trials)
    median = np.median(history, axis=1)
    scale = 1.4826 * np.median(np.abs(history - median[:, None]), axis=1)
    z = (value - median) / scale
    nominal = 0.5 * math.erfc(t / math.sqrt(2))  # 1 - Phi(3) = 0.00135 per side
    rate = (z > t * small_sample_factor(n, t)).mean()
    assert 0.3 * nominal <= rate <= 1.5 * nominal, (n, rate, nominal)
    if n <= 9:
        assert (z > t).mean() > 10 * nominal  # what the plain MAD would do


def test_a_10x_volume_spike_is_flagged_with_the_exact_expected_range():
    v = judge(DAILY, ALTERNATING, NOW, 10_000, Settings(), COUNT)
    assert v.judged and not v.passed and v.anomalous
    assert (v.median, v.mad, v.points, v.needed) == (1000.0, 20.0, 14, 7)
    assert v.scale == pytest.approx(S14, rel=1e-4) and v.scale_basis == "mad"
    assert v.small_sample_factor == pytest.approx(K14, rel=1e-4)
    assert v.expected_low == pytest.approx(1000 - 3.5 * S14, rel=1e-4)  # 771.82
    assert v.expected_high == pytest.approx(1228.18, rel=1e-4)
    assert v.robust_z == pytest.approx(9000 / S14, rel=1e-4)  # 138.1
    assert v.reason == "above the range history predicts"
    assert v.window_start == NOW - 28 * DAY and v.window_end == NOW and v.window_days == 28
    # a collapse is flagged too (two-sided), and its range is the same
    drop = judge(DAILY, ALTERNATING, NOW, 100, Settings(), COUNT)
    assert not drop.passed and drop.reason == "below the range history predicts"
    assert drop.robust_z == pytest.approx(-900 / S14, rel=1e-4)


def test_a_normal_value_is_inside_the_range_and_passes():
    v = judge(DAILY, ALTERNATING, NOW, 1050, Settings(), COUNT)
    assert v.judged and v.passed and not v.anomalous
    assert v.robust_z == pytest.approx(50 / S14, rel=1e-4)  # 0.77
    edge = judge(DAILY, ALTERNATING, NOW, 1228, Settings(), COUNT)  # just inside 1228.18
    assert edge.passed
    assert not judge(DAILY, ALTERNATING, NOW, 1229, Settings(), COUNT).passed


# A weekday feed: ~1,000 rows Monday-Friday, ~200 at weekends. The current file is Saturday 2026-01-31.
SATURDAY = ts(2026, 1, 31)


def weekly_history(weeks: int = 4):
    """Daily files for `weeks` weeks up to Friday 2026-01-30 (4 weeks: from Saturday 2026-01-03), 06:00 UTC."""
    stamps, values = [], []
    for i in range(7 * weeks):
        t = ts(2026, 1, 3) + (i - 7 * (weeks - 4)) * DAY
        day = dt.datetime.fromtimestamp(t, dt.UTC)
        parity = ((day.day - 3) // 7) % 2  # alternates week by week
        if day.weekday() >= 5:
            values.append([190.0, 210.0][parity])
        else:
            values.append([990.0, 1010.0][(day.isocalendar().week) % 2])
        stamps.append(t)
    return stamps, values


def test_weekly_pattern_flags_a_saturday_without_seasonality_but_not_with_it():
    stamps, values = weekly_history()
    assert sorted(values).count(990.0) == 10 and sorted(values).count(1010.0) == 10
    assert [values[i] for i in (0, 7, 14, 21)] == [190.0, 210.0, 190.0, 210.0]  # the four Saturdays

    # without seasonality: 28 points, median 990 (14th and 15th sorted values), MAD 20
    plain = judge(stamps, values, SATURDAY, 200, Settings(), COUNT)
    assert plain.judged and not plain.passed
    assert (plain.points, plain.median, plain.mad) == (28, 990.0, 20.0)
    assert plain.expected_low == pytest.approx(990 - 3.5 * 29.652 * small_sample_factor(28, 3.5))  # 843.3
    assert plain.seasonality == "none" and plain.weekday is None

    # weekly: only the four Saturdays (190, 210, 190, 210): median 200, MAD 10, scale 14.826 * K4
    weekly = judge(stamps, values, SATURDAY, 200, Settings(seasonality="weekly"), COUNT)
    assert weekly.judged and weekly.passed
    assert (weekly.points, weekly.needed, weekly.median, weekly.mad) == (4, 3, 200.0, 10.0)
    assert weekly.weekday == "Saturday" and weekly.seasonality == "weekly"
    assert weekly.expected_low == 0.0 and weekly.expected_high == pytest.approx(200 + 3.5 * 14.826 * K4, rel=1e-4)
    # four points judge only gross changes (1,359 rows): a Saturday as large as a weekday one needs
    # a longer history. Twelve weeks (window 84 days): 12 Saturdays, factor K12
    stamps, values = weekly_history(weeks=12)
    twelve = Settings(seasonality="weekly", window_s=84 * DAY)
    quiet = judge(stamps, values, SATURDAY, 200, twelve, COUNT)
    assert quiet.passed and (quiet.points, quiet.median, quiet.mad) == (12, 200.0, 10.0)
    assert quiet.expected_high == pytest.approx(200 + 3.5 * 14.826 * K12, rel=1e-4)  # 335.3
    assert not judge(stamps, values, SATURDAY, 1000, twelve, COUNT).passed
    assert not judge(stamps, values, SATURDAY, 200, Settings(window_s=84 * DAY), COUNT).passed  # 84 points, plain
    # a Monday of 1,000 rows compares with the twelve Mondays (990/1010)
    monday = judge(stamps, values, ts(2026, 2, 2), 1000, twelve, COUNT)
    assert monday.passed and monday.weekday == "Monday" and monday.points == 12


def test_below_the_minimum_history_nothing_is_judged_and_everything_passes():
    v = judge(DAILY[-6:], ALTERNATING[-6:], NOW, 10_000, Settings(), COUNT)
    assert not v.judged and v.passed and not v.anomalous
    assert (v.points, v.needed, v.reason) == (6, 7, "learning: 6 of 7 points")
    assert v.median is None and v.expected_low is None and v.value == 10_000
    assert judge(DAILY[-7:], ALTERNATING[-7:], NOW, 10_000, Settings(), COUNT).judged
    assert not judge(DAILY, ALTERNATING, NOW, 10_000, Settings(min_history=15), COUNT).judged
    # weekly seasonality has its own minimum: two earlier Saturdays are not enough for 3
    stamps, values = weekly_history()
    v = judge(stamps[7:], values[7:], SATURDAY, 5000, Settings(seasonality="weekly"), COUNT)
    assert v.judged and v.points == 3 and not v.passed  # Saturdays 01-10, 01-17, 01-24
    few = judge(stamps[14:], values[14:], SATURDAY, 5000, Settings(seasonality="weekly"), COUNT)
    assert (few.judged, few.points, few.needed) == (False, 2, 3)


def test_mad_zero_falls_back_to_a_floor_relative_to_the_median():
    const = [1000.0] * 10
    stamps = DAILY[-10:]
    v = judge(stamps, const, NOW, 1010, Settings(), COUNT)
    assert v.mad == 0 and v.scale == pytest.approx(10.0) and v.scale_basis == "relative floor"  # 1% of 1,000
    assert v.passed and (v.expected_low, v.expected_high) == (pytest.approx(965.0), pytest.approx(1035.0))
    assert not judge(stamps, const, NOW, 1100, Settings(), COUNT).passed  # a 10% change is flagged
    # a small constant count: the absolute floor (1 row) applies instead of 1% of 5 rows
    small = judge(stamps, [5.0] * 10, NOW, 8, Settings(), COUNT)
    assert small.scale == 1.0 and small.scale_basis == "absolute floor" and small.passed  # z = 3
    assert not judge(stamps, [5.0] * 10, NOW, 9, Settings(), COUNT).passed  # z = 4
    # a rate that was always 0: floor 0.005 (half a percentage point); range clipped at 0
    zero = judge(stamps, [0.0] * 10, NOW, 0.01, Settings(), RATE)
    assert zero.scale == 0.005 and zero.expected_low == 0.0 and zero.expected_high == pytest.approx(0.0175)
    assert zero.passed and not judge(stamps, [0.0] * 10, NOW, 0.02, Settings(), RATE).passed
    # a mean that was always exactly 0 stays finite
    flat = judge(stamps, [0.0] * 10, NOW, 1.0, Settings(), LEVEL)
    assert not flat.passed and math.isfinite(flat.robust_z)


def test_expected_range_is_clipped_where_negative_or_above_one_makes_no_sense():
    counts = [6.0, 14.0] * 5  # median 10, MAD 4, scale 5.9304 * K10: 10 - 70.07 < 0
    v = judge(DAILY[-10:], counts, NOW, 0, Settings(), COUNT)
    assert v.expected_low == 0.0 and v.expected_high == pytest.approx(10 + 3.5 * 5.9304 * K10, rel=1e-4) and v.passed
    rates = [0.9, 0.98] * 5  # median 0.94, MAD 0.04: 0.94 + 0.7007 > 1
    r = judge(DAILY[-10:], rates, NOW, 0.95, Settings(), RATE)
    assert r.expected_high == 1.0 and r.expected_low == pytest.approx(0.94 - 3.5 * 1.4826 * 0.04 * K10, rel=1e-4)
    unclipped = judge(DAILY[-10:], [-6.0, 6.0] * 5, NOW, 0, Settings(), LEVEL)  # a mean may be negative
    assert unclipped.expected_low == pytest.approx(-3.5 * 1.4826 * 6 * K10, rel=1e-4)


def test_the_trailing_window_excludes_older_and_later_points():
    old = [NOW - (40 + i) * DAY for i in range(10)]  # 40-49 days ago: outside a 28-day window
    recent = [NOW - (i + 1) * DAY for i in range(7)]
    later = [NOW + HOUR, NOW]  # not before the current point: never history
    stamps = old + recent + later
    values = [100.0] * 10 + [1000.0] * 7 + [5.0, 5.0]
    v = judge(stamps, values, NOW, 1000, Settings(), COUNT)
    assert v.points == 7 and v.median == 1000.0 and v.passed
    # with a 60-day window the old files count: 17 points, median 100 (the 9th), and 1,000 is anomalous
    wide = judge(stamps, values, NOW, 1000, Settings(window_s=60 * DAY), COUNT)
    assert wide.points == 17 and wide.median == 100.0 and not wide.passed
    # a point exactly one window back is inside; NaN values (metric not recorded) are skipped
    edge = judge([NOW - 28 * DAY] * 7 + [NOW - DAY], [1000.0] * 7 + [math.nan], NOW, 1000, Settings(), COUNT)
    assert edge.points == 7


def test_one_point_per_partition_latest_value_dated_by_first_arrival():
    # file a: materialized at t=10 (500 rows), re-run at t=50 (520 rows); b once at t=20; c at 30 without the metric
    pts = one_per_partition(["a", "b", "a", "c"], [10.0, 20.0, 50.0, 30.0], [500, 700, 520, None])
    assert pts["partition"].tolist() == ["a", "b", "c"]  # by arrival
    assert pts["arrived"].tolist() == [10.0, 20.0, 30.0]
    assert pts["value"].tolist()[:2] == [520.0, 700.0] and math.isnan(pts["value"].iloc[2])
    assert pts["materializations"].tolist() == [2, 1, 1]
    # so a re-run does not add a history point: 7 files, one of them run 3 times, are 7 points
    parts = [f"f{i}" for i in range(7)] + ["f3", "f3"]
    when = [NOW - (10 - i) * DAY for i in range(7)] + [NOW - HOUR, NOW - 60.0]
    pts = one_per_partition(parts, when, [1000.0] * 9)
    v = judge(pts["arrived"], pts["value"], NOW, 1000, Settings(), COUNT)
    assert v.points == 7 and v.judged
    assert one_per_partition([], [], []).empty
    # several metrics in one pass: each column holds the latest materialization's value
    wide = one_per_partition(["a", "b", "a"], [1.0, 2.0, 3.0], {"rows": [1, 2, 3], "rate": [0.1, 0.2, None]})
    assert wide[["partition", "arrived", "rows"]].values.tolist() == [["a", 1.0, 3.0], ["b", 2.0, 2.0]]
    assert math.isnan(wide["rate"].iloc[0]) and wide["rate"].iloc[1] == 0.2


def test_arrival_is_one_sided_and_gaps_are_dated_by_their_start():
    arrivals = [NOW - (10 - i) * DAY for i in range(10)]  # daily; the last one yesterday
    starts, gaps = arrival_gaps(list(reversed(arrivals)) + [arrivals[-1] + 72 * HOUR])
    assert starts.tolist() == arrivals and gaps.tolist() == [24.0] * 9 + [72.0]
    s, g = arrival_gaps(arrivals)
    last = arrivals[-1]
    # constant 24 h gaps: MAD 0, the absolute floor (15 minutes) -> at most 24 + 3.5 * 0.25 = 24.875 h
    late = judge(s, g, last, 30.0, Settings(), LATENESS)
    assert not late.passed and late.expected_high == pytest.approx(24.875) and late.scale_basis == "absolute floor"
    assert late.reason == "later than history predicts" and late.points == 9
    early = judge(s, g, last, 2.0, Settings(), LATENESS)  # a file early is not worth an alert
    assert early.passed and early.robust_z < -3.5
    assert judge(s, g, last, 24.5, Settings(), LATENESS).passed


def test_weekday_is_utc_and_settings_are_validated():
    assert weekday_of(0) == 3  # 1970-01-01, a Thursday
    stamps = [ts(2026, 1, 31), ts(2026, 2, 1, 23), ts(2026, 2, 2, 0)]
    assert weekday_of(stamps).tolist() == [5, 6, 0]  # Saturday, Sunday 23:00, Monday 00:00
    with pytest.raises(ValueError, match="seasonality"):
        Settings(seasonality="monthly")
    v = judge([], [], NOW, None, Settings(), COUNT)
    assert not v.judged and v.passed and v.reason == "no value to judge"
