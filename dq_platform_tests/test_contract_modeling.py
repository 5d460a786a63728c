"""Malformed model:, join:, filter: and semantic: sections fail at load with file:line: field: reason."""

from __future__ import annotations

import pytest

from dq_platform.contract import ContractError, parse_contract

GOOD = """\
name: orders
description: Orders.
owner: team:shop
source:
  pattern: "orders/*.csv"
columns:
  - {name: order_id, type: integer, required: true}
  - {name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: customer_id}}
  - {name: email, type: string, pii: {category: email, masking: email}}
  - {name: product_id, type: integer}
  - {name: amount, type: float}
  - {name: status, type: string}
  - {name: order_ts, type: timestamp, required: true}
  - {name: updated_at, type: timestamp, required: true}
model:
  kind: fact
  name: fact_orders
  key: [order_id]
  latest_by: updated_at
  columns: [amount, status, order_ts]
  references: {customer_id: dim_customer}
aggregations:
  - name: revenue_by_category
    join: [{model: dim_product, on: product_id, columns: [category]}]
    group_by: [category]
    time_column: order_ts
    grain: month
    metrics:
      - {name: revenue, agg: sum, column: amount, filter: "status == 'completed'"}
      - {name: last_amount, agg: last, column: amount}
semantic:
  time_column: order_ts
  metrics:
    - name: revenue
      description: Completed revenue.
      owner: team:finance
      agg: sum
      column: amount
      filter: "status == 'completed'"
      dimensions: [status]
    - name: refund_rate
      description: Refunded share.
      agg: ratio
      numerator: {agg: count, filter: "status == 'refunded'"}
      denominator: {agg: count}
      grain: week
"""


def error_of(text: str) -> str:
    with pytest.raises(ContractError) as e:
        parse_contract(text, "orders.yaml")
    return str(e.value)


def test_good_contract_with_every_section_parses():
    c = parse_contract(GOOD, "orders.yaml")
    assert c.model.output_columns == ["order_id", "amount", "status", "order_ts", "customer_id"]
    assert c.aggregations[0].join[0].on == [
        "product_id"
    ]  # YAML's bare `on:` key (a boolean in YAML 1.1) is read as "on"
    assert [m.name for m in c.semantic.metrics] == ["revenue", "refund_rate"]
    assert c.semantic.metrics[1].resolved_unit == "ratio" and c.semantic.metrics[0].owner == "team:finance"


