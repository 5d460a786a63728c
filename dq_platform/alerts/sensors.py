"""The alert sensors, delivery fan-out, and the delivery record the audit command lists.

Two sensors read Dagster's event log in storage-id order from a JSON cursor that also holds the
open incidents (alerting.Incidents), so dedup, reminders and resolutions survive restarts:

- `dq_check_alerts`: every asset check evaluation, blocking or not (a failed WARN check leaves its
  run SUCCESS, so a run-failure sensor never sees it), freshness checks included.
- `dq_run_failure_alerts`: every job's RUN_FAILURE (and RUN_SUCCESS, which resolves it). Not
  `dg.run_failure_sensor`: that sensor owns its cursor, so it could keep neither the incidents nor
  see the success that resolves them.

One incident, one page: a run that failed only because a blocking gate failed (Dagster's
DagsterAssetCheckFailedError) is reported once, by the check sensor, as HIGH (or CRITICAL for a
PII leak). The run-failure sensor pages CRITICAL only for runs that failed for another reason.

Each delivery attempt is recorded as an AssetObservation of `dq_alert_deliveries` (shown in the UI),
metadata redacted, and failures are logged on the sensor tick; a failing channel never stops the
other channels nor the tick.
"""

import datetime as dt
from collections.abc import Callable

import dagster as dg

from dq_platform import names, settings
from dq_platform.alerts.channels import Delivery, DeliveryError, channels_for, redact
from dq_platform.alerts.policy import (
    Alert,
    Incidents,
    alert_from,
    check_alert,
    dumps_state,
    held_file_findings,
    incident_key,
    loads_state,
    redelivery_window,
    reminder_period,
    review_required_alert,
    routes,
    run_failure_alert,
    scrub_error,
)
from dq_platform.contract import Contract, modeling_tables
from dq_platform.io.warehouse import Warehouse

DELIVERIES_KEY = dg.AssetKey(names.ALERT_DELIVERIES)
CHECK_SENSOR = names.CHECK_ALERT_SENSOR
RUN_SENSOR = names.RUN_FAILURE_ALERT_SENSOR
BATCH = 500  # events per tick; the rest follow on the next tick

deliveries_spec = dg.AssetSpec(
    DELIVERIES_KEY,
    group_name="dq_alerts",
    kinds={"dagster"},
    description="One observation per alert delivery attempt (channel, status, attempts, redacted error). "
    "Listed by `dq-platform alerts list`.",
)


def sensor_interval_seconds() -> int:
    return settings.number("DQ_ALERT_SENSOR_INTERVAL_SECONDS", int)


# -- delivery ----------------------------------------------------------------------------


def deliver(
    alert: Alert,
    contract: Contract | None,
    instance: dg.DagsterInstance | None = None,
    log=None,
    console_stream=None,
    down: set[str] | None = None,
    only: set[str] | None = None,
) -> list[Delivery]:
    """Send to every channel routed for the alert's severity; one channel's failure never stops another.

    `down`: channels that already failed during this sensor tick. They are not tried again for the
    tick's other alerts (recorded as failed), so a dead endpoint cannot stretch a tick past its timeout.
    `only`: restrict to these channels (a redelivery of what failed earlier).
    """
    channels = channels_for(contract, console_stream)
    configured = {name for name, c in channels.items() if c.configured()}
    out = []
    for name in routes(alert.severity, contract, configured):
        if only is not None and name not in only:
            continue
        if down is not None and name in down:
            d = Delivery(name, "failed", 0, "not attempted: the channel failed earlier in this tick")
            out.append(d)
            if instance is not None:
                record_delivery(instance, alert, d)
            continue
        try:
            attempts = channels[name].send(alert)
            d = Delivery(name, "delivered", attempts)
        except DeliveryError as e:
            d = Delivery(name, "failed", e.attempts, redact(e))
        except Exception as e:  # noqa: BLE001 — isolation: a bug in one channel must not block the rest
            d = Delivery(name, "failed", 1, f"{type(e).__name__}: {redact(e)}")
        if d.status == "failed" and down is not None:
            down.add(name)
        if d.status == "failed" and log is not None:
            log.warning(
                f"alert {alert.alert_id} ({alert.kind} {alert.incident_key}) NOT delivered to {name} "
                f"after {d.attempts} attempt(s): {d.error}"
            )
        out.append(d)
        if instance is not None:
            record_delivery(instance, alert, d)
    return out


