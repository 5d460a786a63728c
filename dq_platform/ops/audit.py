"""The audit log, read from Dagster's own run and event storage (SQLite or PostgreSQL).

Nothing here writes: every answer comes from run records (status, times, tags such as the
source file and checksum), materialization metadata (rows per layer), asset check evaluations
and step failure events (errors with tracebacks) that Dagster stored while the run ran.
A page costs one run-storage query plus one indexed event query per run on the page
(`get_records_for_run` filtered by event type), never a scan of the whole event log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import asdict, dataclass, field

import dagster as dg
from dagster import DagsterEventType

from dq_platform import names
from dq_platform.reports.errors import root_cause

_ROW_EVENTS = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.STEP_FAILURE,
}
_DETAIL_EVENTS = _ROW_EVENTS | {DagsterEventType.RUN_FAILURE}
# rows per layer: (asset name prefix, metadata key) -> column
_ROW_METADATA = {
    ("raw_", "rows_in"): "rows_in",
    ("cleaned_", "rows_cleaned"): "rows_cleaned",
    ("cleaned_", "rows_quarantined"): "rows_quarantined",
    ("masked_", "rows_masked"): "rows_published",
}
COLUMNS = [
    "run_id",
    "dataset",
    "partition",
    "source",
    "trigger",
    "status",
    "started",
    "duration_s",
    "rows_in",
    "rows_cleaned",
    "rows_quarantined",
    "rows_published",
    "checks_passed",
    "checks_failed",
    "error",
    "report",
]


class AuditError(ValueError):
    """Bad audit arguments (unknown status, unparseable --since, no such run)."""


@dataclass
class AuditRow:
    run_id: str
    dataset: str
    partition: str
    source: str
    trigger: str
    status: str
    started: str | None
    duration_s: float | None
    rows_in: int | None = None
    rows_cleaned: int | None = None
    rows_quarantined: int | None = None
    rows_published: int | None = None
    checks_passed: int = 0
    checks_failed: int = 0
    error: str | None = None  # the first failed step and the root cause of its error
    report: str | None = None  # the run's HTML execution report (reports.py)


@dataclass
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    severity: str
    description: str | None
    metadata: dict


@dataclass
class RunDetail:
    row: AuditRow
    job: str
    tags: dict
    checksum: str | None
    materializations: list[dict] = field(default_factory=list)  # asset, partition, metadata
    checks: list[CheckOutcome] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # step, message, traceback


# -- arguments ---------------------------------------------------------------------------------


def parse_statuses(values: list[str] | None) -> list[dg.DagsterRunStatus] | None:
    if not values:
        return None
    by_name = {s.value.lower(): s for s in dg.DagsterRunStatus}
    out = []
    for v in values:
        for part in v.split(","):
            status = by_name.get(part.strip().lower())
            if status is None:
                raise AuditError(f"unknown status '{part}': one of {', '.join(sorted(by_name))}")
            out.append(status)
    return out


def parse_since(value: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """'7d', '12h', '30m' ago, or an ISO date/time (UTC when no zone is given)."""
    if not value:
        return None
    now = now or dt.datetime.now(dt.UTC)
    m = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", value)
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        return now - dt.timedelta(**{unit: int(m.group(1))})
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise AuditError(f"--since '{value}': expected e.g. 7d, 12h, 30m or an ISO date such as 2026-11-01") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# -- reading ---------------------------------------------------------------------------------


def trigger_of(tags: dict) -> str:
    """Who or what started the run, from the tags Dagster and dq_platform set."""
    if tags.get(names.SENSOR_TAG):
        return f"sensor:{tags[names.SENSOR_TAG]}"
    if tags.get(names.SCHEDULE_TAG):
        return f"schedule:{tags[names.SCHEDULE_TAG]}"
    if tags.get(names.BACKFILL_TAG):
        return f"backfill:{tags[names.BACKFILL_TAG]}"
    if tags.get(names.TRIGGER_TAG):
        return tags[names.TRIGGER_TAG]
    if tags.get(names.USER_TAG):  # set by deployments that know the user (e.g. Dagster+)
        return f"ui:{tags[names.USER_TAG]}"
    # A launch from the UI (or the Python API) carries none of the tags above.
    return "ui"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _value(v):
    return getattr(v, "value", v)


def _row(record: dg.RunRecord) -> AuditRow:
    run = record.dagster_run
    tags = run.tags
    start, end = record.start_time, record.end_time
    job_dataset = names.dataset_of_pipeline(run.job_name) or run.job_name
    return AuditRow(
        run_id=run.run_id,
        dataset=tags.get(names.DATASET_TAG) or job_dataset,
        partition=tags.get(names.PARTITION_TAG, "-"),
        source=tags.get(names.SOURCE_URI_TAG, "-"),
        trigger=trigger_of(tags),
        status=run.status.value,
        started=_iso(start),
        duration_s=round(end - start, 2) if start and end else None,
        report=tags.get(names.REPORT_HTML_TAG),
    )


def _apply_events(row: AuditRow, records, detail: RunDetail | None = None) -> None:
    held = None  # the first blocking (ERROR) check that failed
    for rec in records:
        event = rec.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            name = mat.asset_key.path[-1]
            for (prefix, key), column in _ROW_METADATA.items():
                if name.startswith(prefix) and key in mat.metadata:
                    setattr(row, column, int(_value(mat.metadata[key])))
            if detail is not None:
                detail.materializations.append(
                    {
                        "asset": mat.asset_key.to_user_string(),
                        "partition": mat.partition,
                        "metadata": {k: _plain(v) for k, v in mat.metadata.items()},
                    }
                )
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            if ev.passed:
                row.checks_passed += 1
            else:
                row.checks_failed += 1
                if held is None and ev.severity == dg.AssetCheckSeverity.ERROR:
                    held = f"{ev.asset_key.to_user_string()}.{ev.check_name}: {ev.description or 'failed'}"
            if detail is not None:
                detail.checks.append(
                    CheckOutcome(
                        asset=ev.asset_key.to_user_string(),
                        check=ev.check_name,
                        passed=ev.passed,
                        severity=ev.severity.value,
                        description=ev.description,
                        metadata={k: _plain(v) for k, v in ev.metadata.items()},
                    )
                )
        elif event.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
            err = getattr(event.event_specific_data, "error", None)
            if event.event_type == DagsterEventType.STEP_FAILURE and row.error is None:
                row.error = f"{event.step_key}: {root_cause(err)}"
            if detail is not None:
                # the run failure repeats its failed step's traceback: keep it only if no step failed
                repeat = event.event_type == DagsterEventType.RUN_FAILURE and detail.failures
                detail.failures.append(
                    {
                        "step": event.step_key or "(run)",
                        "message": event.message or (err.message.strip() if err else ""),
                        "traceback": err.to_string() if err and not repeat else None,
                    }
                )
    if held and row.error and re.search(names.GATE_ERROR_PATTERN, row.error):
        row.error = f"{row.error.split(':', 1)[0]}: held by {held}"  # say which gate, with its numbers


def _plain(v):
    """A metadata value as JSON-friendly data (tables as markdown text)."""
    v = _value(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, dict)):
        return v
    return str(v)


# Scheduled runs that only judge checks or compute KPIs and write no table: the hourly history
# checks of every dataset (24 a day each) and the platform health. They would fill the default page.


def is_monitoring(run: dg.DagsterRun) -> bool:
    return names.is_monitoring(run.tags, run.job_name)


def list_runs(
    instance: dg.DagsterInstance,
    *,
    dataset: str | None = None,
    statuses=None,
    since: dt.datetime | None = None,
    limit: int = 50,
    include_monitoring: bool = False,
) -> list[AuditRow]:
    """The newest runs first, with rows per layer and check counts.

    Monitoring runs (`is_monitoring`) are left out unless `include_monitoring`: run storage cannot
    filter a tag out, so records are read in pages until `limit` runs are found."""
    tags = {names.DATASET_TAG: dataset} if dataset else None
    filters = dg.RunsFilter(tags=tags, statuses=statuses, created_after=since)
    rows: list[AuditRow] = []
    # nothing to skip: one read of `limit` records; else read ahead past the monitoring runs
    page, cursor = (limit if include_monitoring else max(limit, 100)), None
    while len(rows) < limit:
        records = instance.get_run_records(filters=filters, limit=page, cursor=cursor)
        for record in records:
            if not include_monitoring and is_monitoring(record.dagster_run):
                continue
            row = _row(record)
            _apply_events(row, instance.get_records_for_run(record.dagster_run.run_id, of_type=_ROW_EVENTS).records)
            rows.append(row)
            if len(rows) == limit:
                break
        if len(records) < page:
            break
        cursor = records[-1].dagster_run.run_id
    return rows


def resolve_run_id(instance: dg.DagsterInstance, run_id: str) -> str:
    """A full run id, or a unique prefix of one (the table shows the first 8 characters)."""
    if instance.has_run(run_id):
        return run_id
    if len(run_id) >= 4:
        matches = [r for r in instance.get_run_ids() if r.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AuditError(f"run id prefix '{run_id}' matches {len(matches)} runs: give more characters")
    raise AuditError(
        f"no run '{run_id}' in this instance ({instance.root_directory if instance.is_persistent else 'ephemeral'})"
    )


def run_detail(instance: dg.DagsterInstance, run_id: str) -> RunDetail:
    run_id = resolve_run_id(instance, run_id)
    record = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run_id]), limit=1)[0]
    run = record.dagster_run
    row = _row(record)
    detail = RunDetail(row=row, job=run.job_name, tags=dict(run.tags), checksum=run.tags.get(names.CHECKSUM_TAG))
    _apply_events(row, instance.get_records_for_run(run_id, of_type=_DETAIL_EVENTS).records, detail)
    return detail


# -- output ----------------------------------------------------------------------------------


def _fmt_int(v) -> str:
    return "-" if v is None else str(v)


def format_rows(rows: list[AuditRow], fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(r).items()})
        return buf.getvalue().rstrip("\n")
    header = (
        "RUN",
        "DATASET",
        "PARTITION",
        "TRIGGER",
        "STATUS",
        "STARTED (UTC)",
        "SECS",
        "IN",
        "CLEANED",
        "QUAR",
        "PUBL",
        "CHECKS ok/fail",
    )
    table = [header] + [
        (
            r.run_id[:8],
            r.dataset,
            r.partition,
            r.trigger,
            r.status,
            (r.started or "-").replace("T", " ").removesuffix("+00:00"),
            "-" if r.duration_s is None else f"{r.duration_s:.1f}",
            _fmt_int(r.rows_in),
            _fmt_int(r.rows_cleaned),
            _fmt_int(r.rows_quarantined),
            _fmt_int(r.rows_published),
            f"{r.checks_passed}/{r.checks_failed}",
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    numeric = {6, 7, 8, 9, 10}
    out = []
    for line in table:
        out.append(
            "  ".join(
                str(c).rjust(w) if i in numeric else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths))
            ).rstrip()
        )
    if not rows:
        out.append("(no runs match)")
    return "\n".join(out)


def format_detail(d: RunDetail, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps({**asdict(d), "row": asdict(d.row)}, indent=2, default=str)
    r = d.row
    lines = [
        f"run        {r.run_id}",
        f"job        {d.job}",
        f"dataset    {r.dataset}",
        f"status     {r.status}",
        f"trigger    {r.trigger}",
        f"partition  {r.partition}",
        f"source     {r.source}",
        f"checksum   {d.checksum or '-'}",
        f"started    {r.started or '-'}   duration {'-' if r.duration_s is None else f'{r.duration_s:.2f}s'}",
        f"rows       in {_fmt_int(r.rows_in)}  cleaned {_fmt_int(r.rows_cleaned)}  "
        f"quarantined {_fmt_int(r.rows_quarantined)}  published {_fmt_int(r.rows_published)}",
        f"checks     {r.checks_passed} passed, {r.checks_failed} failed",
    ]
    if r.error:
        lines.append(f"error      {r.error}")
    if r.report:
        lines.append(f"report     {r.report}")
    if names.STREAM_TOPIC_TAG in d.tags:  # a Kafka batch file: which records it holds
        lines.append(
            f"stream     topic {d.tags[names.STREAM_TOPIC_TAG]}  offsets {d.tags.get(names.STREAM_OFFSETS_TAG, '-')}"
            + (f"  replay {d.tags[names.STREAM_REPLAY_TAG]}" if names.STREAM_REPLAY_TAG in d.tags else "")
        )
    review = {k.removeprefix(names.REVIEW_TAG): v for k, v in d.tags.items() if k.startswith(names.REVIEW_TAG)}
    if review:
        lines.append("review     " + "  ".join(f"{k}={v}" for k, v in sorted(review.items())))
    if d.materializations:
        lines.append("materialized:")
        for m in d.materializations:
            count = m["metadata"].get("dagster/row_count")
            lines.append(
                f"  {m['asset']}"
                + (f" [{m['partition']}]" if m["partition"] else "")
                + (f"  {count} rows" if count is not None else "")
            )
    failed = [c for c in d.checks if not c.passed]
    if d.checks:
        lines.append("checks:")
        for c in d.checks:
            lines.append(
                f"  [{'PASS' if c.passed else c.severity:<5}] {c.asset}.{c.check}"
                + (f": {c.description}" if c.description and not c.passed else "")
            )
    if failed:
        lines.append("failed check metadata:")
        for c in failed:
            lines.append(f"  {c.asset}.{c.check}")
            for k, v in c.metadata.items():
                text = str(v).replace("\n", "\n      ")
                lines.append(f"    {k}: {text}")
    if d.failures:
        lines.append("failures:")
        for f in d.failures:
            lines.append(f"  {f['step']}: {f['message']}")
            if f["traceback"]:
                lines += ["    " + x for x in f["traceback"].rstrip().splitlines()]
    return "\n".join(lines)
