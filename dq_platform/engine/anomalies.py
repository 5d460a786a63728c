"""Rule-based anomaly detection over published (masked) events: row rules and windowed counts.

Pure pandas/numpy, no Dagster and no storage: `defs/anomalies.py` decides which events to read and
which stored anomalies to replace; this module says what an anomaly is.

Semantics of a contract's `anomalies:` rule (README "Event monitoring"):

- Row rule (no `window`): every event matching `where` is one anomaly.
- Window rule: within each group (`window.group_by`), an event at time t is *hot* when the closed
  interval [t - size, t] holds more than `count_above` matching events of that group. Both ends are
  inclusive: for "more than 20 within 1m", 21 events spanning exactly 60 s are flagged, 21 spanning
  60.001 s are not. A hot event's window runs from the first of those events to t. Hot windows of one
  group that share an event merge into ONE anomaly (a burst): start = its first event, end = its last,
  `events` = matching events in [start, end], `peak_count` = the largest count of any one window. So a
  storm of 500 errors is one anomaly, not 480.

Everything is vectorized: one sort of (group, time), the window's first event per event found for all
events at once (a lexsort of the events merged with their window starts), bursts by a cumulative sum.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from dq_platform.contract import CLEANED_DTYPES, Anomaly, Contract
from dq_platform.engine.rules import PARTITION, SOURCE_LINE

VALUE_PREFIX = "event_"  # event values copied into an anomaly row: event_service, event_cpu, ...

# The anomalies table: one row per anomaly, whatever the rule.
FIELDS: dict[str, str] = {
    "rule_id": "string",
    "kind": "string",  # row | window
    "severity": "string",  # warn | error
    "group_values": "string",  # "service=auth-service" (window rules with group_by), else ""
    "window_start": "datetime64[ns]",  # row rules: the event's time (both ends)
    "window_end": "datetime64[ns]",
    "events": "Int64",  # matching events in [window_start, window_end]
    "peak_count": "Int64",  # window rules: most events in any one window
    "threshold": "Int64",  # window rules: count_above
    "window_seconds": "Float64",
    "partitions": "string",  # source files (partition keys) whose events make up the anomaly, comma-separated
    "source_line": "Int64",  # row rules: the event's line in its file
    "description": "string",  # for people: what, where, how much (no PII)
    "detected_at": "datetime64[ns]",
    "run_id": "string",
}


def value_columns(contract: Contract) -> list[str]:
    """Contract columns whose values may be copied into anomalies: never a PII column."""
    return [c.name for c in contract.columns if c.pii is None]


def output_dtypes(contract: Contract) -> dict[str, str]:
    out = dict(FIELDS)
    for c in contract.columns:
        if c.pii is None:
            out[VALUE_PREFIX + c.name] = CLEANED_DTYPES[c.type]
    return out


def empty(contract: Contract) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in output_dtypes(contract).items()})


def needed_columns(contract: Contract) -> list[str]:
    """The masked columns detection reads (values of PII columns are never needed, but a rule may test them)."""
    cols = set(value_columns(contract))
    for rule in contract.anomalies:
        if rule.window:
            cols |= {rule.window.time_column, *rule.window.group_by}
        if rule.where:
            cols |= {c.name for c in contract.columns if c.name in _names_in(rule.where)}
    return [c.name for c in contract.columns if c.name in cols] + [PARTITION, SOURCE_LINE]


def _names_in(expression: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression))


def matches(events: pd.DataFrame, rule: Anomaly) -> np.ndarray:
    """Events matching the rule's `where` (all events without one); a null comparison is no match."""
    if not rule.where:
        return np.ones(len(events), dtype=bool)
    if len(events) == 0:
        return np.zeros(0, dtype=bool)
    result = events.eval(rule.where, engine="python")
    return pd.Series(result, index=events.index).astype("boolean").fillna(False).to_numpy(dtype=bool)


def window_starts(codes: np.ndarray, times: np.ndarray, width: int) -> np.ndarray:
    """For events sorted by (code, time): the index of the first event of the same code at or after time - width.

    Each event's window start (code, time - width) is sorted together with the events; a start sorts
    before an event at the same (code, time), so an event exactly `width` earlier is inside the window.
    The number of events sorted before a start is then the index sought.
    """
    n = len(times)
    keys_code = np.concatenate([codes, codes])
    keys_time = np.concatenate([times - width, times])
    is_event = np.concatenate([np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)])
    order = np.lexsort((is_event, keys_time, keys_code))
    events_before = np.cumsum(is_event[order]) - is_event[order]
    position = np.empty(2 * n, dtype=np.int64)
    position[order] = np.arange(2 * n)
    return events_before[position[:n]]