@pytest.mark.parametrize(
    "change,expected",
    [
        # model:
        (("key: [order_id]", "key: [order_no]"), "orders.yaml:18: model.key[0]: unknown column 'order_no'"),
        (
            ("key: [order_id]", "key: [product_id]"),
            "orders.yaml:18: model.key[0]: key column 'product_id' must be required: true (a null key identifies no row)",
        ),
        (
            ("latest_by: updated_at", "latest_by: email"),
            "orders.yaml:19: model.latest_by: latest_by 'email' must be an unmasked date, timestamp or number column",
        ),
        (
            ("latest_by: updated_at", "latest_by: status"),
            "orders.yaml:19: model.latest_by: latest_by 'status' must be an unmasked date, timestamp or number column",
        ),
        (
            ("columns: [amount, status, order_ts]", "columns: [amount, state]"),
            "orders.yaml:20: model.columns[1]: unknown column 'state'",
        ),
        (
            ("references: {customer_id: dim_customer}", "references: {client_id: dim_customer}"),
            "orders.yaml:21: model.references.client_id: unknown column 'client_id'",
        ),
        (
            ("kind: fact", "kind: dimension"),
            "orders.yaml:15: model: references are declared on facts only (a dimension is referenced, it does not reference)",
        ),
        (("kind: fact", "kind: cube"), "orders.yaml:16: model.kind: Input should be 'dimension' or 'fact'"),
        (
            ("name: fact_orders", "name: masked_orders"),
            "orders.yaml:17: model.name: 'masked_orders' is already the name of one of this dataset's assets",
        ),
        (
            ("  references:", "  orphans: fail\n  references:"),
            "orders.yaml:21: model.orphans: Input should be 'warn' or 'error'",
        ),
        # aggregations: join, filter, first/last, over
        (
            ("on: product_id", "on: sku"),
            "orders.yaml:24: aggregations[0] (revenue_by_category).join[0].on: unknown column 'sku'",
        ),
        (
            ("columns: [category]", "columns: [category, status]"),
            "orders.yaml:24: aggregations[0] (revenue_by_category).join[0].columns: joined column(s) status already exist in the rows",
        ),
        (
            ("filter: \"status == 'completed'\"}", "filter: \"state == 'completed'\"}"),
            "orders.yaml:29: aggregations[0] (revenue_by_category).metrics[0] (revenue).filter: filter uses unknown column(s): state",
        ),
        (
            ("filter: \"status == 'completed'\"}", 'filter: "status =="}'),
            "orders.yaml:29: aggregations[0] (revenue_by_category).metrics[0] (revenue).filter: filter 'status ==' is not a valid expression",
        ),
        (
            ("    group_by: [category]", '    filter: "amount >> "\n    group_by: [category]'),
            "orders.yaml:25: aggregations[0] (revenue_by_category).filter: filter 'amount >> ' is not a valid expression",
        ),
        (
            ("    time_column: order_ts\n    grain: month\n", ""),
            "orders.yaml:28: aggregations[0] (revenue_by_category).metrics[1] (last_amount).agg: last is ordered by the "
            "aggregation's time_column; declare one",
        ),
        (
            ("    group_by: [category]", "    over: model\n    group_by: [category]"),
            "orders.yaml:25: aggregations[0] (revenue_by_category).over: column(s) product_id are not in model 'fact_orders'",
        ),
        (
            ("  - name: revenue_by_category", "  - name: semantic_metrics"),
            "orders.yaml:23: aggregations[0] (semantic_metrics).name: 'semantic_metrics' is the name of a semantic-layer asset",
        ),
        # semantic:
        (
            ("  time_column: order_ts\n  metrics:", "  time_column: amount\n  metrics:"),
            "orders.yaml:32: semantic.time_column: time_column 'amount' must be an unmasked date/timestamp column",
        ),
        (
            ("      column: amount\n      filter", "      column: email\n      filter"),
            "orders.yaml:38: semantic.metrics[0] (revenue).column: sum needs a numeric column after masking; "
            "'email' is PII masked as email (string)",
        ),
        (
            ("      column: amount\n      filter", "      column: customer_id\n      filter"),
            "orders.yaml:38: semantic.metrics[0] (revenue).column: sum needs a numeric column after masking; "
            "'customer_id' is PII masked as token (string)",
        ),
        (
            ("      column: amount\n      filter", "      column: amt\n      filter"),
            "orders.yaml:38: semantic.metrics[0] (revenue).column: unknown column 'amt'",
        ),
        (
            ("dimensions: [status]", "dimensions: [region]"),
            "orders.yaml:40: semantic.metrics[0] (revenue).dimensions[0]: unknown dimension 'region' (dimensions are columns of the contract)",
        ),
        (
            ("dimensions: [status]", "dimensions: [value]"),
            "orders.yaml:40: semantic.metrics[0] (revenue).dimensions[0]: 'value' is a column of the metrics table itself",
        ),
        (
            ("    - name: refund_rate", "    - name: revenue"),
            "orders.yaml:41: semantic.metrics[1] (revenue).name: duplicate metric name 'revenue'",
        ),
        (
            ("      numerator: {agg: count, filter: \"status == 'refunded'\"}\n", ""),
            "orders.yaml:41: semantic.metrics[1] (refund_rate): a ratio needs both a numerator and a denominator",
        ),
        (
            ("      agg: ratio\n", "      agg: count\n"),
            "orders.yaml:41: semantic.metrics[1] (refund_rate): numerator/denominator belong to ratio metrics, not to agg 'count'",
        ),
        (
            ("owner: team:finance", "owner: finance"),
            "orders.yaml:36: semantic.metrics[0] (revenue).owner: owner must be an email address or 'team:<name>'",
        ),
        (
            ("      description: Completed revenue.\n", ""),
            "orders.yaml:34: semantic.metrics[0] (revenue).description: required field is missing",
        ),
        (
            ("denominator: {agg: count}", "denominator: {agg: sum, column: note}"),
            "orders.yaml:45: semantic.metrics[1] (refund_rate).denominator.column: unknown column 'note'",
        ),
        (
            ("denominator: {agg: count}", "denominator: {agg: count, column: amount}"),
            "orders.yaml:45: semantic.metrics[1] (refund_rate).denominator: count counts rows and takes no column",
        ),
        (
            ("filter: \"status == 'refunded'\"}", "filter: \"stat == 'refunded'\"}"),
            "orders.yaml:44: semantic.metrics[1] (refund_rate).numerator.filter: filter uses unknown column(s): stat",
        ),
        (
            ("grain: week", "grain: fortnight"),
            "orders.yaml:46: semantic.metrics[1] (refund_rate).grain: Input should be 'day', 'week', 'month' or 'year'",
        ),
        (("  time_column: order_ts\n  metrics:", "  time_column: order_ts\n  over: model\n  metrics:"), None),
    ],
)
def test_modeling_errors_name_file_line_field_and_reason(change, expected):
    assert change[0] in GOOD, change[0]
    text = GOOD.replace(*change)
    if expected is None:
        parse_contract(text, "orders.yaml")
        return
    msg = error_of(text)
    assert expected in msg, msg
    assert "Traceback" not in msg


def test_semantic_over_the_model_reads_only_model_columns():
    text = GOOD.replace("  time_column: order_ts\n  metrics:", "  time_column: order_ts\n  over: model\n  metrics:")
    msg = error_of(text.replace("dimensions: [status]", "dimensions: [email]"))
    assert (
        "orders.yaml:33: semantic.over: column(s) email are not in model 'fact_orders' (add them to its columns)" in msg
    )


def test_every_error_of_a_contract_is_reported_at_once():
    text = GOOD.replace("key: [order_id]", "key: [order_no]").replace("dimensions: [status]", "dimensions: [region]")
    msg = error_of(text)
    assert (
        "orders.yaml:18: model.key[0]" in msg and "orders.yaml:40: semantic.metrics[0] (revenue).dimensions[0]" in msg
    )
