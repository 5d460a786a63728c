"""Sensors that start a run when a file lands: one per contract, local folder or S3 alike.

One sensor per contract (not one per landing zone that routes): each dataset's files then have
their own cursor, tick history, skip reasons and on/off switch in the UI, and a slow or broken
dataset never holds another one back. All of them list the same landing zone through one
`LandingZone` interface (local folder or s3://bucket/prefix), chosen by configuration.

State that must survive restarts lives in Dagster: registered partitions (their keys carry the
content hash, so "already registered" is a look-up) and the sensor cursor (files seen but not yet
stable, the size/mtime of files already handled, and the files whose run has not ended yet).
The landing zone is never modified.

A registered file is processed only once its newest run ended with a verdict (run_state.py). A
file whose run died is retried: up to DQ_RETRY_ATTEMPTS runs in all, the n-th retry
DQ_RETRY_BACKOFF_SECONDS * 2**(n-1) after the last one ended; then the sensor gives up and logs
an error (the dead runs' CRITICAL run-failure incident stays open, with its reminders).

When several new files of a dataset are ready in one tick, they go to batch runs (up to
DQ_BATCH_FILES each, defs/batch.py; one per run the instance starts at once, at most the cores):
the fixed cost of a run is paid once per batch, and each file still gets its own pipeline run. A
file a batch did not reach (its process died) is requested again alone.
"""

import hashlib
import json
import math
import os
import time
import warnings
from pathlib import PurePosixPath

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import Contract
from dq_platform.defs.batch import batch_files
from dq_platform.defs.execution import execution_config
from dq_platform.defs.layers import partitions_def
from dq_platform.defs.partitions import registered_content, source_tags
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.defs.run_state import IN_PROGRESS, FileRun, file_state, file_states, mark_dead_run_failed
from dq_platform.io.landing import SourceFile
from dq_platform.io.landing_zones import LandingFile, LandingFileChanged, LandingZone, is_temporary

# Dagster re-creates a sensor that targets several jobs when it resolves them and passes `owners`
# (None here) along, which it then reports as a beta parameter: noise in every run's console
warnings.filterwarnings(
    "ignore", message="Parameter `owners` of initializer `SensorDefinition", category=dg.BetaWarning
)

MAX_RUNS_PER_TICK = 25  # keeps a tick short when many files land at once; the rest follow next tick
REQUEST_LOST_SECONDS = 300  # a requested run that does not exist after this long is requested again


def sensor_interval_seconds() -> int:
    return settings.number("DQ_SENSOR_INTERVAL_SECONDS", int)


def _retry_due(run: FileRun, now: float) -> tuple[bool, str]:
    """(retry now?, why not) for a file whose newest run died."""
    limit = settings.number("DQ_RETRY_ATTEMPTS", int)
    if run.attempts >= limit:
        return False, f"gave up after {run.attempts} runs that did not finish (DQ_RETRY_ATTEMPTS={limit})"
    wait = settings.number("DQ_RETRY_BACKOFF_SECONDS") * 2 ** max(run.attempts - 1, 0)
    if run.ended is not None and now - run.ended < wait:
        return False, f"retry {run.attempts} of {limit - 1} due in {wait - (now - run.ended):.0f}s"
    return True, ""


def _ready(zone: LandingZone, f: LandingFile, marker: str | None) -> bool:
    if marker is None:
        return True
    if marker == ".done":
        return zone.exists(f.relpath + ".done")
    folder = str(PurePosixPath(f.relpath).parent)
    return zone.exists("_SUCCESS" if folder == "." else f"{folder}/_SUCCESS")


