"""Every name the platform gives things in Dagster and in the warehouse, in one place.

A contract named `customers` becomes the assets (and Delta tables) `raw_customers`,
`cleaned_customers`, `quarantine_customers`, `masked_customers` and `customers_<aggregation>`,
the job `customers_pipeline`, the sensor `customers_landing_sensor`, and so on. Every module
imports these names instead of spelling them again, so a name changes in one place.

Plain strings, no Dagster import: the contract (asset-name collisions) and the engine may use them.
Dagster's own asset keys are `dg.AssetKey(names.masked(dataset))`.
"""

from __future__ import annotations

# -- assets and their Delta tables, per layer ---------------------------------------------


def raw(dataset: str) -> str:
    """Bronze: the rows of each source file exactly as received."""
    return f"raw_{dataset}"


def cleaned(dataset: str) -> str:
    """Silver: typed, normalized rows that passed every row rule."""
    return f"cleaned_{dataset}"


def quarantine(dataset: str) -> str:
    """Rejected rows with their original values and every failed rule."""
    return f"quarantine_{dataset}"


def masked(dataset: str) -> str:
    """Silver, GDPR-safe: cleaned with PII masked; only written when its gates pass."""
    return f"masked_{dataset}"


def file_layers(dataset: str) -> list[str]:
    """The four tables partitioned by source file, in the order a file's run writes them."""
    return [raw(dataset), cleaned(dataset), quarantine(dataset), masked(dataset)]


def gold(dataset: str, aggregation: str) -> str:
    """A gold aggregate declared in the contract's `aggregations:`."""
    return f"{dataset}_{aggregation}"


def source(dataset: str) -> str:
    """The external asset of a pull source (API or SQL table), upstream of raw."""
    return f"source_{dataset}"


def anomalies(dataset: str) -> str:
    """The anomalies the contract's `anomalies:` rules find in the published events."""
    return f"{dataset}_anomalies"


def postgres(dataset: str) -> str:
    """The asset mirroring published rows (and anomalies) into PostgreSQL."""
    return f"{dataset}_postgres"


def semantic_metrics(dataset: str) -> str:
    """The semantic layer's long table of business metrics."""
    return f"{dataset}_semantic_metrics"


def metric_definitions(dataset: str) -> str:
    """What each semantic metric means, who owns it, its formula."""
    return f"{dataset}_metric_definitions"


def contract_placeholder(dataset: str) -> str:
    """Stands in for a dataset whose contract does not load: shows its error, fails when run."""
    return f"{dataset}_contract"


BROKEN_CONTRACTS_GROUP = "broken_contracts"


# platform-wide assets
RUN_REPORTS = "dq_run_reports"
ALERT_DELIVERIES = "dq_alert_deliveries"
PLATFORM_HEALTH = "platform_health"

# -- partitions ------------------------------------------------------------------------------


def partitions(dataset: str) -> str:
    """The dynamic partitions definition of a dataset: one partition per source file content."""
    return f"{dataset}_files"


# -- jobs, sensors, schedules ----------------------------------------------------------------

PIPELINE_SUFFIX = "_pipeline"
PUBLISH_SUFFIX = "_publish"


def pipeline_job(dataset: str) -> str:
    """raw -> cleaned + quarantine -> masked -> gold for one file."""
    return f"{dataset}{PIPELINE_SUFFIX}"


def review_job(dataset: str) -> str:
    """Approve or reject a held file of the dataset from the UI: partitioned, every field defaulted."""
    return f"{dataset}_review"


def publish_job(dataset: str) -> str:
    """masked + gold for a held file a reviewer approved."""
    return f"{dataset}{PUBLISH_SUFFIX}"


def extract_job(dataset: str) -> str:
    """A pull source's extract: API or table into one landing file."""
    return f"{dataset}_extract"


def extract_schedule(dataset: str) -> str:
    return f"{extract_job(dataset)}_schedule"


def batch_job(dataset: str) -> str:
    """Several waiting files of the dataset in one run: each still gets its own pipeline run (defs/batch.py)."""
    return f"{dataset}_batch"


