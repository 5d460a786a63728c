"""Health KPIs of the platform, computed from Dagster's run storage (the audit log).

`platform_health` reads run records, raw materializations and check evaluations of a recent
window and publishes them as metadata: a markdown table for people, and one float per KPI so
Dagster plots each over time. A schedule refreshes it; it belongs to no dataset's job.
"""

import datetime as dt
import time

import dagster as dg

from dq_platform import names

HEALTH_GROUP = "dq_platform"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
_PAGE = 1000


class HealthConfig(dg.Config):
    window_days: float = 30.0


def _check_history(instance: dg.DagsterInstance, key: dg.AssetCheckKey, since_ts: float) -> list:
    """Completed evaluations of one check since the window start, newest first (paged)."""
    from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

    out, cursor = [], None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=_PAGE, cursor=cursor, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
        )
        fresh = [r for r in page if r.create_timestamp >= since_ts]
        out += fresh
        if len(page) < _PAGE or len(fresh) < len(page):
            return out
        cursor = page[-1].id


def _rows_in(instance: dg.DagsterInstance, dataset: str, since_ts: float) -> int:
    """Rows received by raw_<dataset> since the window start, from materialization metadata."""
    total, cursor = 0, None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(names.raw(dataset)), after_timestamp=since_ts),
            limit=_PAGE,
            cursor=cursor,
        )
        for rec in result.records:
            value = rec.asset_materialization.metadata.get("rows_in") if rec.asset_materialization else None
            total += int(getattr(value, "value", value) or 0)
        if not result.has_more:
            return total
        cursor = result.cursor


def compute_health(
    instance: dg.DagsterInstance,
    checks_by_dataset: dict[str, list[dg.AssetCheckKey]],
    window_days: float,
    now: float | None = None,
) -> dict:
    """KPIs per dataset and overall over the last `window_days` (plain numbers, for tests and metadata)."""
    now = now or time.time()
    since_ts = now - window_days * 86400
    since = dt.datetime.fromtimestamp(since_ts, dt.UTC)
    per: dict[str, dict] = {}
    for dataset, check_keys in sorted(checks_by_dataset.items()):
        # the dataset's pipeline runs only: its maintenance job carries the dataset tag too
        records = instance.get_run_records(
            filters=dg.RunsFilter(
                job_name=names.pipeline_job(dataset), tags={names.DATASET_TAG: dataset}, created_after=since
            )
        )
        finished = [r for r in records if r.dagster_run.status in FINISHED]
        succeeded = sum(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in finished)
        durations = [r.end_time - r.start_time for r in finished if r.start_time and r.end_time]
        first = min((r.create_timestamp.timestamp() for r in records), default=now)
        days = max((now - first) / 86400, 1.0)  # a platform younger than the window is not diluted
        passed = failed = 0
        open_failures = []
        history = {key: _check_history(instance, key, since_ts) for key in check_keys}
        # In-body check evaluations carry no partition: the run's partition tag says which file.
        partition_of = {r.dagster_run.run_id: r.dagster_run.tags.get(names.PARTITION_TAG) for r in records}
        missing = list({rec.run_id for recs in history.values() for rec in recs} - set(partition_of))
        # The hourly history-check runs judge the same checks 24 times a day: their evaluations can
        # open (and close) a failure but do not count in the pass rate, which is per file.
        monitoring = set()
        for i in range(0, len(missing), _PAGE):
            for r in instance.get_run_records(filters=dg.RunsFilter(run_ids=missing[i : i + _PAGE])):
                partition_of[r.dagster_run.run_id] = r.dagster_run.tags.get(names.PARTITION_TAG)
                if names.is_monitoring(r.dagster_run.tags, r.dagster_run.job_name):
                    monitoring.add(r.dagster_run.run_id)
        for key, recs in history.items():
            latest_by_partition = {}
            for rec in recs:
                ok = rec.status.value == "SUCCEEDED"
                if rec.run_id not in monitoring:
                    passed, failed = passed + ok, failed + (not ok)
                partition = rec.partition or partition_of.get(rec.run_id)
                latest_by_partition.setdefault(partition, ok)  # newest first
            open_failures += [
                f"{key.asset_key.to_user_string()}.{key.name}" + (f" [{p}]" if p else "")
                for p, ok in latest_by_partition.items()
                if not ok
            ]
        per[dataset] = {
            "runs": len(records),
            "finished": len(finished),
            "succeeded": succeeded,
            "success_rate": succeeded / len(finished) if finished else None,
            "last_status": records[0].dagster_run.status.value if records else "-",
            "last_run_at": records[0].create_timestamp.isoformat(timespec="seconds") if records else "-",
            "mean_duration_s": sum(durations) / len(durations) if durations else None,
            "rows_per_day": _rows_in(instance, dataset, since_ts) / days,
            "checks_passed": passed,
            "checks_failed": failed,
            "check_pass_rate": passed / (passed + failed) if passed + failed else None,
            "open_failures": sorted(open_failures),
        }
    finished = sum(p["finished"] for p in per.values())
    checks = sum(p["checks_passed"] + p["checks_failed"] for p in per.values())
    overall = {
        "runs": sum(p["runs"] for p in per.values()),
        "success_rate": sum(p["succeeded"] for p in per.values()) / finished if finished else None,
        "check_pass_rate": sum(p["checks_passed"] for p in per.values()) / checks if checks else None,
        "open_failures": sum(len(p["open_failures"]) for p in per.values()),
        "rows_per_day": sum(p["rows_per_day"] for p in per.values()),
    }
    return {"window_days": window_days, "datasets": per, "overall": overall}