def _batch_ended(instance: dg.DagsterInstance, dataset: str, batch: str) -> bool:
    """Whether the batch run `batch` exists and ended (a file it did not reach then needs a run of its own)."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=names.batch_job(dataset), tags={names.BATCH_TAG: batch}), limit=1
    )
    return bool(records) and records[0].dagster_run.status not in IN_PROGRESS


def run_lanes(instance: dg.DagsterInstance) -> int:
    """How many runs the instance starts at once, at most the cores here: new files are spread over
    that many batch runs, so a burst of small files uses every core (1 without a run queue)."""
    queue = instance.get_concurrency_config().run_queue_config
    limit = queue.max_concurrent_runs if queue is not None else 1
    return max(1, min(limit if limit > 0 else 1, os.cpu_count() or 1))


def build_file_sensor(contract: Contract, pipeline_job=None, batch_job=None) -> dg.SensorDefinition:
    """`pipeline_job` and `batch_job` (the definitions' own): several ready files then share a batch run;
    without them, a run per file."""
    parts = partitions_def(contract.name)
    marker = contract.source.ready_marker
    batching = pipeline_job is not None and batch_job is not None
    target = {"jobs": [pipeline_job, batch_job]} if batching else {"job_name": names.pipeline_job(contract.name)}
    pipeline_name = names.pipeline_job(contract.name)

    @dg.sensor(
        name=names.landing_sensor(contract.name),
        **target,
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts {contract.name}_pipeline for each new file matching '{contract.source.pattern}' "
        f"in the landing zone, once it is complete"
        + (
            f" (its {marker} marker exists)."
            if marker
            else " (size and mtime unchanged for a whole sensor interval: over two ticks, or an older mtime)."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource) -> dg.SensorResult:
        zone = landing.zone()
        state = json.loads(context.cursor) if context.cursor else {}
        pending: dict[str, list] = state.get("pending", {})  # relpath -> [size, mtime] seen last tick
        handled: dict[str, list] = state.get("handled", {})  # relpath -> [size, mtime] already decided
        inflight: dict[str, dict] = state.get("inflight", {})  # partition -> file: its run has not ended yet
        known = registered_content(context.instance, contract)
        now = time.time()
        requests: list[dg.RunRequest] = []
        batch_size = max(settings.number("DQ_BATCH_FILES", int), 1) if batching else 1
        fresh: list[tuple[str, dict]] = []  # new files this tick: batched at the end when several
        batches_ended: dict[str, bool] = {}
        new_keys: list[str] = []
        notes: list[str] = []
        listed = set()

        lanes = run_lanes(context.instance) if batch_size > 1 else 1
        interval = sensor_interval_seconds()

        def per_batch() -> int:  # at least one batch per lane, none above DQ_BATCH_FILES, sizes even
            batches = max(min(lanes, len(fresh)), math.ceil(len(fresh) / batch_size), 1)
            return max(1, math.ceil(len(fresh) / batches))

        def planned() -> int:
            return len(requests) + math.ceil(len(fresh) / per_batch())

        def request(key: str, item: dict, attempt: int, alone: bool = False) -> None:
            inflight[key] = {k: v for k, v in item.items() if k != "batch"} | {"at": now}
            if attempt == 1 and batch_size > 1 and not alone:
                fresh.append((key, inflight[key]))
                return
            requests.append(
                dg.RunRequest(
                    run_key=key if attempt == 1 else f"{key}#{attempt}",
                    job_name=pipeline_name if batching else None,
                    partition_key=key,
                    run_config=execution_config(item["size"]),
                    tags={**item["tags"], names.TRIGGER_TAG: "sensor", names.ATTEMPT_TAG: str(attempt)},
                )
            )

        def batch_gone(item: dict) -> bool:
            batch = item.get("batch")
            if not batch:
                return False
            if batch not in batches_ended:
                batches_ended[batch] = _batch_ended(context.instance, contract.name, batch)
            return batches_ended[batch]

        def follow(key: str, item: dict, run: FileRun | None = None) -> str:
            """Decide on a registered file from its newest run: 'done', 'waiting' or 'requested'."""
            run = run or file_state(context.instance, contract.name, key)
            if run.state == "crashed" and run.ended is None:  # dead worker, the run still says STARTED
                mark_dead_run_failed(context.instance, run.run, run.reason)
                run = file_state(context.instance, contract.name, key)
            if run.state in ("done", "canceled"):
                inflight.pop(key, None)
                return "done"
            if run.state == "running":
                inflight.setdefault(key, {**item, "at": now})
                return "waiting"
            if run.state == "none":  # registered, no run yet (or its request was lost): start it
                if key not in inflight or now - inflight[key]["at"] > REQUEST_LOST_SECONDS:
                    request(key, item, 1)
                    return "requested"
                if batch_gone(inflight[key]):  # its batch ended without reaching it: a run of its own now
                    context.log.warning(f"{item['relpath']}: its batch run ended before processing it; requested alone")
                    request(key, item, 1, alone=True)
                    return "requested"
                return "waiting"
            due, why = _retry_due(run, time.time())
            if due:
                context.log.warning(f"{item['relpath']}: run {run.run.run_id} did not finish ({run.reason}); retrying")
                request(key, item, run.attempts + 1)
                return "requested"
            if why.startswith("gave up"):
                inflight.pop(key, None)
                context.log.error(f"{item['relpath']} ({key}): {why}; its last run {run.run.run_id} failed")
            else:
                inflight.setdefault(key, {**item, "at": now})
            notes.append(f"{item['relpath']}: {why}")
            return "waiting"

        # files whose run had not ended last tick: finished now, or died (retried with backoff, or given up)
        states = file_states(context.instance, contract.name, list(inflight))
        for key, item in list(inflight.items()):
            if planned() >= MAX_RUNS_PER_TICK:
                break
            follow(key, item, states[key])

        for f in zone.list(contract.source.pattern):
            if is_temporary(f.relpath):
                continue
            listed.add(f.relpath)
            signature = [f.size, f.mtime]
            if handled.get(f.relpath) == signature:
                continue
            if planned() >= MAX_RUNS_PER_TICK:
                notes.append(f"{f.relpath}: deferred to the next tick ({MAX_RUNS_PER_TICK} runs per tick)")
                continue
            if not _ready(zone, f, marker):
                notes.append(f"{f.relpath}: waiting for its {marker} marker")
                continue
            # settled: unchanged over a whole interval, seen on two ticks or told by an mtime that old
            # (a file already waiting when the sensor first lists it does not wait one more tick)
            if marker is None and pending.get(f.relpath) != signature and now - f.mtime < interval:
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
            item = {"relpath": f.relpath, "size": f.size, "tags": source_tags(source)}
            if source.content_id in known:
                key = known[source.content_id]
                same = f"{f.relpath}: same content (sha256 {sha[:16]}…) as partition '{key}': already registered"
                if key in inflight:
                    notes.append(f"{same}, its run has not finished yet")
                elif follow(key, item) == "done":
                    notes.append(f"{same} and processed, not processed again")
                continue
            key = source.partition_key
            known[source.content_id] = key
            new_keys.append(key)
            request(key, item, 1)
        size = per_batch()
        for start in range(0, len(fresh), size):
            chunk = fresh[start : start + size]
            if len(chunk) == 1:
                key, item = chunk[0]
                request(key, item, 1, alone=True)
                continue
            keys = [key for key, _ in chunk]
            batch = "batch-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
            for _, item in chunk:
                item["batch"] = batch
            files = [{"partition": k, "relpath": i["relpath"], "size": i["size"], "tags": i["tags"]} for k, i in chunk]
            requests.append(
                dg.RunRequest(
                    run_key=batch,
                    job_name=names.batch_job(contract.name),
                    run_config=batch_files(contract.name, files),
                    tags={names.TRIGGER_TAG: "sensor", names.BATCH_TAG: batch},
                )
            )
        # files that disappeared are forgotten, so the cursor does not grow forever
        state = {
            "pending": {k: v for k, v in pending.items() if k in listed},
            "handled": {k: v for k, v in handled.items() if k in listed},
            "inflight": inflight,
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
