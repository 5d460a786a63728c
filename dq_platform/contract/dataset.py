"""The contract of one dataset: the top-level model and its gate, review and publishing sections.

`Contract` assembles every section (columns, source, aggregations, model, semantic layer,
monitoring) and checks them against each other (`_modeling_errors`: a model's key, joins, filters
and semantic metrics against the contract's own columns after masking, each error placed at its
own field); its derived views (masked types, PII columns) are what the platform reads.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from dq_platform import names
from dq_platform.contract.base import NAME_RE, _Strict
from dq_platform.contract.columns import Column, ExpressionRule, MaskingStrategy
from dq_platform.contract.modeling import VALUE_AGGS, Aggregation, Model, Semantic, expression_names
from dq_platform.contract.monitoring import (
    _COLUMNS,
    Alerts,
    Anomaly,
    Freshness,
    History,
    Maintenance,
    _raw_masked_types,
)
from dq_platform.contract.sources import Source


class Level(_Strict):
    """Share of quarantined rows: above `warn` a WARN check, above `review` the file waits for a
    human decision (defs/review.py), above `error` a blocking gate rejects it."""

    warn: float = Field(ge=0, le=1)
    review: float | None = Field(default=None, ge=0, le=1)
    error: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Level:
        if self.warn > self.error:
            raise ValueError("warn must not exceed error")
        if self.review is not None and not self.warn <= self.review < self.error:
            raise ValueError("review must lie between warn and error (warn <= review < error)")
        return self


class Review(_Strict):
    """Human review of files whose failure rate is above failure_rate.review but not above error."""

    # the original pipeline's --no-review: publish without waiting (DQ_REVIEW_AUTO_APPROVE=1 does it platform-wide)
    auto_approve: bool = False
    # who may decide (emails or names); empty: anyone who can launch the review job
    reviewers: list[str] = Field(default_factory=list)


class RowCount(_Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class PostgresTarget(_Strict):
    """Publish masked rows (and anomalies) to PostgreSQL; the URL stays in the named variable."""

    # dumps say `schema`, as the YAML does, so a dumped contract loads back
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True)

    url_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")  # e.g. DQ_EVENTS_PG_URL; unset -> nothing published
    table: str | None = Field(default=None, pattern=NAME_RE)  # default: the dataset name
    db_schema: str | None = Field(default=None, alias="schema", pattern=NAME_RE)  # default: the URL's default


class Publish(_Strict):
    postgres: PostgresTarget | None = None


class Contract(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: str
    owner: str
    # The asset group in the UI; contracts of one domain (e.g. the event streams) share one.
    group: str | None = Field(default=None, pattern=NAME_RE)
    tags: dict[str, str] = Field(default_factory=dict)
    source: Source
    columns: list[Column] = Field(min_length=1)
    rules: list[ExpressionRule] = Field(default_factory=list)
    failure_rate: Level = Field(default_factory=lambda: Level(warn=0.05, error=0.2))
    row_count: RowCount | None = None
    # a declared column absent from a file: block publication of that file (default) or only warn
    on_missing_column: Literal["block", "warn"] = "block"
    aggregations: list[Aggregation] = Field(default_factory=list)
    freshness: Freshness | None = None
    review: Review = Field(default_factory=Review)
    alerts: Alerts = Field(default_factory=Alerts)
    maintenance: Maintenance | None = None
    model: Model | None = None  # dimension or fact table built from this dataset (silver)
    semantic: Semantic | None = None  # business metrics over this dataset (gold)
    history: History = Field(default_factory=History)
    anomalies: list[Anomaly] = Field(default_factory=list)
    publish: Publish | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _with_columns(cls, data: Any, handler):
        token = _COLUMNS.set(_raw_masked_types(data.get("columns")) if isinstance(data, dict) else None)
        try:
            return handler(data)
        finally:
            _COLUMNS.reset(token)

    @field_validator("anomalies")
    @classmethod
    def _unique_anomaly_ids(cls, v: list[Anomaly]) -> list[Anomaly]:
        ids = [a.id for a in v]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"anomaly ids must be unique: {', '.join(dupes)}")
        return v

    @field_validator("maintenance")
    @classmethod
    def _zorder_columns(cls, v: Maintenance | None, info) -> Maintenance | None:
        known = {c.name for c in info.data.get("columns") or []}
        unknown = [c for c in (v.zorder if v else []) if known and c not in known]
        if unknown:
            raise ValueError(f"zorder names unknown column(s): {', '.join(unknown)}")
        return v

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, v: str) -> str:
        # Dagster owners are emails or "team:name".
        if not (re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v) or re.fullmatch(r"team:[A-Za-z0-9_-]+", v)):
            raise ValueError("owner must be an email address or 'team:<name>'")
        return v

    @model_validator(mode="after")
    def _references(self) -> Contract:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        cols = {c.name: c for c in self.columns}
        masked_types = self.masked_types()
        for agg in self.aggregations:
            if agg.time_column is not None and (
                agg.time_column not in cols or masked_types[agg.time_column] not in ("date", "timestamp")
            ):
                raise ValueError(
                    f"aggregation '{agg.name}' time_column '{agg.time_column}' must be an unmasked date/timestamp column"
                )
            joined = agg.joined_columns  # their types are checked across contracts (cross_checks.py)
            for g in agg.group_by:
                if g not in cols and g not in joined:
                    raise ValueError(f"aggregation '{agg.name}' groups by unknown column '{g}'")
            for m in agg.metrics:
                if m.column is not None and m.column not in cols and m.column not in joined:
                    raise ValueError(f"aggregation '{agg.name}' metric '{m.name}' uses unknown column '{m.column}'")
                if (
                    m.agg in ("sum", "mean", "median")
                    and m.column not in joined
                    and masked_types.get(m.column) not in ("integer", "float")
                ):
                    raise ValueError(
                        f"aggregation '{agg.name}' metric '{m.name}': {m.agg} needs a numeric column after masking"
                    )
        agg_names = [a.name for a in self.aggregations]
        if len(set(agg_names)) != len(agg_names):
            raise ValueError("aggregation names must be unique")
        if (
            self.row_count
            and self.row_count.min is not None
            and self.row_count.max is not None
            and self.row_count.min > self.row_count.max
        ):
            raise ValueError("row_count.min is greater than row_count.max")
        return self

    @model_validator(mode="after")
    def _modeling_sections(self) -> Contract:
        """model:, joins, filters and semantic: against this contract's columns, each error at its own line."""
        errors = _modeling_errors(self)
        if errors:
            from pydantic_core import InitErrorDetails, PydanticCustomError

            raise ValidationError.from_exception_data(
                "Contract",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("value_error", "{reason}", {"reason": reason}), loc=loc, input=None
                    )
                    for loc, reason in errors
                ],
            )
        return self

    @model_validator(mode="after")
    def _watermark_column(self) -> Contract:
        sql = self.source.sql
        if sql is not None and sql.watermark is not None:
            types = {c.name: c.type.value for c in self.columns}
            if sql.watermark not in types:
                raise ValueError(f"source.sql.watermark '{sql.watermark}' must be one of the contract's columns")
            if types[sql.watermark] not in ("integer", "float", "date", "timestamp"):
                raise ValueError(
                    f"source.sql.watermark '{sql.watermark}' must be an integer, float, date or "
                    f"timestamp column (it is {types[sql.watermark]}): values must only grow"
                )
        return self

    # -- derived views -------------------------------------------------------------------
    @property
    def asset_group(self) -> str:
        return self.group or self.name

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii is not None]

    def masked_types(self) -> dict[str, str]:
        """Logical type of each column in the masked layer (masking can change it)."""
        out = {}
        for c in self.columns:
            t = c.type.value
            if c.pii is not None:
                m = c.pii.masking
                t = "integer" if m == MaskingStrategy.year else "string"
            out[c.name] = t
        return out


