"""End to end through Dagster: dimension + fact tables from incremental extracts, gold joins, lineage.

Three test contracts (CSV) stand in for ERP extracts: each file holds only new or changed rows.
Every run is a real job on a test instance (`project.ingest`), every table a real Delta table.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CUSTOMERS = """\
name: shop_customers
description: Customer extracts (new or changed customers since the last extract).
owner: team:shop
source: {pattern: "shop_customers/*.csv"}
columns:
  - {name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: customer_id}}
  - {name: city, type: string}
  - {name: segment, type: string, allowed_values: [retail, business]}
  - {name: updated_at, type: timestamp, required: true}
model:
  kind: dimension
  name: dim_shop_customer
  key: [customer_id]
  latest_by: updated_at
  columns: [city, segment]
"""

PRODUCTS = """\
name: shop_products
description: Product extracts.
owner: team:shop
source: {pattern: "shop_products/*.csv"}
columns:
  - {name: product_id, type: integer, required: true}
  - {name: category, type: string}
  - {name: price, type: float}
  - {name: updated_at, type: timestamp, required: true}
model:
  kind: dimension
  name: dim_shop_product
  key: [product_id]
  latest_by: updated_at
  columns: [category, price]
"""

ORDERS = """\
name: shop_orders
description: Order extracts (an order is extracted again when its status changes).
owner: team:shop
source: {pattern: "shop_orders/*.csv"}
columns:
  - {name: order_id, type: integer, required: true}
  - {name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: customer_id}}
  - {name: product_id, type: integer, required: true}
  - {name: amount, type: float, required: true}
  - {name: status, type: string, allowed_values: [pending, completed]}
  - {name: order_ts, type: timestamp, required: true}
  - {name: updated_at, type: timestamp, required: true}
model:
  kind: fact
  name: fact_shop_orders
  key: [order_id]
  latest_by: updated_at
  columns: [customer_id, product_id, amount, status, order_ts]
  references: {customer_id: dim_shop_customer, product_id: dim_shop_product}
aggregations:
  - name: revenue_by_category
    over: model
    join: [{model: dim_shop_product, on: product_id, columns: [category]}]
    group_by: [category]
    time_column: order_ts
    grain: month
    metrics: [{name: revenue, agg: sum, column: amount}]
  - name: revenue_by_segment
    over: model
    join: [{model: dim_shop_customer, on: customer_id, columns: [segment]}]
    group_by: [segment]
    metrics:
      - {name: revenue, agg: sum, column: amount, filter: "status == 'completed'"}
      - {name: orders, agg: count}
