"""Per-run reports: the execution report (HTML with charts, JSON, markdown), check results, quarantine extract.

Dataset runs get them: a file's pipeline run, and the publish run of an approved held file (whose
report carries the decision and the held run's counts).

Built from Dagster's run storage after a dataset run, written under the warehouse with
timestamped names (`reports/<dataset>/<name>_<YYYYMMDD_HHMMSS>.<ext>`, `quarantine/<dataset>/...`),
encrypted with the platform's SSE settings on S3. Their URIs go into the run's tags (`dq/report/*`),
so the run page links its reports. The quarantine extract holds raw values: it stays inside the
warehouse (the trust zone); nothing of its content goes to logs or metadata.
"""

import csv
import datetime as dt
import io
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from dq_platform import names
from dq_platform.io.s3 import upload
from dq_platform.io.warehouse import Warehouse

REPORTS_KEY = dg.AssetKey(names.RUN_REPORTS)
HISTORY_RUNS = 20  # runs shown in the history charts

reports_spec = dg.AssetSpec(
    REPORTS_KEY,
    group_name="dq_platform",
    kinds={"html"},
    description="One observation per dataset run: its execution report in markdown (rows, rules, failure-rate "
    "history, checks) and where the HTML / JSON report files are. Counts and rule ids only.",
)


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


def _run_events(instance: dg.DagsterInstance, run_id: str) -> tuple[list, list, list]:
    """Materializations (metadata), check evaluations and step failures of one run."""
    materializations, checks, failures = [], [], []
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            materializations.append(
                {
                    "asset": mat.asset_key.to_user_string(),
                    "partition": mat.partition,
                    "metadata": {k: _plain(v) for k, v in mat.metadata.items() if not k.startswith("dagster/")},
                }
            )
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            c = ev.event_specific_data
            checks.append(
                {
                    "asset": c.asset_key.to_user_string(),
                    "check": c.check_name,
                    "passed": c.passed,
                    "severity": c.severity.value,
                    "description": c.description,
                    "metadata": {k: _plain(v) for k, v in c.metadata.items()},
                }
            )
        elif ev.event_type_value == "STEP_FAILURE":
            failures.append(
                # the whole message (a gate failure says rates, thresholds and the next step), not its first line
                {"step": ev.step_key, "error": ev.event_specific_data.error.message.strip()}
            )
    return materializations, checks, failures


def is_dataset_run(run: dg.DagsterRun) -> bool:
    """A run that gets reports: a file's pipeline run, or the publication of an approved held file."""
    return names.is_dataset_job(run.job_name)


