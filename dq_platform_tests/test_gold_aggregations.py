"""Gold aggregations on constructed rows: joins with a model, first/last, filters, period starts."""

from __future__ import annotations

import pandas as pd
import pytest

from dq_platform.contract import Aggregation
from dq_platform.engine.aggregation import aggregate, period_start


def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6],
            "product_id": pd.array([10, 10, 20, 30, 99, None], dtype="Int64"),  # 99: not in the model; None: no product
            "amount": pd.array([5.0, 7.0, 100.0, 1.5, 2.0, 3.0], dtype="Float64"),
            "status": pd.array(
                ["completed", "refunded", "completed", "completed", "completed", "completed"], dtype="string"
            ),
            "order_ts": pd.to_datetime(
                [
                    "2024-01-03 10:00",
                    "2024-01-20 00:00",
                    "2024-01-05 00:00",
                    "2024-02-01 00:00",
                    "2024-02-02 00:00",
                    "2024-02-03 00:00",
                ]
            ),
            "_partition": "p1",
            "_source_line": range(2, 8),
        }
    )


PRODUCTS = (
    ["product_id"],
    pd.DataFrame(
        {
            "product_id": pd.array([10, 20, 30], dtype="Int64"),
            "category": pd.array(["toys", "garden", "toys"], dtype="string"),
            "price": pd.array([5.0, 100.0, 1.5], dtype="Float64"),
        }
    ),
)


def agg(**spec) -> Aggregation:
    return Aggregation(name="x", **spec)


def test_join_then_group_gives_known_totals_and_keeps_unmatched_rows():
    spec = agg(
        join=[{"model": "dim_product", "on": "product_id", "columns": ["category"]}],
        group_by=["category"],
        time_column="order_ts",
        grain="month",
        metrics=[
            {"name": "revenue", "agg": "sum", "column": "amount", "filter": "status == 'completed'"},
            {"name": "orders", "agg": "count"},
        ],
    )
    stats: dict = {}
    out = aggregate(orders(), spec, {"dim_product": PRODUCTS}, stats)
    got = {
        (str(r.period.date()), None if pd.isna(r.category) else r.category): (float(r.revenue), int(r.orders))
        for r in out.itertuples()
    }
    assert got == {
        ("2024-01-01", "garden"): (100.0, 1),
        ("2024-01-01", "toys"): (5.0, 2),  # the refunded 7.0 is filtered out of revenue, still an order
        ("2024-02-01", "toys"): (1.5, 1),
        ("2024-02-01", None): (5.0, 2),  # product 99 (unknown) and the order without a product
    }
    assert stats == {"join/dim_product/rows_unmatched": 2}


def test_join_on_differently_named_key_and_missing_model_joins_as_nulls():
    renamed = (["id"], PRODUCTS[1].rename(columns={"product_id": "id"}))
    spec = agg(
        join=[{"model": "dim_product", "on": "product_id", "columns": ["category"]}],
        group_by=["category"],
        metrics=[{"name": "revenue", "agg": "sum", "column": "amount"}],
    )
    out = aggregate(orders(), spec, {"dim_product": renamed})
    assert dict(zip(out["category"].fillna("?"), out["revenue"])) == {"garden": 100.0, "toys": 13.5, "?": 5.0}
    stats: dict = {}
    missing = aggregate(orders(), spec, {}, stats)  # the model is not materialized yet
    assert missing["revenue"].tolist() == [118.5] and missing["category"].isna().all()
    assert stats == {"join/dim_product/rows_unmatched": 6}


def test_a_model_with_a_repeated_key_is_refused_rather_than_multiplying_rows():
    doubled = (["product_id"], pd.concat([PRODUCTS[1], PRODUCTS[1].head(1)]))
    spec = agg(
        join=[{"model": "dim_product", "on": "product_id", "columns": ["category"]}],
        metrics=[{"name": "n", "agg": "count"}],
    )
    with pytest.raises(pd.errors.MergeError):
        aggregate(orders(), spec, {"dim_product": doubled})


def test_first_and_last_follow_the_time_column_not_the_row_order():
    prices = pd.DataFrame(
        {
            "product_id": [1, 1, 1, 2, 2],
            "price": pd.array([12.0, 10.0, None, 3.0, 4.0], dtype="Float64"),
            "ts": pd.to_datetime(["2024-03-20", "2024-03-02", "2024-03-31", "2024-03-15", "2024-03-01"]),
        }
    )
    spec = agg(
        group_by=["product_id"],
        time_column="ts",
        grain="month",
        metrics=[
            {"name": "opening", "agg": "first", "column": "price"},
            {"name": "closing", "agg": "last", "column": "price"},
        ],
    )
    out = aggregate(prices, spec)
    # product 1: earliest 10.0 (Mar 2); latest non-null 12.0 (Mar 20; the Mar 31 price is missing)
    assert out[["product_id", "opening", "closing"]].values.tolist() == [[1, 10.0, 12.0], [2, 4.0, 3.0]]


def test_aggregation_filter_drops_rows_before_grouping_metric_filter_keeps_groups():
    spec = agg(
        filter="amount < 50",
        group_by=["status"],
        metrics=[
            {"name": "orders", "agg": "count"},
            {"name": "big", "agg": "count", "filter": "amount > 4"},
            {"name": "mean_big", "agg": "mean", "column": "amount", "filter": "amount > 4"},
        ],
    )
    out = aggregate(orders(), spec)
    assert out["status"].tolist() == ["completed", "refunded"]
    assert out["orders"].tolist() == [4, 1]  # the 100.0 order is filtered out
    assert out["big"].tolist() == [1, 1]
    assert out["mean_big"].tolist() == [5.0, 7.0]
    none_big = aggregate(
        orders(),
        agg(
            filter="amount < 5",
            group_by=["status"],
            metrics=[
                {"name": "big", "agg": "count", "filter": "amount > 4"},
                {"name": "mean_big", "agg": "mean", "column": "amount", "filter": "amount > 4"},
            ],
        ),
    )
    assert none_big["big"].tolist() == [0] and none_big["mean_big"].isna().all()  # counted 0, mean undefined


def test_periods_start_on_the_day_monday_first_of_month_and_year():
    ts = pd.Series(pd.to_datetime(["2024-01-03 15:00", "2024-01-07 23:59", "2024-01-08 00:00", "2024-02-29 00:00"]))
    assert [str(x.date()) for x in period_start(ts, "day")] == ["2024-01-03", "2024-01-07", "2024-01-08", "2024-02-29"]
    # ISO weeks: Wednesday 3 and Sunday 7 January belong to the week of Monday 1 January
    assert [str(x.date()) for x in period_start(ts, "week")] == ["2024-01-01", "2024-01-01", "2024-01-08", "2024-02-26"]
    assert [str(x.date()) for x in period_start(ts, "month")] == [
        "2024-01-01",
        "2024-01-01",
        "2024-01-01",
        "2024-02-01",
    ]
    assert [str(x.date()) for x in period_start(ts, "year")] == ["2024-01-01"] * 4