def maintenance_job(dataset: str) -> str:
    return f"{dataset}_maintenance"


def maintenance_schedule(dataset: str) -> str:
    return f"{maintenance_job(dataset)}_schedule"


def landing_sensor(dataset: str) -> str:
    return f"{dataset}_landing_sensor"


def stream_sensor(dataset: str) -> str:
    """Drains the dataset's Kafka topic into the landing zone and starts its pipeline."""
    return f"{dataset}_stream_sensor"


def history_checks(table: str) -> str:
    """The multi-asset check judging a table's files against their history."""
    return f"{table}_history_checks"


def history_job(dataset: str) -> str:
    """Outside any file's run: the hourly check that files keep arriving as history predicts."""
    return f"{dataset}_history_checks"


def history_schedule(dataset: str) -> str:
    return f"{dataset}_history_schedule"


def dataset_of_pipeline(job_name: str) -> str | None:
    """The dataset a `<dataset>_pipeline` job belongs to, or None for any other job."""
    return job_name.removesuffix(PIPELINE_SUFFIX) if job_name.endswith(PIPELINE_SUFFIX) else None


def is_dataset_job(job_name: str) -> bool:
    """A file's pipeline run or the publish run of a reviewed file."""
    return job_name.endswith((PIPELINE_SUFFIX, PUBLISH_SUFFIX))


REVIEW_JOB = "dq_review"
ROLLBACK_JOB = "dq_rollback"
HEALTH_JOB = "platform_health_job"
REVIEW_PUBLISHER_SENSOR = "dq_review_publisher"
CHECK_ALERT_SENSOR = "dq_check_alerts"
RUN_FAILURE_ALERT_SENSOR = "dq_run_failure_alerts"
FRESHNESS_SENSOR = "dq_freshness_checks"

# -- asset checks ----------------------------------------------------------------------------

FAILURE_RATE_CHECK = "failure_rate_within_threshold"
PANDERA_CHECK = "cleaned_matches_pandera_schema"
GX_CHECK = "cleaned_passes_gx_suite"
RECONCILE_CHECK = "raw_rows_reconcile_with_cleaned_and_quarantine"
FILE_SHAPE_CHECK = "file_has_declared_columns_and_rows"
REVIEW_CHECK = "human_review_not_pending"
REVIEW_META = "dq/review"  # its metadata: required | approved | rejected | auto_approved | not_needed
SOURCE_GATES_CHECK = "masked_source_passed_gates"
MASKED_PII_CHECK = "masked_has_no_pii"
GOLD_PII_CHECK = "gold_has_no_pii"
ANOMALIES_PII_CHECK = "anomalies_have_no_pii"
RAW_UNDECLARED_PII_CHECK = "raw_has_no_undeclared_pii"  # WARN: a column not declared pii: looks like PII
CONTRACT_VALID_CHECK = "contract_loads"
PII_LEAK_CHECKS = frozenset({MASKED_PII_CHECK, GOLD_PII_CHECK, ANOMALIES_PII_CHECK})
ROW_COUNT_HISTORY_CHECK = "row_count_matches_history"
ARRIVAL_HISTORY_CHECK = "arrival_matches_history"
FAILURE_RATE_HISTORY_CHECK = "failure_rate_matches_history"
COLUMN_METRICS_HISTORY_CHECK = "column_metrics_match_history"
HISTORY_CHECK_SUFFIXES = ("_matches_history", "_match_history")
FRESHNESS_CHECK_PREFIX = "freshness_check"  # the name Dagster's freshness-check builders give
ANOMALY_CHECK_PREFIX = "anomaly_"


def outlier_check(column: str) -> str:
    return f"{column}_outliers_within_limits"


def drift_check(column: str) -> str:
    return f"{column}_distribution_stable"


def reference_check(column: str) -> str:
    """A fact's foreign key resolves in the model it references."""
    return f"{column}_references_resolve"


def anomaly_check(rule_id: str) -> str:
    return f"{ANOMALY_CHECK_PREFIX}{rule_id}"


# -- run tags --------------------------------------------------------------------------------