"""


def frame(rows, columns) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


CUST_COLS = ["customer_id", "city", "segment", "updated_at"]
ORDER_COLS = ["order_id", "customer_id", "product_id", "amount", "status", "order_ts", "updated_at"]


def tokens(contract, ids: list[int]) -> dict[int, str]:
    """The masked token of each customer id (the test masking key, as the pipeline uses it)."""
    import datetime as dt

    from dq_platform.engine.masking import mask_series, resolve_masking_key

    masked = mask_series(
        pd.Series(ids, dtype="Int64"), contract.column("customer_id"), resolve_masking_key(), dt.date(2024, 1, 1)
    )
    return dict(zip(ids, masked))


def evaluations(instance, asset: str, check: str) -> list:
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    return [r.event.dagster_event.event_specific_data for r in records]


def test_dimension_fact_and_gold_joins_from_incremental_extracts(make_project, instance):
    project = make_project(CUSTOMERS, PRODUCTS, ORDERS)
    wh = project.wh()
    c1 = project.write_csv(
        "shop_customers/c1.csv",
        frame(
            [
                (1, "Lyon", "retail", "2024-01-01 00:00:00"),
                (2, "Nice", "business", "2024-01-01 00:00:00"),
                (3, "Paris", "retail", "2024-01-01 00:00:00"),
            ],
            CUST_COLS,
        ),
    )
    c2 = project.write_csv(
        "shop_customers/c2.csv",
        frame(
            [
                (2, "Nice", "retail", "2024-02-01 00:00:00"),  # changed segment: newer, wins
                (4, "Lille", "business", "2024-02-01 00:00:00"),
                (1, "Brest", "business", "2023-12-01 00:00:00"),
            ],
            CUST_COLS,
        ),
    )  # a late, OLDER version: loses
    runs = [project.ingest(instance, "shop_customers", c) for c in (c1, c2)]
    runs.append(
        project.ingest(
            instance,
            "shop_products",
            project.write_csv(
                "shop_products/p1.csv",
                frame(
                    [(10, "toys", 5.0, "2024-01-01 00:00:00"), (20, "garden", 100.0, "2024-01-01 00:00:00")],
                    ["product_id", "category", "price", "updated_at"],
                ),
            ),
        )
    )
    runs.append(
        project.ingest(
            instance,
            "shop_orders",
            project.write_csv(
                "shop_orders/o1.csv",
                frame(
                    [
                        (1, 1, 10, 10.0, "completed", "2024-01-05 10:00:00", "2024-01-10 00:00:00"),
                        (2, 2, 20, 100.0, "pending", "2024-01-06 10:00:00", "2024-01-10 00:00:00"),
                        (3, 3, 10, 20.0, "completed", "2024-01-07 10:00:00", "2024-01-10 00:00:00"),
                    ],
                    ORDER_COLS,
                ),
            ),
        )
    )
    runs.append(
        project.ingest(
            instance,
            "shop_orders",
            project.write_csv(
                "shop_orders/o2.csv",
                frame(
                    [
                        (
                            2,
                            2,
                            20,
                            100.0,
                            "completed",
                            "2024-01-06 10:00:00",
                            "2024-02-10 00:00:00",
                        ),  # order 2 completed
                        (4, 4, 20, 50.0, "completed", "2024-02-02 10:00:00", "2024-02-10 00:00:00"),
                        (5, 99, 10, 7.0, "completed", "2024-02-03 10:00:00", "2024-02-10 00:00:00"),
                    ],
                    ORDER_COLS,
                ),
            ),
        )
    )  # no customer 99
    assert all(r.success for r in runs), [r.error for r in runs]

    # dimension: one row per (masked) customer, the newest updated_at winning
    dim = wh.read("dim_shop_customer")
    token = tokens(project.contracts["shop_customers"], [1, 2, 3, 4, 99])
    got = dict(zip(dim["customer_id"], zip(dim["city"], dim["segment"])))
    assert got == {
        token[1]: ("Lyon", "retail"),  # not Brest: that version is older
        token[2]: ("Nice", "retail"),  # changed in extract 2
        token[3]: ("Paris", "retail"),
        token[4]: ("Lille", "business"),
    }
    assert sorted(dim.columns) == ["_partition", "_source_line", "city", "customer_id", "segment"]
    assert not dim["customer_id"].isin(["1", "2", "3", "4"]).any()  # masked keys: tokens, not ids

    # re-running the first extract later does not change the winners
    before = wh.read("dim_shop_customer")
    assert project.ingest(instance, "shop_customers", c1).success
    pd.testing.assert_frame_equal(wh.read("dim_shop_customer"), before)

    # fact: order 2 once, completed; the orphan customer counted (WARN: published anyway)
    fact = wh.read("fact_shop_orders").sort_values("order_id")
    assert fact["order_id"].tolist() == [1, 2, 3, 4, 5]
    assert fact.set_index("order_id").loc[2, "status"] == "completed"
    refs = {f"{a}.{c}": (p, s) for a, c, p, s in runs[-1].checks}
    assert refs["fact_shop_orders.key_is_unique"] == (True, "ERROR")
    assert refs["fact_shop_orders.customer_id_references_resolve"] == (False, "WARN")
    assert refs["fact_shop_orders.product_id_references_resolve"] == (True, "WARN")
    orphan = evaluations(instance, "fact_shop_orders", "customer_id_references_resolve")[0]
    meta = {k: v.value for k, v in orphan.metadata.items()}
    assert meta == {
        "orphans": 1,
        "orphan_rate": 0.2,
        "foreign_keys": 5,
        "referenced_rows": 4,
        "referenced_model": "dim_shop_customer",
    }
    assert fact.set_index("order_id").loc[5, "customer_id"] == token[99]
    assert token[99] not in str(orphan) and "99" not in (orphan.description or "")  # counts, never key values

    # gold joins over the fact (not masked, which holds order 2 twice): known totals
    by_segment = wh.read("shop_orders_revenue_by_segment")
    got = {
        (None if pd.isna(s) else s): (float(r), int(n))
        for s, r, n in zip(by_segment["segment"], by_segment["revenue"], by_segment["orders"])
    }
    assert got == {"retail": (130.0, 3), "business": (50.0, 1), None: (7.0, 1)}
    by_category = wh.read("shop_orders_revenue_by_category")
    got = {
        (str(p.date()), c): float(r)
        for p, c, r in zip(by_category["period"], by_category["category"], by_category["revenue"])
    }
    assert got == {
        ("2024-01-01", "toys"): 30.0,
        ("2024-01-01", "garden"): 100.0,
        ("2024-02-01", "garden"): 50.0,
        ("2024-02-01", "toys"): 7.0,
    }
    mat = instance.get_latest_materialization_event(dg.AssetKey("shop_orders_revenue_by_segment")).asset_materialization
    assert mat.metadata["join/dim_shop_customer/rows_unmatched"].value == 1


def test_lineage_draws_the_star_schema(make_project):
    graph = make_project(CUSTOMERS, PRODUCTS, ORDERS).defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}

    assert parents("dim_shop_customer") == {"masked_shop_customers"}
    assert parents("fact_shop_orders") == {"masked_shop_orders", "dim_shop_customer", "dim_shop_product"}
    assert parents("shop_orders_revenue_by_category") == {"masked_shop_orders", "fact_shop_orders", "dim_shop_product"}
    assert parents("shop_orders_revenue_by_segment") == {"masked_shop_orders", "fact_shop_orders", "dim_shop_customer"}
    checks = {c.name for c in graph.get(dg.AssetKey("fact_shop_orders")).check_keys}
    assert checks == {"key_is_unique", "customer_id_references_resolve", "product_id_references_resolve"}
    assert graph.get(dg.AssetKey("fact_shop_orders")).group_name == "shop_orders"


def test_a_failed_uniqueness_gate_keeps_the_last_good_model(make_project, instance):
    # without latest_by, two different versions of one key cannot be resolved: the gate holds the model
    project = make_project(CUSTOMERS.replace("  latest_by: updated_at\n", ""))
    wh = project.wh()
    ok = project.ingest(
        instance,
        "shop_customers",
        project.write_csv("shop_customers/a.csv", frame([(1, "Lyon", "retail", "2024-01-01 00:00:00")], CUST_COLS)),
    )
    assert ok.success and len(wh.read("dim_shop_customer")) == 1
    version = wh.table("dim_shop_customer").version()
    bad = project.ingest(
        instance,
        "shop_customers",
        project.write_csv("shop_customers/b.csv", frame([(1, "Paris", "retail", "2024-02-01 00:00:00")], CUST_COLS)),
    )
    assert not bad.success
    assert "dim_shop_customer.key_is_unique: 1 key(s) with more than one row" in bad.failed_gates[0]
    assert wh.table("dim_shop_customer").version() == version
    assert wh.read("dim_shop_customer")["city"].tolist() == ["Lyon"]


def test_orphans_error_holds_the_fact_back(make_project, instance):
    orders = ORDERS.replace("  references:", "  orphans: error\n  references:")
    project = make_project(CUSTOMERS, PRODUCTS, orders)
    out = project.ingest(
        instance,
        "shop_orders",
        project.write_csv(
            "shop_orders/o1.csv",
            frame([(1, 1, 10, 10.0, "completed", "2024-01-05 10:00:00", "2024-01-10 00:00:00")], ORDER_COLS),
        ),
    )
    assert not out.success  # no customer nor product extract yet: every foreign key is an orphan
    checks = {f"{a}.{c}": (p, s) for a, c, p, s in out.checks}
    assert checks["fact_shop_orders.customer_id_references_resolve"] == (False, "ERROR")
    assert checks["fact_shop_orders.key_is_unique"] == (True, "ERROR")
    assert project.wh().table("fact_shop_orders") is None
    assert project.wh().table("shop_orders_revenue_by_segment") is None  # gold over the fact waits too
    assert out.rows["masked"] == 1  # masked itself was published: its own gates passed


STORES = """\
name: stores
description: Store master data, one extract per week.
owner: retail-data@example.com
source: {pattern: "stores/*.csv"}
columns:
  - {name: store_id, type: integer, required: true}
  - {name: region, type: string, required: true}
  - {name: surface_m2, type: float}
  - {name: opened_on, type: date, required: true}
  - {name: extracted_at, type: timestamp, required: true}
