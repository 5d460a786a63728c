"""The semantic layer end to end: sales_transactions' metrics after demo-style files, read as a BI tool would.

"Readable by BI tools" is proven with deltalake + pyarrow only (no pandas, no helper of ours):
standard Arrow types, no pandas schema metadata, and values recomputed independently with
pyarrow compute from the masked table.
"""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from dq_platform.demo.sample_data import write_files

pytestmark = pytest.mark.slow


def arrow(project, table: str) -> pa.Table:
    return DeltaTable(project.wh().table_uri(table)).to_pyarrow_table()


def rows_of(t: pa.Table, metric: str) -> pa.Table:
    return t.filter(pc.equal(t["metric"], metric))


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    """Two demo-style sales files (a few percent bad rows) through the real job, once for the module."""
    from dq_platform.contract import CONTRACTS_DIR

    from .conftest import TEST_MASKING_KEY, Project

    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        mp.setenv("DQ_MASKING_KEY", TEST_MASKING_KEY)
        project = Project(tmp_path_factory.mktemp("sales"), CONTRACTS_DIR)
        contract = project.contracts["sales_transactions"]
        outcomes = [
            project.ingest(instance, "sales_transactions", path)
            for path in write_files(contract, project.landing, files=2, rows_per_file=300, seed=7)
        ]
        yield project, instance, outcomes


def test_runs_publish_gold_marts_and_semantic_tables(sales):
    project, _, outcomes = sales
    assert all(o.success for o in outcomes), [o.error for o in outcomes]
    checks = {f"{a}.{c}": p for o in outcomes for a, c, p, _ in o.checks}
    assert checks["sales_transactions_semantic_metrics.gold_has_no_pii"] is True
    assert checks["sales_transactions_metric_definitions.gold_has_no_pii"] is True
    # the seed's marts: total sales by status, by customer, by day, each reconciling with masked
    masked = arrow(project, "masked_sales_transactions")
    total = pc.sum(masked["amount"]).as_py()
    for mart, column in (("by_status", "total_amount"), ("by_customer", "total_amount"), ("by_day", "total_amount")):
        t = arrow(project, f"sales_transactions_{mart}")
        assert pc.sum(t[column]).as_py() == pytest.approx(total, abs=0.01), mart
        assert pc.sum(t["transactions"]).as_py() == masked.num_rows


def test_semantic_table_is_plain_delta_with_standard_arrow_types(sales):
    project, _, _ = sales
    t = arrow(project, "sales_transactions_semantic_metrics")
    types = {f.name: f.type for f in t.schema}
    assert list(types) == ["metric", "period", "grain", "currency", "status", "value", "unit"]
    assert types["period"] == pa.date32() and types["value"] == pa.float64()
    assert all(
        pa.types.is_string(types[c]) or pa.types.is_large_string(types[c]) or pa.types.is_string_view(types[c])
        for c in ("metric", "grain", "currency", "status", "unit")
    )
    # no pandas metadata anywhere a reader looks: the table schema and every Parquet file footer
    assert b"pandas" not in (t.schema.metadata or {})
    for uri in DeltaTable(project.wh().table_uri("sales_transactions_semantic_metrics")).file_uris():
        assert b"pandas" not in (pq.read_schema(uri).metadata or {}), uri
    assert set(pc.unique(t["metric"]).to_pylist()) == {
        "gross_revenue",
        "transactions",
        "average_order_value",
        "refund_rate",
        "payment_failure_rate",
        "active_customers",
        "refunded_amount",
    }