def run_summary(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Status, timing, source, materializations (metadata) and check results of one run."""
    run = instance.get_run_by_id(run_id)
    stats = instance.get_run_stats(run_id)
    materializations, checks, failures = _run_events(instance, run_id)
    iso = lambda t: dt.datetime.fromtimestamp(t, dt.UTC).isoformat() if t else None  # noqa: E731
    dataset = run.tags.get(names.DATASET_TAG)
    summary = {
        "run_id": run_id,
        "job": run.job_name,
        "status": run.status.value,
        "partition": run.tags.get(names.PARTITION_TAG),
        "dataset": dataset,
        "source": _source(run.tags),
        "started": iso(stats.start_time),
        "ended": iso(stats.end_time),
        "materializations": materializations,
        "checks": checks,
        "failures": failures,
    }
    summary.update(_essentials(summary))
    if run.job_name.endswith(names.PUBLISH_SUFFIX):
        summary.update(_publication(instance, run, summary["rows"]))
    # a publication's file is the held run's: that run is the one marked in the history
    marked = (summary.get("publication") or {}).get("held_run_id") or run_id
    summary["history"] = dataset_history(instance, dataset, marked, stats.end_time) if dataset else []
    return summary


def _publication(instance: dg.DagsterInstance, run: dg.DagsterRun, published: dict) -> dict:
    """What a publish run published on whose decision: the review run, and the held run's counts and source.

    A publish run writes masked and gold only; the file's rows, rules and source are the held
    pipeline run's, and the reason it may publish is the reviewer's approval: the report shows all three.
    """
    review_id = run.tags.get(names.REVIEW_RUN_TAG)
    review_run = instance.get_run_by_id(review_id) if review_id else None
    if review_run is None:
        return {"publication": None}
    t = review_run.tags
    held_id = t.get(names.HELD_RUN_TAG)
    if not held_id:  # a decision recorded before the tag existed: its review check's metadata names the run
        _, review_checks, _ = _run_events(instance, review_run.run_id)
        decided = next((c["metadata"] for c in review_checks if c["check"] == names.REVIEW_CHECK), {})
        held_id = str(decided.get("held_by_run") or "-")
    held_run = instance.get_run_by_id(held_id) if held_id != "-" else None
    stats = instance.get_run_stats(review_run.run_id)
    publication = {
        "review_run_id": review_run.run_id,
        "decision": t.get(f"{names.REVIEW_TAG}decision"),
        "reviewer": t.get(f"{names.REVIEW_TAG}reviewer"),
        "comment": t.get(f"{names.REVIEW_TAG}comment", ""),
        "decided": dt.datetime.fromtimestamp(stats.end_time, dt.UTC).isoformat() if stats.end_time else None,
        "cleaned_version": t.get(f"{names.REVIEW_TAG}cleaned_version"),
        "held_run_id": held_run.run_id if held_run else None,
        "held_run_report": held_run.tags.get(f"{names.REPORT_TAG}html") if held_run else None,
    }
    out: dict = {"publication": publication, "review": f"approved by {publication['reviewer']}"}
    if held_run is not None:
        mats, checks, _ = _run_events(instance, held_run.run_id)
        held = _essentials({"materializations": mats, "checks": checks})
        out.update(
            rows={**held["rows"], **published},
            failure_rate=held["failure_rate"],
            rules=held["rules"],
            levels=held["levels"],
            source=_source(held_run.tags),
        )
        publication["held_quarantine"] = held_run.tags.get(f"{names.REPORT_TAG}quarantine")
    return out


def _source(tags) -> dict:
    return {k.removeprefix("dq/"): v for k, v in tags.items() if k in names.SOURCE_TAGS}


def _essentials(s: dict) -> dict:
    """Rows per layer, failure rate, quarantined rows per rule, thresholds and review state of the run."""
    rows, rules, levels, review, rate = {}, [], {}, None, None
    for m in s["materializations"]:
        meta, name = m["metadata"], m["asset"]
        if name.startswith("raw_"):
            rows["in"] = meta.get("rows_in")
        elif name.startswith("cleaned_"):
            rows["cleaned"], rate = meta.get("rows_cleaned"), meta.get("failure_rate")
        elif name.startswith("quarantine_"):
            rows["quarantined"] = meta.get("rows_quarantined")
            rules = sorted(
                ((k.removeprefix("rule/"), v) for k, v in meta.items() if k.startswith("rule/")),
                key=lambda kv: (-kv[1], kv[0]),
            )
        elif name.startswith("masked_"):
            rows["published"] = meta.get("rows_masked")
    for c in s["checks"]:
        if c["check"] == "failure_rate_within_threshold":
            levels = {k: c["metadata"].get(f"{k}_level") for k in ("warn", "review", "error")}
        state = c["metadata"].get(names.REVIEW_META)
        if c["check"] == "human_review_not_pending" and state in ("required", "auto_approved"):
            review = "held for human review" if state == "required" else "auto-approved (no review)"
    return {
        "rows": {k: v for k, v in rows.items() if v is not None},
        "failure_rate": rate,
        "rules": rules,
        "levels": levels,
        "review": review,
    }


def dataset_history(
    instance: dg.DagsterInstance, dataset: str, run_id: str, until: float | None, limit: int = HISTORY_RUNS
) -> list[dict]:
    """The dataset's recent cleaned materializations (one per run), oldest first, up to this run."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(names.cleaned(dataset)), before_timestamp=(until + 1) if until else None
        ),
        limit=limit,
        ascending=False,
    ).records
    out = []
    for r in reversed(records):
        meta = {k: _plain(v) for k, v in r.asset_materialization.metadata.items()}
        out.append(
            {
                "when": dt.datetime.fromtimestamp(r.timestamp, dt.UTC).isoformat(timespec="seconds"),
                "run_id": r.run_id,
                "this_run": r.run_id == run_id,
                "partition": r.asset_materialization.partition,
                "rows_in": meta.get("rows_in"),
                "rows_cleaned": meta.get("rows_cleaned"),
                "rows_quarantined": meta.get("rows_quarantined"),
                "failure_rate": meta.get("failure_rate"),
            }
        )
    return out


