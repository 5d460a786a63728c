"""The SQL source through its Dagster extract job, on the local PostgreSQL and on SQLite.

Full and incremental extracts, the watermark recorded in the run's tags and read back from the
newest successful run, no new rows -> no file, chunked Parquet, and a URL whose password never
appears in anything Dagster stored.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dq_platform.contract import parse_contract
from dq_platform.defs.extract import previous_watermark, run_extract
from dq_platform.io.landing_zones import landing_zone
from dq_platform.io.sql_source import SqlSourceError
from dq_platform.names import EXTRACT_ROWS_TAG, EXTRACT_URI_TAG, WATERMARK_FROM_TAG, WATERMARK_TO_TAG

from .conftest import PG_SERVER, PG_TEST_PASSWORD

URL_ENV = "DQ_TEST_ERP_URL"
T = dt.datetime(2026, 11, 2, 8, 0)

CONTRACT = """\
name: shop_orders
description: Orders of a test shop.
owner: team:test
source:
  kind: sql
  format: parquet
  pattern: "shop/orders_*.parquet"
  ready_marker: .done
  sql:
    url_env: DQ_TEST_ERP_URL
    table: orders
    mode: incremental
    watermark: updated_at
    chunk_rows: 2
columns:
  - {name: order_id, type: integer, required: true, unique: true}
  - {name: status, type: string}
  - {name: amount, type: float}
  - {name: updated_at, type: timestamp, required: true}
"""


def orders_table() -> sa.Table:
    return sa.Table(
        "orders",
        sa.MetaData(),
        sa.Column("order_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20)),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("updated_at", sa.DateTime),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path, monkeypatch):
    """An `orders` table with 5 rows in SQLite or in a throw-away PostgreSQL database; the URL in the env."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    else:
        name = request.getfixturevalue("pg_databases")("erp")
        url = f"{PG_SERVER.replace('postgres@', f'postgres:{PG_TEST_PASSWORD}@')}/{name}"
    engine = sa.create_engine(url)
    table = orders_table()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"order_id": i, "status": "paid", "amount": f"{i}.50", "updated_at": T + dt.timedelta(hours=i)}
                for i in range(1, 6)
            ],
        )
    monkeypatch.setenv(URL_ENV, url)
    yield engine, table, url
    engine.dispose()


def landed(landing: str, uri: str) -> list[dict]:
    rows = pq.read_table(uri.removeprefix("file://")).to_pylist()
    return sorted(rows, key=lambda r: int(r["order_id"]))


def test_incremental_extracts_take_only_new_and_changed_rows(database, tmp_path, instance):
    engine, table, url = database
    contract = parse_contract(CONTRACT)
    landing = str(tmp_path / "landing")

    first = run_extract(instance, contract, landing)
    assert first.success, first.error
    assert first.rows == 5 and [r["order_id"] for r in landed(landing, first.uri)] == ["1", "2", "3", "4", "5"]
    assert WATERMARK_FROM_TAG not in first.tags  # no earlier extract: every row
    assert first.tags[WATERMARK_TO_TAG] == "2026-11-02T13:00:00" and first.tags[EXTRACT_ROWS_TAG] == "5"
    assert first.uri.endswith(".parquet") and "/shop/orders_" in first.uri
    zone = landing_zone(landing)
    assert zone.exists(first.uri.split("/landing/")[1] + ".done")  # the ready marker follows the file
    # every value as text, as every raw layer holds it
    assert landed(landing, first.uri)[0] == {
        "order_id": "1",
        "status": "paid",
        "amount": "1.50",
        "updated_at": "2026-11-02 09:00:00.000000",
    }
    # chunk_rows=2: the file was written in row groups, never held whole
    assert pq.ParquetFile(first.uri.removeprefix("file://")).num_row_groups == 3

    with engine.begin() as conn:  # two new orders, one changed
        conn.execute(
            table.insert(),
            [
                {"order_id": i, "status": "new", "amount": "9.99", "updated_at": T + dt.timedelta(days=1, hours=i)}
                for i in (6, 7)
            ],
        )
        conn.execute(
            table.update().where(table.c.order_id == 2).values(status="refunded", updated_at=T + dt.timedelta(days=2))
        )
    assert previous_watermark(instance, contract) == ("2026-11-02T13:00:00", first.run_id)
    second = run_extract(instance, contract, landing)
    assert second.success, second.error
    rows = landed(landing, second.uri)
    assert [(r["order_id"], r["status"]) for r in rows] == [("2", "refunded"), ("6", "new"), ("7", "new")]
    assert second.tags[WATERMARK_FROM_TAG] == "2026-11-02T13:00:00"
    assert second.tags[WATERMARK_TO_TAG] == "2026-11-04T08:00:00"

    third = run_extract(instance, contract, landing)  # nothing changed since
    assert third.success and third.rows == 0 and third.uri is None and EXTRACT_URI_TAG not in third.tags
    assert third.tags[WATERMARK_FROM_TAG] == third.tags[WATERMARK_TO_TAG] == "2026-11-04T08:00:00"
    assert len([f for f in zone.list("shop/*.parquet")]) == 2  # no file for an empty extract

    # the audit log: one observation on raw_shop_orders per extract, with what it took
    observations = instance.fetch_observations(dg.AssetKey("raw_shop_orders"), limit=10).records
    metas = [r.event_log_entry.asset_observation.metadata for r in observations]
    assert sorted(m["dq/extract/rows"].value for m in metas) == [0, 3, 5]
    assert all("dq/extract/watermark_to" in m for m in metas)