model:
  kind: dimension
  name: dim_store
  key: [store_id]
  latest_by: extracted_at
semantic:
  time_column: opened_on
  metrics:
    - {name: stores_opened, description: Stores opened in the month., agg: count, grain: month, dimensions: [region]}
    - {name: mean_surface, description: Mean surface of the stores opened in the year., agg: mean, column: surface_m2, grain: year, unit: m2}
"""


def test_a_new_dataset_needs_only_its_yaml_contract(make_project, instance):
    project = make_project(STORES)  # the YAML file is the only thing written: no code names "stores"
    graph = project.defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"dim_store", "stores_semantic_metrics", "stores_metric_definitions"} <= keys
    assert {c.name for c in graph.get(dg.AssetKey("dim_store")).check_keys} == {"key_is_unique"}
    assert {c.name for c in graph.get(dg.AssetKey("stores_semantic_metrics")).check_keys} == {"gold_has_no_pii"}
    job = project.defs.resolve_job_def("stores_pipeline")
    assert {"dim_store", "stores_semantic_metrics", "stores_metric_definitions"} <= {
        k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()
    }

    out = project.ingest(
        instance,
        "stores",
        project.write_csv(
            "stores/w1.csv",
            frame(
                [
                    (1, "north", 100.0, "2024-01-10", "2024-03-01 00:00:00"),
                    (2, "north", 300.0, "2024-01-20", "2024-03-01 00:00:00"),
                    (3, "south", 200.0, "2024-02-05", "2024-03-01 00:00:00"),
                ],
                ["store_id", "region", "surface_m2", "opened_on", "extracted_at"],
            ),
        ),
    )
    assert out.success, out.error
    checks = {f"{a}.{c}": p for a, c, p, _ in out.checks}
    assert checks["dim_store.key_is_unique"] and checks["stores_semantic_metrics.gold_has_no_pii"]
    assert project.wh().read("dim_store")["store_id"].tolist() == [1, 2, 3]
    metrics = project.wh().read("stores_semantic_metrics")
    got = {
        (m, str(p.date()), None if r is None or r is pd.NA else r): v
        for m, p, r, v in zip(metrics["metric"], metrics["period"], metrics["region"].astype(object), metrics["value"])
    }
    assert got == {
        ("stores_opened", "2024-01-01", "north"): 2.0,
        ("stores_opened", "2024-02-01", "south"): 1.0,
        ("mean_surface", "2024-01-01", None): 200.0,
    }
    definitions = project.wh().read("stores_metric_definitions")
    assert definitions["owner"].tolist() == ["retail-data@example.com"] * 2  # the contract's owner by default
    assert definitions["unit"].tolist() == ["count", "m2"]
