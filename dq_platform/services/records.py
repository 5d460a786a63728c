"""The answers the API and the dashboard give, as plain data, read from run storage and Delta.

Each function takes `Sources` and returns dicts, lists or DataFrames; the API turns them into JSON
and the dashboard into charts, so both show the same numbers. Run facts come from the audit log
(ops/audit.py) and the health KPIs (defs/health.py); quarantine is only ever counted from
materialization metadata (rule id -> rows), never read. Table rows come only from
`Sources.tables`, the masked/gold/semantic allow-list.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict

import dagster as dg
import pandas as pd
import pyarrow as pa

from dq_platform import names
from dq_platform.contract import Contract
from dq_platform.contract.monitoring import parse_duration
from dq_platform.defs.health import compute_health
from dq_platform.io.warehouse import from_arrow
from dq_platform.ops.audit import AuditError, list_runs, parse_since, parse_statuses, run_detail
from dq_platform.services.sources import Sources

MAX_PAGE_SIZE = 1000
_PAGE = 1000  # event-storage records fetched per query


class NotFound(LookupError):
    """An unknown dataset, table, run or column (the API answers 404)."""


class BadRequest(ValueError):
    """A filter, page or argument the data cannot answer (the API answers 400)."""


def contract_of(src: Sources, dataset: str) -> Contract:
    try:
        return src.contracts[dataset]
    except KeyError:
        raise NotFound(f"no dataset '{dataset}': one of {', '.join(sorted(src.contracts))}") from None


# -- datasets --------------------------------------------------------------------------------


def dataset_summary(src: Sources, c: Contract) -> dict:
    """The contract as a stakeholder needs it: what, who, where from, columns, SLA, tables."""
    return {
        "name": c.name,
        "description": " ".join(c.description.split()),
        "owner": c.owner,
        "alerts_owner": c.alerts.owner or c.owner,
        "group": c.group,
        "tags": dict(c.tags),
        "source": c.source.kind if c.source.kind != "file" else f"file ({c.source.format})",
        "columns": [
            {"name": col.name, "type": col.type.value, "pii": col.pii.category.value if col.pii else None}
            for col in c.columns
        ],
        "failure_rate": c.failure_rate.model_dump(),
        "freshness_sla": c.freshness.max_lag if c.freshness else None,
        "tables": sorted(t.name for t in src.tables.values() if t.dataset == c.name),
    }


def _latest_materialization_ts(src: Sources, asset: str) -> float | None:
    event = src.instance.get_latest_materialization_event(dg.AssetKey(asset))
    return event.timestamp if event is not None else None


def freshness(src: Sources, c: Contract, now: float) -> dict:
    """Age of the newest published (masked) data against the contract's SLA."""
    ts = _latest_materialization_ts(src, names.masked(c.name))
    lag = c.freshness.max_lag if c.freshness else None
    age = None if ts is None else max(now - ts, 0.0)
    if ts is None:
        state = "no data"
    elif lag is None:
        state = "no SLA"
    else:
        state = "fresh" if age <= parse_duration(lag).total_seconds() else "stale"
    return {
        "published_at": None if ts is None else _iso(ts),
        "age_s": None if age is None else round(age, 1),
        "sla": lag,
        "state": state,
    }


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def health(src: Sources, window_days: float = 30.0, now: float | None = None) -> dict:
    """The platform's KPIs over the window, as `platform_health` computes them."""
    if not (0 < window_days <= 3660):
        raise BadRequest("window_days must be more than 0 and at most 3660")
    return compute_health(src.instance, src.check_keys, window_days, now=now)


