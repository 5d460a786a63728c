"""Business pages from the gold and semantic tables: sales, crypto markets, customers, ERP revenue.

Each page reads only tables of the allow-list (`services.sources`), filters by date and value in
the sidebar, and shows KPIs computed from the rows it charts. A table not written yet is an empty
state that says which dataset to run, never a traceback.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dq_platform import names
from dq_platform.services.dashboard import data


def _load(*tables: str) -> tuple[list[pd.DataFrame | None], str]:
    frames, when = [], ""
    for t in tables:
        frame, when = data.table(data.key(), t)
        frames.append(frame if frame is not None and not frame.empty else None)
    return frames, when


def _missing(dataset: str) -> None:
    data.empty(
        f"{dataset} data",
        f"Its gold tables fill in after a file of `{dataset}` has passed its gates: run `make demo`, "
        f"or drop a file into the landing zone (`dq-platform audit --dataset {dataset}` shows its runs).",
    )


NONE = "(none)"  # a group whose value is missing (e.g. an order whose product is unknown) stays countable


def _pick(label: str, frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, list]:
    """A sidebar choice of `column`'s values (all by default); missing values become NONE."""
    frame = frame.assign(**{column: frame[column].astype("string").fillna(NONE)})
    values = sorted(frame[column].unique())
    return frame, st.sidebar.multiselect(label, values, default=values)


def _within(frame: pd.DataFrame, column: str, chosen: list) -> pd.DataFrame:
    return frame[frame[column].astype("string").fillna(NONE).isin(chosen)]


def compact(value: float) -> str:
    """1,234,567,890 -> 1.23 B: a market cap people can read at a glance."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= size:
            return f"{value / size:,.2f} {unit}"
    return f"{value:,.0f}"


def sales_kpis(by_day: pd.DataFrame) -> dict:
    """The page's headline numbers, from the rows shown (tests compute the same from the table)."""
    return {
        "transactions": int(by_day["transactions"].sum()),
        "total_amount": float(by_day["total_amount"].sum()),
        "days": int(by_day["period"].nunique()),
    }


def sales() -> None:
    st.title("Sales")
    ds = "sales_transactions"
    (by_day, by_status, by_customer, semantic), when = _load(
        names.gold(ds, "by_day"),
        names.gold(ds, "by_status"),
        names.gold(ds, "by_customer"),
        names.semantic_metrics(ds),
    )
    data.as_of(when)
    if by_day is None:
        _missing(ds)
        return
    by_day, currencies = _pick("Currencies", by_day, "currency")  # options from the whole table: stable
    by_day = data.date_window(by_day, "period")
    by_day = by_day[by_day["currency"].isin(currencies)]
    k = sales_kpis(by_day)
    a, b, c = st.columns(3)
    a.metric("Transactions", f"{k['transactions']:,}")
    b.metric("Total amount (all currencies)", f"{k['total_amount']:,.2f}")
    c.metric("Days with sales", f"{k['days']:,}")
    st.subheader("Sales per day")
    st.altair_chart(
        alt.Chart(by_day)
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonthdate(period):T", title="day"),
            y=alt.Y("sum(total_amount):Q", title="amount"),
            color="currency:N",
            tooltip=["period:T", "currency", "transactions", "total_amount"],
        ),
        width="stretch",
    )
    left, right = st.columns(2)
    if by_status is not None:
        shown = _within(by_status, "currency", currencies)
        left.subheader("By status")
        left.altair_chart(
            alt.Chart(shown)
            .mark_bar()
            .encode(
                x=alt.X("sum(transactions):Q", title="transactions"),
                y=alt.Y("status:N", sort="-x"),
                color="currency:N",
                tooltip=["status", "currency", "transactions", "total_amount"],
            ),
            width="stretch",
        )
    if by_customer is not None:
        top = (
            _within(by_customer, "currency", currencies)
            .groupby("customer_id", as_index=False)["total_amount"]
            .sum()
            .nlargest(10, "total_amount")
        )
        right.subheader("Top customers (masked ids)")
        right.altair_chart(
            alt.Chart(top)
            .mark_bar()
            .encode(x=alt.X("total_amount:Q", title="amount"), y=alt.Y("customer_id:N", sort="-x", title=None)),
            width="stretch",
        )
    if semantic is not None:
        st.subheader("Business metrics (semantic layer)")
        metric = st.selectbox("Metric", sorted(semantic["metric"].unique()))
        rows = semantic[semantic["metric"] == metric]
        dims = [c for c in ("currency", "status") if rows[c].notna().any()]
        st.altair_chart(
            alt.Chart(rows)
            .mark_line(point=True)
            .encode(
                x=alt.X("period:T", title=str(rows["grain"].iloc[0])),
                y=alt.Y("value:Q", title=metric),
                color=f"{dims[0]}:N" if dims else alt.value("#4c78a8"),
                tooltip=["period:T", "value", *dims],
            ),
            width="stretch",
        )


