"""The Delta warehouse: partition replacement, multi-partition reads, commit metadata."""

from __future__ import annotations

import pandas as pd

from dq_platform.storage import Warehouse


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(range(n), dtype="Int64")})


def test_partitions_replace_and_read_alone_or_together(tmp_path):
    w = Warehouse(root=str(tmp_path))
    for key, n in [("a", 2), ("b", 3), ("c", 4)]:
        w.write("t", frame(n), partition=key, run_id=f"run-{key}")
    w.write("t", frame(5), partition="a", run_id="run-a2")  # replaces, never appends
    assert w.row_counts("t") == {"a": 5, "b": 3, "c": 4}
    assert len(w.read("t", partition="b")) == 3
    both = w.read("t", partition=["a", "c"])
    assert len(both) == 9 and set(both["_partition"]) == {"a", "c"}
    assert len(w.read("t")) == 12
    assert w.last_commit("t", "a")["dagster_run_id"] == "run-a2"
