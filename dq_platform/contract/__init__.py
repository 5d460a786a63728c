"""The data contract: one YAML file per dataset, parsed into a strict pydantic model.

Everything downstream (assets, rules, cleaning, masking, checks, gold) is derived from this
model, so a contract that loads is a contract the platform can run. A malformed one fails here,
with the file, the line, the field and the reason, before Dagster sees it.

The model is split by topic; import from here, not from the modules:

- base.py: ContractError, the strict base model, the name pattern
- columns.py: columns (types, formats, cleaning, missing values, PII, statistics) and row rules
- sources.py: the landing-zone file source and the HTTP and SQL pull sources
- modeling.py: gold aggregations, dimensional models, the semantic layer
- monitoring.py: alerts, freshness, maintenance, history and anomaly rules
- dataset.py: the Contract itself, with its gate, review and publishing sections, and the checks
  of its model, joins, filters and semantic metrics against its columns
- catalog.py: the models contracts declare for one another, the asset names each one claims
- cross_checks.py: checks across contracts (model names, references, joins)
- yaml_text.py: the YAML parser, node path -> line, field path -> readable name
- loader.py: YAML in, Contract out, errors as file:line: field: reason
"""

from __future__ import annotations

from dq_platform.contract.base import NAME_RE, ContractError
from dq_platform.contract.catalog import ModelEntry, dataset_asset_names, joined_types, model_catalog, modeling_tables
from dq_platform.contract.columns import (
    CLEANED_DTYPES,
    Case,
    Cleaning,
    Column,
    ColumnType,
    Drift,
    ExpressionRule,
    Format,
    MaskingStrategy,
    Missing,
    MissingPolicy,
    OutlierMethod,
    Outliers,
    Pii,
    PiiCategory,
    Statistics,
)
from dq_platform.contract.dataset import SEMANTIC_COLUMNS, Contract, Level, PostgresTarget, Publish, Review, RowCount
from dq_platform.contract.loader import (
    CONTRACTS_DIR,
    ContractFolder,
    load_contract,
    load_contract_folder,
    load_contracts,
    parse_contract,
)
from dq_platform.contract.modeling import (
    VALUE_AGGS,
    Aggregation,
    FilterExpression,
    Join,
    Metric,
    MetricPart,
    Model,
    Semantic,
    SemanticMetric,
    expression_names,
)
from dq_platform.contract.monitoring import (
    ALERT_CHANNELS,
    HISTORY_METRICS,
    MIN_WEEKLY_WEEKS,
    AlertChannel,
    Alerts,
    Anomaly,
    AnomalyWindow,
    Freshness,
    History,
    HistoryMetric,
    Maintenance,
    Severity,
    parse_duration,
    parse_window,
)
from dq_platform.contract.sources import ENV_NAME_RE, HttpPagination, HttpSource, KafkaStream, Source, SqlSource, Stream
from dq_platform.contract.yaml_text import YAML_LOADER

__all__ = [
    # base
    "NAME_RE",
    "ContractError",
    # columns
    "ColumnType",
    "Format",
    "Case",
    "MissingPolicy",
    "PiiCategory",
    "MaskingStrategy",
    "Cleaning",
    "Missing",
    "Pii",
    "OutlierMethod",
    "Outliers",
    "Drift",
    "Statistics",
    "Column",
    "ExpressionRule",
    "CLEANED_DTYPES",
    # sources
    "ENV_NAME_RE",
    "HttpPagination",
    "HttpSource",
    "KafkaStream",
    "Stream",
    "SqlSource",
    "Source",
    # modeling
    "expression_names",
    "FilterExpression",
    "Metric",
    "Join",
    "Aggregation",
    "Model",
    "VALUE_AGGS",
    "MetricPart",
    "SemanticMetric",
    "Semantic",
    # monitoring
    "Severity",
    "ALERT_CHANNELS",
    "AlertChannel",
    "parse_duration",
    "Freshness",
    "Alerts",
    "Maintenance",
    "HistoryMetric",
    "HISTORY_METRICS",
    "MIN_WEEKLY_WEEKS",
    "History",
    "parse_window",
    "AnomalyWindow",
    "Anomaly",
    # dataset
    "Level",
    "Review",
    "RowCount",
    "PostgresTarget",
    "Publish",
    "Contract",
    "SEMANTIC_COLUMNS",
    # catalog
    "ModelEntry",
    "model_catalog",
    "joined_types",
    "dataset_asset_names",
    "modeling_tables",
    # yaml_text
    "YAML_LOADER",
    # loader
    "CONTRACTS_DIR",
    "parse_contract",
    "load_contract",
    "load_contracts",
    "load_contract_folder",
    "ContractFolder",
]
