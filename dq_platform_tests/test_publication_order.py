"""Finding 3 of issue 17: concurrent runs of one dataset never publish an older gold over a newer one.

Gold is recomputed whole from masked. A run that computed its gold before another run's masked
write landed must not commit after that run's newer gold (io/warehouse.write_ordered).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from dq_platform.io.warehouse import Warehouse, recorded_sources, source_order
from dq_platform_tests.crash import CliProject, gold_matches_masked


def test_source_order_rule():
    assert source_order({"m": 5}, {}) == "newer"
    assert source_order({"m": 5}, {"m": 5}) == "newer"  # same inputs: a rerun may publish again
    assert source_order({"m": 4}, {"m": 5}) == "older"
    assert source_order({"m": 6, "d": 1}, {"m": 5, "d": 2}) == "mixed"


def test_an_older_result_is_never_committed_over_a_newer_one(tmp_path):
    wh = Warehouse(root=str(tmp_path))
    frame = pa.table({"n": [2]}).to_pandas()
    assert not wh.write("gold", frame, partition=None, run_id="b", sources={"masked": 7}).skipped
    stale = wh.write("gold", frame.assign(n=1), partition=None, run_id="a", sources={"masked": 6})
    assert stale.skipped and "newer sources" in stale.skipped
    assert wh.read("gold")["n"].tolist() == [2]
    assert recorded_sources(wh.table("gold")) == {"masked": 7}
    assert not wh.write("gold", frame.assign(n=3), partition=None, run_id="c", sources={"masked": 8}).skipped
    assert wh.read("gold")["n"].tolist() == [3] and wh.table("gold").version() == 1


def test_a_run_paused_before_its_gold_write_does_not_publish_stale_gold(tmp_path):
    """Run A computes gold from masked holding A only, then waits; run B ingests a second file
    end to end; A goes on. Without the ordering rule A's gold (one file) replaced B's (two files)."""
    project = CliProject(tmp_path)
    first, second = project.files("customers", 2, rows=60, seed=11)
    point = "write:customers_by_age_band:begin"
    a = project.start("ingest", str(first), fault=point, action="pause")
    project.wait_reached(point, a)
    code, out = project.run("ingest", str(second))
    assert code == 0, out
    project.release(point)
    out_a, _ = a.communicate(timeout=600)
    assert a.returncode == 0, out_a
    wh = project.warehouse
    assert sorted(k.split("@")[0] for k in wh.row_counts("masked_customers")) == [first.name, second.name]
    assert gold_matches_masked(wh, project.contracts["customers"]) == []


def concurrent_ingests(project: CliProject, n: int, seed: int) -> None:
    files = project.files("customers", n, rows=100, seed=seed)
    procs = [project.start("ingest", str(f)) for f in files]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, "\n".join(o[-2000:] for o in outs)
    assert all("SUCCESS" in o for o in outs), outs


def test_four_concurrent_ingests_leave_gold_equal_to_masked(tmp_path):
    project = CliProject(tmp_path)
    concurrent_ingests(project, 4, seed=20)
    wh = project.warehouse
    assert len(wh.row_counts("masked_customers")) == 4
    assert gold_matches_masked(wh, project.contracts["customers"]) == []


@pytest.mark.slow
def test_concurrent_ingests_in_a_loop_always_leave_gold_equal_to_masked(tmp_path):
    """Four rounds of four ingests at once on one project: after every round, gold = masked."""
    project = CliProject(tmp_path)
    for round_ in range(4):
        concurrent_ingests(project, 4, seed=100 + round_)
        wh = project.warehouse
        assert len(wh.row_counts("masked_customers")) == 4 * (round_ + 1)
        assert gold_matches_masked(wh, project.contracts["customers"]) == [], f"round {round_}"