def record_delivery(instance: dg.DagsterInstance, alert: Alert, d: Delivery) -> None:
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=DELIVERIES_KEY,
            metadata={
                "alert_id": alert.alert_id,
                "kind": alert.kind,
                "severity": alert.severity.value,
                "dataset": alert.dataset,
                "asset": alert.asset or "-",
                "check": alert.check or "-",
                "partition": alert.partition or "-",
                "run_id": alert.run_id or "-",
                "incident_key": alert.incident_key,
                "channel": d.channel,
                "status": d.status,
                "attempts": d.attempts,
                "error": redact(d.error) or "-",
            },
        )
    )


def list_deliveries(
    instance: dg.DagsterInstance, *, since: float | None = None, status: str | None = None, limit: int = 100
) -> list[dict]:
    """Newest first: plain dicts with `timestamp` plus the recorded metadata (for `dq-platform audit`)."""
    out: list[dict] = []
    cursor = None
    while len(out) < limit:
        page = instance.fetch_observations(DELIVERIES_KEY, limit=max(limit, 100), cursor=cursor)
        for record in page.records:
            if since is not None and record.timestamp < since:
                return out
            obs = record.asset_observation
            row = {
                "timestamp": record.timestamp,
                "run_id": None,
                **{k: getattr(v, "value", v) for k, v in obs.metadata.items()},
            }
            if status is None or row.get("status") == status:
                out.append(row)
                if len(out) >= limit:
                    return out
        if not page.has_more:
            break
        cursor = page.cursor
    return out


# -- reading the event log ---------------------------------------------------------------


def _run_status_records(instance: dg.DagsterInstance, after: int) -> list:
    """RUN_FAILURE and RUN_SUCCESS events after a storage id, oldest first (index shard: any storage)."""
    from dagster._core.storage.event_log.base import EventLogCursor

    cursor = EventLogCursor.from_storage_id(after).to_string()
    records = [
        r
        for t in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS)
        for r in instance.fetch_run_status_changes(t, limit=BATCH, cursor=cursor, ascending=True).records
    ]
    return sorted(records, key=lambda r: r.storage_id)[:BATCH]


def _check_evaluations(instance: dg.DagsterInstance, check_keys, seen: dict[str, int], runs: dict) -> list:
    """New completed evaluations of each check, oldest first, from the asset-check execution table.

    That table is indexed on every storage (the run-sharded SQLite default cannot query check events
    across runs). `seen` maps a check to the last execution id handled; an execution of a run that has
    not finished (still PLANNED, or evaluated while later steps run) holds its check's cursor until
    the run ends, so the alert can link the run's report. `runs` caches run look-ups for the tick.
    """
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    def run_of(run_id: str):
        if run_id not in runs:
            runs[run_id] = instance.get_run_by_id(run_id)
        return runs[run_id]

    storage = instance.event_log_storage
    out = []
    for key in check_keys:
        name = key.to_user_string()
        after = seen.get(name, 0)
        for r in _executions_after(storage, key, after):
            if r.id <= after:
                continue
            run = run_of(r.run_id) if r.run_id else None
            if run is not None and not run.is_finished:
                break  # look again next tick, once the run has ended
            if r.status != Status.PLANNED and r.event is not None and r.event.dagster_event is not None:
                out.append(r)
            seen[name] = r.id
    return sorted(out, key=lambda r: r.id)


def _executions_after(storage, key, after: int, page: int = 50) -> list:
    """A check's executions with id > after, oldest first; pages back from the newest (at most BATCH)."""
    out, cursor = [], None
    while len(out) < BATCH:
        records = storage.get_asset_check_execution_history(key, limit=page, cursor=cursor)
        newer = [r for r in records if r.id > after]
        out += newer
        if len(records) < page or len(newer) < len(records):
            break
        cursor = records[-1].id
    return sorted(out, key=lambda r: r.id)


def latest_storage_id(instance: dg.DagsterInstance) -> int:
    """The newest run status event's storage id: a run-sensor cursor that starts "from now"."""
    ids = [
        r.storage_id
        for t in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS)
        for r in instance.fetch_run_status_changes(t, limit=1, ascending=False).records
    ]
    return max(ids, default=0)


