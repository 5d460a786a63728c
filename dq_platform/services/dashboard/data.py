"""The dashboard's reads, cached for DQ_DASHBOARD_CACHE_SECONDS, each with the time it was read.

Every loader returns `(value, as_of)`; pages show "data as of" from it, so a cached number never
passes for a live one. The sources are built once per (instance, warehouse, contracts) location.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dq_platform import settings
from dq_platform.services import records
from dq_platform.services.sources import Sources


def ttl() -> int:
    return int(settings.number("DQ_DASHBOARD_CACHE_SECONDS", int))


@st.cache_resource(show_spinner=False)
def _sources(home: str, warehouse: str, contracts: str) -> Sources:
    return Sources.from_settings()


def sources() -> Sources:
    """The sources of the current settings (tests point the settings elsewhere: another entry)."""
    return _sources(str(settings.dagster_home()), settings.warehouse_uri(), str(settings.contracts_dir()))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@st.cache_data(ttl=ttl(), show_spinner="Reading run storage...")
def health(location: tuple, window_days: float) -> tuple[dict, list[dict], pd.DataFrame, list[dict], str]:
    """KPIs, per-dataset status, rows per day, files waiting for review: one consistent read."""
    src = sources()
    now = dt.datetime.now(dt.UTC)
    kpis = records.health(src, window_days, now=now.timestamp())
    statuses = [records.dataset_status(src, name, kpis, now.timestamp()) for name in sorted(src.contracts)]
    daily = records.rows_by_day(src, now - dt.timedelta(days=window_days))
    return kpis, statuses, daily, records.files_waiting_for_review(src), _now()


@st.cache_data(ttl=ttl(), show_spinner="Reading the gold layer...")
def table(location: tuple, name: str) -> tuple[pd.DataFrame | None, str]:
    """A served table (None: not written yet), lineage columns left out."""
    return records.table_frame(sources(), name), _now()


def key() -> tuple:
    """Cache key of the current settings: a different project is a different cache entry."""
    return (str(settings.dagster_home()), settings.warehouse_uri(), str(settings.contracts_dir()))


def as_of(when: str) -> None:
    left, right = st.columns([5, 1])
    left.caption(f"Data as of {when} UTC · cached for {ttl()} s")
    if right.button("Refresh", key=f"refresh-{st.session_state.get('page', '')}"):
        st.cache_data.clear()
        st.rerun()


def empty(what: str, hint: str) -> None:
    st.info(f"**No {what} yet.** {hint}", icon=":material/hourglass_empty:")


def date_window(frame: pd.DataFrame, column: str, label: str = "Dates") -> pd.DataFrame:
    """A sidebar date range over `column` (all of it by default); the rows inside it."""
    days = pd.to_datetime(frame[column]).dt.date
    lo, hi = days.min(), days.max()
    chosen = st.sidebar.date_input(label, value=(lo, hi), min_value=lo, max_value=hi)
    start, end = (chosen[0], chosen[-1]) if isinstance(chosen, tuple | list) and chosen else (lo, hi)
    return frame[(days >= start) & (days <= end)]
