"""The Delta warehouse: partition replacement, multi-partition reads, commit metadata."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from dq_platform.io.warehouse import HANDOFF, Handoff, Warehouse


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


def test_a_handed_off_partition_reads_exactly_as_its_delta_scan(tmp_path):
    """What the next step of an in-process run gets from memory equals the Delta scan: the table's
    merged schema and order (another file's extra column as nulls), dtypes, a column subset."""
    w = Warehouse(root=str(tmp_path))
    w.write("t", typed_frame().assign(extra="e"), partition="other", run_id="r0", date_columns=["born"])
    HANDOFF.clear()
    w.write("t", typed_frame(), partition="p", run_id="r1", date_columns=["born"], hand_off=True)
    uri = w.table_uri("t")

    def version():
        dt = w.table("t")
        return dt.metadata().id, dt.version()

    assert HANDOFF.get(uri, "p", version()) is not None
    for columns in (None, ["income", "name", "extra"]):
        from_memory = w.read("t", partition="p", columns=columns)
        HANDOFF.clear()
        from_delta = w.read("t", partition="p", columns=columns)
        pd.testing.assert_frame_equal(from_memory, from_delta)
        w.write("t", typed_frame(), partition="p", run_id="r1", date_columns=["born"], hand_off=True)
    # a later commit by anyone else (here: another partition) makes the held version stale
    held_version = version()
    w.write("t", frame(1).rename(columns={"x": "n"}), partition="q", run_id="r2")
    assert HANDOFF.get(uri, "p", version()) is None
    assert HANDOFF.get(uri, "p", held_version) is not None
    assert len(w.read("t", partition="p")) == 3
    # the same path and version number in a table created anew: another table, not served
    import shutil

    shutil.rmtree(uri)
    for key in ("p", "x", "y", "z"):  # versions 0..3 again
        w.write("t", typed_frame().head(1), partition=key, run_id="r3", date_columns=["born"])
    assert version()[1] == held_version[1] and version() != held_version
    assert len(w.read("t", partition="p")) == 1


def test_the_handoff_keeps_only_the_newest_tables():
    h = Handoff(capacity=2)
    for i in range(3):
        h.put("uri", str(i), 1, pa.table({"x": [i]}))
    assert h.get("uri", "0", 1) is None and h.get("uri", "2", 1) is not None
    assert h.get("uri", "2", 2) is None  # another version: never served