DATASET_TAG = "dq/dataset"
TRIGGER_TAG = "dq/trigger"  # sensor | cli | demo | schedule | ... (how the run started)
KIND_TAG = "dq/kind"  # what a run that is not a file's pipeline run is: KINDS below
# the file a run processes (a publish run copies them from the run that held the file)
SOURCE_URI_TAG, CHECKSUM_TAG, SIZE_TAG = "dq/source_uri", "dq/checksum", "dq/size"
SOURCE_TAGS = (SOURCE_URI_TAG, CHECKSUM_TAG, SIZE_TAG)
REVIEW_TAG = "dq/review/"  # who decided what, on which version (review runs)
AUTO_APPROVE_TAG = f"{REVIEW_TAG}auto_approve"
REVIEW_RUN_TAG = f"{REVIEW_TAG}run_id"  # on a publish run: the review run whose approval it carries out
HELD_RUN_TAG = f"{REVIEW_TAG}held_run"  # on a review run: the pipeline run that held the file
WORKER_TAG = "dq/worker"  # host:pid:start of the process executing a run in place (CLI), for liveness checks
BATCH_TAG = "dq/batch"  # a batch run and the pipeline runs it executed: the same key (defs/batch.py)
ATTEMPT_TAG = "dq/attempt"  # 1 for a file's first run; n for the sensor's (n-1)th retry of an unfinished file
REPORT_TAG = "dq/report/"  # dq/report/<kind>: where a run's reports were written
REPORT_HTML_TAG = f"{REPORT_TAG}html"
ROLLBACK_TAG = "dq/rollback/"
EXTRACT_URI_TAG, EXTRACT_ROWS_TAG = "dq/extract/uri", "dq/extract/rows"
# a Kafka batch file's run: its topic, offsets (p0:100-199,p1:50-80) and replay stamp (io/kafka.py)
STREAM_TOPIC_TAG, STREAM_OFFSETS_TAG, STREAM_REPLAY_TAG = "dq/stream/topic", "dq/stream/offsets", "dq/stream/replay"
WATERMARK_FROM_TAG, WATERMARK_TO_TAG, WATERMARK_COLUMN_TAG = (
    "dq/watermark/from",
    "dq/watermark/to",
    "dq/watermark/column",
)
# Dagster's own tags
PARTITION_TAG = "dagster/partition"
SENSOR_TAG = "dagster/sensor_name"
SCHEDULE_TAG = "dagster/schedule_name"
BACKFILL_TAG = "dagster/backfill"
USER_TAG = "user"

# dq/kind values
PUBLISH_KIND = "publish"
REVIEW_KIND = "review"
ROLLBACK_KIND = "rollback"
EXTRACT_KIND = "extract"
MAINTENANCE_KIND = "maintenance"
BATCH_KIND = "batch"
HEALTH_KIND = "health"
HISTORY_CHECKS_KIND = "history_checks"
MONITORING_KINDS = frozenset({HISTORY_CHECKS_KIND, HEALTH_KIND})  # runs the audit leaves out by default


def is_monitoring(tags: dict, job_name: str = "") -> bool:
    """An hourly history-check or health run: monitoring, not a file's processing."""
    return tags.get(KIND_TAG) in MONITORING_KINDS or job_name == HEALTH_JOB


# -- gate states stamped into cleaned's Delta commit -----------------------------------------

COMMIT_PREFIX = "dq/commit/"  # output metadata under this prefix travels into the Delta commit
GATES_KEY = f"{COMMIT_PREFIX}dq_gates"
SOURCES_META = f"{COMMIT_PREFIX}dq_sources"  # a derived table's source versions (io/warehouse.write_ordered)
GATES_FAILED_ERROR = "GatesFailed"  # the dg.Failure a file's run raises when its blocking gates failed
GATE_ERRORS = frozenset({"DagsterAssetCheckFailedError", GATES_FAILED_ERROR})
GATE_ERROR_PATTERN = r"blocking asset checks? failed|GatesFailed"
PASSED, FAILED, HELD, REJECTED = "passed", "failed", "review", "rejected"
