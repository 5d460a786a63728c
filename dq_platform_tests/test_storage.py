"""The Delta warehouse: partition replacement, multi-partition reads, commit metadata."""

from __future__ import annotations

import pandas as pd

from dq_platform.io.warehouse import Warehouse


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


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": pd.array(["x", None, "zé"], dtype="string"),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "born": pd.to_datetime(["2020-01-01", None, "2021-02-03"]),
            "income": [1.5, 2.0, None],
            "ok": pd.array([True, None, False], dtype="boolean"),
            "ts": pd.to_datetime(["2020-01-01 10:00", None, "2021-02-03 11:00"], utc=True),
        }
    )