def test_full_refresh_and_full_mode_read_every_row(database, tmp_path, instance):
    engine, table, _ = database
    contract = parse_contract(CONTRACT)
    landing = str(tmp_path / "landing")
    assert run_extract(instance, contract, landing).rows == 5
    assert run_extract(instance, contract, landing).rows == 0
    refresh = run_extract(instance, contract, landing, full_refresh=True)
    assert refresh.rows == 5 and WATERMARK_FROM_TAG not in refresh.tags
    full = parse_contract(CONTRACT.replace("    mode: incremental\n    watermark: updated_at\n", "    mode: full\n"))
    out = run_extract(instance, full, landing)
    assert out.rows == 5 and WATERMARK_TO_TAG not in out.tags and len(landed(landing, out.uri)) == 5


def test_a_failed_extract_does_not_advance_the_watermark(database, tmp_path, instance, monkeypatch):
    engine, table, url = database
    contract = parse_contract(CONTRACT)
    landing = str(tmp_path / "landing")
    first = run_extract(instance, contract, landing)
    with engine.begin() as conn:
        conn.execute(
            table.insert(), [{"order_id": 8, "status": "new", "amount": "1", "updated_at": T + dt.timedelta(days=3)}]
        )
    monkeypatch.delenv(URL_ENV)
    failed = run_extract(instance, contract, landing)
    assert not failed.success and f"{URL_ENV} is not set: set it to the database's SQLAlchemy URL" in failed.error
    monkeypatch.setenv(URL_ENV, url)
    assert previous_watermark(instance, contract) == (first.tags[WATERMARK_TO_TAG], first.run_id)
    again = run_extract(instance, contract, landing)
    assert [r["order_id"] for r in landed(landing, again.uri)] == ["8"]


def test_the_password_never_reaches_dagster_storage(database, tmp_path, instance):
    _, _, url = database
    contract = parse_contract(CONTRACT.replace("table: orders", "table: no_such_table"))
    out = run_extract(instance, contract, str(tmp_path / "landing"))
    assert not out.success and "table 'no_such_table' not found in" in out.error
    ok = run_extract(instance, parse_contract(CONTRACT), str(tmp_path / "landing"))
    assert ok.success
    stored = " ".join(str(e) for run in (out.run_id, ok.run_id) for e in instance.all_logs(run))
    stored += " ".join(str(instance.get_run_by_id(r).tags) for r in (out.run_id, ok.run_id))
    assert "orders" in stored and PG_TEST_PASSWORD not in stored
    if url.startswith("postgresql"):
        assert "postgresql://postgres:***@127.0.0.1:5432/" in stored


def test_a_query_source_is_filtered_and_ordered_by_its_watermark(tmp_path, instance, monkeypatch):
    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    engine = sa.create_engine(url)
    table = orders_table()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {
                    "order_id": i,
                    "status": "cancelled" if i == 3 else "paid",
                    "amount": "1",
                    "updated_at": T + dt.timedelta(hours=10 - i),
                }
                for i in range(1, 6)
            ],
        )
    monkeypatch.setenv(URL_ENV, url)
    text = CONTRACT.replace(
        "    table: orders\n",
        "    query: SELECT order_id, status, updated_at FROM orders WHERE status <> 'cancelled'\n",
    )
    contract = parse_contract(text)
    landing = str(tmp_path / "landing")
    first = run_extract(instance, contract, landing)
    assert first.success, first.error
    rows = pq.read_table(first.uri.removeprefix("file://")).to_pylist()
    assert [r["order_id"] for r in rows] == ["5", "4", "2", "1"]  # watermark order, cancelled filtered out
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.order_id == 5).values(updated_at=T + dt.timedelta(days=5)))
    second = run_extract(instance, contract, landing)
    assert [r["order_id"] for r in pq.read_table(second.uri.removeprefix("file://")).to_pylist()] == ["5"]
    engine.dispose()


def test_sql_errors_name_the_table_and_hide_the_password(tmp_path, monkeypatch):
    from dq_platform.io.sql_source import extract

    monkeypatch.setenv(URL_ENV, f"postgresql://postgres:{PG_TEST_PASSWORD}@127.0.0.1:1/none")
    contract = parse_contract(CONTRACT)
    with pytest.raises(SqlSourceError) as e:
        extract(contract.source.sql, None, tmp_path / "x.parquet")
    assert "postgresql://postgres:***@127.0.0.1:1/none table orders: OperationalError" in str(e.value)
    assert PG_TEST_PASSWORD not in str(e.value)
