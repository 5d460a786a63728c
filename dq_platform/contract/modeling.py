"""Gold aggregations, dimensional models and the semantic layer, as the contract declares them.

Each section is checked here on its own (shapes, required parts, filter syntax); how it fits the
contract's columns is checked by the Contract (dataset.py), and how it fits other contracts once
all of them are loaded (cross_checks.py).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from dq_platform.contract.base import NAME_RE, _Strict


def expression_names(expression: str) -> set[str]:
    """Column names a pandas filter expression reads; ValueError when it is not an expression."""
    import ast

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"filter '{expression}' is not a valid expression: {e.msg}") from None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _filter_parses(v: str) -> str:
    expression_names(v)
    return v


# A row filter (pandas expression over the contract's columns), checked for syntax at load.
FilterExpression = Annotated[str, AfterValidator(_filter_parses)]


class Metric(_Strict):
    name: str = Field(pattern=NAME_RE)
    # first/last: the value of the earliest/latest row by the aggregation's time column (price trends)
    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique", "first", "last"]
    column: str | None = None
    description: str = ""
    filter: FilterExpression | None = None  # a pandas expression: only rows where it holds count for this metric

    @model_validator(mode="after")
    def _column_needed(self) -> Metric:
        if self.agg != "count" and self.column is None:
            raise ValueError(f"agg '{self.agg}' needs a column")
        return self


class Join(_Strict):
    """Columns of a dimensional model (another contract's `model:`) added to each row before grouping.

    A left join of the dataset's `on` column(s) to the model's key (in key order): every row is
    kept, rows whose key the model lacks get nulls.
    """

    model: str = Field(pattern=NAME_RE)
    on: list[str] = Field(min_length=1)
    columns: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true
        if isinstance(v, dict) and True in v and "on" not in v:
            v = {("on" if k is True else k): x for k, x in v.items()}
        return v

    @field_validator("on", mode="before")
    @classmethod
    def _one_column(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Aggregation(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: str = ""
    group_by: list[str] = Field(default_factory=list)
    # Optional time bucket: the column is truncated to `grain` and grouped on as `period`.
    time_column: str | None = None
    grain: Literal["day", "week", "month", "year"] = "day"
    metrics: list[Metric] = Field(min_length=1)
    # columns of dimensional models added to each row before grouping (see Join)
    join: list[Join] = Field(default_factory=list)
    filter: FilterExpression | None = None  # a pandas expression: only rows where it holds are aggregated
    # masked: every published row of every partition; model: the contract's model table (one row per
    # key, newest version), for incremental extracts that repeat a changed row in a later file
    over: Literal["masked", "model"] = "masked"

    @property
    def joined_columns(self) -> set[str]:
        return {c for j in self.join for c in j.columns}


_OWNER_RE = r"[^@\s]+@[^@\s]+\.[^@\s]+|team:[A-Za-z0-9_-]+"  # the shapes Dagster accepts as owners


class Model(_Strict):
    """A dimension or fact table (silver, from the masked layer): one row per key, newest version wins."""

    kind: Literal["dimension", "fact"]
    name: str = Field(pattern=NAME_RE)  # the asset's (and table's) name, e.g. dim_customer
    description: str = ""
    key: list[str] = Field(min_length=1)
    # When several partitions (extracts) hold a key, the row with the greatest value wins (SCD type 1).
    latest_by: str | None = None
    columns: list[str] | None = None  # projection; the key and reference columns are always kept
    references: dict[str, str] = Field(default_factory=dict)  # fact only: foreign key column -> model name
    # a foreign key missing from its model: warn (published anyway) or error (the fact is held back)
    orphans: Literal["warn", "error"] = "warn"

    @model_validator(mode="after")
    def _facts_reference(self) -> Model:
        if self.references and self.kind != "fact":
            raise ValueError("references are declared on facts only (a dimension is referenced, it does not reference)")
        bad = [m for m in self.references.values() if not re.fullmatch(NAME_RE, m)]
        if bad:
            raise ValueError(f"references name invalid model(s): {', '.join(bad)}")
        return self

    @property
    def output_columns(self) -> list[str]:
        """Columns of the model's table, in order: key, declared columns, foreign keys."""
        wanted = [*self.key, *(self.columns or []), *self.references]
        return list(dict.fromkeys(wanted))


VALUE_AGGS = ("sum", "mean", "median", "min", "max", "first", "last")  # need a numeric column


def _part_errors(agg: str, column: str | None) -> None:
    if agg == "count" and column is not None:
        raise ValueError("count counts rows and takes no column (nunique counts distinct values)")
    if agg not in ("count", "ratio") and column is None:
        raise ValueError(f"agg '{agg}' needs a column")


class MetricPart(_Strict):
    """The numerator or denominator of a ratio metric."""

    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique", "first", "last"]
    column: str | None = None
    filter: FilterExpression | None = None

    @model_validator(mode="after")
    def _column_needed(self) -> MetricPart:
        _part_errors(self.agg, self.column)
        return self


class SemanticMetric(_Strict):
    """A business metric, declared once: what it means, who answers for it, how it is computed."""

    name: str = Field(pattern=NAME_RE)
    label: str | None = None  # human name for BI tools; default: the name
    description: str = Field(min_length=1)  # the business definition, in words
    owner: str | None = None  # email or team:<name>; default: the contract's owner
    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique", "first", "last", "ratio"]
    column: str | None = None
    filter: FilterExpression | None = None  # pandas expression; for a ratio it narrows both numerator and denominator
    numerator: MetricPart | None = None  # ratio only
    denominator: MetricPart | None = None  # ratio only
    grain: Literal["day", "week", "month", "year"] = "day"
    dimensions: list[str] = Field(default_factory=list)
    unit: str | None = None  # e.g. currency, count, ratio; default: count for counts, ratio for ratios

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(_OWNER_RE, v):
            raise ValueError("owner must be an email address or 'team:<name>'")
        return v

    @model_validator(mode="after")
    def _parts(self) -> SemanticMetric:
        if self.agg == "ratio":
            if self.numerator is None or self.denominator is None:
                raise ValueError("a ratio needs both a numerator and a denominator ({agg, column, filter})")
            if self.column is not None:
                raise ValueError("a ratio takes no column: its numerator and denominator name theirs")
        elif self.numerator is not None or self.denominator is not None:
            raise ValueError(f"numerator/denominator belong to ratio metrics, not to agg '{self.agg}'")
        _part_errors(self.agg, self.column)
        return self

    @property
    def parts(self) -> list[MetricPart]:
        """What is aggregated: the metric itself, or a ratio's numerator and denominator."""
        if self.agg == "ratio":
            return [self.numerator, self.denominator]
        return [MetricPart(agg=self.agg, column=self.column)]

    @property
    def resolved_unit(self) -> str | None:
        return self.unit or {"count": "count", "nunique": "count", "ratio": "ratio"}.get(self.agg)


class Semantic(_Strict):
    """The semantic layer: business metrics over the masked layer, materialized as one long gold table."""

    time_column: str  # every metric is bucketed on it (each at its own grain)
    description: str = ""
    over: Literal["masked", "model"] = "masked"  # as in aggregations: rows of masked, or of the model table
    metrics: list[SemanticMetric] = Field(min_length=1)
