"""Sensors that start a run when a file lands: one per contract, local folder or S3 alike.

One sensor per contract (not one per landing zone that routes): each dataset's files then have
their own cursor, tick history, skip reasons and on/off switch in the UI, and a slow or broken
dataset never holds another one back. All of them list the same landing zone through one
`LandingZone` interface (local folder or s3://bucket/prefix), chosen by configuration.

State that must survive restarts lives in Dagster: registered partitions (their keys carry the
content hash, so "already processed" is a look-up) and the sensor cursor (files seen but not yet
stable, and the size/mtime of files already handled). The landing zone is never modified.
"""

import json
from pathlib import PurePosixPath

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import Contract
from dq_platform.defs.execution import execution_config
from dq_platform.defs.layers import partitions_def
from dq_platform.defs.partitions import registered_content, source_tags
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.io.landing import SourceFile
from dq_platform.io.landing_zones import LandingFile, LandingFileChanged, LandingZone, is_temporary

MAX_RUNS_PER_TICK = 25  # keeps a tick short when many files land at once; the rest follow next tick


def sensor_interval_seconds() -> int:
    return settings.number("DQ_SENSOR_INTERVAL_SECONDS", int)


def _ready(zone: LandingZone, f: LandingFile, marker: str | None) -> bool:
    if marker is None:
        return True
    if marker == ".done":
        return zone.exists(f.relpath + ".done")
    folder = str(PurePosixPath(f.relpath).parent)
    return zone.exists("_SUCCESS" if folder == "." else f"{folder}/_SUCCESS")


def build_file_sensor(contract: Contract) -> dg.SensorDefinition:
    parts = partitions_def(contract.name)
    marker = contract.source.ready_marker

    @dg.sensor(
        name=names.landing_sensor(contract.name),
        job_name=names.pipeline_job(contract.name),
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts {contract.name}_pipeline for each new file matching '{contract.source.pattern}' "
        f"in the landing zone, once it is complete"
        + (f" (its {marker} marker exists)." if marker else " (size and mtime stable over two ticks)."),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource) -> dg.SensorResult:
        zone = landing.zone()
        state = json.loads(context.cursor) if context.cursor else {}
        pending: dict[str, list] = state.get("pending", {})  # relpath -> [size, mtime] seen last tick
        handled: dict[str, list] = state.get("handled", {})  # relpath -> [size, mtime] already decided
        known = registered_content(context.instance, contract)
        requests: list[dg.RunRequest] = []
        new_keys: list[str] = []
        notes: list[str] = []
        listed = set()
        for f in zone.list(contract.source.pattern):
            if is_temporary(f.relpath):
                continue
            listed.add(f.relpath)
            signature = [f.size, f.mtime]
            if handled.get(f.relpath) == signature:
                continue
            if len(requests) >= MAX_RUNS_PER_TICK:
                notes.append(f"{f.relpath}: deferred to the next tick ({MAX_RUNS_PER_TICK} runs per tick)")
                continue
            if not _ready(zone, f, marker):
                notes.append(f"{f.relpath}: waiting for its {marker} marker")
                continue
            if marker is None and pending.get(f.relpath) != signature:
                pending[f.relpath] = signature
                notes.append(f"{f.relpath}: new or still changing; waiting one tick for size and mtime to settle")
                continue
            try:
                sha = zone.sha256(f)
            except LandingFileChanged:
                pending.pop(f.relpath, None)  # rewritten while we read it: start the stability wait again
                notes.append(f"{f.relpath}: changed while being read; retrying next tick")
                continue
            pending.pop(f.relpath, None)
            handled[f.relpath] = signature
            source = SourceFile(
                dataset=contract.name, name=PurePosixPath(f.relpath).name, sha256=sha, size=f.size, uri=f.uri
            )
            if source.content_id in known:
                notes.append(
                    f"{f.relpath}: same content (sha256 {sha[:16]}…) as partition "
                    f"'{known[source.content_id]}': already registered, not processed again"
                )
                continue
            key = source.partition_key
            known[source.content_id] = key
            new_keys.append(key)
            requests.append(
                dg.RunRequest(
                    run_key=key,
                    partition_key=key,
                    run_config=execution_config(f.size),
                    tags={**source_tags(source), names.TRIGGER_TAG: "sensor"},
                )
            )
        # files that disappeared are forgotten, so the cursor does not grow forever
        state = {
            "pending": {k: v for k, v in pending.items() if k in listed},
            "handled": {k: v for k, v in handled.items() if k in listed},
        }
        for note in notes:
            context.log.info(note)
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[parts.build_add_request(new_keys)] if new_keys else None,
            cursor=json.dumps(state, sort_keys=True),
            skip_reason=None if requests else ("; ".join(notes[:20]) or "no new files"),
        )

    return landing_sensor