def latest_check_ids(instance: dg.DagsterInstance, check_keys) -> dict[str, int]:
    """The newest execution id of each check: a check-sensor cursor that starts "from now"."""
    out = {}
    for key in check_keys:
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        if records:
            out[key.to_user_string()] = records[0].id
    return out


def dataset_index(contracts: list[Contract]) -> dict[str, Contract]:
    """Asset key -> contract, from the naming the asset factory uses."""
    out = {}
    for c in contracts:
        for prefix in ("raw_", "cleaned_", "quarantine_", "masked_"):
            out[prefix + c.name] = c
        for agg in c.aggregations:
            out[f"{c.name}_{agg.name}"] = c
        for table in modeling_tables(c):  # model and semantic-layer assets (contract/catalog.py)
            out[table] = c
        for suffix in ("_anomalies", "_postgres"):  # defs/anomalies.py, defs/postgres.py
            out[c.name + suffix] = c
    return out


Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _state_key(sensor_name: str) -> str:
    return f"dq_platform/alerts/{sensor_name}/state"


def shared_state(instance: dg.DagsterInstance, sensor_name: str) -> str | None:
    """The sensor's state as last saved by whoever evaluated it (daemon tick or `dq-platform demo`).

    Kept in the instance's key-value store beside the sensor cursor, so the demo's evaluation and the
    daemon's ticks continue one another: an incident the demo already announced is not announced again
    when the daemon starts.
    """
    key = _state_key(sensor_name)
    return instance.run_storage.get_cursor_values({key}).get(key)


def save_shared_state(instance: dg.DagsterInstance, sensor_name: str, state: str) -> None:
    instance.run_storage.set_cursor_values({_state_key(sensor_name): state})


def _load_state(context, name: str, start):
    """(position, incidents) as last saved by `_finish`: the shared state, else the sensor's own cursor."""
    return loads_state(shared_state(context.instance, name) or context.cursor, start)


def _alert_sensor(name: str, description: str):
    """The decorator both alert sensors share: running by default, at the configured interval."""
    return dg.sensor(
        name=name,
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )


def _finish(
    context,
    name: str,
    incidents: Incidents,
    position,
    sent: list[tuple[Alert, Contract | None]],
    now: dt.datetime,
    by_name: dict[str, Contract],
    stream=None,
):
    def period(dataset: str) -> dt.timedelta:
        return reminder_period(by_name.get(dataset))

    sent += [(a, by_name.get(a.dataset)) for a in incidents.reminders(now, period)]
    failed, down = 0, set()
    # First what failed on earlier ticks (in order, so a trigger still precedes its resolution), then the new.
    retry, incidents.outbox = incidents.outbox, []
    window = redelivery_window().total_seconds()
    for entry in retry:
        alert = alert_from(entry["alert"])
        results = deliver(
            alert, by_name.get(alert.dataset), context.instance, context.log, stream, down, only=set(entry["channels"])
        )
        still = [d.channel for d in results if d.status == "failed"]
        failed += len(still)
        if still and now.timestamp() - entry["first_failed"] < window:
            incidents.outbox.append({**entry, "channels": still})
        elif still:
            context.log.error(
                f"alert {alert.alert_id} ({alert.kind} {alert.incident_key}) given up on {still}: "
                f"undelivered for longer than {redelivery_window()}"
            )
    for alert, contract in sent:
        results = deliver(alert, contract, context.instance, context.log, stream, down)
        still = [d.channel for d in results if d.status == "failed"]
        failed += len(still)
        if still:
            incidents.outbox.append({"alert": alert.to_dict(), "channels": still, "first_failed": now.timestamp()})
    # Saved after delivery: the outbox is part of the state (a crashed tick is re-evaluated whole).
    state = dumps_state(position, incidents)
    context.update_cursor(state)
    save_shared_state(context.instance, name, state)
    if sent:
        context.log.info(f"{len(sent)} alert(s) sent, {failed} channel delivery failure(s)")
    return sent


