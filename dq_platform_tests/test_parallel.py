"""Per-column threads change how fast a step runs, never what it produces.

The frames here are above parallel.MIN_ROWS, so the pooled path really runs; each result is
compared with the one-thread result of the same call (DQ_THREADS=1).
"""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import pytest

from dq_platform.contract import load_contracts
from dq_platform.demo.sample_data import generate
from dq_platform.engine import parallel, rules
from dq_platform.engine.masking import MaskingKey, mask_frame
from dq_platform.engine.pii import raw_value_echo, scan_frame
from dq_platform.engine.profiling import profile_frame

ROWS = parallel.MIN_ROWS + 10_000


@pytest.fixture(scope="module")
def customers():
    contract = {c.name: c for c in load_contracts()}["customers"]
    table = generate(contract, rows=ROWS, seed=7, bad_fraction=0.05).table
    raw = table.to_pandas(types_mapper=lambda t: pd.StringDtype()).astype("string")
    raw[rules.SOURCE_LINE] = range(2, 2 + len(raw))
    return contract, raw


def both(monkeypatch, fn):
    """fn() with one thread, then with four."""
    monkeypatch.setenv("DQ_THREADS", "1")
    serial = fn()
    monkeypatch.setenv("DQ_THREADS", "4")
    return serial, fn()


def test_width_from_environment(monkeypatch):
    monkeypatch.setenv("DQ_THREADS", "3")
    assert parallel.width() == 3
    monkeypatch.setenv("DQ_THREADS", "0")
    assert parallel.width() == 1
    monkeypatch.setenv("DQ_THREADS", "many")
    with pytest.raises(ValueError, match="DQ_THREADS must be a whole number"):
        parallel.width()


def test_map_columns_keeps_order_and_uses_threads_only_for_large_frames(monkeypatch):
    monkeypatch.setenv("DQ_THREADS", "4")
    seen: list[str] = []

    def name_of_thread(i: int) -> tuple[int, str]:
        seen.append(threading.current_thread().name)
        return i, threading.current_thread().name

    big = parallel.map_columns(name_of_thread, range(8), rows=parallel.MIN_ROWS)
    assert [i for i, _ in big] == list(range(8))
    assert all(name.startswith("dq-columns") for _, name in big)
    small = parallel.map_columns(name_of_thread, range(8), rows=parallel.MIN_ROWS - 1)
    assert {name for _, name in small} == {threading.current_thread().name}


def test_map_columns_raises_the_columns_error(monkeypatch):
    monkeypatch.setenv("DQ_THREADS", "2")

    def boom(i: int) -> int:
        if i == 3:
            raise KeyError("column 3")
        return i

    with pytest.raises(KeyError, match="column 3"):
        parallel.map_columns(boom, range(6), rows=parallel.MIN_ROWS)


def test_rules_same_split_with_threads(customers, monkeypatch):
    contract, raw = customers
    today = pd.Timestamp("2025-06-01")
    serial, pooled = both(monkeypatch, lambda: rules.evaluate(raw, contract, today=today))
    assert serial.failures == pooled.failures and serial.failures  # the sample has bad rows
    pd.testing.assert_frame_equal(serial.cleaned, pooled.cleaned)
    pd.testing.assert_frame_equal(serial.quarantine, pooled.quarantine)


def test_masking_and_pii_scan_same_with_threads(customers, monkeypatch):
    contract, raw = customers
    cleaned = rules.evaluate(raw, contract, today=pd.Timestamp("2025-06-01")).cleaned
    key = MaskingKey("parallel-test-key-0123456789")
    serial, pooled = both(monkeypatch, lambda: mask_frame(cleaned, contract, key, dt.date(2025, 1, 1)))
    pd.testing.assert_frame_equal(serial, pooled)
    # the scan finds the raw PII in the cleaned frame and nothing in the masked one, either way
    scans = both(
        monkeypatch, lambda: (scan_frame(cleaned), scan_frame(pooled), raw_value_echo(pooled, cleaned, contract))
    )
    assert scans[0] == scans[1]
    found_in_cleaned, found_in_masked, echoes = scans[1]
    assert found_in_cleaned.get("email", {}).get("email", 0) > 0
    assert found_in_masked == {} and echoes == {}


def test_profile_same_with_threads(customers, monkeypatch):
    contract, raw = customers
    serial, pooled = both(monkeypatch, lambda: profile_frame(raw, contract, "raw").to_dict())
    assert serial == pooled
