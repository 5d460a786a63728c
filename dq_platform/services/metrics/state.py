"""The exporter's running totals and latest values, fed one finished run (or alert delivery) at a time.

Everything a label can take is bounded here: datasets, layers and tables come from the contracts
(anything else is "-" or "other"), checks and steps from the definitions, triggers and kinds from
the platform's tags. Partitions, file names, run ids and users are read only to keep state (which
files are held for review), never turned into a label.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass

import dagster as dg
from dagster import DagsterEventType

from dq_platform import names
from dq_platform.contract import Contract, modeling_tables, parse_duration
from dq_platform.ops.audit import trigger_of
from dq_platform.services.metrics.catalog import BY_NAME, RUN_BUCKETS, STAGE_BUCKETS

KINDS = {
    names.PUBLISH_KIND,
    names.REVIEW_KIND,
    names.ROLLBACK_KIND,
    names.EXTRACT_KIND,
    names.MAINTENANCE_KIND,
    names.HEALTH_KIND,
    names.HISTORY_CHECKS_KIND,
}
# the kinds of trigger audit.trigger_of names (sensor:<name> -> sensor, ui:<user> -> ui); any other dq/trigger is "other"
TRIGGERS = {"sensor", "schedule", "backfill", "ui", "cli", "demo", "api"}
_WORD = re.compile(r"[a-z][a-z0-9_]{0,23}")
_ROWS = {  # (layer, materialization metadata key) -> counter
    ("raw", "rows_in"): "dq_rows_received_total",
    ("cleaned", "rows_cleaned"): "dq_rows_cleaned_total",
    ("cleaned", "rows_quarantined"): "dq_rows_quarantined_total",
    ("masked", "rows_masked"): "dq_rows_published_total",
}
_RULE_PREFIX = "rule/"
_RULE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_STATUS = {
    dg.DagsterRunStatus.SUCCESS: "success",
    dg.DagsterRunStatus.FAILURE: "failure",
    dg.DagsterRunStatus.CANCELED: "canceled",
}


@dataclass(frozen=True)
class TableOf:
    dataset: str
    layer: str


def table_index(contracts: list[Contract]) -> dict[str, TableOf]:
    """Every table (asset) name a contract claims -> its dataset and layer."""
    out: dict[str, TableOf] = {}
    for c in contracts:
        for layer, table in zip(("raw", "cleaned", "quarantine", "masked"), names.file_layers(c.name)):
            out[table] = TableOf(c.name, layer)
        for agg in c.aggregations:
            out[names.gold(c.name, agg.name)] = TableOf(c.name, "gold")
        for table in modeling_tables(c):
            out[table] = TableOf(c.name, "model")
        out[names.anomalies(c.name)] = TableOf(c.name, "anomalies")
        out[names.postgres(c.name)] = TableOf(c.name, "postgres")
    return out


def _value(v):
    return getattr(v, "value", v)


def _rule(key: str) -> str:
    """A rule id (`column:check` from the contract, or a platform rule such as `_review:rejected`), else "other"."""
    rule = key.removeprefix(_RULE_PREFIX)
    return rule if _RULE.fullmatch(rule) else "other"


class Histogram:
    def __init__(self, bounds: tuple[float, ...]):
        self.bounds, self.counts, self.sum = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, v)] += 1
        self.sum += v

    def cumulative(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts):
            total += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), total))
        return out


class MetricsState:
    """Totals and latest values keyed by label tuples, in the label order of catalog.METRICS."""

    def __init__(self, contracts: list[Contract]):
        self.contracts = {c.name: c for c in contracts}
        self.tables = table_index(contracts)
        self.values: dict[str, dict[tuple, float]] = defaultdict(dict)
        self.histograms: dict[str, dict[tuple, Histogram]] = defaultdict(dict)
        self.latest_failure: dict[str, tuple[float, float]] = {}  # dataset -> (timestamp, ratio)
        self.published_at: dict[str, float] = {}
        self.held: dict[str, set[str]] = defaultdict(set)  # dataset -> partitions held (state, never a label)
        self.incidents: dict[tuple, float] = {}
        for c in contracts:  # series that exist from the start, so a query answers 0 rather than nothing
            for counter in _ROWS.values():
                self.values[counter][(c.name,)] = 0.0
            self.values["dq_pii_gate_blocks_total"][(c.name, "masked", names.MASKED_PII_CHECK)] = 0.0
            self.values["dq_dataset_consecutive_failed_runs"][(c.name,)] = 0.0
            for level in ("warn", "review", "error"):
                v = getattr(c.failure_rate, level)
                if v is not None:
                    self.values["dq_failure_ratio_threshold"][(c.name, level)] = float(v)
            if c.freshness is not None:
                sla = parse_duration(c.freshness.max_lag).total_seconds()
                self.values["dq_dataset_freshness_sla_seconds"][(c.name,)] = sla

    # -- labels ---------------------------------------------------------------------------------

    def dataset(self, name: str | None) -> str:
        return name if name in self.contracts else "-"

    def table(self, name: str) -> tuple[str, str, str]:
        """(dataset, layer, table) of an asset, or ("-", "other", "other") for one no contract claims."""
        t = self.tables.get(name)
        if t is not None:
            return t.dataset, t.layer, name
        if name in (names.ALERT_DELIVERIES, names.RUN_REPORTS, names.PLATFORM_HEALTH):
            return "-", "platform", name
        return "-", "other", "other"

    def stage(self, step_key: str) -> str:
        if step_key in self.tables:
            return self.tables[step_key].layer
        if step_key.endswith("_history_checks"):
            return "history_checks"
        for prefix, stage in (("clean_", "cleaned"), ("semantic_", "model"), ("raw_", "raw"), ("masked_", "masked")):
            if step_key.startswith(prefix):
                return stage
        return "checks" if "check" in step_key else "other"

    @staticmethod
    def kind(run: dg.DagsterRun) -> str:
        kind = run.tags.get(names.KIND_TAG)
        if kind in KINDS:
            return kind
        if names.dataset_of_pipeline(run.job_name):
            return "pipeline"
        return "health" if run.job_name == names.HEALTH_JOB else "other"

    @staticmethod
    def trigger(tags: dict) -> str:
        """sensor, schedule, backfill, ui, cli, demo, ...: the kind of trigger, never a user or a sensor's name."""
        word = trigger_of(tags).split(":", 1)[0]
        return word if word in TRIGGERS else "other"

    # -- feeding --------------------------------------------------------------------------------

    def add(self, metric: str, labels: tuple, by: float = 1.0) -> None:
        assert len(labels) == len(BY_NAME[metric].labels), metric
        series = self.values[metric]
        series[labels] = series.get(labels, 0.0) + by

    def apply_run(self, record: dg.RunRecord, events: list) -> None:
        """One finished run: its record (status, times, tags) and its stored events."""
        run = record.dagster_run
        status = _STATUS.get(run.status, run.status.value.lower())
        dataset = self.dataset(run.tags.get(names.DATASET_TAG) or names.dataset_of_pipeline(run.job_name))
        kind = self.kind(run)
        self.add("dq_runs_total", (dataset, kind, status, self.trigger(run.tags)))
        if record.start_time and record.end_time:
            hist = self.histograms["dq_run_duration_seconds"]
            hist.setdefault((dataset, kind), Histogram(RUN_BUCKETS)).observe(record.end_time - record.start_time)
        if kind == "pipeline" and dataset != "-" and status in ("success", "failure"):
            series = self.values["dq_dataset_consecutive_failed_runs"]
            series[(dataset,)] = series.get((dataset,), 0.0) + 1 if status == "failure" else 0.0
        for rec in events:
            self._apply_event(rec)
        if status == "success" and kind == names.REVIEW_KIND:  # a decision ends the hold on that file
            ds = self.dataset(run.tags.get(f"{names.REVIEW_TAG}dataset"))
            self.held[ds].discard(run.tags.get(f"{names.REVIEW_TAG}partition", ""))
        if status == "success" and kind == names.ROLLBACK_KIND:
            self.add("dq_table_rollbacks_total", self.table(run.tags.get(f"{names.ROLLBACK_TAG}table", "")))

    def _apply_event(self, rec) -> None:
        entry = rec.event_log_entry
        event = entry.dagster_event
        if event is None:
            return
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            self._materialized(mat.asset_key.path[-1], mat.partition, mat.metadata, entry.timestamp)
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            dataset, layer, _ = self.table(ev.asset_key.path[-1])
            outcome = "passed" if ev.passed else "failed"
            self.add("dq_check_evaluations_total", (dataset, layer, ev.check_name, ev.severity.value, outcome))
            if ev.check_name in names.PII_LEAK_CHECKS and not ev.passed:
                self.add("dq_pii_gate_blocks_total", (dataset, layer, ev.check_name))
        elif event.event_type == DagsterEventType.STEP_SUCCESS and event.step_key:
            seconds = event.event_specific_data.duration_ms / 1000.0
            dataset = self._step_dataset(event.step_key)
            hist = self.histograms["dq_stage_duration_seconds"]
            hist.setdefault((dataset, self.stage(event.step_key)), Histogram(STAGE_BUCKETS)).observe(seconds)
        elif event.event_type == DagsterEventType.ASSET_OBSERVATION:
            obs = event.event_specific_data.asset_observation
            new = obs.metadata.get(f"{names.ROLLBACK_TAG}new_version")
            if new is not None:
                self.values["dq_table_version"][self.table(obs.asset_key.path[-1])] = float(_value(new))

    def _step_dataset(self, step_key: str) -> str:
        if step_key in self.tables:
            return self.tables[step_key].dataset
        for name in self.contracts:  # clean_<dataset>, semantic_<dataset>, <table>_history_checks
            if step_key.endswith(f"_{name}") or step_key.startswith(f"{name}_") or f"_{name}_" in step_key:
                return name
        return "-"

    def _materialized(self, table: str, partition: str | None, metadata: dict, ts: float) -> None:
        dataset, layer, label = self.table(table)
        for (on, key), counter in _ROWS.items():
            if layer == on and key in metadata:
                self.add(counter, (dataset,), float(_value(metadata[key])))
        if layer == "quarantine":
            for key, v in metadata.items():
                if key.startswith(_RULE_PREFIX):
                    self.add("dq_quarantined_rows_by_rule_total", (dataset, _rule(key)), float(_value(v)))
        if layer == "cleaned" and "failure_rate" in metadata and ts >= self.latest_failure.get(dataset, (0, 0))[0]:
            self.latest_failure[dataset] = (ts, float(_value(metadata["failure_rate"])))
        if layer == "cleaned" and partition:
            if _value(metadata.get(names.GATES_KEY)) == names.HELD:
                self.held[dataset].add(partition)
            else:
                self.held[dataset].discard(partition)
        if layer == "masked":
            self.published_at[dataset] = max(ts, self.published_at.get(dataset, 0.0))
        if "delta_version" in metadata and label != "other":
            self.values["dq_table_version"][(dataset, layer, label)] = float(_value(metadata["delta_version"]))

    def apply_delivery(self, metadata: dict) -> None:
        channel = str(_value(metadata.get("channel", "other")))
        outcome = str(_value(metadata.get("status", "other")))
        self.add(
            "dq_alert_deliveries_total",
            (channel if _WORD.fullmatch(channel) else "other", outcome if _WORD.fullmatch(outcome) else "other"),
        )

    def set_incidents(self, incidents: list[dict]) -> None:
        """The open incidents of both alert sensors (their saved state), counted by dataset and severity."""
        counts: dict[tuple, float] = {}
        for alert in incidents:
            key = (self.dataset(alert.get("dataset")), str(alert.get("severity", "-")))
            counts[key] = counts.get(key, 0.0) + 1
        self.incidents = counts

    # -- reading out ------------------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, dict[tuple, float]]:
        """Every gauge and counter by name -> {labels: value}, with the values computed at scrape time."""
        out = {name: dict(series) for name, series in self.values.items()}
        out["dq_latest_file_failure_ratio"] = {(d,): v for d, (_, v) in self.latest_failure.items()}
        out["dq_dataset_last_published_timestamp_seconds"] = {(d,): ts for d, ts in self.published_at.items()}
        out["dq_dataset_freshness_lag_seconds"] = {(d,): max(now - ts, 0.0) for d, ts in self.published_at.items()}
        out["dq_files_held_for_review"] = {(d,): float(len(self.held.get(d, ()))) for d in self.contracts}
        severities = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
        out["dq_alert_incidents_open"] = {("-", s): 0.0 for s in severities} | self.incidents
        return out
