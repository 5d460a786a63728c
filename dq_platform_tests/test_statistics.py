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

from dq_platform.contract import parse_contract
from dq_platform.engine import statistics as st

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
    amounts = 45 * rng.lognormal(0, 1.25, 5000)  # the sales medallion's kind of amounts
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
    col = column("{outliers: [{method: iqr, max_rate: 0.05}, {method: mad, max_rate: 0.05, log: true}], min_rows: 10}")
    s = series(BASE[:10] + [None, 1000.0, None])
    iqr, mad = st.outliers(s, col)
    assert iqr.evaluated == 11 and iqr.count == 1 and iqr.flags.tolist() == [False] * 11 + [True, False]
    assert iqr.rate == 1 / 11 and iqr.judged and not iqr.passed  # 9.1% > 5%
    default = st.outliers(s, column("{outliers: [{method: iqr, max_rate: 0.05}]}"))[0]
    assert default.count == 1 and not default.judged and default.passed  # 11 values < min_rows 100: flagged, not judged
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


# -- end to end through Dagster ----------------------------------------------------------------------

PAYMENTS = """
name: payments
description: Payments with declared statistics (tests).
owner: team:test
source: {pattern: "payments/*.csv"}
columns:
  - {name: id, type: integer, required: true, unique: true}
  - name: amount
    type: float
    required: true
    statistics:
      outliers:
        - {method: iqr, k: 1.5, max_rate: 0.05}
        - {method: mad, threshold: 3.5, max_rate: 0.05}
      drift: {psi: 0.2, ks_statistic: 0.1}
      severity: SEVERITY
      min_rows: 50
  - name: salary
    type: float
    pii: {category: financial, masking: redact}
    statistics:
      outliers: [{method: zscore, threshold: 3.0, max_rate: 0.5}]
      min_rows: 50
  - name: channel
    type: string
    required: true
    statistics: {drift: {psi: 0.2}, min_rows: 50}
"""
SALARY_CANARY = "987654.321"


def payments(start: int, n: int = 200, shift: float = 0.0, outliers: int = 3) -> pd.DataFrame:
    """Amounts spread evenly over 90..110 (+ shift): no outlier among them; the first `outliers`
    rows at every 10th position get 5000. One salary is far from the rest (a PII canary)."""
    i = np.arange(n)
    amount = (100 + shift + (i % 21) - 10).astype(float)
    far = np.arange(outliers) * 10 + 5
    amount[far] = 5000.0
    salary = (50_000 + i * 10).astype(float).astype(str)
    salary[7] = SALARY_CANARY
    channel = np.array(["web", "store", "app"])[i % 3] if not shift else np.array(["web", "app", "app", "app"])[i % 4]
    return pd.DataFrame(
        {"id": (start + i).astype(str), "amount": amount.astype(str), "salary": salary, "channel": channel}
    )


