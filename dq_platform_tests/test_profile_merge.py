"""A file's profile merged from its chunks' summaries equals the profile of the whole file.

Every shipped contract's sample data (and an ad-hoc contract's with booleans), read as the raw layer reads it and cleaned by the rules,
is split into chunks of 1 row, 7 rows, 1000 rows and uneven sizes; the merge must equal
`profile_frame` of the whole, field by field (floats to 1e-9 relative). Above the sketches'
caps (lowered here so a small frame crosses them) the merged fields stay within their stated
error and say so in `approximate`.
"""

from __future__ import annotations

import math
import pickle
from functools import cache

import numpy as np
import pandas as pd
import pytest

from dq_platform.contract import load_contracts, parse_contract
from dq_platform.demo.sample_data import write_files
from dq_platform.engine import rules, sketches
from dq_platform.engine.pii.undeclared import undeclared_findings
from dq_platform.engine.profiling import merge_profiles, profile_frame, profile_summary
from dq_platform.io.readers import read_source
from dq_platform_tests.test_sample_data import ADHOC_YAML

# the shipped contracts, and the generator tests' ad-hoc one (booleans, uuids, custom date formats)
CONTRACTS = {c.name: c for c in [*load_contracts(), parse_contract(ADHOC_YAML)]}
ROWS = 1500


@cache
def frames(name: str, tmp: str) -> dict[str, pd.DataFrame]:
    from pathlib import Path

    contract = CONTRACTS[name]
    [path] = write_files(contract, Path(tmp) / name, files=1, rows_per_file=ROWS, seed=7)
    raw = read_source(str(path), contract)
    cleaned = rules.evaluate(raw, contract, today=pd.Timestamp("2026-06-01")).cleaned
    return {"raw": raw, "cleaned": cleaned.reset_index(drop=True)}


def splits(n: int, how: str) -> list[tuple[int, int]]:
    """Row ranges covering 0..n."""
    if how == "uneven":
        cuts = np.unique(np.random.default_rng(n).integers(1, max(n, 2), size=min(12, n)))
        edges = [0, *cuts.tolist(), n]
    else:
        size = int(how)
        edges = [*range(0, n, size), n]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a] or [(0, 0)]  # an empty file is one empty chunk


def same(merged, whole, path: str = "") -> None:
    """Equal, floats to 1e-9 relative."""
    if isinstance(whole, float) and isinstance(merged, float):
        assert merged == pytest.approx(whole, rel=1e-9, abs=1e-12), path
    elif isinstance(whole, dict):
        assert isinstance(merged, dict) and merged.keys() == whole.keys(), (path, set(merged) ^ set(whole))
        for k in whole:
            same(merged[k], whole[k], f"{path}/{k}")
    elif isinstance(whole, list):
        assert isinstance(merged, list) and len(merged) == len(whole), path
        for i, (m, w) in enumerate(zip(merged, whole)):
            same(m, w, f"{path}[{i}]")
    else:
        assert merged == whole, path


def merged(frame: pd.DataFrame, contract, layer: str, how: str):
    parts = [profile_summary(frame.iloc[a:b], contract, layer, threads=1) for a, b in splits(len(frame), how)]
    return merge_profiles(parts, contract, layer), parts


# (chunking, rows of the file it applies to): 1-row chunks on a prefix keep the test quick
CHUNKINGS = [("1", 20), ("7", 140), ("1000", ROWS), ("uneven", ROWS)]


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_merged_chunk_profiles_equal_the_whole_file_profile(name, tmp_path_factory):
    contract = CONTRACTS[name]
    data = frames(name, str(tmp_path_factory.getbasetemp() / "profile-merge"))
    for layer in ("raw", "cleaned"):
        for how, rows in CHUNKINGS:
            frame = data[layer].iloc[:rows]
            whole = profile_frame(frame, contract, layer, threads=1)
            got, parts = merged(frame, contract, layer, how)
            assert len(parts) == len(splits(len(frame), how))
            assert all(c.approximate is None for c in whole.columns)  # under every cap: all exact
            same(got.to_dict(), whole.to_dict(), f"{name}/{layer}/{how}")
            assert undeclared_findings(got) == undeclared_findings(whole)


def test_a_single_summary_is_the_whole_frame_profile(customers, tmp_path_factory):
    frame = frames("customers", str(tmp_path_factory.getbasetemp() / "profile-merge"))["raw"]
    one = merge_profiles([profile_summary(frame, customers, "raw")], customers, "raw")
    assert one.to_dict() == profile_frame(frame, customers, "raw").to_dict()
    with pytest.raises(ValueError, match="cannot merge"):
        merge_profiles([profile_summary(frame, customers, "raw")], customers, "cleaned")


SKETCHED = parse_contract("""
name: sketched
description: Columns past the sketches' caps.
owner: team:test
source: {pattern: "s/*.csv"}
columns:
  - {name: id, type: string}
  - {name: amount, type: float}
  - {name: status, type: string}
  - {name: day, type: date}
""")