def build_check_alert_sensor(
    contracts: list[Contract],
    check_keys,
    now: Clock = _utcnow,
    console_stream=None,
    name: str = CHECK_SENSOR,
    warehouse: Warehouse | None = None,
) -> dg.SensorDefinition:
    """`warehouse`: where run reports are written; with it, alerts link the run's HTML report."""
    check_keys = sorted(check_keys, key=lambda k: k.to_user_string())
    index = dataset_index(contracts)
    by_name = {c.name: c for c in contracts}

    @_alert_sensor(
        name,
        "Alerts when an asset check (gate, WARN check, freshness SLA) goes from passing to "
        "failing, reminds while it keeps failing, and resolves when it passes again; "
        "asks a reviewer when a file is held for human review.",
    )
    def check_alerts(context: dg.SensorEvaluationContext):
        seen, incidents = _load_state(context, name, {})
        clock = now()
        sent: list[tuple[Alert, Contract | None]] = []
        runs: dict = {}
        records = _check_evaluations(context.instance, check_keys, seen, runs)
        related = held_file_findings(records, runs, index, incidents)
        for record in records:
            ev = record.event.dagster_event.event_specific_data
            asset = ev.asset_key.to_user_string()
            contract = index.get(asset)
            run_id = record.run_id or None
            run = runs.get(run_id) if run_id else None
            partition = ev.partition or (run.tags.get(names.PARTITION_TAG) if run else None)
            metadata = dict(ev.metadata)
            review = getattr(metadata.get(names.REVIEW_META), "value", None)
            if ev.check_name == names.REVIEW_CHECK and contract is not None:
                # one incident per held file: opened when it is held, resolved by the reviewer's decision
                alert = review_required_alert(
                    contract,
                    partition=partition or "-",
                    reason=ev.description,
                    run_id=run_id,
                    facts=metadata,
                    asset=asset,
                    check=ev.check_name,
                    related=related.get((contract.name, partition), {}).values(),
                )
            elif review in ("required", "rejected"):
                continue  # a consequence of a held or rejected file: its review alert says it once
            elif record.id in related.get((contract.name if contract else asset, partition), {}):
                continue  # listed in the held file's one review alert (one incident per file)
            else:
                alert = check_alert(
                    contract,
                    dataset=contract.name if contract else asset,
                    asset=asset,
                    check=ev.check_name,
                    severity=ev.severity.value,
                    passed=ev.passed,
                    partition=partition,
                    run_id=run_id,
                    description=ev.description,
                    metadata=metadata,
                )
            out = incidents.observe(alert, ev.passed, clock, reminder_period(contract))
            if out is None:
                continue
            if ev.check_name == names.REVIEW_CHECK and out.kind == "resolve":
                out.title = f"[RESOLVED] {out.dataset}: review decided for {out.partition}"
                out.summary = (ev.description or "")[:600]
            if warehouse is not None and out.run_id and out.kind != "resolve":
                out.report = _report_link(context.instance, out.run_id, warehouse, context.log)
            sent.append((out, contract))
        _finish(context, name, incidents, seen, sent, clock, by_name, console_stream)
        if not sent:
            return dg.SkipReason("no check changed state")

    return check_alerts


def _report_link(instance: dg.DagsterInstance, run_id: str, warehouse: Warehouse, log) -> str | None:
    """The run's HTML report, written now if its run-status sensor has not yet; never fails the tick."""
    from dq_platform.reports.run_report import ensure_reports

    try:
        return ensure_reports(instance, run_id, warehouse).get("html")
    except Exception as e:  # noqa: BLE001 — an alert without its report link still goes out
        log.warning(f"no report for run {run_id}: {type(e).__name__}: {redact(e)}")
        return None


def _failure_reason(instance: dg.DagsterInstance, run_id: str) -> tuple[bool, str]:
    """(only blocking gates failed, the first step's error, scrubbed of data values)."""
    failures = [
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    ]
    errors = [
        (f.step_key, f.event_specific_data.error)
        for f in failures
        if f.event_specific_data and f.event_specific_data.error
    ]
    if not errors:
        return False, "run failed before any step ran"
    roots = [(step, _root(err)) for step, err in errors]
    gates_only = all(err.cls_name in names.GATE_ERRORS for _, err in roots)
    step, err = roots[0]
    first_line = (err.message or "").strip().splitlines()[0] if (err.message or "").strip() else ""
    return gates_only, f"{step}: {err.cls_name}: {scrub_error(err.cls_name, first_line)}"