def dataset_status(src: Sources, dataset: str, kpis: dict | None = None, now: float | None = None) -> dict:
    """Latest run, its rows per layer and failure rate, success rate, open check failures, freshness."""
    c = contract_of(src, dataset)
    now = now or dt.datetime.now(dt.UTC).timestamp()
    if kpis is None:  # this dataset's KPIs only
        kpis = compute_health(src.instance, {dataset: src.check_keys[dataset]}, 30.0, now=now)
    per = kpis["datasets"].get(dataset, {})
    recent = list_runs(src.instance, dataset=dataset, limit=5)
    last = recent[0] if recent else None
    # the newest run that read a file (a publish or review run after it carries no rows in)
    last_file = next((r for r in recent if r.rows_in is not None), None)
    if last_file is None and len(recent) == 5:  # a burst of reviews or publications: look further back
        last_file = next((r for r in list_runs(src.instance, dataset=dataset, limit=50) if r.rows_in is not None), None)
    rate = None
    if last_file is not None and last_file.rows_in:
        rate = round((last_file.rows_quarantined or 0) / last_file.rows_in, 6)
    return {
        "dataset": dataset,
        "owner": c.owner,
        "last_run": _run_facts(last),
        "last_file_run": _run_facts(last_file),
        "failure_rate": rate,
        "runs": per.get("runs", 0),
        "success_rate": per.get("success_rate"),
        "rows_per_day": per.get("rows_per_day"),
        "open_check_failures": per.get("open_failures", []),
        "freshness": freshness(src, c, now),
    }


def _run_facts(row) -> dict | None:
    if row is None:
        return None
    keys = ("run_id", "partition", "status", "started", "rows_in", "rows_cleaned", "rows_quarantined")
    return {k: getattr(row, k) for k in keys} | {
        "rows_published": row.rows_published,
        "checks_passed": row.checks_passed,
        "checks_failed": row.checks_failed,
    }


def all_statuses(src: Sources, now: float | None = None) -> list[dict]:
    now = now or dt.datetime.now(dt.UTC).timestamp()
    kpis = health(src, now=now)
    return [dataset_status(src, name, kpis, now) for name in sorted(src.contracts)]


def quarantine_by_rule(src: Sources, dataset: str) -> dict:
    """Quarantined rows per failed rule over each file's latest run: counts from metadata, no value."""
    contract_of(src, dataset)
    latest: dict[str | None, dict] = {}
    cursor = None
    while True:
        result = src.instance.fetch_materializations(
            dg.AssetKey(names.quarantine(dataset)), limit=_PAGE, cursor=cursor, ascending=False
        )
        for rec in result.records:
            mat = rec.asset_materialization
            if mat is not None and mat.partition not in latest:  # newest first: a file's latest run
                latest[mat.partition] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        if not result.has_more:
            break
        cursor = result.cursor
    rules: dict[str, int] = {}
    for meta in latest.values():
        for key, value in meta.items():
            if key.startswith("rule/"):
                rules[key.removeprefix("rule/")] = rules.get(key.removeprefix("rule/"), 0) + int(value)
    return {
        "dataset": dataset,
        "files": len(latest),
        "rows_quarantined": sum(int(m.get("rows_quarantined") or 0) for m in latest.values()),
        "rules": [{"rule": r, "rows": n} for r, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


def rows_by_day(src: Sources, since: dt.datetime) -> pd.DataFrame:
    """Rows received and quarantined per day and dataset, from cleaned materialization metadata."""
    out = []
    for dataset in sorted(src.contracts):
        cursor = None
        while True:
            result = src.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(names.cleaned(dataset)), after_timestamp=since.timestamp()),
                limit=_PAGE,
                cursor=cursor,
            )
            for rec in result.records:
                meta = rec.asset_materialization.metadata if rec.asset_materialization else {}
                out.append((rec.timestamp, dataset, _int(meta, "rows_in"), _int(meta, "rows_quarantined")))
            if not result.has_more:
                break
            cursor = result.cursor
    frame = pd.DataFrame(out, columns=["ts", "dataset", "rows_in", "rows_quarantined"])
    frame["day"] = pd.to_datetime(frame["ts"], unit="s").dt.floor("D")
    daily = frame.groupby(["day", "dataset"], as_index=False)[["rows_in", "rows_quarantined"]].sum()
    daily["quarantine_rate"] = (daily["rows_quarantined"] / daily["rows_in"].where(daily["rows_in"] > 0)).astype(float)
    return daily


def _int(meta: dict, key: str) -> int:
    value = meta.get(key)
    return int(getattr(value, "value", value) or 0)