# -- model / join / semantic checks against the contract's own columns ---------------------

SEMANTIC_COLUMNS = ("metric", "period", "grain", "value", "unit")  # the long table's own columns


def _modeling_errors(c: Contract) -> list[tuple[tuple, str]]:
    cols = {col.name: col for col in c.columns}
    types = c.masked_types()
    errors: list[tuple[tuple, str]] = []

    def unknown_names(expression: str, known, loc: tuple) -> None:
        missing = sorted(expression_names(expression) - set(known))
        if missing:
            errors.append((loc, f"filter uses unknown column(s): {', '.join(missing)}"))

    def numeric(column: str, agg: str, loc: tuple) -> None:
        if column not in cols:
            errors.append((loc, f"unknown column '{column}'"))
        elif agg in VALUE_AGGS and types[column] not in ("integer", "float"):
            pii = cols[column].pii
            why = f"is PII masked as {pii.masking.value} ({types[column]})" if pii else f"is {types[column]}"
            errors.append((loc, f"{agg} needs a numeric column after masking; '{column}' {why}"))

    m = c.model
    if m is not None:
        for i, k in enumerate(m.key):
            if k not in cols:
                errors.append((("model", "key", i), f"unknown column '{k}'"))
            elif not cols[k].required:
                errors.append(
                    (("model", "key", i), f"key column '{k}' must be required: true (a null key identifies no row)")
                )
        if m.latest_by is not None and (
            m.latest_by not in cols
            or cols[m.latest_by].pii is not None
            or types[m.latest_by] not in ("date", "timestamp", "integer", "float")
        ):
            errors.append(
                (
                    ("model", "latest_by"),
                    f"latest_by '{m.latest_by}' must be an unmasked date, timestamp or number column",
                )
            )
        for i, col in enumerate(m.columns or []):
            if col not in cols:
                errors.append((("model", "columns", i), f"unknown column '{col}'"))
        for fk in m.references:
            if fk not in cols:
                errors.append((("model", "references", fk), f"unknown column '{fk}'"))
        own = {*names.file_layers(c.name), *(names.gold(c.name, a.name) for a in c.aggregations)}
        if m.name in own:
            errors.append((("model", "name"), f"'{m.name}' is already the name of one of this dataset's assets"))

    def over_model(section, used: set[str], loc: tuple) -> None:
        if section.over != "model":
            return
        if m is None:
            errors.append(((*loc, "over"), "over: model needs a model: section in this contract"))
            return
        missing = sorted(used - set(m.output_columns))
        if missing:
            errors.append(
                (
                    (*loc, "over"),
                    f"column(s) {', '.join(missing)} are not in model '{m.name}' (add them to its columns)",
                )
            )

    for ai, agg in enumerate(c.aggregations):
        loc = ("aggregations", ai)
        seen: set[str] = set()
        used = {
            *agg.group_by,
            *(x.column for x in agg.metrics if x.column),
            *(col for j in agg.join for col in j.on),
            *([agg.time_column] if agg.time_column else []),
            *(n for e in [agg.filter, *(x.filter for x in agg.metrics)] if e for n in expression_names(e)),
        }
        over_model(agg, (used & set(cols)) - agg.joined_columns, loc)
        for ji, j in enumerate(agg.join):
            for col in j.on:
                if col not in cols:
                    errors.append(((*loc, "join", ji, "on"), f"unknown column '{col}'"))
            clash = sorted({x for x in j.columns if x in cols or x in seen or x == "period"})
            if clash:
                errors.append(
                    (
                        (*loc, "join", ji, "columns"),
                        f"joined column(s) {', '.join(clash)} already exist in the rows; a model's column joins under its own name",
                    )
                )
            seen.update(j.columns)
        known = set(cols) | agg.joined_columns
        if agg.filter:
            unknown_names(agg.filter, known, (*loc, "filter"))
        for mi, metric in enumerate(agg.metrics):
            if metric.filter:
                unknown_names(metric.filter, known, (*loc, "metrics", mi, "filter"))
            if metric.agg in ("first", "last") and agg.time_column is None:
                errors.append(
                    (
                        (*loc, "metrics", mi, "agg"),
                        f"{metric.agg} is ordered by the aggregation's time_column; declare one",
                    )
                )
        if c.semantic is not None and names.gold(c.name, agg.name) in (
            names.semantic_metrics(c.name),
            names.metric_definitions(c.name),
        ):
            errors.append(((*loc, "name"), f"'{agg.name}' is the name of a semantic-layer asset of this dataset"))

    sem = c.semantic
    if sem is not None:
        if sem.time_column not in cols or types[sem.time_column] not in ("date", "timestamp"):
            errors.append(
                (
                    ("semantic", "time_column"),
                    f"time_column '{sem.time_column}' must be an unmasked date/timestamp column",
                )
            )
        used = {sem.time_column, *(d for x in sem.metrics for d in x.dimensions)}
        for x in sem.metrics:
            for part in [x, *([x.numerator, x.denominator] if x.agg == "ratio" else [])]:
                used |= ({part.column} if part.column else set()) | (
                    expression_names(part.filter) if part.filter else set()
                )
        over_model(sem, used & set(cols), ("semantic",))
        metric_names: set[str] = set()
        for mi, metric in enumerate(sem.metrics):
            loc = ("semantic", "metrics", mi)
            if metric.name in metric_names:
                errors.append(((*loc, "name"), f"duplicate metric name '{metric.name}'"))
            metric_names.add(metric.name)
            if metric.column is not None:
                numeric(metric.column, metric.agg, (*loc, "column"))
            if metric.filter:
                unknown_names(metric.filter, cols, (*loc, "filter"))
            for part_name in ("numerator", "denominator"):
                part = getattr(metric, part_name)
                if part is None:
                    continue
                if part.column is not None:
                    numeric(part.column, part.agg, (*loc, part_name, "column"))
                if part.filter:
                    unknown_names(part.filter, cols, (*loc, part_name, "filter"))
            for di, dim in enumerate(metric.dimensions):
                if dim in SEMANTIC_COLUMNS:
                    errors.append(
                        (
                            (*loc, "dimensions", di),
                            f"'{dim}' is a column of the metrics table itself; not a dimension name",
                        )
                    )
                elif dim not in cols:
                    errors.append(
                        (
                            (*loc, "dimensions", di),
                            f"unknown dimension '{dim}' (dimensions are columns of the contract)",
                        )
                    )
    return errors
