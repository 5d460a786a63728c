"""The semantic layer on a constructed frame: every metric kind against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dq_platform.contract import parse_contract
from dq_platform.engine.semantic import compute_metrics, definitions, definitions_markdown, long_columns, read_columns

CONTRACT = parse_contract(
    """\
name: shop_sales
description: Sales.
owner: team:finance
source: {pattern: "shop_sales/*.csv"}
columns:
  - {name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token}}
  - {name: amount, type: float, required: true}
  - {name: currency, type: string}
  - {name: status, type: string}
  - {name: ts, type: timestamp, required: true}
semantic:
  time_column: ts
  metrics:
    - name: gross_revenue
      label: Gross revenue
      description: Value of completed sales.
      agg: sum
      column: amount
      filter: "status == 'completed'"
      dimensions: [currency]
      unit: currency
    - name: transactions
      description: Transactions received.
      agg: count
      grain: month
      dimensions: [status]
    - name: refund_rate
      description: Refunded share of settled sales.
      owner: risk@example.com
      agg: ratio
      numerator: {agg: count, filter: "status == 'refunded'"}
      denominator: {agg: count, filter: "status in ['completed', 'refunded']"}
      grain: month
    - name: weekly_refund_rate
      description: Refunded share of settled sales, per ISO week.
      agg: ratio
      numerator: {agg: count, filter: "status == 'refunded'"}
      denominator: {agg: count, filter: "status in ['completed', 'refunded']"}
      grain: week
    - name: active_customers
      description: Customers with a completed sale in the month.
      agg: nunique
      column: customer_id
      filter: "status == 'completed'"
      grain: month
    - name: average_order_value
      description: Mean completed sale.
      agg: mean
      column: amount
      filter: "status == 'completed'"
      grain: month
      dimensions: [currency]
      unit: currency
    - name: revenue_share_usd
      description: USD share of completed revenue.
      agg: ratio
      filter: "status == 'completed'"
      numerator: {agg: sum, column: amount, filter: "currency == 'USD'"}
      denominator: {agg: sum, column: amount}
      grain: month
