"""The semantic layer: business metrics declared once in a contract, computed into one long table.

BI tools and AI assistants read one table per dataset instead of re-deriving "revenue" in every
dashboard: `metric, period, grain, <dimensions...>, value, unit`, one row per metric, period and
combination of the metric's dimension values seen in the data (dimensions a metric does not use
are null). A companion table says what each metric means, who owns it and how it is computed.
Both are plain Delta tables with standard Arrow types (dates as date32, values as float64).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dq_platform.contract import Contract, MetricPart, Semantic, SemanticMetric
from dq_platform.engine.aggregation import group_ids, metric_values, order_columns, period_start, rows_where
from dq_platform.engine.rules import PARTITION, SOURCE_LINE

PERIOD = "period"
DEFINITION_COLUMNS = ["name", "label", "description", "owner", "formula", "grain", "dimensions", "unit"]
_PANDAS_DTYPE = {
    "string": "string",
    "integer": "Int64",
    "float": "Float64",
    "boolean": "boolean",
    "date": "datetime64[ns]",
    "timestamp": "datetime64[ns]",
}


def dimensions(semantic: Semantic) -> list[str]:
    """Every dimension any metric uses, in order of first use: the long table's dimension columns."""
    return list(dict.fromkeys(d for m in semantic.metrics for d in m.dimensions))


def long_columns(semantic: Semantic) -> list[str]:
    return ["metric", PERIOD, "grain", *dimensions(semantic), "value", "unit"]


def read_columns(contract: Contract) -> list[str]:
    """Masked columns the metrics read (filters included), plus the lineage tie-breakers of first/last."""
    from dq_platform.contract import expression_names

    sem = contract.semantic
    names = {sem.time_column, *dimensions(sem), PARTITION, SOURCE_LINE}
    for m in sem.metrics:
        for part in [m, *([m.numerator, m.denominator] if m.agg == "ratio" else [])]:
            names |= {part.column} if part.column else set()
            names |= expression_names(part.filter) if part.filter else set()
    known = set(contract.model.output_columns) if sem.over == "model" else {c.name for c in contract.columns}
    return sorted(names & (known | {PARTITION, SOURCE_LINE}))


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return b if a is None else a
    return a & b


def _part_values(frame, gid, n, part: MetricPart, keep, order) -> pd.Series:
    values = metric_values(frame, gid, n, part.agg, part.column, _and(keep, rows_where(frame, part.filter)), order)
    return pd.to_numeric(values, errors="coerce").astype("Float64")


def metric_frame(frame: pd.DataFrame, metric: SemanticMetric, time_column: str) -> pd.DataFrame:
    """One metric: one row per period (at its grain) x its dimension values, with `value`."""
    keyed = frame.assign(**{PERIOD: period_start(frame[time_column], metric.grain)})
    gid, groups = group_ids(keyed, [PERIOD, *metric.dimensions])
    keep = rows_where(keyed, metric.filter)
    order = [time_column, *order_columns(keyed)]
    if metric.agg == "ratio":
        num = _part_values(keyed, gid, len(groups), metric.numerator, keep, order)
        den = _part_values(keyed, gid, len(groups), metric.denominator, keep, order)
        value = num / den.mask(den == 0)  # a ratio over nothing is undefined: null, not infinity
    else:
        value = _part_values(keyed, gid, len(groups), MetricPart(agg=metric.agg, column=metric.column), keep, order)
    return groups.assign(metric=metric.name, grain=metric.grain, value=value.round(6), unit=metric.resolved_unit)


def compute_metrics(masked: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The long metrics table over the masked rows; rows without a time value are left out."""
    sem = contract.semantic
    frame = masked[masked[sem.time_column].notna()].reset_index(drop=True)
    parts = [metric_frame(frame, m, sem.time_column) for m in sem.metrics]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    types = contract.masked_types()
    columns = {}
    for col in long_columns(sem):
        series = out[col] if col in out.columns else pd.Series(pd.NA, index=out.index)
        if col in ("metric", "grain", "unit"):
            series = series.astype("string")
        elif col == PERIOD:
            series = pd.to_datetime(series).astype("datetime64[ns]")
        elif col == "value":
            series = series.astype("Float64")
        else:
            series = series.astype(_PANDAS_DTYPE[types[col]])
        columns[col] = series
    return pd.DataFrame(columns, index=out.index)


# -- definitions -----------------------------------------------------------------------------------


def _part_formula(part: MetricPart, time_column: str) -> str:
    if part.agg == "count":
        text = "count(*)"
    elif part.agg == "nunique":
        text = f"count(distinct {part.column})"
    elif part.agg in ("first", "last"):
        text = f"{part.agg}({part.column} by {time_column})"
    else:
        text = f"{part.agg}({part.column})"
    return f"{text} where {part.filter}" if part.filter else text


def formula(metric: SemanticMetric, time_column: str) -> str:
    """The computation in words a reader can check: aggregate, filter, grain, dimensions."""
    if metric.agg == "ratio":
        text = f"({_part_formula(metric.numerator, time_column)}) / ({_part_formula(metric.denominator, time_column)})"
        text += f", over rows where {metric.filter}" if metric.filter else ""
    else:
        text = _part_formula(MetricPart(agg=metric.agg, column=metric.column, filter=metric.filter), time_column)
    text += f"; per {metric.grain} of {time_column}"
    if metric.dimensions:
        text += f" by {', '.join(metric.dimensions)}"
    return text


def definitions(contract: Contract) -> pd.DataFrame:
    """One row per metric: name, label, description, owner, formula, grain, dimensions, unit."""
    sem = contract.semantic
    rows = [
        {
            "name": m.name,
            "label": m.label or m.name.replace("_", " ").capitalize(),
            "description": m.description.strip(),
            "owner": m.owner or contract.owner,
            "formula": formula(m, sem.time_column),
            "grain": m.grain,
            "dimensions": ", ".join(m.dimensions),
            "unit": m.resolved_unit,
        }
        for m in sem.metrics
    ]
    return pd.DataFrame(rows, columns=DEFINITION_COLUMNS).astype("string")


def definitions_markdown(contract: Contract) -> str:
    table = definitions(contract)
    lines = ["| " + " | ".join(DEFINITION_COLUMNS) + " |", "|" + "---|" * len(DEFINITION_COLUMNS)]
    for row in table.itertuples(index=False):  # one line per declared metric, not per data row
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)
