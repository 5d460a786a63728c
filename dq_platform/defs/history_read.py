"""Reading a table's history back from Dagster's event storage, and judging a file against it.

Every materialization already carries our metadata (rows received, failure rate, column profile):
`read_history` pages through the materializations of a trailing window (metadata only, never
table data), and `judge_value` / `judge_arrival` hand the points to engine/history.py. The asset
checks that use them, and the words they say, are history_checks.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from dq_platform.contract import History, parse_duration
from dq_platform.engine.history import (
    LATENESS,
    Kind,
    Settings,
    Verdict,
    arrival_gaps,
    iso,
    judge,
    one_per_partition,
)

PAGE = 500  # most materialization records per storage query
Horizon = Callable[[dict[str, float], "str | None"], float]  # (point metadata, partition) -> how far back to read
FIRST_PAGE = 32  # pages double from here: a window of daily files needs only a few dozen records


def settings_of(history: History) -> Settings:
    return Settings(
        window_s=parse_duration(history.window).total_seconds(),
        min_history=history.min_history,
        min_weekday_history=history.min_weekday_history,
        threshold=history.threshold,
        seasonality=history.seasonality,
    )


# -- reading history from Dagster's event storage ---------------------------------------------


@dataclass(frozen=True)
class Materialization:
    partition: str
    timestamp: float
    storage_id: int
    run_id: str
    metadata: dict


@dataclass
class HistoryRead:
    materializations: list[Materialization] = field(default_factory=list)  # newest first
    queries: int = 0
    _points: dict = field(default_factory=dict, repr=False)

    @property
    def newest_partition(self) -> str | None:
        return self.materializations[0].partition if self.materializations else None

    def points(self, keys: list[str]):
        """One point per file (history.one_per_partition), one column per metadata key; computed once."""
        missing = [k for k in keys if k not in self._points]
        if missing or not self._points:
            mats = self.materializations
            frame = one_per_partition(
                [m.partition for m in mats],
                [m.timestamp for m in mats],
                {k: [m.metadata.get(k) for m in mats] for k in missing},
            )
            self._points["_arrivals"] = frame[["partition", "arrived"]]
            for k in missing:
                self._points[k] = frame[["partition", "arrived", k]].rename(columns={k: "value"})
        return self._points


def read_history(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    *,
    before: float | None,
    horizon: Horizon,
    page_size: int | None = None,
) -> HistoryRead:
    """The materializations of `key` a judgement needs, newest first, read in pages.

    `horizon(first, newest)` says how far back to read, given the earliest materialization seen
    so far of each partition and the newest partition. Reading stops once the pages are older
    than the horizon. A file first seen inside the span read may be a re-run of an older file:
    one more query (those partitions, before the span) finds their true first materialization,
    which can move the horizon back and continue the reading. Records come in storage order,
    which is time order for events Dagster stores as they happen. Each record costs about a
    millisecond to deserialize, so pages start small and double (`page_size` fixes their size).
    """
    out = HistoryRead()
    seen: set[int] = set()
    first: dict[str, float] = {}
    checked: set[str] = set()
    cursor, more, oldest_ts, oldest_id = None, True, math.inf, None
    size = page_size or FIRST_PAGE

    def add(record) -> None:
        mat = record.asset_materialization
        if mat is None or mat.partition is None or record.storage_id in seen:
            return
        seen.add(record.storage_id)
        out.materializations.append(
            Materialization(
                mat.partition,
                record.timestamp,
                record.storage_id,
                record.run_id,
                {k: getattr(v, "value", v) for k, v in mat.metadata.items()},
            )
        )
        first[mat.partition] = min(first.get(mat.partition, math.inf), record.timestamp)

    while True:
        while more and oldest_ts >= horizon(first, out.newest_partition):
            page = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, before_timestamp=before), limit=size, cursor=cursor
            )
            out.queries += 1
            size = page_size or min(2 * size, PAGE)
            for record in page.records:
                add(record)
                oldest_ts = min(oldest_ts, record.timestamp)
                oldest_id = record.storage_id if oldest_id is None else min(oldest_id, record.storage_id)
            cursor, more = page.cursor, page.has_more
        if not more:
            break  # everything stored was read: first materializations are exact
        edge = horizon(first, out.newest_partition)
        suspects = sorted(p for p, t in first.items() if t >= edge and p not in checked)
        if not suspects:
            break
        checked.update(suspects)
        older = None
        while True:
            page = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=suspects, before_storage_id=oldest_id),
                limit=page_size or PAGE,
                cursor=older,
            )
            out.queries += 1
            for record in page.records:
                add(record)
            if not page.has_more:
                break
            older = page.cursor
    out.materializations.sort(key=lambda m: -m.storage_id)
    return out


def horizon_for(settings: Settings, partition: str | None, values: bool, arrival: bool) -> Horizon:
    """How far back `read_history` must read for a file's judgement.

    values: the window before the file's arrival (outside a file's run: the newest file's).
    arrival: the window before the previous arrival (outside a file's run: the last arrival).
    Until the anchor has been seen the horizon is -inf: keep reading.
    """

    def horizon(first: dict[str, float], newest: str | None) -> float:
        bounds = []
        current = partition or newest
        if values:
            bounds.append(first[current] - settings.window_s if current in first else -math.inf)
        if arrival:
            if partition is None:
                anchor = max(first.values(), default=None)
            else:
                mine = first.get(partition)
                anchor = max(
                    (t for p, t in first.items() if p != partition and mine is not None and t < mine), default=None
                )
            bounds.append(anchor - settings.window_s if anchor is not None else -math.inf)
        return min(bounds) if bounds else math.inf

    return horizon


def points(read: HistoryRead, metadata_key: str | None):
    """One point per file for one metadata key (None: arrivals only)."""
    return read.points([metadata_key] if metadata_key else [])[metadata_key or "_arrivals"]


# -- judging -----------------------------------------------------------------------------------


def judge_value(
    read: HistoryRead, metadata_key: str, partition: str | None, settings: Settings, kind: Kind
) -> tuple[Verdict | None, str | None]:
    """The file's value against the other files' (None: the file has no materialization)."""
    current = partition or read.newest_partition
    pts = points(read, metadata_key)
    mine = pts[pts["partition"] == current]
    if mine.empty:
        return None, current
    others = pts[pts["partition"] != current]
    value = float(mine["value"].iloc[0])
    return judge(
        others["arrived"].to_numpy(),
        others["value"].to_numpy(),
        float(mine["arrived"].iloc[0]),
        None if math.isnan(value) else value,
        settings,
        kind,
    ), current


def judge_arrival(
    read: HistoryRead, partition: str | None, now: float, settings: Settings
) -> tuple[Verdict | None, dict]:
    """Hours from the previous arrival to this file's (in a file's run) or to now (outside one)."""
    pts = points(read, None)
    if partition is not None:
        mine = pts[pts["partition"] == partition]
        if mine.empty:
            return None, {}
        arrived = float(mine["arrived"].iloc[0])
        before = pts.loc[(pts["partition"] != partition) & (pts["arrived"] < arrived), "arrived"].to_numpy()
        info = {"arrival": iso(arrived)}
        if before.size == 0:
            return None, info
        prev = float(before.max())
        starts, gaps = arrival_gaps(before)
        info["previous_arrival"] = iso(prev)
        return judge(starts, gaps, prev, (arrived - prev) / 3600.0, settings, LATENESS), info
    arrivals = pts["arrived"].to_numpy()
    if arrivals.size == 0:
        return None, {}
    last = float(arrivals.max())
    starts, gaps = arrival_gaps(arrivals)
    info = {"last_arrival": iso(last), "as_of": iso(now)}
    return judge(starts, gaps, last, max(now - last, 0.0) / 3600.0, settings, LATENESS), info
