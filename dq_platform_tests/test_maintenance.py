"""Maintenance: compaction / Z-order and vacuum on real Delta tables, as the dataset's Dagster job."""

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from dq_platform.contract import CONTRACTS_DIR, ContractError, Maintenance, parse_contract
from dq_platform.defs.maintenance import maintain, sizes, vacuum
from dq_platform.defs.versions import list_versions, read_as_of
from dq_platform.io.warehouse import Warehouse


def frame(values) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(values, dtype="Int64")})


def three_versions(w: Warehouse, table: str) -> None:
    for i in range(3):
        w.write(table, frame([i] * (i + 1)), partition=None, run_id=f"run-{i}", extra_metadata={"dq_gates": "passed"})


def test_vacuum_keeps_what_retention_needs_and_never_skips_the_check(tmp_path):
    w = Warehouse(root=str(tmp_path))
    three_versions(w, "masked_t")
    with pytest.raises(Exception, match="minimum retention for vacuum is configured to be greater than 168 hours"):
        vacuum(w, "masked_t", 1, run_id="m")  # shorter than the table's 7-day retention: Delta refuses
    assert vacuum(w, "masked_t", 168, run_id="m") == []  # every old version is inside 168 h
    assert read_as_of(w, "masked_t", 0)["x"].tolist() == [0]
    assert sizes(w, "masked_t")["stored_files"] == 3
    # a table whose owner allows zero retention: the two superseded files go, the current one stays
    w.table("masked_t").alter.set_table_properties({"delta.deletedFileRetentionDuration": "interval 0 hours"})
    assert len(vacuum(w, "masked_t", 0, run_id="m")) == 2
    assert w.read("masked_t")["x"].tolist() == [2, 2, 2]
    assert sizes(w, "masked_t")["stored_files"] == 1
    with pytest.raises(Exception):  # noqa: B017 - whichever error deltalake raises for a vacuumed version
        read_as_of(w, "masked_t", 0)


def test_optimize_compacts_and_zorders_keeping_data_gates_and_run_id(tmp_path):
    w = Warehouse(root=str(tmp_path))
    w.write(
        "cleaned_t",
        pd.DataFrame({"k": pd.Series([9], dtype="Int64"), "x": frame([0])["x"]}),
        partition=None,
        run_id="run-0",
        extra_metadata={"dq_gates": "passed"},
    )
    for i in range(1, 4):  # three small appends -> four files
        write_deltalake(
            w.table_uri("cleaned_t"),
            pd.DataFrame({"k": pd.Series([9 - i], dtype="Int64"), "x": pd.Series([i], dtype="Int64")}),
            mode="append",
        )
    before = sizes(w, "cleaned_t")
    assert before["table_files"] == 4
    meta = maintain(w, "cleaned_t", Maintenance(zorder=["k", "not_here"]), run_id="maint-run")
    assert (meta["table_files_before"], meta["table_files_after"]) == (4, 1)
    assert (meta["files_removed_by_optimize"], meta["files_added_by_optimize"]) == (4, 1)
    assert meta["stored_files_after"] == 5 and meta["files_deleted_by_vacuum"] == 0  # old files inside retention
    assert meta["table_bytes_before"] == before["table_bytes"] and meta["table_bytes_after"] > 0
    assert meta["zorder_columns"] == "k"
    assert w.read("cleaned_t")["k"].tolist() == [6, 7, 8, 9]  # rewritten in k order (one column: a sort)
    ops = {v.operation: v for v in list_versions(w, "cleaned_t")}
    assert ops["OPTIMIZE"].run_id == "maint-run" and ops["OPTIMIZE"].gates == "passed"


def test_maintenance_section_errors_name_file_and_line():
    base = (CONTRACTS_DIR / "customers.yaml").read_text().split("\nmaintenance:")[0].rstrip("\n")
    n = len(base.splitlines())

    def error(section: str) -> str:
        with pytest.raises(ContractError) as e:
            parse_contract(base + "\nmaintenance:\n" + section, "customers.yaml")
        return str(e.value)

    assert (
        error("  zorder: [customer_id, nope]\n")
        == f"customers.yaml:{n + 1}: maintenance: zorder names unknown column(s): nope"
    )
    assert error("  schedule: every day\n").startswith(
        f"customers.yaml:{n + 2}: maintenance.schedule: 'every day' is not a cron expression"
    )
    assert error("  vacuum_retention_hours: 0\n").startswith(
        f"customers.yaml:{n + 2}: maintenance.vacuum_retention_hours"
    )
    assert parse_contract(base, "customers.yaml").maintenance is None


