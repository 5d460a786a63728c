"""Declared statistics: outlier methods, drift measures and their checks, on data with known answers.

Unit tests call statistics.py directly on constructed values; the end-to-end tests run the real
job (`project.ingest`) on two files and read the checks, the `_outliers` column and the gates.
"""

from __future__ import annotations

import math

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from dq_platform import statistics as st
from dq_platform.contract import parse_contract

BASE = [8, 9, 10, 11, 12] * 4  # 20 ordinary values: median 10, MAD 1


def column(stats_yaml: str, type_: str = "float"):
    """A contract column `x` with the given statistics section."""
    text = f"""
name: t
description: t
owner: team:t
source: {{pattern: "t/*.csv"}}
columns:
  - name: x
    type: {type_}
    statistics: {stats_yaml}
"""
    return parse_contract(text).column("x")


def series(values) -> pd.Series:
    return pd.Series(values, dtype="Float64")


# -- outliers -------------------------------------------------------------------------------------

def test_iqr_fences_and_flags_by_hand():
    # quartiles (linear): Q1 = 3.25, Q3 = 7.75, IQR 4.5 -> fences -3.5 and 14.5: only 100 is out
    flags, lower, upper = st.iqr_flags(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 100.0]), k=1.5)
    assert (lower, upper) == (-3.5, 14.5)
    assert np.flatnonzero(flags).tolist() == [9]


def test_zscore_flags_a_lone_outlier():
    x = np.array(BASE + [1000.0])  # one outlier in 21 values: its z is sqrt(20) = 4.47
    flags, mean, std = st.zscore_flags(x, threshold=3.0)
    assert np.flatnonzero(flags).tolist() == [20]
    assert math.isclose((1000 - mean) / std, math.sqrt(20), rel_tol=0.01)


def test_mad_is_not_fooled_where_zscore_is_masked_by_the_outliers():
    """3 outliers in 23 values inflate the std so much that their z-score is ~2.6 < 3 (masking);
    the median and MAD ignore them: all three are flagged, nothing else is."""
    x = np.array(BASE + [1000.0, 1000.0, 1000.0])
    z_flags, _, _ = st.zscore_flags(x, threshold=3.0)
    assert z_flags.sum() == 0
    mad_flags, median, scale, note = st.mad_flags(x, threshold=3.5)
    assert median == 10 and math.isclose(scale, 1 / 0.6744897501960817)  # MAD 1, normal-consistent scale
    assert np.flatnonzero(mad_flags).tolist() == [20, 21, 22] and note == ""
    iqr_flags, _, upper = st.iqr_flags(x, 1.5)  # Q1 9, Q3 12 -> upper fence 16.5
    assert upper == 16.5 and np.flatnonzero(iqr_flags).tolist() == [20, 21, 22]


def test_mad_of_zero_falls_back_to_the_mean_absolute_deviation():
    x = np.array([5.0] * 10 + [6.0, 50.0])  # over half equal the median: MAD = 0
    flags, median, scale, note = st.mad_flags(x, threshold=3.5)
    assert median == 5 and math.isclose(scale, 1.253314 * (1 + 45) / 12)  # 4.80: only 50 is beyond 3.5 x 4.80
    assert np.flatnonzero(flags).tolist() == [11]
    assert note.startswith("MAD is 0")
    flags, _, scale, note = st.mad_flags(np.array([7.0] * 5), threshold=3.5)
    assert not flags.any() and scale == 0 and note == "all values are equal: no outlier"


def test_kmeans_flags_an_injected_group_of_far_amounts_and_nothing_in_a_unimodal_sample():
    rng = np.random.default_rng(42)
    amounts = 45 * rng.lognormal(0, 1.25, 5000)  # seed 002's kind of sales amounts
    x = st.log_transform(amounts)
    flags, centers, shares, _ = st.kmeans_flags(x, k=3, min_cluster_share=0.01)
    assert flags.sum() == 0 and (shares >= 0.01).all()

    far = 400_000 + 50_000 * rng.random(25)  # 0.5% of transactions far above the rest
    x = st.log_transform(np.concatenate([amounts, far]))
    flags, centers, shares, _ = st.kmeans_flags(x, k=3, min_cluster_share=0.01)
    assert np.flatnonzero(flags).tolist() == list(range(5000, 5025))
    assert math.isclose(shares[-1], 25 / 5025) and st.log_inverse(centers[-1]) > 300_000
    again, _, _, _ = st.kmeans_flags(x, k=3, min_cluster_share=0.01)
    assert (again == flags).all()  # fixed seed: the same answer every run