def _checks(instance, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    out = {}
    for record in instance.get_records_for_run(run_id).records:
        ev = record.event_log_entry.dagster_event
        if ev is not None and ev.event_type_value == "ASSET_CHECK_EVALUATION":
            out[ev.event_specific_data.check_name] = ev.event_specific_data
    return out


def _meta(evaluation) -> dict:
    return {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


@pytest.mark.slow
def test_outliers_are_flagged_in_cleaned_and_masked_and_drift_compares_with_the_good_partition(make_project, instance):
    project = make_project(PAYMENTS.replace("SEVERITY", "warn"))
    first = project.ingest(instance, "payments", project.write_csv("payments/p1.csv", payments(1)))
    assert first.success, first.error
    wh = project.wh()
    for table in ("cleaned_payments", "masked_payments"):
        frame = wh.read(table, partition=first.partition).sort_values("id").reset_index(drop=True)
        flagged = frame.loc[frame[st.OUTLIERS].notna(), ["id", st.OUTLIERS]]
        assert flagged.values.tolist() == [
            [6, "amount:iqr; amount:mad"],
            [8, "salary:zscore"],
            [16, "amount:iqr; amount:mad"],
            [26, "amount:iqr; amount:mad"],
        ], table
        assert len(frame) == 200  # flagged rows are kept
    assert (wh.read("masked_payments", partition=first.partition)["salary"] != SALARY_CANARY).all()

    checks = _checks(instance, first.run_id)
    out = checks["amount_outliers_within_limits"]
    assert out.passed and out.severity == dg.AssetCheckSeverity.WARN
    m = _meta(out)
    assert (m["values_evaluated"], m["iqr/count"], m["iqr/rate"], m["mad/count"], m["iqr/max_rate"]) == (
        200,
        3,
        0.015,
        3,
        0.05,
    )
    assert (m["iqr/lower"], m["iqr/upper"]) == (80.0, 120.0)  # Q1 95, Q3 105 (linear), IQR 10
    assert out.description.startswith("amount: 200 values; flagged by iqr 3 (1.50%, max 5.00%); mad 3 ")
    salary = checks["salary_outliers_within_limits"]
    assert _meta(salary)["zscore/count"] == 1 and not any(k.endswith(("lower", "upper")) for k in _meta(salary))
    assert SALARY_CANARY not in str(salary) and "987654" not in str(salary)  # PII: counts only, no bounds
    stable = checks["amount_distribution_stable"]
    assert stable.passed and _meta(stable)["reference_partition"] == "-"
    assert "nothing to compare with yet" in stable.description
    mat = instance.get_latest_materialization_event(dg.AssetKey("cleaned_payments")).asset_materialization
    assert mat.metadata["outliers/amount:iqr"].value == 3 and mat.metadata["rows_flagged_outliers"].value == 4
    assert "seconds/statistics" in mat.metadata and "profile/amount/mean" in mat.metadata

    # A second file: amounts shifted by +50 and 12 outliers (6% > 5%), other channel mix. WARN only.
    second = project.ingest(
        instance, "payments", project.write_csv("payments/p2.csv", payments(1000, shift=50, outliers=12))
    )
    assert second.success  # WARN failures never block
    checks = _checks(instance, second.run_id)
    drift = checks["amount_distribution_stable"]
    m = _meta(drift)
    assert not drift.passed and m["reference_partition"] == first.partition
    assert (m["rows_compared"], m["reference_rows"]) == (200, 200) and m["psi"] > 1 and m["ks_statistic"] > 0.9
    assert drift.description.startswith(f"amount: shifted against {first.partition}: PSI ")
    assert not checks["channel_distribution_stable"].passed and "ks_statistic" not in _meta(
        checks["channel_distribution_stable"]
    )
    assert not checks["amount_outliers_within_limits"].passed
    assert checks["amount_outliers_within_limits"].description.startswith("amount: above the limit: iqr, mad.")
    assert second.rows["masked"] == 200
    assert wh.last_commit("cleaned_payments", second.partition)["dq_gates"] == "passed"


@pytest.mark.slow
def test_an_error_severity_statistic_holds_publication_and_never_becomes_a_drift_reference(make_project, instance):
    project = make_project(PAYMENTS.replace("SEVERITY", "error"))
    first = project.ingest(instance, "payments", project.write_csv("payments/p1.csv", payments(1)))
    assert first.success, first.error
    held = project.ingest(instance, "payments", project.write_csv("payments/p2.csv", payments(1000, shift=50)))
    assert not held.success
    assert any(g.startswith("cleaned_payments.amount_distribution_stable: amount: shifted") for g in held.failed_gates)
    wh = project.wh()
    assert held.partition not in wh.row_counts("masked_payments")  # not published
    assert wh.last_commit("cleaned_payments", held.partition)["dq_gates"] == "failed"
    assert held.rows["cleaned"] == 200  # cleaned is written (and flagged), as every held partition

    # A third file like the first: compared with the first, not with the held one (its gates failed).
    third = project.ingest(instance, "payments", project.write_csv("payments/p3.csv", payments(5000)))
    assert third.success, third.error
    drift = _checks(instance, third.run_id)["amount_distribution_stable"]
    assert drift.passed and _meta(drift)["reference_partition"] == first.partition and _meta(drift)["psi"] == 0.0


def test_mad_scale_equals_scipys_normal_consistent_mad():
    from scipy.stats import median_abs_deviation

    x = np.random.default_rng(3).lognormal(0, 1, 1001)
    _, median, scale, _ = st.mad_flags(x, 3.5)
    assert median == np.median(x) and scale == pytest.approx(median_abs_deviation(x, scale="normal"), rel=1e-12)
