"""The pandera and GX gates run per chunk and merged give the whole frame's answer exactly
(issue #18): same passed flag, summary, failures (counts, percents, row positions) and
metadata, whatever the chunking, and the partials carry no data values."""

from __future__ import annotations

import pickle
import tempfile
from functools import cache

import numpy as np
import pandas as pd
import pytest

from dq_platform.contract import ColumnType, load_contracts
from dq_platform.demo.sample_data import write_files
from dq_platform.engine import rules
from dq_platform.engine.gate_parts import column_hashes, duplicate_rows
from dq_platform.engine.gx_gate import gx_partial, merge_gx, run_gx
from dq_platform.engine.pandera_gate import merge_pandera, pandera_partial, run_pandera
from dq_platform.io.readers import read_source

NOW = pd.Timestamp("2025-06-01")
GATES = {
    "pandera": (run_pandera, pandera_partial, merge_pandera),
    "gx": (run_gx, gx_partial, merge_gx),
}
CONTRACTS = {c.name: c for c in load_contracts()}


@cache
def cleaned(name: str, rows: int = 40) -> pd.DataFrame:
    """The cleaned frame of the contract's demo sample file, read and cleaned as the clean
    step does (read_source, then the row rules)."""
    contract = CONTRACTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = write_files(contract, tmp, files=1, rows_per_file=rows, seed=11, bad_fraction=0.05)
        raw = read_source(str(path), contract)
    for col in contract.columns:  # the generator renders date_formats [ISO8601] literally
        if col.date_formats == ["ISO8601"]:
            stamps = pd.date_range("2024-05-01", periods=len(raw), freq="37min").strftime("%Y-%m-%dT%H:%M:%SZ")
            raw[col.name] = raw[col.name].mask(raw[col.name] == "ISO8601", pd.Series(stamps, dtype="string"))
    return rules.evaluate(raw.assign(**{rules.PARTITION: "f@0"}), contract, today=NOW).cleaned


def _bad(col, value):
    """A value outside a bound, in the column's own type."""
    if col.type in (ColumnType.date, ColumnType.timestamp):
        return pd.Timestamp(str(value))
    return int(value) if col.type == ColumnType.integer else float(value)