def _pct(v) -> str:
    return "-" if v is None else f"{v:.1%}"


def health_metadata(health: dict) -> dict:
    rows = [
        "| dataset | runs | success rate | last run | mean duration | rows/day | check pass rate | open failures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in health["datasets"].items():
        mean = "-" if p["mean_duration_s"] is None else f"{p['mean_duration_s']:.1f}s"
        rows.append(
            f"| {name} | {p['runs']} | {_pct(p['success_rate'])} | {p['last_status']} ({p['last_run_at']}) "
            f"| {mean} | {p['rows_per_day']:.0f} | {_pct(p['check_pass_rate'])} | {len(p['open_failures'])} |"
        )
    o = health["overall"]
    rows.append(
        f"| **overall** | {o['runs']} | {_pct(o['success_rate'])} | | | {o['rows_per_day']:.0f} "
        f"| {_pct(o['check_pass_rate'])} | {o['open_failures']} |"
    )
    opened = [f"- {name}: {f}" for name, p in health["datasets"].items() for f in p["open_failures"]]
    meta = {
        "kpis": dg.MetadataValue.md("\n".join(rows)),
        "open_check_failures": dg.MetadataValue.md("\n".join(opened) or "None."),
        "window_days": float(health["window_days"]),
        "runs": o["runs"],
        "open_failures": o["open_failures"],
        "rows_per_day": float(o["rows_per_day"]),
    }
    # floats only when defined: Dagster plots each numeric key over the asset's materializations
    for key in ("success_rate", "check_pass_rate"):
        if o[key] is not None:
            meta[key] = float(o[key])
    for name, p in health["datasets"].items():
        for key in ("success_rate", "check_pass_rate", "mean_duration_s"):
            if p[key] is not None:
                meta[f"{name}/{key}"] = float(p[key])
        meta[f"{name}/rows_per_day"] = float(p["rows_per_day"])
        meta[f"{name}/open_failures"] = len(p["open_failures"])
    return meta


def build_health(checks_by_dataset: dict[str, list[dg.AssetCheckKey]], cron: str = "0 * * * *") -> dg.Definitions:
    """The platform_health asset, its own job, and the schedule that refreshes it."""

    @dg.asset(
        key="platform_health",
        group_name=HEALTH_GROUP,
        kinds={"dagster"},
        description="Platform KPIs from Dagster's run storage (the audit log): success rate per dataset "
        "and overall, last run status, mean duration, rows per day, check pass rate and "
        "open (latest evaluation failed) check failures over a recent window. Refreshed hourly by "
        "platform_health_schedule; `dq-platform ui` materializes it at start when it never was, and "
        "'Materialize' here refreshes it now.",
    )
    def platform_health(context: dg.AssetExecutionContext, config: HealthConfig) -> dg.MaterializeResult:
        health = compute_health(context.instance, checks_by_dataset, config.window_days)
        return dg.MaterializeResult(metadata=health_metadata(health))

    job = dg.define_asset_job(
        names.HEALTH_JOB,
        selection=[platform_health],
        tags={names.KIND_TAG: names.HEALTH_KIND},
        description="Refresh platform_health from the run storage.",
    )
    schedule = dg.ScheduleDefinition(
        name="platform_health_schedule", job=job, cron_schedule=cron, default_status=dg.DefaultScheduleStatus.RUNNING
    )
    return dg.Definitions(assets=[platform_health], jobs=[job], schedules=[schedule])
