"""Pipeline health: success rate, last status and freshness per dataset, rows per day, quarantine
trend, open incidents, files waiting for review. Numbers from run storage (`records`), as the API's."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dq_platform import names, settings
from dq_platform.services.dashboard import data


def pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def status_table(statuses: list[dict]) -> pd.DataFrame:
    """One row per dataset, as people read it (text, so the page shows exactly these strings)."""
    rows = []
    for s in statuses:
        last = s["last_run"] or {}
        fresh = s["freshness"]
        rows.append(
            {
                "dataset": s["dataset"],
                "owner": s["owner"],
                "runs": s["runs"],
                "success rate": pct(s["success_rate"]),
                "last status": last.get("status", "-"),
                "last run (UTC)": (last.get("started") or "-").replace("T", " ").removesuffix("+00:00"),
                "failure rate": pct(s["failure_rate"]),
                "freshness": fresh["state"] + (f" (SLA {fresh['sla']})" if fresh["sla"] else ""),
                "open check failures": len(s["open_check_failures"]),
            }
        )
    return pd.DataFrame(rows)


def health() -> None:
    st.title("Pipeline health")
    window = st.sidebar.slider("Window (days)", min_value=1, max_value=90, value=30)
    kpis, statuses, daily, waiting, when = data.health(data.key(), float(window))
    data.as_of(when)
    datasets = [s["dataset"] for s in statuses]
    chosen = st.sidebar.multiselect("Datasets", datasets, default=datasets)
    overall = kpis["overall"]
    if overall["runs"] == 0:
        data.empty(
            "runs on record",
            "Run `make demo` (or `dq-platform demo`), or drop a file into the landing zone: "
            "this page fills in as soon as a dataset's pipeline has run.",
        )
        return
    a, b, c, d, e = st.columns(5)
    a.metric("Success rate", pct(overall["success_rate"]), help="finished pipeline runs that succeeded")
    b.metric("Runs", f"{overall['runs']:,}", help=f"pipeline runs in the last {window} days")
    c.metric("Rows per day", f"{overall['rows_per_day']:,.0f}")
    d.metric("Open check failures", overall["open_failures"], help="checks whose latest evaluation failed")
    e.metric("Files waiting for review", len(waiting))

    st.subheader("Datasets")
    table = status_table([s for s in statuses if s["dataset"] in chosen])
    st.table(table.set_index("dataset"))

    st.subheader("Rows per day")
    shown = daily[daily["dataset"].isin(chosen)]
    if shown.empty:
        st.caption("No rows received in this window.")
    else:
        bars = (
            alt.Chart(shown)
            .mark_bar()
            .encode(
                x=alt.X("yearmonthdate(day):O", title="day"),
                y=alt.Y("sum(rows_in):Q", title="rows received"),
                color="dataset:N",
                tooltip=["dataset", "day", "rows_in", "rows_quarantined"],
            )
        )
        st.altair_chart(bars, width="stretch")
        st.subheader("Quarantine rate")
        line = (
            alt.Chart(shown.dropna(subset=["quarantine_rate"]))
            .mark_line(point=True)
            .encode(
                x=alt.X("yearmonthdate(day):T", title="day"),
                y=alt.Y("quarantine_rate:Q", title="share of rows quarantined", axis=alt.Axis(format="%")),
                color="dataset:N",
                tooltip=["dataset", "day", alt.Tooltip("quarantine_rate:Q", format=".1%")],
            )
        )
        st.altair_chart(line, width="stretch")

    st.subheader("Open incidents")
    incidents = [(s["dataset"], f) for s in statuses if s["dataset"] in chosen for f in s["open_check_failures"]]
    if incidents:
        st.markdown("\n".join(f"- **{ds}**: `{f}`" for ds, f in incidents))
    else:
        st.success("No check is failing.")

    st.subheader("Files waiting for review")
    pending = [w for w in waiting if w["dataset"] in chosen]
    if not pending:
        st.caption("No file is waiting for a decision.")
    ui = settings.get("DQ_WEBSERVER_URL").rstrip("/")
    for w in pending:
        st.markdown(
            f"- **{w['dataset']}** `{w['partition']}`: {pct(w['failure_rate'])} of {w['rows_in']} rows failed, "
            f"held since {w['held_since']} ([run]({ui}/runs/{w['run_id']}))  \n  {w['how_to_decide']} "
            f"([open the review job in the UI]({ui}/locations/dq_platform/jobs/{names.REVIEW_JOB}/playground))"
        )