def bursts(events: pd.DataFrame, rule: Anomaly, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per burst of a window rule: group columns, start, end, events, peak_count, partitions.

    `since`: only windows ending at or after it count (an incremental recomputation reads the events
    of the window before it as context, but the bursts there are not its to decide).
    """
    w = rule.window
    time, groups = w.time_column, list(w.group_by)
    columns = [time, *groups, PARTITION]
    if len(events) == 0:
        return _no_bursts(events, columns)
    keep = matches(events, rule) & events[time].notna().to_numpy()
    ev = events.loc[keep, columns]
    n = len(ev)
    if n == 0:
        return _no_bursts(events, columns)
    codes = (
        ev.groupby(groups, sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)
        if groups
        else np.zeros(n, dtype=np.int64)
    )
    times = ev[time].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = np.lexsort((times, codes))
    codes, times = codes[order], times[order]
    ev = ev.iloc[order].reset_index(drop=True)

    left = window_starts(codes, times, int(round(w.seconds * 1e9)))
    count = np.arange(n) - left + 1
    hot = count > w.count_above
    if since is not None:
        hot &= times >= pd.Timestamp(since).value
    ends = np.flatnonzero(hot)
    if len(ends) == 0:
        return _no_bursts(events, columns)
    starts = left[ends]
    # a hot window opens a new burst when its group changes or it shares no event with the previous one
    new = np.concatenate([[True], (codes[ends[1:]] != codes[ends[:-1]]) | (starts[1:] > ends[:-1])])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:] - 1, [len(ends) - 1]])
    lo, hi = starts[first], ends[last]  # window starts never decrease within a group: the first is the earliest
    peak = np.maximum.reduceat(count[ends], first)

    # the source files of each burst's events (bursts are disjoint, ordered index ranges)
    idx = np.arange(n)
    owner = np.searchsorted(lo, idx, side="right") - 1
    inside = (owner >= 0) & (idx <= hi[np.maximum(owner, 0)])
    parts = (
        pd.DataFrame({"b": owner[inside], "p": ev[PARTITION].to_numpy()[inside]})
        .drop_duplicates()
        .sort_values(["b", "p"])
    )
    partitions = parts.groupby("b")["p"].agg(",".join).reindex(range(len(lo)))

    out = ev.loc[lo, groups].reset_index(drop=True)
    out["window_start"] = ev[time].to_numpy()[lo]
    out["window_end"] = ev[time].to_numpy()[hi]
    out["events"] = hi - lo + 1
    out["peak_count"] = peak
    out["partitions"] = partitions.to_numpy()
    return out


def _no_bursts(events: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(
        {c: pd.Series(dtype=events[c].dtype if c in events.columns else "string") for c in columns[1:-1]}
    )
    for c, t in (
        ("window_start", "datetime64[ns]"),
        ("window_end", "datetime64[ns]"),
        ("events", "int64"),
        ("peak_count", "int64"),
        ("partitions", "string"),
    ):
        out[c] = pd.Series(dtype=t)
    return out


def affected_range(
    first: pd.Timestamp, last: pd.Timestamp, rule: Anomaly, stored: pd.DataFrame
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The time range whose bursts new events in [first, last] can change, and no stored burst straddles.

    A new event can only change windows ending within [first, last + size], whose events lie in
    [first - size, last + size]; a burst there may merge with a stored one that overlaps it, so the range
    grows to cover every stored burst (of any group) it overlaps, until none straddles its edges. Every
    burst after the recomputation then lies wholly inside or wholly outside the range.
    """
    size = pd.Timedelta(seconds=rule.window.seconds)
    lo, hi = pd.Timestamp(first) - size, pd.Timestamp(last) + size
    starts = stored["window_start"].to_numpy(dtype="datetime64[ns]") if len(stored) else np.array([], "datetime64[ns]")
    ends = stored["window_end"].to_numpy(dtype="datetime64[ns]") if len(stored) else starts
    while True:
        over = (starts <= np.datetime64(hi, "ns")) & (ends >= np.datetime64(lo, "ns"))
        new_lo = min(lo, pd.Timestamp(starts[over].min())) if over.any() else lo
        new_hi = max(hi, pd.Timestamp(ends[over].max())) if over.any() else hi
        if (new_lo, new_hi) == (lo, hi):
            return lo, hi
        lo, hi = new_lo, new_hi


# -- the anomalies rows ---------------------------------------------------------------------


def _when(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")


def _duration(seconds: np.ndarray) -> pd.Series:
    text = np.where(
        seconds < 120,
        np.char.mod("%.0f s", seconds),
        np.where(seconds < 7200, np.char.mod("%.1f min", seconds / 60), np.char.mod("%.1f h", seconds / 3600)),
    )
    return pd.Series(text, dtype="string")


def _text(values: pd.Series, limit: int = 40) -> pd.Series:
    s = values.astype("string")
    s = s.where(s.str.len() <= limit, s.str.slice(0, limit) + "…")
    return s.fillna("-")


def window_rows(
    found: pd.DataFrame, rule: Anomaly, contract: Contract, detected_at: dt.datetime, run_id: str
) -> pd.DataFrame:
    """Bursts -> anomalies rows, with a description such as
    'auth-service: 25 ERROR logs in 42 s (2025-01-01 10:20:01 to 10:20:43); peak 25 within 1m, threshold 20'."""
    w = rule.window
    n = len(found)
    out = empty(contract).reindex(range(n))
    if n == 0:
        return empty(contract)
    groups = list(w.group_by)
    if groups:
        who = _text(found[groups[0]])
        pairs = groups[0] + "=" + _text(found[groups[0]], 200)
        for g in groups[1:]:
            who = who + ", " + _text(found[g])
            pairs = pairs + ", " + g + "=" + _text(found[g], 200)
    else:
        who = pd.Series(["all"] * n, dtype="string")
        pairs = pd.Series([""] * n, dtype="string")
    start = pd.Series(found["window_start"].to_numpy(), dtype="datetime64[ns]")
    end = pd.Series(found["window_end"].to_numpy(), dtype="datetime64[ns]")
    seconds = (end - start).dt.total_seconds().to_numpy()
    same_day = (start.dt.normalize() == end.dt.normalize()).to_numpy()
    end_text = pd.Series(np.where(same_day, end.dt.strftime("%H:%M:%S"), _when(end)), dtype="string")
    events = pd.Series(found["events"].to_numpy(), dtype="Int64")
    peak = pd.Series(found["peak_count"].to_numpy(), dtype="Int64")
    out["description"] = (
        who
        + ": "
        + events.astype("string")
        + f" {rule.label} in "
        + _duration(seconds)
        + " ("
        + _when(start)
        + " to "
        + end_text
        + "); peak "
        + peak.astype("string")
        + f" within {w.size}, threshold {w.count_above}"
    )
    out["group_values"] = pairs
    out["window_start"], out["window_end"] = start.to_numpy(), end.to_numpy()
    out["events"], out["peak_count"] = events.to_numpy(), peak.to_numpy()
    out["threshold"] = w.count_above
    out["window_seconds"] = w.seconds
    out["partitions"] = found["partitions"].astype("string").to_numpy()
    for g in groups:
        if VALUE_PREFIX + g in out.columns:
            out[VALUE_PREFIX + g] = found[g].to_numpy()
    return _stamp(out, rule, "window", contract, detected_at, run_id)


def row_rows(
    events: pd.DataFrame, rule: Anomaly, contract: Contract, detected_at: dt.datetime, run_id: str
) -> pd.DataFrame:
    """Each matching event -> one anomaly row with its non-PII values, e.g.
    '2025-01-01 10:20:32: service=inventory-api, cpu=91.5, latency_ms=120 (cpu > 85 or latency_ms > 400)'."""
    hit = events.loc[matches(events, rule)].reset_index(drop=True)
    n = len(hit)
    if n == 0:
        return empty(contract)
    out = empty(contract).reindex(range(n))
    time = next((c.name for c in contract.columns if c.pii is None and c.type.value in ("timestamp", "date")), None)
    shown = [c for c in value_columns(contract) if c != time and c in hit.columns]
    parts = [c + "=" + _text(hit[c]) for c in shown]
    text = parts[0] if parts else pd.Series([""] * n, dtype="string")
    for p in parts[1:]:
        text = text + ", " + p
    if time is not None:
        out["window_start"] = out["window_end"] = hit[time].to_numpy()
        text = _when(pd.Series(hit[time].to_numpy(), dtype="datetime64[ns]")).fillna("-") + ": " + text
    out["description"] = text + (f" ({rule.where})" if rule.where else "")
    out["group_values"] = ""
    out["events"] = 1
    out["partitions"] = hit[PARTITION].astype("string").to_numpy()
    out["source_line"] = hit[SOURCE_LINE].to_numpy() if SOURCE_LINE in hit.columns else pd.NA
    for c in value_columns(contract):
        if c in hit.columns:
            out[VALUE_PREFIX + c] = hit[c].to_numpy()
    return _stamp(out, rule, "row", contract, detected_at, run_id)


def _stamp(out: pd.DataFrame, rule: Anomaly, kind: str, contract: Contract, detected_at, run_id: str) -> pd.DataFrame:
    out["rule_id"], out["kind"], out["severity"] = rule.id, kind, rule.severity
    out["detected_at"] = (
        pd.Timestamp(detected_at).tz_localize(None) if pd.Timestamp(detected_at).tzinfo else pd.Timestamp(detected_at)
    )
    out["run_id"] = run_id
    return out.astype(output_dtypes(contract))
