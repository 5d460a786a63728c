"""Per-run reports: the execution report (JSON + markdown), check results (JSON), quarantine extract.

Built from Dagster's run storage after a dataset run, written under the warehouse with
timestamped names (`reports/<dataset>/<name>_<YYYYMMDD_HHMMSS>.<ext>`, `quarantine/<dataset>/...`),
encrypted with the platform's SSE settings on S3. Their URIs go into the run's tags (`dq/report/*`),
so the run page links its reports. The quarantine extract holds raw values: it stays inside the
warehouse (the trust zone); nothing of its content goes to logs or metadata.
"""

import datetime as dt
import io
import json
from pathlib import Path

import dagster as dg

from .storage import Warehouse, upload

REPORT_TAG = "dq/report/"


def _put(uri: str, data: bytes) -> str:
    if uri.startswith("s3://"):
        upload(io.BytesIO(data), uri)
    else:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        Path(uri).write_bytes(data)
    return uri


def _plain(value):
    value = getattr(value, "value", value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def run_summary(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Status, timing, source, materializations (metadata) and check results of one run."""
    run = instance.get_run_by_id(run_id)
    stats = instance.get_run_stats(run_id)
    materializations, checks, failures = [], [], []
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            materializations.append({
                "asset": mat.asset_key.to_user_string(), "partition": mat.partition,
                "metadata": {k: _plain(v) for k, v in mat.metadata.items() if not k.startswith("dagster/")}})
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            c = ev.event_specific_data
            checks.append({"asset": c.asset_key.to_user_string(), "check": c.check_name, "passed": c.passed,
                           "severity": c.severity.value, "description": c.description,
                           "metadata": {k: _plain(v) for k, v in c.metadata.items()}})
        elif ev.event_type_value == "STEP_FAILURE":
            failures.append({"step": ev.step_key, "error": ev.event_specific_data.error.message.strip().splitlines()[0]})
    iso = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat() if t else None  # noqa: E731
    return {"run_id": run_id, "job": run.job_name, "status": run.status.value,
            "partition": run.tags.get("dagster/partition"), "dataset": run.tags.get("dq/dataset"),
            "source": {k.removeprefix("dq/"): v for k, v in run.tags.items() if k in ("dq/source_uri", "dq/checksum", "dq/size")},
            "started": iso(stats.start_time), "ended": iso(stats.end_time),
            "materializations": materializations, "checks": checks, "failures": failures}


def to_markdown(s: dict) -> str:
    lines = [f"# {s['dataset']} run {s['run_id']}", "",
             f"- status: **{s['status']}**", f"- partition: `{s['partition']}`",
             f"- source: `{s['source'].get('source_uri', '-')}` (sha256 {s['source'].get('checksum', '-')})",
             f"- started: {s['started']}  ended: {s['ended']}", "", "## Checks", "",
             "| asset | check | result | severity | description |", "|---|---|---|---|---|"]
    lines += [f"| {c['asset']} | {c['check']} | {'passed' if c['passed'] else 'FAILED'} | {c['severity']} "
              f"| {(c['description'] or '').replace('|', '/')} |" for c in s["checks"]]
    lines += ["", "## Tables written", ""]
    lines += [f"- {m['asset']}: " + ", ".join(f"{k}={v}" for k, v in m["metadata"].items()
                                               if isinstance(v, (int, float)) and not isinstance(v, bool))
              for m in s["materializations"]]
    if s["failures"]:
        lines += ["", "## Failures", ""] + [f"- {f['step']}: {f['error']}" for f in s["failures"]]
    return "\n".join(lines) + "\n"


def write_reports(instance: dg.DagsterInstance, run_id: str, warehouse: Warehouse) -> dict[str, str]:
    """Write the run's reports (and quarantine extract) and tag the run with their URIs."""
    s = run_summary(instance, run_id)
    dataset = s["dataset"] or s["job"]
    ended = dt.datetime.fromisoformat(s["ended"]) if s["ended"] else dt.datetime.now(dt.timezone.utc)
    stamp = f"{run_id[:8]}_{ended:%Y%m%d_%H%M%S}"
    root = warehouse.root.rstrip("/") if warehouse.is_remote else str(Path(warehouse.root).resolve())
    base = f"{root}/reports/{dataset}"
    uris = {"json": f"{base}/run_report_{stamp}.json", "markdown": f"{base}/run_report_{stamp}.md",
            "checks": f"{base}/check_results_{stamp}.json"}
    _put(uris["json"], json.dumps(s, indent=2, default=str).encode())
    _put(uris["markdown"], to_markdown(s).encode())
    _put(uris["checks"], json.dumps(s["checks"], indent=2, default=str).encode())
    table = f"quarantine_{dataset}"
    if s["partition"] and warehouse.table(table) is not None:
        held = warehouse.read(table, s["partition"])
        if len(held):
            uris["quarantine"] = _put(f"{root}/quarantine/{dataset}/quarantine_{stamp}.csv",
                                      held.to_csv(index=False).encode())
    instance.add_run_tags(run_id, {f"{REPORT_TAG}{k}": v for k, v in uris.items()})
    return uris


def _report_if_missing(context: dg.RunStatusSensorContext, warehouse: Warehouse) -> None:
    run = context.dagster_run
    if not run.job_name.endswith("_pipeline") or f"{REPORT_TAG}json" in run.tags:
        return  # not a dataset run, or its launcher (CLI, demo) already wrote the reports
    uris = write_reports(context.instance, run.run_id, warehouse)
    context.log.info(f"reports for run {run.run_id}: {', '.join(uris)}")


# Runs the daemon launches (landing sensors, the UI) get their reports from these two sensors.
@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="dq_reports_after_success",
                      default_status=dg.DefaultSensorStatus.RUNNING)
def reports_after_success(context: dg.RunStatusSensorContext, warehouse: Warehouse):
    _report_if_missing(context, warehouse)


@dg.run_failure_sensor(name="dq_reports_after_failure", default_status=dg.DefaultSensorStatus.RUNNING)
def reports_after_failure(context: dg.RunFailureSensorContext, warehouse: Warehouse):
    _report_if_missing(context, warehouse)