@pytest.mark.slow
def test_maintenance_job_after_a_pipeline_run(project, instance):
    from .test_pipeline import customer_frame

    out = project.ingest(instance, "customers", project.write_csv("customers/m.csv", customer_frame(40, bad=2)))
    assert out.success, out.error
    job = project.defs.resolve_job_def("customers_maintenance")
    result = job.execute_in_process(instance=instance)
    assert result.success
    observed = {}
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_OBSERVATION":
            obs = ev.event_specific_data.asset_observation
            observed[obs.asset_key.path[-1]] = {k: v.value for k, v in obs.metadata.items()}
    assert {
        "raw_customers",
        "cleaned_customers",
        "quarantine_customers",
        "masked_customers",
        "customers_by_status",
    } <= set(observed)
    masked = observed["masked_customers"]
    assert masked["dq/maintenance/stored_bytes_before"] > 0 and masked["dq/maintenance/stored_bytes_after"] > 0
    assert masked["dq/maintenance/vacuum_retention_hours"] == 168
    versions = list_versions(project.wh(), "masked_customers")
    assert {v.run_id for v in versions if v.operation == "OPTIMIZE"} == {result.run_id}
    assert all(v.gates == "passed" for v in versions)  # maintenance versions stay eligible rollback targets
    assert project.wh().read("masked_customers").shape[0] == out.rows["masked"]
    schedule = project.defs.resolve_schedule_def("customers_maintenance_schedule")
    assert schedule.cron_schedule == "0 3 * * 0" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_vacuum_removes_uncommitted_files_once_older_than_retention(tmp_path):
    """Issue 17, finding 5: a writer that dies (or loses a commit race) after writing its data
    files leaves them in the table folder, referenced by no version. Vacuum removes them, but only
    once they are older than the retention (a younger one may be a write still in flight)."""
    import os
    import time
    from pathlib import Path

    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable

    w = Warehouse(root=str(tmp_path))
    w.write("masked_t", frame([1, 2]), partition="a.csv@1", run_id="r1")
    w.write("masked_t", frame([3]), partition="b.csv@2", run_id="r2")
    # a real uncommitted file: a write against an old snapshot whose commit is refused
    stale = DeltaTable(w.table_uri("masked_t"), version=0)
    with pytest.raises(Exception, match="[Cc]ommit"):
        write_deltalake(
            stale,
            pa.table({"x": pa.array([9], pa.int64()), "_partition": ["a.csv@1"]}),
            mode="append",
            commit_properties=CommitProperties(max_commit_retries=0),
        )
    table_dir = Path(w.table_uri("masked_t"))
    referenced = {str(table_dir / f) for f in w.table("masked_t").file_uris()} | set(w.table("masked_t").file_uris())
    strays = [p for p in table_dir.rglob("*.parquet") if str(p) not in referenced]
    assert len(strays) == 1, strays
    before = w.read("masked_t").sort_values("x")["x"].tolist()

    assert vacuum(w, "masked_t", 168, run_id="m") == []  # young: could be a write in flight, kept
    assert strays[0].exists()
    old = time.time() - 8 * 24 * 3600
    os.utime(strays[0], (old, old))
    removed = vacuum(w, "masked_t", 168, run_id="m")
    assert len(removed) == 1 and not strays[0].exists()
    assert w.read("masked_t").sort_values("x")["x"].tolist() == before == [1, 2, 3]
    assert sizes(w, "masked_t")["stored_files"] == 2


def test_tables_checkpoint_every_ten_commits_and_maintenance_gives_older_tables_that_too(tmp_path):
    """Opening a table replays its JSON commits since the last checkpoint: every table the platform
    creates (a partition write, a whole-table write, a staged commit) checkpoints every 10 commits;
    a table created before that gets the property from the maintenance job, once."""
    from pathlib import Path

    from dq_platform.io import staging

    w = Warehouse(root=str(tmp_path))
    for i in range(11):
        w.write("raw_t", frame([i]), partition=f"p{i % 3}", run_id=f"run-{i}")
        w.write("gold_t", frame([i]), partition=None, run_id=f"run-{i}")
    uri = w.table_uri("staged_t")
    for i in range(11):
        data = pa.table({"x": pa.array([i], pa.int64())})
        staged = [staging.stage(uri, data, partition="p", run_id=f"run-s{i:02d}-x", chunk=0)]
        staging.commit_partition(
            uri, staged, data.schema, partition="p", metadata={}, storage_options=None, table_name="staged_t"
        )
    for table in ("raw_t", "gold_t", "staged_t"):
        dt = w.table(table)
        assert dt.metadata().configuration == staging.TABLE_PROPERTIES, table
        assert dt.version() >= 10 and (Path(w.table_uri(table)) / "_delta_log" / "_last_checkpoint").exists(), table

    write_deltalake(w.table_uri("old_t"), frame([1]), mode="overwrite")  # as a table made before the property
    assert "delta.checkpointInterval" not in w.table("old_t").metadata().configuration
    meta = maintain(w, "old_t", Maintenance(), run_id="maint-run")
    assert meta["checkpoint_interval_set"] is True
    assert w.table("old_t").metadata().configuration == staging.TABLE_PROPERTIES
    assert maintain(w, "old_t", Maintenance(), run_id="maint-run")["checkpoint_interval_set"] is False
    assert w.read("old_t")["x"].tolist() == [1]