def sketched_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    status = np.where(rng.random(n) < 0.7, rng.zipf(1.6, n).clip(max=50), rng.integers(100, 5000, n))
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    return pd.DataFrame(
        {
            "id": pd.array([f"id-{i}" for i in rng.permutation(n)], dtype="string"),
            "amount": pd.array(np.round(rng.lognormal(5, 1, n), 2).astype(str), dtype="string"),
            "status": pd.array([f"s{v}" for v in status], dtype="string"),
            "day": pd.array(days.strftime("%Y-%m-%d"), dtype="string"),
        }
    )


@pytest.fixture
def small_caps(monkeypatch):
    monkeypatch.setattr(sketches, "DISTINCT_K", 512)
    monkeypatch.setattr(sketches, "QUANTILE_EXACT", 256)
    monkeypatch.setattr(sketches, "TOP_EXACT", 128)
    monkeypatch.setattr(sketches, "TOP_KEEP", 32)


def test_past_the_caps_merged_fields_stay_within_their_stated_error(small_caps):
    n = 24_000
    frame = sketched_frame(n)
    whole = profile_frame(frame, SKETCHED, "raw")
    got, _ = merged(frame, SKETCHED, "raw", "uneven")
    assert all(c.approximate is None for c in whole.columns)  # one chunk: its own exact answers

    for c in got.columns:  # counts, shares, moments: exact whatever the caps
        w = whole.column(c.name)
        assert (c.rows, c.non_null, c.format_share, c.type_shares, c.inferred_type) == (
            w.rows,
            w.non_null,
            w.format_share,
            w.type_shares,
            w.inferred_type,
        )
        for k in ("min", "max", "mean", "std", "std_days"):
            if w.stats and k in w.stats:
                same(c.stats[k], w.stats[k], f"{c.name}/{k}")

    ids = got.column("id")  # distinct: KMV estimate within 4 standard errors, flagged
    rse = ids.approximate["distinct"]
    assert rse == pytest.approx(1 / math.sqrt(511), abs=1e-4)
    assert abs(ids.distinct - n) <= 4 * rse * n and ids.distinct <= n
    assert ids.top_values is None and ids.note == "values barely repeat: no top values"

    amount = got.column("amount")  # percentiles: KLL, within the normalized rank error
    rank_error = amount.approximate["percentiles"]
    x = np.sort(pd.to_numeric(frame["amount"]).to_numpy())
    for q in (5, 25, 50, 75, 95):
        v = amount.stats[f"p{q:02d}"]
        lo, hi = np.searchsorted(x, v, "left") / n, np.searchsorted(x, v, "right") / n
        assert lo - 2 * rank_error <= q / 100 <= hi + 2 * rank_error, (q, v, lo, hi)

    status = got.column("status")  # top values: counts never above the truth, off by at most the stated error
    truth = frame["status"].value_counts()
    assert [v for v, _ in status.top_values] == [v for v, _ in whole.column("status").top_values]
    for v, k in status.top_values:
        error = (status.approximate or {}).get("top_values", 0)
        assert truth[v] - error <= k <= truth[v]
    day = got.column("day")  # 200 distinct days: under the distinct cap, exact
    assert day.distinct == whole.column("day").distinct == frame["day"].nunique() == 200
    assert "distinct" not in (day.approximate or {})


def test_summaries_are_small_and_do_not_grow_with_the_rows():
    contract = SKETCHED
    sizes = [len(pickle.dumps(profile_summary(sketched_frame(n), contract, "raw"))) for n in (20_000, 80_000)]
    assert sizes[1] < 1.25 * sizes[0] and sizes[1] < 400_000, sizes


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_the_building_blocks_match_numpy_on_any_split(dtype):
    rng = np.random.default_rng(11)
    x = (rng.lognormal(3, 2, 5000) if dtype == "float64" else rng.integers(-(10**17), 10**17, 5000)).astype(dtype)
    x[:50] = x[50]  # repeats
    qs = np.array([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    values, counts = np.unique(x, return_counts=True)
    assert np.array_equal(sketches.weighted_quantiles(values, counts, qs), np.quantile(x, qs))
    cuts = [0, 1, 2, 700, 2500, 4999, 5000]
    parts = [x[a:b] for a, b in zip(cuts, cuts[1:])]
    m = sketches.merge_moments([sketches.Moments.weighted(*np.unique(p, return_counts=True)) for p in parts])
    assert (m.n, m.lo, m.hi) == (len(x), x.min(), x.max())
    assert m.mean == pytest.approx(x.mean(), rel=1e-12) and m.std == pytest.approx(x.std(ddof=1), rel=1e-9)
    d = [sketches.Distinct.of(sketches.hash_values(np.unique(p))) for p in parts]
    assert sketches.merge_distinct(d) == (len(values), None)
