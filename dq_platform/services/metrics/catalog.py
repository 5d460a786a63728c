"""Every metric the exporter serves: name, type, labels and HELP text, in one list.

Labels are bounded by the contracts and the platform's own names (dataset, layer, table, check,
severity, status, trigger, kind, stage, rule, channel, outcome): never a partition, a file name,
a run id, a user or a value from the data. docs/metrics.md lists the same metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

# Buckets (seconds): a file's run takes seconds to minutes; one step from a tenth of a second up.
RUN_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter | gauge | histogram
    labels: tuple[str, ...]
    help: str


METRICS: tuple[Metric, ...] = (
    Metric("dq_rows_received_total", "counter", ("dataset",), "Rows received in raw, from finished runs."),
    Metric("dq_rows_cleaned_total", "counter", ("dataset",), "Rows that passed every row rule into cleaned."),
    Metric("dq_rows_quarantined_total", "counter", ("dataset",), "Rows rejected by row rules into quarantine."),
    Metric(
        "dq_rows_published_total",
        "counter",
        ("dataset",),
        "Rows published to the masked (PII-masked, GDPR-safe) layer.",
    ),
    Metric(
        "dq_quarantined_rows_by_rule_total",
        "counter",
        ("dataset", "rule"),
        "Quarantined rows per failed contract rule (a row failing two rules counts for both).",
    ),
    Metric(
        "dq_latest_file_failure_ratio",
        "gauge",
        ("dataset",),
        "Share of rows of the dataset's latest file that failed row rules (0-1).",
    ),
    Metric(
        "dq_failure_ratio_threshold",
        "gauge",
        ("dataset", "level"),
        "The contract's failure-rate thresholds (0-1): warn, review (human decision) and error (file rejected).",
    ),
    Metric(
        "dq_check_evaluations_total",
        "counter",
        ("dataset", "layer", "check", "severity", "outcome"),
        "Asset check evaluations by check, severity (ERROR blocks, WARN does not) and outcome (passed, failed).",
    ),
    Metric(
        "dq_runs_total",
        "counter",
        ("dataset", "kind", "status", "trigger"),
        "Finished runs by dataset, kind (pipeline, publish, review, ...), final status and what started them.",
    ),
    Metric(
        "dq_dataset_consecutive_failed_runs",
        "gauge",
        ("dataset",),
        "Pipeline runs of the dataset that failed in a row since its last successful one.",
    ),
    Metric(
        "dq_run_duration_seconds",
        "histogram",
        ("dataset", "kind"),
        "Wall time of finished runs, from start to end.",
    ),
    Metric(
        "dq_stage_duration_seconds",
        "histogram",
        ("dataset", "stage"),
        "Wall time of successful steps by stage (raw, clean, masked, gold, model, checks, ...).",
    ),
    Metric(
        "dq_dataset_last_published_timestamp_seconds",
        "gauge",
        ("dataset",),
        "Unix time of the newest write of the dataset's published (masked) table.",
    ),
    Metric(
        "dq_dataset_freshness_lag_seconds",
        "gauge",
        ("dataset",),
        "Age of the dataset's published (masked) table at scrape time.",
    ),
    Metric(
        "dq_dataset_freshness_sla_seconds",
        "gauge",
        ("dataset",),
        "The contract's freshness SLA: the largest lag allowed (freshness.max_lag).",
    ),
    Metric(
        "dq_files_held_for_review",
        "gauge",
        ("dataset",),
        "Files held between the review and error thresholds, waiting for a reviewer's decision.",
    ),
    Metric(
        "dq_alert_incidents_open",
        "gauge",
        ("dataset", "severity"),
        "Alert incidents open now (announced and not yet resolved) by severity.",
    ),
    Metric(
        "dq_alert_deliveries_total",
        "counter",
        ("channel", "outcome"),
        "Alert delivery attempts by channel (console, slack, email, pagerduty, webhook) and outcome (delivered, failed).",
    ),
    Metric(
        "dq_pii_gate_blocks_total",
        "counter",
        ("dataset", "layer", "check"),
        "Evaluations of a PII-leak gate that found PII and blocked publication.",
    ),
    Metric(
        "dq_table_version",
        "gauge",
        ("dataset", "layer", "table"),
        "Current Delta Lake version of each table, from its newest write or rollback.",
    ),
    Metric(
        "dq_table_rollbacks_total",
        "counter",
        ("dataset", "layer", "table"),
        "Successful rollbacks of a table to an earlier version.",
    ),
    Metric(
        "dq_exporter_ready",
        "gauge",
        (),
        "1 once the exporter has read the whole event log on record; 0 while it catches up (dq_ series absent).",
    ),
    Metric(
        "dq_exporter_runs_read_total",
        "counter",
        (),
        "Finished runs the exporter has read from the event log since it started.",
    ),
    Metric(
        "dq_exporter_event_cursor",
        "gauge",
        (),
        "Event storage id of the newest run status event read (the exporter's cursor).",
    ),
    Metric(
        "dq_exporter_refresh_seconds",
        "gauge",
        (),
        "Seconds the last incremental read of the run and event storage took.",
    ),
)

BY_NAME = {m.name: m for m in METRICS}
