"""Dimension and fact tables: newest version per key, orphaned foreign keys, cross-contract errors."""

from __future__ import annotations

import pandas as pd
import pytest

from dq_platform.contract import ContractError, Model, load_contracts
from dq_platform.engine.modeling import build_model, orphans

DIM = Model(
    kind="dimension", name="dim_customer", key=["customer_id"], latest_by="updated_at", columns=["city", "segment"]
)


def extracts(order: list[str]) -> pd.DataFrame:
    """Customer 7 in three extracts (different updated_at), customer 8 in one; partitions in `order`."""
    rows = {
        "a.csv@1": [("t7", "Lyon", "retail", "2024-01-01"), ("t8", "Nice", "retail", "2024-01-05")],
        "b.csv@2": [("t7", "Paris", "business", "2024-03-01")],  # the newest version of t7
        "c.csv@3": [("t7", "Lille", "retail", "2024-02-01")],
    }
    frames = [
        pd.DataFrame(rows[p], columns=["customer_id", "city", "segment", "updated_at"]).assign(
            _partition=p, _source_line=range(2, 2 + len(rows[p]))
        )
        for p in order
    ]
    out = pd.concat(frames, ignore_index=True)
    return out.assign(updated_at=pd.to_datetime(out["updated_at"]), customer_id=out["customer_id"].astype("string"))


@pytest.mark.parametrize(
    "order", [["a.csv@1", "b.csv@2", "c.csv@3"], ["c.csv@3", "b.csv@2", "a.csv@1"], ["b.csv@2", "a.csv@1", "c.csv@3"]]
)
def test_newest_version_of_a_key_wins_whatever_order_partitions_were_written(order):
    result = build_model(extracts(order), DIM)
    got = result.frame[["customer_id", "city", "segment"]].astype(object).values.tolist()
    assert got == [["t7", "Paris", "business"], ["t8", "Nice", "retail"]]
    assert result.rows_in == 4 and result.superseded == 2
    assert result.duplicate_keys == 0 and result.null_keys == 0
    # lineage of the winning version: which extract and line it came from
    assert result.frame.loc[0, "_partition"] == "b.csv@2" and result.frame.loc[0, "_source_line"] == 2


def test_rerunning_an_old_extract_does_not_change_the_winner():
    first = build_model(extracts(["a.csv@1", "b.csv@2", "c.csv@3"]), DIM).frame
    # the old extract a is re-run: its rows are written again (last in the table)
    again = pd.concat([extracts(["b.csv@2", "c.csv@3"]), extracts(["a.csv@1"])], ignore_index=True)
    pd.testing.assert_frame_equal(build_model(again, DIM).frame, first)


def test_equal_timestamps_resolve_by_partition_then_line_on_every_run():
    frame = pd.DataFrame(
        {
            "customer_id": ["t1", "t1"],
            "city": ["X", "Y"],
            "segment": ["r", "r"],
            "updated_at": pd.to_datetime(["2024-01-01"] * 2),
            "_partition": ["z.csv@9", "m.csv@5"],
            "_source_line": [2, 2],
        }
    )
    assert build_model(frame, DIM).frame["city"].tolist() == ["X"]  # z.csv@9 sorts last
    assert build_model(frame.iloc[::-1], DIM).frame["city"].tolist() == ["X"]


def test_without_latest_by_exact_repeats_collapse_and_conflicts_fail_the_gate():
    model = Model(kind="dimension", name="dim_x", key=["k"], columns=["v"])
    same = pd.DataFrame({"k": [1, 1, 2], "v": ["a", "a", "b"], "_partition": ["p1", "p2", "p1"]})
    ok = build_model(same, model)
    assert ok.duplicate_keys == 0 and ok.frame["k"].tolist() == [1, 2] and ok.superseded == 1
    conflict = build_model(same.assign(v=["a", "changed", "b"]), model)
    assert conflict.duplicate_keys == 1 and len(conflict.frame) == 3


def test_projection_keeps_key_declared_columns_and_foreign_keys_in_order():
    fact = Model(
        kind="fact",
        name="fact_orders",
        key=["order_id"],
        columns=["amount"],
        references={"customer_id": "dim_customer"},
    )
    frame = pd.DataFrame({"order_id": [1], "amount": [9.5], "customer_id": ["t1"], "note": ["x"]})
    assert list(build_model(frame, fact).frame.columns) == ["order_id", "amount", "customer_id"]


def test_orphans_count_non_null_foreign_keys_missing_from_the_model():
    fact = pd.DataFrame({"customer_id": pd.array(["t1", "t2", None, "t9", "t9"], dtype="string")})
    dim_keys = pd.Series(["t1", "t2", "t3"], dtype="string")
    assert orphans(fact, "customer_id", dim_keys) == (4, 2)  # 4 non-null, t9 twice is orphaned
    assert orphans(fact, "customer_id", None) == (4, 4)  # model not materialized: nothing resolves


# -- across contracts: file:line errors ----------------------------------------------------------

