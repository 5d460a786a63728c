"""Gold aggregates declared in a contract, computed from the masked (PII-safe) layer.

The grouping core (`group_ids` + `metric_values`) is shared with the semantic layer
(semantic.py): every metric is computed for every group present in the rows, over the rows its
filter keeps, with one vectorized groupby per metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dq_platform import names
from dq_platform.contract import Aggregation, Contract, expression_names
from dq_platform.engine.rules import PARTITION, SOURCE_LINE

PERIOD = "period"
ADDITIVE = ("count", "nunique", "sum")  # zero, not null, for a group none of whose rows pass the filter


def source_table(contract: Contract, section) -> str:
    """The table an aggregation (or the semantic layer) reads: masked, or the contract's model."""
    return contract.model.name if section.over == "model" else names.masked(contract.name)


def read_columns(contract: Contract, agg: Aggregation) -> list[str]:
    """Only the columns the aggregation uses (filters and join keys included), plus lineage tie-breakers."""
    needed = {
        *agg.group_by,
        *(m.column for m in agg.metrics if m.column),
        *(c for j in agg.join for c in j.on),
        PARTITION,
        SOURCE_LINE,
    }
    if agg.time_column:
        needed.add(agg.time_column)
    for expression in [agg.filter, *(m.filter for m in agg.metrics)]:
        needed |= expression_names(expression) if expression else set()
    available = set(contract.model.output_columns) if agg.over == "model" else {c.name for c in contract.columns}
    return sorted(needed & (available | {PARTITION, SOURCE_LINE}))


def period_start(values: pd.Series, grain: str) -> pd.Series:
    """Start of the day, ISO week (Monday), month or year holding each value, as a timestamp."""
    ts = pd.to_datetime(values).dt.normalize()
    if grain == "day":
        return ts
    if grain == "week":
        return ts - pd.to_timedelta(ts.dt.weekday, unit="D")
    return ts.dt.to_period({"month": "M", "year": "Y"}[grain]).dt.start_time


def rows_where(frame: pd.DataFrame, expression: str | None) -> np.ndarray | None:
    """Boolean mask of the rows a contract filter keeps (a null comparison keeps nothing); None: all rows."""
    if not expression:
        return None
    result = frame.eval(expression, engine="python")
    return pd.Series(result, index=frame.index).astype("boolean").fillna(False).to_numpy(dtype=bool)


def group_ids(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """A group number per row (sorted keys, nulls last) and one row of key values per group."""
    if not keys:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1))
    gid = frame.groupby(keys, dropna=False, observed=True, sort=True).ngroup().to_numpy()
    first = pd.Series(gid).drop_duplicates()
    groups = frame[keys].iloc[first.index].set_axis(first.to_numpy()).sort_index().reset_index(drop=True)
    return gid, groups


def metric_values(
    frame: pd.DataFrame,
    gid: np.ndarray,
    n_groups: int,
    agg: str,
    column: str | None,
    mask: np.ndarray | None = None,
    order_by: list[str] | None = None,
) -> pd.Series:
    """One value per group (index 0..n_groups-1) over the rows `mask` keeps.

    count/nunique/sum are 0 for a group whose rows all fail the filter; other aggregations are
    null there. first/last take the first/last non-null value in `order_by` order.
    """
    ids = gid if mask is None else gid[mask]
    if agg == "count":
        return pd.Series(np.bincount(ids, minlength=n_groups), dtype="Int64")
    values = frame[column] if mask is None else frame[column][mask]
    values = values.reset_index(drop=True)
    if agg in ("first", "last") and order_by:
        order = (frame[order_by] if mask is None else frame[order_by][mask]).reset_index(drop=True)
        position = order.sort_values(order_by, kind="stable").index.to_numpy()
        values, ids = values.iloc[position].reset_index(drop=True), ids[position]
    out = values.groupby(ids, sort=True).agg(agg).reindex(range(n_groups))
    if agg in ADDITIVE:
        out = out.fillna(0)
    return out


def join_models(
    frame: pd.DataFrame, agg: Aggregation, models: dict[str, tuple[list[str], pd.DataFrame]], stats: dict | None = None
) -> pd.DataFrame:
    """Left-join each declared model's columns onto the rows (the model is one row per key).

    A model missing from `models` (not materialized yet) joins as nulls. `stats` receives, per
    model, the rows whose key it lacks (`join/<model>/rows_unmatched`).
    """
    for j in agg.join:
        if j.model not in models:
            frame = frame.assign(**{c: pd.NA for c in j.columns})
            unmatched = len(frame)
        else:
            key, table = models[j.model]
            right = table[[*key, *j.columns]].rename(columns=dict(zip(key, j.on)))
            # many_to_one: a model with a repeated key would multiply rows; its key_is_unique gate forbids it
            frame = frame.merge(right, how="left", on=list(j.on), validate="many_to_one", indicator="_joined")
            unmatched = int((frame["_joined"] == "left_only").sum())
            frame = frame.drop(columns="_joined")
        if stats is not None:
            stats[f"join/{j.model}/rows_unmatched"] = unmatched
    return frame


def order_columns(frame: pd.DataFrame) -> list[str]:
    """Tie-breakers after the time column, so first/last are deterministic: partition, then source line."""
    return [c for c in (PARTITION, SOURCE_LINE) if c in frame.columns]


def aggregate(
    masked: pd.DataFrame,
    agg: Aggregation,
    models: dict[str, tuple[list[str], pd.DataFrame]] | None = None,
    stats: dict | None = None,
) -> pd.DataFrame:
    """One row per group: group columns, optional `period`, then the declared metrics.

    `models`: the tables of the models the aggregation joins (key columns, frame); `stats` gets
    the join's unmatched-row counts.
    """
    frame = join_models(masked, agg, models or {}, stats) if agg.join else masked
    keep = rows_where(frame, agg.filter)
    if keep is not None:
        frame = frame[keep].reset_index(drop=True)
    keys = list(agg.group_by)
    if agg.time_column is not None:
        frame = frame.assign(**{PERIOD: period_start(frame[agg.time_column], agg.grain)})
        keys = [PERIOD] + keys
    gid, out = group_ids(frame, keys)
    order = [agg.time_column, *order_columns(frame)] if agg.time_column else None
    for m in agg.metrics:
        values = metric_values(frame, gid, len(out), m.agg, m.column, rows_where(frame, m.filter), order)
        if m.agg in ("count", "nunique"):
            values = values.astype("Int64")
        elif m.agg in ("mean", "median", "sum"):
            values = values.astype("Float64").round(6)
        out[m.name] = values  # both indexed 0..groups-1
    return out