def files_waiting_for_review(src: Sources) -> list[dict]:
    from dq_platform.defs.review import held_partitions, how_to_decide

    held = held_partitions(src.instance, src.warehouse, list(src.contracts.values()))
    return [
        {
            "dataset": h.dataset,
            "partition": h.partition,
            "failure_rate": h.failure_rate,
            "rows_in": h.rows_in,
            "held_since": h.held_since,
            "run_id": h.run_id,
            "how_to_decide": how_to_decide(h.dataset, h.partition),
        }
        for h in held
    ]


# -- runs ------------------------------------------------------------------------------------


def runs(
    src: Sources,
    *,
    dataset: str | None = None,
    status: list[str] | None = None,
    since: str | None = None,
    page: int = 1,
    page_size: int = 50,
    include_monitoring: bool = False,
) -> dict:
    """A page of the audit log, newest first, filtered as `dq-platform audit` filters it."""
    if dataset is not None:
        contract_of(src, dataset)
    _check_page(page, page_size)
    try:
        statuses, since_ts = parse_statuses(status), parse_since(since)
    except AuditError as e:
        raise BadRequest(str(e)) from None
    if page * page_size > 100_000:
        raise BadRequest("page * page_size must be at most 100000: narrow the filters (dataset, status, since)")
    rows = list_runs(
        src.instance,
        dataset=dataset,
        statuses=statuses,
        since=since_ts,
        limit=page * page_size + 1,  # one more: is there a next page?
        include_monitoring=include_monitoring,
    )
    start = (page - 1) * page_size
    return {
        "page": page,
        "page_size": page_size,
        "has_more": len(rows) > start + page_size,
        "items": [asdict(r) for r in rows[start : start + page_size]],
    }


def _detail(src: Sources, run_id: str):
    if len(run_id) > 64:
        raise NotFound("no such run: run ids are 36 characters (or a unique prefix of at least 4)")
    try:
        return run_detail(src.instance, run_id)
    except AuditError as e:
        raise NotFound(str(e).split(" in this instance")[0]) from None


def run(src: Sources, run_id: str) -> dict:
    """One run as `dq-platform audit show` tells it, without tracebacks (messages are enough here)."""
    d = _detail(src, run_id)
    return {
        **asdict(d.row),
        "job": d.job,
        "checksum": d.checksum,
        "tags": {k: v for k, v in d.tags.items() if not k.startswith(".dagster")},
        "materializations": d.materializations,
        "checks": [asdict(c) for c in d.checks],
        "failures": [{"step": f["step"], "message": f["message"]} for f in d.failures],
    }


def run_checks(src: Sources, run_id: str) -> list[dict]:
    return [asdict(c) for c in _detail(src, run_id).checks]


# -- tables ----------------------------------------------------------------------------------


def served_tables(src: Sources) -> list[dict]:
    """The allow-list with whether each table exists yet and its rows (from the Delta log only)."""
    out = []
    for t in sorted(src.tables.values(), key=lambda t: (t.dataset, t.kind, t.name)):
        counts = src.warehouse.row_counts(t.name)
        out.append(
            {
                **asdict(t),
                "exists": bool(counts) or src.warehouse.table(t.name) is not None,
                "rows": sum(counts.values()),
            }
        )
    return out


def _check_page(page: int, page_size: int) -> None:
    if page < 1:
        raise BadRequest(f"page {page}: pages start at 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size {page_size}: between 1 and {MAX_PAGE_SIZE}")


def _parse_filters(served, filters: list[str]) -> list[tuple]:
    """`column:value` or `column:v1,v2` (any of), on the table's filterable columns only."""
    out = []
    for text in filters:
        column, sep, value = text.partition(":")
        if not sep or not column or value == "":
            raise BadRequest(f"filter '{text[:80]}': expected column:value or column:v1,v2")
        if column not in served.filterable:
            allowed = ", ".join(served.filterable) or "none"
            raise BadRequest(f"filter on '{column[:60]}': {served.name} filters on {allowed}")
        out.append((column, value.split(",")))
    return out