def to_markdown(s: dict) -> str:
    rows = s.get("rows") or {}
    lines = [
        f"# {s['dataset']} run {s['run_id']}",
        "",
        f"- status: **{s['status']}**" + (f" ({s['review']})" if s.get("review") else ""),
        f"- partition: `{s['partition']}`",
        f"- source: `{s['source'].get('source_uri', '-')}` (sha256 {s['source'].get('checksum', '-')})",
        f"- started: {s['started']}  ended: {s['ended']}",
        "- rows: "
        + (", ".join(f"{k} {v}" for k, v in rows.items()) or "-")
        + ("" if s.get("failure_rate") is None else f"; failure rate {s['failure_rate']:.2%}"),
    ]
    p = s.get("publication")
    if p:
        lines += [
            "",
            "## Publication of a held file",
            "",
            f"- decision: **{p['decision']}** by {p['reviewer']} at {p['decided']} "
            f"(review run {p['review_run_id']}, on cleaned version {p['cleaned_version']})",
            f"- comment: {p['comment'] or '-'}",
            f"- held by run {p['held_run_id'] or '-'}"
            + (f"; its report: {p['held_run_report']}" if p.get("held_run_report") else ""),
        ]
    if s.get("rules"):
        lines += ["", "## Quarantined rows per rule", "", "| rule | rows |", "|---|---|"]
        lines += [f"| {r} | {n} |" for r, n in s["rules"][:15]]
    if s.get("history"):
        lines += [
            "",
            "## Recent runs",
            "",
            "| when (UTC) | rows in | cleaned | quarantined | failure rate |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {p['when'][:16].replace('T', ' ')}{' (this run)' if p['this_run'] else ''} | {p['rows_in']} "
            f"| {p['rows_cleaned']} | {p['rows_quarantined']} | "
            + ("-" if p["failure_rate"] is None else f"{p['failure_rate']:.2%}")
            + " |"
            for p in s["history"][-10:]
        ]
    lines += ["", "## Checks", "", "| asset | check | result | severity | description |", "|---|---|---|---|---|"]
    lines += [
        f"| {c['asset']} | {c['check']} | {'passed' if c['passed'] else 'FAILED'} | {c['severity']} "
        f"| {(c['description'] or '').replace('|', '/')} |"
        for c in s["checks"]
    ]
    lines += ["", "## Tables written", ""]
    lines += [
        f"- {m['asset']}: "
        + ", ".join(
            f"{k}={v}" for k, v in m["metadata"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        for m in s["materializations"]
    ]
    if s["failures"]:
        lines += ["", "## Failures", ""] + [
            f"- {f['step']}: " + f["error"].replace("\n", "\n  ") for f in s["failures"]
        ]
    return "\n".join(lines) + "\n"


_FORMULA_START = r"^[=+\-@\t\r]"  # cells a spreadsheet would run as a formula (OWASP: CSV injection)


def neutralize_formulas(table: pa.Table) -> pa.Table:
    """Text cells starting with = + - @ tab or CR get a leading apostrophe, so a spreadsheet shows
    them as text instead of running them (OWASP's advice for CSV files people open). Vectorized;
    the Delta quarantine table keeps the exact originals, this is only the extract people open."""
    columns = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            risky = pc.fill_null(pc.match_substring_regex(col, _FORMULA_START), False)
            if pc.any(risky).as_py():
                col = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def _csv(frame) -> bytes:
    """CSV bytes through Arrow's writer (~10x pandas' to_csv; a report is on the run's clock), with
    formula-leading cells neutralized."""
    buf = io.BytesIO()
    try:
        # every value quoted: Arrow leaves a lone CR unquoted otherwise, which splits the row when read back
        table = neutralize_formulas(pa.Table.from_pandas(frame, preserve_index=False))
        pa_csv.write_csv(table, buf, pa_csv.WriteOptions(quoting_style="all_valid"))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a nested column: pandas writes its repr
        text = frame.astype("string")
        risky = text.apply(lambda col: col.str.match(_FORMULA_START).fillna(False).astype(bool))
        return text.mask(risky, "'" + text).to_csv(index=False, quoting=csv.QUOTE_ALL).encode()
    return buf.getvalue()


def write_reports(instance: dg.DagsterInstance, run_id: str, warehouse: Warehouse) -> dict[str, str]:
    """Write the run's reports (and quarantine extract) and tag the run with their URIs."""
    s = run_summary(instance, run_id)
    dataset = s["dataset"] or s["job"]
    ended = dt.datetime.fromisoformat(s["ended"]) if s["ended"] else dt.datetime.now(dt.UTC)
    stamp = f"{run_id[:8]}_{ended:%Y%m%d_%H%M%S}"
    root = warehouse.root.rstrip("/") if warehouse.is_remote else str(Path(warehouse.root).resolve())
    base = f"{root}/reports/{dataset}"
    uris = {
        "html": f"{base}/run_report_{stamp}.html",
        "json": f"{base}/run_report_{stamp}.json",
        "markdown": f"{base}/run_report_{stamp}.md",
        "checks": f"{base}/check_results_{stamp}.json",
    }
    from dq_platform.reports.html import render

    markdown = to_markdown(s)
    _put(uris["html"], render(s).encode())
    _put(uris["json"], json.dumps(s, indent=2, default=str).encode())
    _put(uris["markdown"], markdown.encode())
    _put(uris["checks"], json.dumps(s["checks"], indent=2, default=str).encode())
    table = names.quarantine(dataset)
    if s.get("publication") is not None:  # a publication quarantines nothing: the held run's extract stands
        if s["publication"].get("held_quarantine"):
            uris["quarantine"] = s["publication"]["held_quarantine"]
    elif s["partition"] and warehouse.table(table) is not None:
        held = warehouse.read(table, s["partition"])
        if len(held):
            uris["quarantine"] = _put(f"{root}/quarantine/{dataset}/quarantine_{stamp}.csv", _csv(held))
    instance.add_run_tags(run_id, {f"{names.REPORT_TAG}{k}": v for k, v in uris.items()})
    # the same essentials in the UI: an observation of dq_run_reports per run
    link = report_link(uris["html"], root)
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=REPORTS_KEY,
            metadata={
                "dataset": dataset,
                "run_id": run_id,
                "partition": s["partition"] or "-",
                "status": s["status"],
                "report": dg.MetadataValue.md(markdown),
                "html": link,
                "json": report_link(uris["json"], root),
            },
        )
    )
    return uris