def inject(name: str, rows: int = 40) -> pd.DataFrame:
    """Every failure the contract can express, spread over the frame (so over the chunks):
    nulls in required columns, values out of range or in the future, outside the allowed
    values, too long, not matching the pattern/format, and duplicates of each unique column
    inside one chunk and across distant chunks."""
    df = cleaned(name, rows).copy()
    n = len(df)
    twins = [0, 3, 4, 5, n // 2, n - 1]  # rows that get duplicated unique values
    order = [int(p) for p in np.random.default_rng(5).permutation(n) if p not in twins]
    spots = iter(order * 10)

    def put(column, value):
        df.iloc[next(spots), df.columns.get_loc(column)] = value

    for col in CONTRACTS[name].columns:
        c = col.name
        if col.unique:
            df.iloc[[n - 1, n // 2, 3], df.columns.get_loc(c)] = df[c].iloc[0]
            df.iloc[5, df.columns.get_loc(c)] = df[c].iloc[4]
        if col.required:
            put(c, None)
            put(c, None)
        if col.min is not None:
            low = _bad(col, col.min)
            put(c, low - pd.Timedelta(days=3) if isinstance(low, pd.Timestamp) else low - 1)
        if col.max is not None:
            high = _bad(col, col.max)
            put(c, high + pd.Timedelta(days=3) if isinstance(high, pd.Timestamp) else high + 1)
        if col.not_in_future:
            put(c, NOW + pd.Timedelta(days=40))
        if col.type == ColumnType.string:
            if col.allowed_values is not None or col.pattern is not None or col.format is not None:
                put(c, "!! not valid !!")
                put(c, "!! not valid !!")
            if col.max_length is not None:
                put(c, "x" * (col.max_length + 1))
            if col.min_length is not None and col.min_length > 1:
                put(c, "y")
    return df


def wrong_shapes() -> pd.DataFrame:
    """Customers with schema faults: a float id (with nulls), a column of mixed Python
    objects (some chunks can run the string checks, some cannot), one contract column
    missing, one unexpected column."""
    df = inject("customers")
    df["customer_id"] = df["customer_id"].astype("float64")
    status = df["account_status"].astype(object)
    status.iloc[[7, 30]] = 12345
    df["account_status"] = status
    return df.drop(columns=["phone"]).assign(surprise="hello")


def splits(n: int) -> dict[str, list[int]]:
    """Chunk sizes: whole, sevens, uneven with an empty chunk (the ones case is separate)."""
    uneven = [1, 0, 2, 20, 6]
    return {
        "whole": [n],
        "sevens": [7] * (n // 7) + ([n % 7] if n % 7 else []),
        "uneven": [*uneven, n - sum(uneven)],
    }


def chunks(df: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    """Row chunks as a chunked reader would hand them over: each with its own 0.. index."""
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(df)
    return [df.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def comparable(result) -> tuple:
    """Everything a gate reports except how long it took."""
    md = result.to_metadata()
    md.pop("duration_s")
    stats = {k: v for k, v in result.stats.items() if k != "duration_s"}
    return result.passed, result.summary, result.failures, md, stats


def assert_merges_exactly(name: str, df: pd.DataFrame, split: dict[str, list[int]]) -> dict:
    contract = CONTRACTS[name]
    whole = {}
    for gate, (run, partial, merge) in GATES.items():
        whole[gate] = run(contract, df, now=NOW)
        expected = comparable(whole[gate])
        for label, sizes in split.items():
            parts = [partial(contract, chunk, now=NOW) for chunk in chunks(df, sizes)]
            parts = pickle.loads(pickle.dumps(parts))  # as from worker processes
            assert comparable(merge(contract, parts)) == expected, (gate, label)
    return whole


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_clean_sample_merges_to_a_pass(name):
    df = cleaned(name)
    whole = assert_merges_exactly(name, df, {"uneven": splits(len(df))["uneven"]})
    assert all(r.passed for r in whole.values()), {g: r.summary for g, r in whole.items()}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_injected_failures_merge_exactly(name):
    df = inject(name)
    whole = assert_merges_exactly(name, df, splits(len(df)))
    for gate, result in whole.items():
        assert not result.passed, gate
        rules_failed = {(f["column"], f["rule"]) for f in result.failures}
        for col in CONTRACTS[name].columns:
            if col.unique:
                assert (col.name, "unique") in rules_failed, (gate, col.name)
            if col.required:
                assert (col.name, "required") in rules_failed, (gate, col.name)


def test_one_row_chunks_and_duplicates_across_them():
    df = inject("customers").head(14)
    df.iloc[[0, 6, 13], 0] = 77  # one id three times, chunks apart
    whole = assert_merges_exactly("customers", df, {"ones": [1] * 14, "uneven": [13, 1]})
    for gate in GATES:
        unique = [f for f in whole[gate].failures if f["rule"] == "unique"]
        assert len(unique) == 1 and unique[0]["count"] >= 3, (gate, unique)
    pandera_unique = next(f for f in whole["pandera"].failures if f["rule"] == "unique")
    assert {0, 6, 13} <= set(pandera_unique["rows"])


def test_schema_faults_and_checks_that_cannot_run_merge_exactly():
    df = wrong_shapes()
    whole = assert_merges_exactly("customers", df, splits(len(df)))
    for gate, result in whole.items():
        found = {(f["column"], f["rule"], f["kind"]) for f in result.failures}
        assert ("phone", "columns", "schema") in found, gate
        assert ("surprise", "columns", "schema") in found, gate
        dtype = next(f for f in result.failures if f["rule"] == "dtype" and f["column"] == "customer_id")
        assert dtype["detail"] == "got float64", gate


def test_empty_file_is_one_empty_chunk():
    df = cleaned("sales_transactions").head(0)
    whole = assert_merges_exactly("sales_transactions", df, {"whole": [0]})
    assert all(r.passed for r in whole.values())
    for merge in (merge_pandera, merge_gx):
        with pytest.raises(ValueError, match="at least one chunk"):
            merge(CONTRACTS["customers"], [])


def test_partials_carry_no_values_and_grow_only_with_unique_columns():
    contract = CONTRACTS["customers"]
    bad, good = inject("customers", rows=400), cleaned("customers", rows=400)
    strings = [v for c in ("first_name", "last_name", "email", "address") for v in bad[c].dropna().unique()]
    for partial in (pandera_partial, gx_partial):
        blob = pickle.dumps(partial(contract, bad, now=NOW))
        leaked = [v for v in strings if len(v) >= 6 and v.encode() in blob]
        assert not leaked, (partial.__name__, len(leaked))
        # customers has one unique column (an integer id): 8 bytes per row, nothing else grows
        sizes = [len(pickle.dumps(partial(contract, good.head(n), now=NOW))) for n in (60, len(good))]
        assert sizes[1] - sizes[0] <= 8 * (len(good) - 60) + 64, (partial.__name__, sizes)


def test_fingerprints_follow_pandas_equality():
    def dup(*series):
        return duplicate_rows([column_hashes(s) for s in series])

    # nulls are never duplicates; -0.0 equals 0.0; positions are file positions
    assert dup(pd.Series([1.0, None, -0.0], dtype="Float64"), pd.Series([0.0, None, 2.0])) == (2, [2, 3])
    assert dup(pd.Series([None, "a"], dtype="string"), pd.Series(["b", None, "a"], dtype="string")) == (2, [1, 4])
    assert dup(pd.Series(["a", "b"], dtype="string"), pd.Series(["c"], dtype="string")) == (0, [])
    stamps = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))
    assert dup(stamps, stamps.iloc[1:].reset_index(drop=True)) == (2, [1, 2])
    assert dup(pd.Series([True, False]), pd.Series([True])) == (2, [0, 2])
    # a per-run key changes every fingerprint, never equality
    ints = pd.Series([5, 6, 5], dtype="Int64")
    assert not np.array_equal(column_hashes(ints).h1, column_hashes(ints, "run-secret").h1)
    assert duplicate_rows([column_hashes(ints, "run-secret")]) == (2, [0, 2])
