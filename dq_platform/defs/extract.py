"""Pull sources as Dagster jobs: per http/sql contract an extract job, its schedule and its source asset.

`<name>_extract` pulls the API (io/http_source.py) or the table (io/sql_source.py) and delivers ONE file
into the landing zone under the contract's pattern (`*` -> the UTC time of the extract), as any
upstream system would. From there everything is the file path: the dataset's landing sensor
registers the file as a partition (content hash: the same API response twice is processed once),
archives it and runs `<name>_pipeline`. A `.done` / `_SUCCESS` ready marker is written after the
file when the contract asks for one, so the sensor needs no stability wait.

Every extract is audited in Dagster's run storage: the run's tags say what it delivered
(`dq/extract/uri`, `dq/extract/rows`) and, for incremental SQL, which rows it took
(`dq/watermark/from` exclusive, `dq/watermark/to` inclusive, `dq/watermark/column`); an
AssetObservation on `raw_<name>` carries the same. The watermark is kept there and nowhere else:
an incremental extract starts after the `dq/watermark/to` of the newest SUCCESS run of its job
(same column), so a failed run never advances it. No new rows: no file, and the run says so.
"""

import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import dagster as dg
from pydantic import Field

from dq_platform import names, settings
from dq_platform.contract import Contract
from dq_platform.defs.resources import LandingZoneResource

DEFAULT_CRON = "0 * * * *"  # a schedule without `source.schedule` exists, stopped, at this cron
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def is_pull_source(contract: Contract) -> bool:
    return contract.source.kind != "file"


def extract_job_name(contract: Contract) -> str:
    return names.extract_job(contract.name)


def source_asset_key(contract: Contract) -> dg.AssetKey:
    """The external system a pull source reads (API endpoint or table): upstream of raw_<name>."""
    return dg.AssetKey(names.source(contract.name))