def test_kmeans_on_more_rows_than_it_fits_on_still_assigns_every_row():
    rng = np.random.default_rng(7)
    x = st.log_transform(np.concatenate([45 * rng.lognormal(0, 1.25, 300_000), np.full(1500, 5e7)]))
    flags, _, shares, note = st.kmeans_flags(x, k=3, min_cluster_share=0.01)
    assert np.flatnonzero(flags).tolist() == list(range(300_000, 301_500))
    assert note.startswith("fitted on 100,000 sampled values")


def test_column_outliers_skip_missing_values_and_report_in_the_columns_units():
    col = column("{outliers: [{method: iqr, max_rate: 0.05}, {method: mad, max_rate: 0.05, log: true}]}")
    s = series(BASE[:10] + [None, 1000.0, None])
    iqr, mad = st.outliers(s, col)
    assert iqr.evaluated == 11 and iqr.count == 1 and iqr.flags.tolist() == [False] * 11 + [True, False]
    assert iqr.rate == 1 / 11 and not iqr.passed  # 9.1% > 5%
    assert (iqr.bounds["lower"], iqr.bounds["upper"]) == (5.25, 15.25)  # Q1 9, Q3 11.5 (linear), IQR 2.5
    assert mad.count == 1 and mad.bounds["upper"] < 1000  # log1p-space bounds turned back into amounts
    labels = st.outlier_labels([iqr, mad], len(s))
    assert labels.tolist()[11] == "x:iqr; x:mad" and labels.isna().sum() == 12


# -- drift ----------------------------------------------------------------------------------------

def test_psi_by_hand():
    # (0.6-0.5)ln(0.6/0.5) + (0.4-0.5)ln(0.4/0.5) = 0.018232 + 0.022314
    assert math.isclose(st.psi(np.array([50, 50]), np.array([60, 40])), 0.0405465, rel_tol=1e-6)
    ref = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20, dtype="string")
    cur = pd.Series(["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["d"] * 10 + [None] * 7, dtype="string")
    value, categories = st.categorical_psi(ref, cur)
    # a: (0.4-0.5)ln(0.8); d is new: its reference share is epsilon 1e-4: (0.1-1e-4)ln(0.1/1e-4)
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert categories == 4 and math.isclose(value, expected, rel_tol=1e-9)  # 0.712399; missing values ignored


def test_drift_is_detected_for_a_shifted_distribution_and_not_for_a_resample():
    col = column("{drift: {psi: 0.2, ks_statistic: 0.1}}")
    ref = series(np.random.default_rng(1).normal(100, 15, 5000))
    resample = series(np.random.default_rng(2).normal(100, 15, 5000))
    shifted = series(np.random.default_rng(3).normal(110, 15, 5000))  # +2/3 of a standard deviation

    same = st.drift(resample, ref, col, "ref.csv@1")
    assert same.passed and same.psi < 0.02 and same.ks_statistic < 0.04 and same.bins == 10
    moved = st.drift(shifted, ref, col, "ref.csv@1")
    assert not moved.passed and moved.psi > 0.3 and moved.ks_statistic > 0.2 and moved.ks_pvalue < 1e-10
    assert moved.ks_statistic == pytest.approx(ks_2samp(ref.to_numpy(float), shifted.to_numpy(float)).statistic)


def test_categorical_drift_and_the_cases_that_pass_saying_why():
    col = column("{drift: {psi: 0.2}}", type_="string")
    rng = np.random.default_rng(5)
    ref = pd.Series(rng.choice(["active", "inactive", "suspended"], 3000, p=[0.65, 0.25, 0.10]), dtype="string")
    same = pd.Series(rng.choice(["active", "inactive", "suspended"], 3000, p=[0.65, 0.25, 0.10]), dtype="string")
    flipped = pd.Series(rng.choice(["active", "inactive", "suspended"], 3000, p=[0.25, 0.65, 0.10]), dtype="string")
    assert st.drift(same, ref, col, "r").passed and st.drift(same, ref, col, "r").ks_statistic is None
    assert not st.drift(flipped, ref, col, "r").passed
    first = st.drift(same, None, col, None)
    assert first.passed and first.psi is None and "nothing to compare with yet" in first.note
    small = st.drift(same.head(40), ref, col, "r")  # PSI on 40 rows measures noise: min_rows 100
    assert small.passed and small.psi is None and "too few values" in small.note


def test_ks_on_large_samples_equals_scipys_statistic_with_the_asymptotic_p_value():
    rng = np.random.default_rng(9)
    a, b = rng.normal(0, 1, 60_000), rng.normal(0.01, 1, 60_000)  # effective n 30,000: the fast path
    d, p = st.ks_two_sample(a, b)
    ref = ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=0.02)