CUSTOMERS = """\
name: cust
description: Customers.
owner: team:shop
source: {pattern: "cust/*.csv"}
columns:
  - {name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: customer_id}}
  - {name: segment, type: string}
  - {name: updated_at, type: timestamp, required: true}
model:
  kind: dimension
  name: dim_cust
  key: [customer_id]
  latest_by: updated_at
  columns: [segment]
"""

ORDERS = """\
name: ords
description: Orders.
owner: team:shop
source: {pattern: "ords/*.csv"}
columns:
  - {name: order_id, type: integer, required: true}
  - {name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: customer_id}}
  - {name: amount, type: float}
model:
  kind: fact
  name: fact_ords
  key: [order_id]
  references: {customer_id: dim_cust}
aggregations:
  - name: by_segment
    join: [{model: dim_cust, on: customer_id, columns: [segment]}]
    group_by: [segment]
    metrics: [{name: revenue, agg: sum, column: amount}]
"""


def load(tmp_path, **texts) -> list:
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return load_contracts(tmp_path)


def error_of(tmp_path, **texts) -> str:
    with pytest.raises(ContractError) as e:
        load(tmp_path, **texts)
    return str(e.value)


def test_references_and_joins_resolve_across_contracts(tmp_path):
    assert {c.name for c in load(tmp_path, cust=CUSTOMERS, ords=ORDERS)} == {"cust", "ords"}


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            ("references: {customer_id: dim_cust}", "references: {customer_id: dim_nope}"),
            "ords.yaml:13: model.references.customer_id: unknown model 'dim_nope' (declared: dim_cust, fact_ords)",
        ),
        (
            ("[segment]", "[tier]"),  # joined and grouped by
            "ords.yaml:16: aggregations[0] (by_segment).join[0].columns: model 'dim_cust' has no column(s) tier (its columns: customer_id, segment)",
        ),
        (
            ("{model: dim_cust, on: customer_id, columns", "{model: dim_gone, on: customer_id, columns"),
            "ords.yaml:16: aggregations[0] (by_segment).join[0].model: unknown model 'dim_gone'",
        ),
        (
            ("{model: dim_cust, on: customer_id, columns", "{model: dim_cust, on: [customer_id, order_id], columns"),
            "ords.yaml:16: aggregations[0] (by_segment).join[0].on: model 'dim_cust' has key ['customer_id']",
        ),
        (
            ("name: fact_ords", "name: dim_cust"),
            "ords.yaml:11: model.name: model 'dim_cust' is already declared by contract 'cust'",
        ),
        (("name: fact_ords", "name: cust_by_x\n  description: clash"), None),
        (
            ("name: fact_ords", "name: masked_cust"),
            "ords.yaml:11: model.name: 'masked_cust' is already an asset of contract 'cust'",
        ),
    ],
)
def test_cross_contract_errors_name_file_line_field_and_reason(tmp_path, change, expected):
    text = ORDERS.replace(*change)
    if expected is None:  # not a clash: no aggregation of cust is called by_x
        load(tmp_path, cust=CUSTOMERS, ords=text)
        return
    msg = error_of(tmp_path, cust=CUSTOMERS, ords=text)
    assert expected in msg, msg


def test_keys_masked_in_different_key_domains_cannot_join(tmp_path):
    text = ORDERS.replace("masking: token, key_domain: customer_id}}", "masking: token}}")
    text = text.replace(
        "{name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token}}",
        "{name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: buyer}}",
    )
    msg = error_of(tmp_path, cust=CUSTOMERS, ords=text)
    assert (
        "ords.yaml:13: model.references.customer_id: 'customer_id' is masked token in key domain 'buyer' but "
        "dim_cust.customer_id is masked token in key domain 'customer_id': their masked values would never match"
    ) in msg
    assert (
        "ords.yaml:16: aggregations[0] (by_segment).join[0].on: 'customer_id' is masked token in key domain 'buyer'"
        in msg
    )


def test_an_unmasked_foreign_key_cannot_join_a_masked_key(tmp_path):
    text = ORDERS.replace(
        "{name: customer_id, type: integer, required: true, pii: {category: identifier, masking: token, key_domain: customer_id}}",
        "{name: customer_id, type: integer, required: true}",
    )
    msg = error_of(tmp_path, cust=CUSTOMERS, ords=text)
    assert "'customer_id' is not masked but dim_cust.customer_id is masked token in key domain 'customer_id'" in msg


def test_a_single_contract_file_is_validated_without_its_neighbours(tmp_path):
    (tmp_path / "ords.yaml").write_text(ORDERS)
    assert [c.name for c in load_contracts(tmp_path / "ords.yaml")] == ["ords"]


def test_cli_validate_reports_models_and_cross_contract_errors(tmp_path, capsys):
    from dq_platform.cli import main

    load(tmp_path, cust=CUSTOMERS, ords=ORDERS)
    assert main(["contracts", "validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "; dimension dim_cust" in out and "; fact fact_ords" in out
    (tmp_path / "ords.yaml").write_text(ORDERS.replace("{customer_id: dim_cust}", "{customer_id: dim_nope}"))
    assert main(["contracts", "validate", str(tmp_path)]) == 1
    assert (
        f"{tmp_path / 'ords.yaml'}:13: model.references.customer_id: unknown model 'dim_nope'"
        in capsys.readouterr().err
    )