def test_metric_values_match_an_independent_pyarrow_computation(sales):
    project, _, _ = sales
    masked = arrow(project, "masked_sales_transactions")
    t = arrow(project, "sales_transactions_semantic_metrics")
    day = pc.cast(pc.floor_temporal(masked["transaction_ts"], unit="day"), pa.date32())
    week = pc.cast(pc.floor_temporal(masked["transaction_ts"], unit="week", week_starts_monday=True), pa.date32())
    month = pc.cast(pc.floor_temporal(masked["transaction_ts"], unit="month"), pa.date32())
    m = masked.append_column("day", day).append_column("week", week).append_column("month", month)
    status = m["status"]

    # gross revenue: completed amounts per day and currency
    completed = m.filter(pc.equal(status, "completed"))
    want = completed.group_by(["day", "currency"]).aggregate([("amount", "sum")])
    want = {(r["day"], r["currency"]): round(r["amount_sum"], 6) for r in want.to_pylist()}
    got = rows_of(t, "gross_revenue").to_pylist()
    got_nonzero = {(r["period"], r["currency"]): r["value"] for r in got if r["value"] != 0}
    assert got_nonzero == pytest.approx({k: v for k, v in want.items() if v != 0})
    assert all(r["status"] is None and r["grain"] == "day" and r["unit"] == "currency" for r in got)

    # transactions: every row, per day and status
    want = m.group_by(["day", "status"]).aggregate([("amount", "count")])
    got = {(r["period"], r["status"]): r["value"] for r in rows_of(t, "transactions").to_pylist()}
    assert got == {(r["day"], r["status"]): float(r["amount_count"]) for r in want.to_pylist()}
    assert sum(got.values()) == masked.num_rows

    # refund rate per ISO week: refunded / (completed + refunded)
    settled = m.filter(pc.is_in(status, pa.array(["completed", "refunded"])))
    den = {r["week"]: r["amount_count"] for r in settled.group_by("week").aggregate([("amount", "count")]).to_pylist()}
    refunded = m.filter(pc.equal(status, "refunded"))
    num = {r["week"]: r["amount_count"] for r in refunded.group_by("week").aggregate([("amount", "count")]).to_pylist()}
    got = {r["period"]: r["value"] for r in rows_of(t, "refund_rate").to_pylist()}
    assert set(got) == set(pc.unique(week).to_pylist())
    assert got == pytest.approx({w: (num.get(w, 0) / den[w] if den.get(w) else None) for w in got}, abs=1e-6)

    # active customers per month: distinct (masked) customers with a completed sale
    want = completed.group_by("month").aggregate([("customer_id", "count_distinct")])
    got = {r["period"]: r["value"] for r in rows_of(t, "active_customers").to_pylist()}
    assert {k: v for k, v in got.items() if v} == {
        r["month"]: float(r["customer_id_count_distinct"]) for r in want.to_pylist()
    }


def test_definitions_table_and_documentation_in_the_ui(sales):
    project, instance, _ = sales
    d = arrow(project, "sales_transactions_metric_definitions")
    assert d.column_names == ["name", "label", "description", "owner", "formula", "grain", "dimensions", "unit"]
    rows = {r["name"]: r for r in d.to_pylist()}
    assert rows["gross_revenue"] == {
        "name": "gross_revenue",
        "label": "Gross revenue",
        "description": "Value of completed sales, per day and currency.",
        "owner": "team:finance-data",
        "formula": "sum(amount) where status == 'completed'; per day of transaction_ts by currency",
        "grain": "day",
        "dimensions": "currency",
        "unit": "currency",
    }
    assert rows["refund_rate"]["owner"] == "team:payments-risk" and rows["refund_rate"]["grain"] == "week"
    # the asset documents every metric: description, column schema, definitions markdown
    node = project.defs.resolve_asset_graph().get(dg.AssetKey("sales_transactions_semantic_metrics"))
    schema = node.metadata["dagster/column_schema"]
    metric_col = next(c for c in schema.columns if c.name == "metric")
    for name in rows:
        assert name in node.description and name in metric_col.constraints.other[0]
    mat = instance.get_latest_materialization_event(
        dg.AssetKey("sales_transactions_semantic_metrics")
    ).asset_materialization
    md = mat.metadata["definitions"].value
    assert "| gross_revenue | Gross revenue |" in md and mat.metadata["metrics"].value == 7


def test_demo_shows_where_bi_tools_read_the_metrics(sales):
    import io

    from dq_platform.demo.run import show_semantic_layer

    project, _, _ = sales
    out = io.StringIO()
    show_semantic_layer(list(project.contracts.values()), project.warehouse, out)
    text = out.getvalue()
    t = arrow(project, "sales_transactions_semantic_metrics")
    assert f"== semantic layer of sales_transactions: 7 metrics, {t.num_rows} rows" in text
    assert project.wh().table_uri("sales_transactions_semantic_metrics") in text
    last = max(rows_of(t, "active_customers")["period"].to_pylist())
    value = [r["value"] for r in rows_of(t, "active_customers").to_pylist() if r["period"] == last][0]
    assert f"active_customers       month  {last}  {value:,.0f}" in text
