"""Maintenance: compaction / Z-order and vacuum on real Delta tables, as the dataset's Dagster job."""

import dagster as dg
import pandas as pd
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