def _typed(schema, column: str, values: list[str]) -> tuple:
    """The Delta filter for `column` in `values`, each value cast to the column's type."""

    kind = schema.field(column).type
    try:
        if pa.types.is_date(kind):  # 2026-11-01 or 2026-11-01T00:00:00
            typed = [dt.datetime.fromisoformat(v).date() for v in values]
        elif pa.types.is_timestamp(kind):
            typed = [dt.datetime.fromisoformat(v).replace(tzinfo=None) for v in values]
        else:
            typed = [pa.scalar(v).cast(kind).as_py() for v in values]
    except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise BadRequest(f"filter on '{column}': values must be of its type, {kind}") from None
    return (column, "in", typed) if len(typed) > 1 else (column, "=", typed[0])


def _parse_day(value: str | None, label: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise BadRequest(f"{label} '{value[:40]}': expected an ISO date such as 2026-11-01") from None


def table_rows(
    src: Sources,
    table: str,
    *,
    columns: list[str] | None = None,
    filters: list[str] = (),
    date_from: str | None = None,
    date_to: str | None = None,
    page: int = 1,
    page_size: int = 100,
) -> dict:
    """A page of a masked, gold or semantic table, optionally some columns, filtered."""
    served = src.tables.get(table)
    if served is None:
        if table.startswith(("raw_", "cleaned_", "quarantine_")) or table == "quarantine":
            raise NotFound(f"table '{table[:80]}' is not served: only masked, gold and semantic tables are")
        raise NotFound(f"no table '{table[:80]}': GET /tables lists the tables served")
    _check_page(page, page_size)
    conditions = _parse_filters(served, list(filters))
    start, end = _parse_day(date_from, "from"), _parse_day(date_to, "to")
    if (start or end) and served.time_column is None:
        raise BadRequest(f"{table} has no time column: from/to do not apply")
    if start and end and start > end:
        raise BadRequest(f"from {date_from} is after to {date_to}")
    delta = src.warehouse.table(table)
    if delta is None:
        return {
            "table": table,
            "dataset": served.dataset,
            "kind": served.kind,
            "columns": columns or [],
            "total": 0,
            "page": page,
            "page_size": page_size,
            "pages": 1,
            "rows": [],
        }  # not written yet: no run has published it
    schema = pa.schema(delta.schema().to_arrow())
    names_ = [f.name for f in schema]
    visible = [n for n in names_ if not n.startswith("_")]  # lineage columns stay inside
    if columns:
        unknown = [c for c in columns if c not in visible]
        if unknown:
            raise BadRequest(
                f"unknown column(s) {', '.join(u[:60] for u in unknown)}: {table} has {', '.join(visible)}"
            )
    chosen = list(columns) if columns else visible
    absent = [column for column, _ in conditions if column not in names_]
    if absent:
        raise BadRequest(f"filter on '{absent[0]}': {table} has no such column (yet)")
    conditions = [_typed(schema, column, values) for column, values in conditions]
    if start:
        conditions.append((served.time_column, ">=", start))
    if end:
        conditions.append((served.time_column, "<=", end))
    data = delta.to_pyarrow_table(columns=list(dict.fromkeys(chosen)), filters=conditions or None)
    if served.time_column in data.column_names:
        data = data.sort_by([(served.time_column, "descending")])
    total = data.num_rows
    pages = max(math.ceil(total / page_size), 1)
    if page > pages:
        raise BadRequest(f"page {page} is past the last page ({pages}) of {total} rows")
    part = data.slice((page - 1) * page_size, page_size)
    frame = part.to_pandas(types_mapper=pd.ArrowDtype)
    return {
        "table": table,
        "dataset": served.dataset,
        "kind": served.kind,
        "columns": chosen,
        "total": total,
        "page": page,
        "page_size": page_size,
        "pages": pages,
        "rows": json.loads(frame.to_json(orient="records", date_format="iso")),
    }


def table_frame(src: Sources, table: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """A whole served table as a DataFrame (the dashboard's charts); None when not written yet."""
    served = src.tables.get(table)
    if served is None:
        raise NotFound(f"table '{table}' is not served")
    delta = src.warehouse.table(table)
    if delta is None:
        return None
    data = delta.to_pyarrow_table(columns=columns)
    keep = [n for n in data.column_names if not n.startswith("_")]
    return from_arrow(data.select(keep))