def delivery_relpath(contract: Contract, now: dt.datetime, zone=None) -> str:
    """Where an extract lands: the pattern with its one `*` replaced by the UTC time, e.g.
    crypto/markets_20261201T084512Z.jsonl (`_2`, `_3`... after the time if that name is taken)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    relpath, n = contract.source.pattern.replace("*", stamp, 1), 1
    while zone is not None and zone.exists(relpath):  # never replace a delivery not yet picked up
        n += 1
        relpath = contract.source.pattern.replace("*", f"{stamp}_{n}", 1)
    return relpath


def _marker_relpath(contract: Contract, relpath: str) -> str | None:
    marker = contract.source.ready_marker
    if marker == ".done":
        return relpath + ".done"
    if marker == "_SUCCESS":
        folder = str(PurePosixPath(relpath).parent)
        return "_SUCCESS" if folder == "." else f"{folder}/_SUCCESS"
    return None


def previous_watermark(instance: dg.DagsterInstance, contract: Contract) -> tuple[str | None, str | None]:
    """(watermark, run id) of the newest SUCCESS extract run that recorded one for the same column."""
    column = contract.source.sql.watermark if contract.source.sql else None
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=extract_job_name(contract), statuses=[dg.DagsterRunStatus.SUCCESS]), limit=100
    )
    for run in runs:  # newest first
        if names.WATERMARK_TO_TAG in run.tags and run.tags.get(names.WATERMARK_COLUMN_TAG) == column:
            return run.tags[names.WATERMARK_TO_TAG], run.run_id
    return None, None


class ExtractConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Incremental SQL sources: ignore the recorded watermark and read every row "
        "(the new maximum is recorded as usual).",
    )


def _pull_http(contract: Contract, workdir: Path) -> tuple[Path | None, int, dict]:
    from dq_platform.io.http_source import fetch, to_jsonl

    fetched = fetch(contract.source.http)
    meta = {
        "source": fetched.url,
        "pages": fetched.pages,
        "requests": fetched.requests,
        "retries": ", ".join(fetched.retried) or "-",
        "truncated_at_max_pages": fetched.truncated,
    }
    if not fetched.records:
        return None, 0, meta
    path = workdir / "extract.jsonl"
    path.write_bytes(to_jsonl(fetched.records))
    return path, len(fetched.records), meta


def _pull_sql(
    contract: Contract, workdir: Path, instance: dg.DagsterInstance, full_refresh: bool, tags: dict[str, str]
) -> tuple[Path | None, int, dict]:
    from dq_platform.io.sql_source import extract

    options = contract.source.sql
    last, last_run = (None, None)
    if options.mode == "incremental" and not full_refresh:
        last, last_run = previous_watermark(instance, contract)
    path = workdir / "extract.parquet"
    result = extract(options, last, path)
    meta = {
        "source": result.source,
        "mode": options.mode + (" (full refresh)" if full_refresh else ""),
        "columns": len(result.columns),
    }
    if options.mode == "incremental":
        tags[names.WATERMARK_COLUMN_TAG] = options.watermark
        if result.watermark_from is not None:
            tags[names.WATERMARK_FROM_TAG] = result.watermark_from
        if result.watermark_to is not None:
            tags[names.WATERMARK_TO_TAG] = result.watermark_to
        meta.update(
            {
                "watermark_column": options.watermark,
                "watermark_from": result.watermark_from or "-",
                "watermark_to": result.watermark_to or "-",
                "watermark_from_run": last_run or "-",
            }
        )
    return (path if result.rows else None), result.rows, meta


def build_extract(contract: Contract) -> dg.Definitions:
    """The extract job, its schedule and the source's external asset, for one http/sql contract."""
    name, kind = contract.name, contract.source.kind
    job_name = extract_job_name(contract)
    raw_key = dg.AssetKey(names.raw(name))
    what = "the API" if kind == "http" else "the table" if contract.source.sql.table else "the query"

    @dg.op(
        name=f"extract_{name}",
        description=f"Pull {what} of {name} and deliver one {contract.source.format} file to the landing zone "
        f"('{contract.source.pattern}').",
    )
    def extract_op(context: dg.OpExecutionContext, config: ExtractConfig, landing: LandingZoneResource) -> None:
        started = time.perf_counter()
        tags: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="dq_extract_") as tmp:
            if kind == "http":
                path, rows, meta = _pull_http(contract, Path(tmp))
            else:
                path, rows, meta = _pull_sql(contract, Path(tmp), context.instance, config.full_refresh, tags)
            uri = None
            if path is not None:
                zone = landing.zone()
                relpath = delivery_relpath(contract, dt.datetime.now(dt.UTC), zone)
                uri = zone.put_file(relpath, path)
                marker = _marker_relpath(contract, relpath)
                if marker:
                    zone.put(marker, b"")
                tags[names.EXTRACT_URI_TAG] = uri
                meta["bytes"] = path.stat().st_size
        tags[names.EXTRACT_ROWS_TAG] = str(rows)
        context.instance.add_run_tags(context.run_id, tags)
        meta.update(
            {"rows": rows, "delivered_uri": uri or "-", "seconds/extract": round(time.perf_counter() - started, 4)}
        )
        context.log_event(
            dg.AssetObservation(asset_key=raw_key, metadata={f"dq/extract/{k}": v for k, v in meta.items()})
        )
        if uri:
            context.log.info(f"{name}: delivered {rows} rows to {uri}; {name}_landing_sensor picks it up")
        elif kind == "sql" and contract.source.sql.mode == "incremental":
            context.log.info(f"{name}: no new rows since watermark {meta.get('watermark_from')}: no file delivered")
        else:
            context.log.info(f"{name}: the source returned no rows: no file delivered")

    @dg.job(
        name=job_name,
        tags={names.KIND_TAG: names.EXTRACT_KIND, names.DATASET_TAG: name},
        description=f"Pull {what} of {name} into the landing zone; {name}_landing_sensor starts "
        f"{name}_pipeline for the delivered file.",
    )
    def extract_job():
        extract_op()

    @dg.schedule(
        name=f"{job_name}_schedule",
        job=extract_job,
        cron_schedule=contract.source.schedule or DEFAULT_CRON,
        # it calls an external system: stopped until turned on, unless the contract says otherwise
        default_status=dg.DefaultScheduleStatus.RUNNING
        if contract.source.schedule and contract.source.schedule_status == "running"
        else dg.DefaultScheduleStatus.STOPPED,
        description=f"Runs {job_name} on '{contract.source.schedule or DEFAULT_CRON}' (UTC); skips a tick "
        f"while an extract is still running (two never read the same watermark), or while "
        f"the source is not configured.",
    )
    def extract_schedule(context: dg.ScheduleEvaluationContext):
        if kind == "sql" and not os.environ.get(contract.source.sql.url_env):
            # a shipped example contract does not fail (and page) every tick before it is configured
            return dg.SkipReason(
                f"{contract.source.sql.url_env} is not set: set it to the database's SQLAlchemy URL to start extracting"
            )
        active = context.instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS), limit=1)
        if active:
            return dg.SkipReason(f"{job_name} run {active[0].run_id[:8]} is still in progress")
        return dg.RunRequest()

    described = (
        f"GET {contract.source.http.base_url_env or contract.source.http.base_url}{contract.source.http.path}"
        if kind == "http"
        else f"{contract.source.sql.table or 'query'} via {contract.source.sql.url_env}"
    )
    spec = dg.AssetSpec(
        key=source_asset_key(contract),
        group_name=contract.asset_group,
        owners=[contract.owner],
        kinds={kind},
        tags=dict(contract.tags),
        description=f"The external source of {name} ({described}), pulled by {job_name}. Not materialized "
        f"here: each extract is recorded on raw_{name} and in the extract run's tags.",
        metadata={"dq/extract_job": job_name, "dq/source_kind": kind},
    )
    return dg.Definitions(assets=[spec], jobs=[extract_job], schedules=[extract_schedule])


@dataclass
class ExtractOutcome:
    dataset: str
    run_id: str
    success: bool
    rows: int = 0
    uri: str | None = None  # the delivered file; None when there was nothing new
    tags: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def run_extract(
    instance: dg.DagsterInstance,
    contract: Contract,
    landing_uri: str,
    *,
    full_refresh: bool = False,
    tags: dict[str, str] | None = None,
) -> ExtractOutcome:
    """Run `<name>_extract` now, in this process, recorded in the instance (CLI, demo)."""
    from dq_platform.reports.errors import root_cause

    defs = dg.Definitions.merge(
        build_extract(contract), dg.Definitions(resources={"landing": LandingZoneResource(uri=landing_uri)})
    )
    job = defs.resolve_job_def(extract_job_name(contract))
    level = settings.get("DQ_LOG_LEVEL").upper()  # the console; the instance gets every event
    result = job.execute_in_process(
        instance=instance,
        tags=tags,
        raise_on_error=False,
        run_config={
            "ops": {f"extract_{contract.name}": {"config": {"full_refresh": full_refresh}}},
            "loggers": {"console": {"config": {"log_level": level}}},
        },
    )
    run_tags = dict(instance.get_run_by_id(result.run_id).tags)
    error = None
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = root_cause(failure.event_specific_data.error) if failure else "failed"
    return ExtractOutcome(
        dataset=contract.name,
        run_id=result.run_id,
        success=result.success,
        rows=int(run_tags.get(names.EXTRACT_ROWS_TAG, 0)),
        uri=run_tags.get(names.EXTRACT_URI_TAG),
        tags=run_tags,
        error=error,
    )
