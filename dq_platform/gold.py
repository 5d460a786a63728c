"""Gold aggregates declared in a contract, computed from the masked (PII-safe) layer."""

from __future__ import annotations

import pandas as pd

from .contract import Aggregation

PERIOD = "period"
_FREQ = {"day": "D", "week": "W-MON", "month": "M", "year": "Y"}


def aggregate(masked: pd.DataFrame, agg: Aggregation) -> pd.DataFrame:
    """One row per group: group columns, optional `period`, then the declared metrics."""
    frame = masked
    keys = list(agg.group_by)
    if agg.time_column is not None:
        ts = pd.to_datetime(frame[agg.time_column])
        period = ts.dt.to_period(_FREQ[agg.grain]).dt.start_time if agg.grain != "day" else ts.dt.normalize()
        frame = frame.assign(**{PERIOD: period})
        keys = [PERIOD] + keys
    named = {}
    any_column = next(c for c in frame.columns if c not in keys)  # "size" needs some non-key column
    for m in agg.metrics:
        if m.agg == "count":
            named[m.name] = pd.NamedAgg(column=any_column, aggfunc="size")
        else:
            named[m.name] = pd.NamedAgg(column=m.column, aggfunc=m.agg)
    if keys:
        out = frame.groupby(keys, dropna=False, observed=True, sort=True).agg(**named).reset_index()
    else:
        out = pd.DataFrame({name: [frame[a.column].agg(a.aggfunc) if a.aggfunc != "size" else len(frame)]
                            for name, a in named.items()})
    for m in agg.metrics:
        if m.agg in ("count", "nunique"):
            out[m.name] = out[m.name].astype("Int64")
        elif m.agg in ("mean", "median", "sum"):
            out[m.name] = out[m.name].astype("Float64").round(6)
    return out