def report_link(uri: str, warehouse_root: str) -> dg.MetadataValue:
    """A report as the UI can open it in one click: a pre-signed URL on S3, the `dq-platform ui` report
    server's URL (DQ_REPORTS_URL) locally; a plain path only when nothing serves the folder."""
    from dq_platform import settings
    from dq_platform.contract import parse_duration

    if uri.startswith("s3://"):
        from dq_platform.io.s3 import presigned_url

        ttl = min(parse_duration(settings.get("DQ_REPORT_LINK_TTL")).total_seconds(), 7 * 24 * 3600)
        return dg.MetadataValue.url(presigned_url(uri, int(ttl)))
    base = settings.get("DQ_REPORTS_URL")
    reports = f"{warehouse_root}/reports/"
    if base and uri.startswith(reports):
        from urllib.parse import quote

        return dg.MetadataValue.url(f"{base.rstrip('/')}/{quote(uri.removeprefix(reports))}")
    return dg.MetadataValue.path(uri)


def ensure_reports(instance: dg.DagsterInstance, run_id: str, warehouse: Warehouse) -> dict[str, str]:
    """The run's report URIs, writing the reports first if nobody has (e.g. before an alert links them)."""
    run = instance.get_run_by_id(run_id)
    if run is None or not run.is_finished or not is_dataset_run(run):
        return {}
    existing = {k.removeprefix(names.REPORT_TAG): v for k, v in run.tags.items() if k.startswith(names.REPORT_TAG)}
    return existing if "html" in existing else write_reports(instance, run_id, warehouse)


def _report_if_missing(context: dg.RunStatusSensorContext, warehouse: Warehouse) -> None:
    run = context.dagster_run
    if not is_dataset_run(run) or f"{names.REPORT_TAG}html" in run.tags:
        return  # not a dataset run, or its launcher (CLI, demo) or an alert already wrote the reports
    uris = write_reports(context.instance, run.run_id, warehouse)
    context.log.info(f"reports for run {run.run_id}: {', '.join(uris)}")


# Runs the daemon launches (landing sensors, the UI) get their reports from these two sensors.
@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="dq_reports_after_success",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def reports_after_success(context: dg.RunStatusSensorContext, warehouse: Warehouse):
    _report_if_missing(context, warehouse)


@dg.run_failure_sensor(name="dq_reports_after_failure", default_status=dg.DefaultSensorStatus.RUNNING)
def reports_after_failure(context: dg.RunFailureSensorContext, warehouse: Warehouse):
    _report_if_missing(context, warehouse)