def _root(err):
    """The user's exception under Dagster's step wrapper."""
    while err.cause is not None and err.cls_name == "DagsterExecutionStepExecutionError":
        err = err.cause
    return err


def build_run_failure_alert_sensor(
    contracts: list[Contract],
    now: Clock = _utcnow,
    console_stream=None,
    name: str = RUN_SENSOR,
    warehouse: Warehouse | None = None,
) -> dg.SensorDefinition:
    by_name = {c.name: c for c in contracts}

    @_alert_sensor(
        name,
        "CRITICAL alert when a run of any job fails for a reason other than a blocking gate "
        "(gates are reported by dq_check_alerts); resolved by the job's next successful run.",
    )
    def run_failure_alerts(context: dg.SensorEvaluationContext):
        last, incidents = _load_state(context, name, 0)
        clock = now()
        records = _run_status_records(context.instance, last)
        sent: list[tuple[Alert, Contract | None]] = []
        for record in records:
            last = record.storage_id
            run = context.instance.get_run_by_id(record.event_log_entry.run_id)
            if run is None:
                continue
            dataset = run.tags.get(names.DATASET_TAG) or run.job_name
            contract = by_name.get(dataset)
            failed = record.event_log_entry.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
            if failed:
                gates_only, error = _failure_reason(context.instance, run.run_id)
                if gates_only:
                    context.log.info(f"run {run.run_id} failed on blocking gates only: reported by {CHECK_SENSOR}")
                    continue
                kind = run.tags.get(names.KIND_TAG)
                if kind in ("rollback", "review") and f"{kind} refused" in error:
                    # the platform declined an unsafe request: the run says why; nothing is broken
                    context.log.info(f"run {run.run_id}: a refused {kind}, not an incident")
                    continue
            else:
                error = ""
            alert = run_failure_alert(
                contract,
                dataset=dataset,
                job=run.job_name,
                run_id=run.run_id,
                partition=run.tags.get(names.PARTITION_TAG),
                error=error,
            )
            out = incidents.observe(alert, not failed, clock, reminder_period(contract))
            if out is not None:
                if warehouse is not None and out.kind != "resolve":
                    out.report = _report_link(context.instance, run.run_id, warehouse, context.log)
                sent.append((out, contract))
        _finish(context, name, incidents, last, sent, clock, by_name, console_stream)
        if not sent:
            return dg.SkipReason("no run failed or recovered")

    return run_failure_alerts


def build_alert_sensors(
    contracts: list[Contract], check_keys, warehouse: Warehouse | None = None
) -> list[dg.SensorDefinition]:
    return [
        build_check_alert_sensor(contracts, check_keys, warehouse=warehouse),
        build_run_failure_alert_sensor(contracts, warehouse=warehouse),
    ]


def starting_cursors(instance: dg.DagsterInstance, check_keys) -> dict[str, str]:
    """Where the demo's evaluation starts: the sensors' shared state when they have one (what the daemon or
    an earlier demo already announced), otherwise now (the demo alerts on its own runs only)."""
    return {
        CHECK_SENSOR: shared_state(instance, CHECK_SENSOR)
        or dumps_state(latest_check_ids(instance, check_keys), Incidents()),
        RUN_SENSOR: shared_state(instance, RUN_SENSOR) or dumps_state(latest_storage_id(instance), Incidents()),
    }


def run_alert_sensors_once(
    instance: dg.DagsterInstance,
    contracts: list[Contract],
    check_keys,
    cursors: dict[str, str | None],
    console_stream=None,
    warehouse: Warehouse | None = None,
) -> dict[str, str | None]:
    """Evaluate both sensors once, outside the daemon (the demo); returns their new cursors."""
    out = {}
    for sensor in (
        build_check_alert_sensor(contracts, check_keys, console_stream=console_stream, warehouse=warehouse),
        build_run_failure_alert_sensor(contracts, console_stream=console_stream, warehouse=warehouse),
    ):
        with dg.build_sensor_context(instance=instance, cursor=cursors.get(sensor.name)) as ctx:
            sensor.evaluate_tick(ctx)
            out[sensor.name] = ctx.cursor
    return out


__all__ = ["deliver", "list_deliveries", "build_alert_sensors", "incident_key", "DELIVERIES_KEY", "deliveries_spec"]
