"""Smoke test of bench/scale.py's input files: deterministic, cached by rows and seed, generated in
blocks, and read by the customers contract with the generator's own count of faulty rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dq_platform.demo.sample_data import generate
from dq_platform.engine.rules import evaluate
from dq_platform.io.readers import read_source

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def scale():
    sys.path.insert(0, str(BENCH))
    try:
        import scale

        yield scale
    finally:
        sys.path.remove(str(BENCH))


def test_sizes_parse(scale):
    assert [scale.parse_size(s) for s in ("1M", "5m", "20M", "500k", "1200")] == [
        1_000_000,
        5_000_000,
        20_000_000,
        500_000,
        1200,
    ]
    assert scale.size_label(20_000_000) == "20M" and scale.size_label(500_000) == "500k"


def test_input_file_is_deterministic_cached_and_per_seed(scale, tmp_path):
    a = scale.input_file(300, seed=7, folder=tmp_path / "a")
    stamp = a.stat().st_mtime_ns
    assert scale.input_file(300, seed=7, folder=tmp_path / "a") == a and a.stat().st_mtime_ns == stamp  # cached
    b = scale.input_file(300, seed=7, folder=tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert scale.input_file(300, seed=8, folder=tmp_path / "a").read_bytes() != a.read_bytes()
    assert not list((tmp_path / "a").glob("*.part"))


def test_blocks_read_by_the_contract_with_the_expected_counts(scale, customers, tmp_path):
    rows, block, seed = 450, 200, 11
    path = tmp_path / "customers.csv"
    scale.generate_input(rows, path, seed=seed, block=block)
    # the ground truth: each block is the generator's output for seed + i, ids continuing across blocks
    expected_bad = sum(
        generate(customers, rows=min(block, rows - start), seed=seed + i, bad_fraction=0.04, id_offset=start).bad_rows
        for i, start in enumerate(range(0, rows, block))
    )
    assert expected_bad > 0
    raw = read_source(str(path), customers)
    assert len(raw) == rows
    result = evaluate(raw, customers)
    assert len(result.quarantine) == expected_bad
    assert len(result.cleaned) == rows - expected_bad
    ids = result.cleaned["customer_id"]
    assert ids.is_unique and ids.max() <= rows