""",
    "shop_sales.yaml",
)

ROWS = [  # customer token, amount, currency, status, ts
    ("c1", 10.0, "USD", "completed", "2024-01-01 09:00"),
    ("c1", 20.0, "USD", "completed", "2024-01-01 18:00"),
    ("c2", 5.0, "EUR", "refunded", "2024-01-01 12:00"),
    ("c2", 7.0, "EUR", "completed", "2024-01-02 08:00"),
    ("c3", 100.0, "USD", "failed", "2024-01-02 09:00"),
    ("c1", 1.0, "USD", "completed", "2024-02-10 10:00"),  # Saturday
    ("c4", 3.0, "EUR", "refunded", "2024-02-11 10:00"),  # Sunday: same ISO week
    ("c5", 50.0, "USD", "failed", "2024-03-04 10:00"),  # nothing settled in March
]


def masked() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["customer_id", "amount", "currency", "status", "ts"])
    df = df.astype({"customer_id": "string", "amount": "Float64", "currency": "string", "status": "string"})
    return df.assign(ts=pd.to_datetime(df["ts"]), _partition="p1", _source_line=range(2, 2 + len(df)))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return compute_metrics(masked(), CONTRACT)


def values(table: pd.DataFrame, metric: str, *dims: str) -> dict:
    rows = table[table["metric"] == metric]
    out = {}
    for r in rows.itertuples(index=False):
        key = (str(r.period.date()), *(getattr(r, d) for d in dims))
        out[key if dims else key[0]] = None if pd.isna(r.value) else round(float(r.value), 6)
    return out


def test_long_table_columns_and_types(table):
    assert list(table.columns) == ["metric", "period", "grain", "currency", "status", "value", "unit"]
    assert long_columns(CONTRACT.semantic) == list(table.columns)
    assert str(table["value"].dtype) == "Float64" and str(table["period"].dtype) == "datetime64[ns]"


def test_sum_with_filter_per_day_and_currency_is_zero_where_no_row_passes(table):
    assert values(table, "gross_revenue", "currency") == {
        ("2024-01-01", "EUR"): 0.0,  # a refund only
        ("2024-01-01", "USD"): 30.0,
        ("2024-01-02", "EUR"): 7.0,
        ("2024-01-02", "USD"): 0.0,  # failed only
        ("2024-02-10", "USD"): 1.0,
        ("2024-02-11", "EUR"): 0.0,
        ("2024-03-04", "USD"): 0.0,
    }
    assert set(table.loc[table["metric"] == "gross_revenue", "grain"]) == {"day"}
    assert set(table.loc[table["metric"] == "gross_revenue", "unit"]) == {"currency"}


def test_count_per_month_and_status(table):
    assert values(table, "transactions", "status") == {
        ("2024-01-01", "completed"): 3.0,
        ("2024-01-01", "failed"): 1.0,
        ("2024-01-01", "refunded"): 1.0,
        ("2024-02-01", "completed"): 1.0,
        ("2024-02-01", "refunded"): 1.0,
        ("2024-03-01", "failed"): 1.0,
    }


def test_ratio_of_filtered_counts_and_null_when_the_denominator_is_zero(table):
    # January: 1 refund / 4 settled; February: 1 / 2; March: 0 / 0 -> undefined, null (not 0, not inf)
    assert values(table, "refund_rate") == {"2024-01-01": 0.25, "2024-02-01": 0.5, "2024-03-01": None}
    assert values(table, "weekly_refund_rate") == {"2024-01-01": 0.25, "2024-02-05": 0.5, "2024-03-04": None}


def test_ratio_with_a_metric_filter_narrows_both_parts(table):
    # completed revenue: January USD 30 of 37; February USD 1 of 1; March: nothing completed
    assert values(table, "revenue_share_usd") == {
        "2024-01-01": round(30 / 37, 6),
        "2024-02-01": 1.0,
        "2024-03-01": None,
    }


def test_nunique_per_month_counts_distinct_masked_customers(table):
    assert values(table, "active_customers") == {"2024-01-01": 2.0, "2024-02-01": 1.0, "2024-03-01": 0.0}


def test_mean_is_null_where_no_row_passes_the_filter(table):
    assert values(table, "average_order_value", "currency") == {
        ("2024-01-01", "EUR"): 7.0,
        ("2024-01-01", "USD"): 15.0,
        ("2024-02-01", "EUR"): None,
        ("2024-02-01", "USD"): 1.0,
        ("2024-03-01", "USD"): None,
    }


def test_dimensions_a_metric_does_not_use_are_null(table):
    by_metric = table.groupby("metric")
    assert by_metric["currency"].apply(lambda s: s.notna().all()).to_dict() == {
        "active_customers": False,
        "average_order_value": True,
        "gross_revenue": True,
        "refund_rate": False,
        "revenue_share_usd": False,
        "transactions": False,
        "weekly_refund_rate": False,
    }
    assert table.loc[table["metric"] != "transactions", "status"].isna().all()
    assert table.loc[table["metric"] == "refund_rate", ["currency", "status"]].isna().all().all()


def test_rows_without_a_time_value_are_left_out_and_an_empty_input_gives_an_empty_typed_table():
    frame = masked()
    frame.loc[0, "ts"] = pd.NaT
    t = compute_metrics(frame, CONTRACT)
    assert values(t, "gross_revenue", "currency")[("2024-01-01", "USD")] == 20.0
    empty = compute_metrics(masked().head(0), CONTRACT)
    assert len(empty) == 0 and list(empty.columns) == list(t.columns)
    assert str(empty["value"].dtype) == "Float64"


def test_only_the_columns_metrics_use_are_read():
    assert read_columns(CONTRACT) == ["_partition", "_source_line", "amount", "currency", "customer_id", "status", "ts"]


def test_definitions_table_says_what_each_metric_means_and_who_owns_it():
    d = definitions(CONTRACT).set_index("name")
    assert list(d.reset_index().columns) == [
        "name",
        "label",
        "description",
        "owner",
        "formula",
        "grain",
        "dimensions",
        "unit",
    ]
    assert d.loc["gross_revenue"].to_dict() == {
        "label": "Gross revenue",
        "description": "Value of completed sales.",
        "owner": "team:finance",
        "formula": "sum(amount) where status == 'completed'; per day of ts by currency",
        "grain": "day",
        "dimensions": "currency",
        "unit": "currency",
    }
    assert d.loc["refund_rate"].to_dict() == {
        "label": "Refund rate",
        "description": "Refunded share of settled sales.",
        "owner": "risk@example.com",
        "formula": "(count(*) where status == 'refunded') / (count(*) where status in ['completed', 'refunded']); "
        "per month of ts",
        "grain": "month",
        "dimensions": "",
        "unit": "ratio",
    }
    assert (
        d.loc["active_customers", "formula"]
        == "count(distinct customer_id) where status == 'completed'; per month of ts"
    )
    assert d.loc["revenue_share_usd", "formula"] == (
        "(sum(amount) where currency == 'USD') / (sum(amount)), over rows where status == 'completed'; per month of ts"
    )
    assert d.loc["transactions", "unit"] == "count" and d.loc["transactions", "label"] == "Transactions"
    md = definitions_markdown(CONTRACT)
    assert md.splitlines()[0] == "| name | label | description | owner | formula | grain | dimensions | unit |"
    assert len(md.splitlines()) == 2 + len(CONTRACT.semantic.metrics)


def test_values_are_finite_or_null_never_infinite(table):
    finite = table["value"].dropna().map(math.isfinite)
    assert finite.all() and table["value"].isna().sum() == 5  # 3 ratios in March, 2 means over no row
