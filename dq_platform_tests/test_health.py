"""platform_health: KPIs computed from the run storage after real runs, published as metadata."""

from __future__ import annotations

import dagster as dg
import pytest

from dq_platform_tests.test_pipeline import customer_frame

pytestmark = pytest.mark.slow


def _metadata(result) -> dict:
    [mat] = result.asset_materializations_for_node("platform_health")
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def test_health_kpis_from_a_passing_and_a_held_run(project, instance):
    ok = project.ingest(instance, "customers", project.write_csv("customers/ok.csv", customer_frame(40, bad=2)))
    held = project.ingest(
        instance, "customers", project.write_csv("customers/held.csv", customer_frame(60, start=100, bad=30))
    )
    assert ok.success and not held.success
    job = project.defs.resolve_job_def("platform_health_job")
    result = job.execute_in_process(instance=instance)
    assert result.success
    meta = _metadata(result)

    assert meta["runs"] == 2  # the health run itself is no dataset's run
    assert meta["success_rate"] == 0.5 and meta["customers/success_rate"] == 0.5
    passed = len(ok.checks) + sum(p for _, _, p, _ in held.checks)
    assert meta["check_pass_rate"] == pytest.approx(passed / (passed + 1))
    assert meta["customers/rows_per_day"] == 100.0  # 40 + 60 rows in, platform younger than a day
    assert meta["customers/mean_duration_s"] > 0
    assert meta["open_failures"] == 1 and meta["customers/open_failures"] == 1
    assert (
        meta["open_check_failures"]
        == f"- customers: cleaned_customers.failure_rate_within_threshold [{held.partition}]"
    )
    assert "sales_transactions/success_rate" not in meta  # no run yet: no rate, not 0
    table = meta["kpis"]
    assert "| customers | 2 | 50.0% | FAILURE (" in table
    assert "| sales_transactions | 0 | - | - (-) |" in table
    assert "| **overall** | 2 | 50.0% |" in table

    # A later materialization sees the same runs (its own run is not counted) and Dagster keeps
    # each value as a point of the KPI's plot.
    again = _metadata(job.execute_in_process(instance=instance))
    assert again["runs"] == 2
    records = instance.fetch_materializations(dg.AssetKey("platform_health"), limit=10).records
    assert len(records) == 2


def test_health_is_refreshed_by_a_running_schedule_and_is_in_no_dataset_job(project):
    schedule = project.defs.resolve_schedule_def("platform_health_schedule")
    assert schedule.job_name == "platform_health_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for job in ("customers_pipeline", "sales_transactions_pipeline"):
        keys = project.defs.resolve_job_def(job).asset_layer.asset_graph.executable_asset_keys
        assert dg.AssetKey("platform_health") not in keys


def test_hourly_history_check_runs_do_not_dilute_the_check_pass_rate(project, instance):
    """24 monitoring runs a day judge the history checks again; the pass rate stays per file."""
    held = project.ingest(
        instance, "customers", project.write_csv("customers/held.csv", customer_frame(60, start=100, bad=30))
    )
    assert not held.success
    health = project.defs.resolve_job_def("platform_health_job")
    before = _metadata(health.execute_in_process(instance=instance))
    monitoring = project.defs.resolve_job_def("customers_history_checks")
    for _ in range(3):
        run = monitoring.execute_in_process(instance=instance, raise_on_error=False)
        assert any(e.event_type_value == "ASSET_CHECK_EVALUATION" for e in run.all_events)
    after = _metadata(health.execute_in_process(instance=instance))
    assert after["check_pass_rate"] == before["check_pass_rate"] < 1
    assert after["customers/check_pass_rate"] == before["customers/check_pass_rate"]
    assert after["runs"] == before["runs"] == 1
