"""Reads Dagster's run and event storage incrementally into a MetricsState (SQLite or PostgreSQL).

The cursor is an event storage id: each refresh asks the event log for the run status events
(RUN_SUCCESS, RUN_FAILURE, RUN_CANCELED) after it — an indexed query on every storage, the one
the run-failure alert sensor makes — then reads each newly finished run the way `dq-platform
audit` does: its run record, and one indexed query for its materializations, check evaluations,
step successes and observations. Alert deliveries (runless observations of `dq_alert_deliveries`)
have their own storage-id cursor; open incidents are the alert sensors' saved state. A refresh
therefore costs a few queries plus one per run that finished since the last one, never a scan.
"""

from __future__ import annotations

import json
import time

import dagster as dg
from dagster import DagsterEventType

from dq_platform import names
from dq_platform.alerts.sensors import DELIVERIES_KEY, shared_state
from dq_platform.services.metrics.state import MetricsState

FINISHED_EVENTS = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
RUN_EVENTS = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.ASSET_OBSERVATION,
}
BATCH = 200  # finished runs per read; a refresh reads batches until it is caught up or out of budget


class StorageReader:
    """Holds the cursors; `refresh()` brings the state up to date (or as far as its time budget allows)."""

    def __init__(self, instance: dg.DagsterInstance, state: MetricsState):
        self.instance, self.state = instance, state
        self.run_cursor = 0  # storage id of the newest run status event read
        self.delivery_cursor = 0  # storage id of the newest delivery observation read
        self.runs_read = 0
        self.seen: set[str] = set()  # runs already counted (a run with two status events counts once)
        self.caught_up = False
        self.last_refresh_seconds = 0.0

    def refresh(self, budget_seconds: float | None = None) -> bool:
        """Read what is new; True when nothing is left to read. `budget_seconds` bounds the time spent on runs."""
        started = time.perf_counter()
        done = False
        while not done:
            done = self._read_runs() < BATCH
            if budget_seconds is not None and time.perf_counter() - started > budget_seconds:
                break
        self._read_deliveries()
        self._read_incidents()
        self.caught_up = done
        self.last_refresh_seconds = time.perf_counter() - started
        return done

    def _read_runs(self) -> int:
        """One batch of newly finished runs, in event-log order; returns how many status events it read."""
        from dagster._core.storage.event_log.base import EventLogCursor

        cursor = EventLogCursor.from_storage_id(self.run_cursor).to_string()
        records = sorted(
            (
                r
                for t in FINISHED_EVENTS
                for r in self.instance.fetch_run_status_changes(t, limit=BATCH, cursor=cursor, ascending=True).records
            ),
            key=lambda r: r.storage_id,
        )[:BATCH]
        if not records:
            return 0
        run_ids = list(dict.fromkeys(r.run_id for r in records))
        by_id = {r.dagster_run.run_id: r for r in self.instance.get_run_records(filters=dg.RunsFilter(run_ids=run_ids))}
        for run_id in run_ids:
            record = by_id.get(run_id)  # None: deleted since (retention)
            if record is not None and record.dagster_run.is_finished and run_id not in self.seen:
                self.seen.add(run_id)
                events = self.instance.get_records_for_run(run_id, of_type=RUN_EVENTS).records
                self.state.apply_run(record, events)
                self.runs_read += 1
        self.run_cursor = records[-1].storage_id
        return len(records)

    def _read_deliveries(self) -> None:
        while True:
            page = self.instance.fetch_observations(
                dg.AssetRecordsFilter(asset_key=DELIVERIES_KEY, after_storage_id=self.delivery_cursor or None),
                limit=1000,
                ascending=True,
            )
            for record in page.records:
                self.state.apply_delivery(record.asset_observation.metadata)
                self.delivery_cursor = max(self.delivery_cursor, record.storage_id)
            if not page.has_more:
                return

    def _read_incidents(self) -> None:
        incidents = []
        for sensor in (names.CHECK_ALERT_SENSOR, names.RUN_FAILURE_ALERT_SENSOR):
            saved = shared_state(self.instance, sensor)
            if saved:
                incidents += [entry["alert"] for entry in (json.loads(saved).get("incidents") or {}).values()]
        self.state.set_incidents(incidents)