def crypto() -> None:
    st.title("Crypto markets")
    ds = "crypto_markets"
    (by_coin,), when = _load(names.gold(ds, "by_coin_day"))
    data.as_of(when)
    if by_coin is None:
        _missing(ds)
        return
    by_coin = data.date_window(by_coin, "period")
    coins = sorted(by_coin["id"].dropna().unique())
    top = by_coin.groupby("id")["mean_market_cap"].mean().nlargest(5).index.tolist()
    chosen = st.sidebar.multiselect("Coins", coins, default=top)
    shown = by_coin[by_coin["id"].isin(chosen)]
    latest = shown[shown["period"] == shown["period"].max()]
    a, b, c = st.columns(3)
    a.metric("Coins tracked", f"{len(coins):,}")
    b.metric("Market cap of the coins shown (latest day)", compact(latest["mean_market_cap"].sum()))
    c.metric("Pulls", f"{int(shown['pulls'].sum()):,}")
    for column, title in (("mean_price", "Price (USD)"), ("mean_market_cap", "Market capitalisation (USD)")):
        st.subheader(title)
        st.altair_chart(
            alt.Chart(shown)
            .mark_line(point=True)
            .encode(
                x=alt.X("yearmonthdate(period):T", title="day"),
                y=alt.Y(f"{column}:Q", title=title, scale=alt.Scale(type="log"), axis=alt.Axis(format="~s")),
                color=alt.Color("id:N", title="coin"),
                tooltip=["id", "period:T", column],
            ),
            width="stretch",
        )


def customers() -> None:
    st.title("Customers")
    ds = "customers"
    (by_status, by_age, by_city), when = _load(
        names.gold(ds, "by_status"), names.gold(ds, "by_age_band"), names.gold(ds, "by_city")
    )
    data.as_of(when)
    if by_status is None:
        _missing(ds)
        return
    by_status, statuses = _pick("Account status", by_status, "account_status")
    shown = by_status[by_status["account_status"].isin(statuses)]
    a, b = st.columns(2)
    a.metric("Customers", f"{int(shown['customers'].sum()):,}")
    total = shown["customers"].sum()
    mean = (shown["mean_income"] * shown["customers"]).sum() / total if total else None
    b.metric("Mean income", "-" if mean is None else f"{mean:,.0f}")
    left, right = st.columns(2)
    left.subheader("By status")
    left.altair_chart(
        alt.Chart(shown).mark_arc(innerRadius=50).encode(theta="customers:Q", color="account_status:N"),
        width="stretch",
    )
    if by_age is not None:
        right.subheader("By age band")
        right.altair_chart(
            alt.Chart(by_age)
            .mark_bar()
            .encode(
                x=alt.X("date_of_birth:N", title="age band"), y="customers:Q", tooltip=["customers", "mean_income"]
            ),
            width="stretch",
        )
    if by_city is not None:
        st.subheader("Top cities")
        city = _within(by_city, "account_status", statuses)
        top = city.groupby("address")["customers"].sum().nlargest(15).index
        st.altair_chart(
            alt.Chart(city[city["address"].isin(top)])
            .mark_bar()
            .encode(
                x=alt.X("sum(customers):Q", title="customers"),
                y=alt.Y("address:N", sort="-x", title="city"),
                color="account_status:N",
            ),
            width="stretch",
        )


def erp() -> None:
    st.title("ERP revenue")
    ds = "erp_orders"
    (by_category, by_day), when = _load(names.gold(ds, "revenue_by_category_month"), names.gold(ds, "by_day_status"))
    data.as_of(when)
    if by_category is None:
        _missing(ds)
        return
    by_category, categories = _pick("Categories", by_category, "category")
    by_category = data.date_window(by_category, "period", "Months")
    shown = by_category[by_category["category"].isin(categories)]
    a, b = st.columns(2)
    a.metric("Orders", f"{int(shown['orders'].sum()):,}")
    b.metric("Units", f"{shown['units'].sum():,.0f}")
    st.subheader("Units per category and month")
    st.altair_chart(
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(period):O", title="month"),
            y=alt.Y("units:Q"),
            color="category:N",
            tooltip=["category", "period:T", "orders", "units"],
        ),
        width="stretch",
    )
    if by_day is not None:
        st.subheader("Orders per day and status")
        st.altair_chart(
            alt.Chart(by_day)
            .mark_line(point=True)
            .encode(x=alt.X("yearmonthdate(period):T", title="day"), y="orders:Q", color="status:N"),
            width="stretch",
        )
