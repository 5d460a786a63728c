"""Pull-source contracts: their errors at load time, and a new dataset of an existing kind from YAML alone."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from dq_platform.contract import ContractError, load_contracts, parse_contract
from dq_platform.defs.extract import run_extract
from dq_platform.demo.replay_server import ReplayServer

HTTP = """\
name: fx_rates
description: Daily FX reference rates from a JSON API.
owner: team:treasury
group: treasury
source:
  kind: http
  format: jsonl
  pattern: "fx/rates_*.jsonl"
  ready_marker: .done
  schedule: "0 6 * * *"
  http:
    base_url: https://rates.example.com/v1
    base_url_env: DQ_TEST_FX_URL
    path: /rates
    params: {base: USD}
    records_key: data
failure_rate: {warn: 0.05, error: 0.5}
columns:
  - {name: pair, type: string, required: true, unique: true, pattern: "^[A-Z]{6}$"}
  - {name: rate, type: float, required: true, min: 0.0001}
  - {name: as_of, type: date, required: true}
aggregations:
  - name: by_pair
    group_by: [pair]
    metrics:
      - {name: mean_rate, agg: mean, column: rate}
"""

SQL = """\
name: wms_stock
description: Stock levels from the warehouse system.
owner: team:logistics
source:
  kind: sql
  format: parquet
  pattern: "wms/stock_*.parquet"
  sql:
    url_env: DQ_WMS_DB_URL
    table: dbo.stock
    mode: incremental
    watermark: changed_at
columns:
  - {name: sku, type: string, required: true}
  - {name: on_hand, type: integer, min: 0}
  - {name: changed_at, type: timestamp, required: true}
"""


def error_of(text: str, path: str = "x.yaml") -> str:
    with pytest.raises(ContractError) as e:
        parse_contract(text, path)
    return str(e.value)


def test_shipped_pull_contracts_load():
    contracts = {c.name: c for c in load_contracts()}
    assert contracts["crypto_markets"].source.kind == "http"
    assert contracts["crypto_markets"].source.http.pagination.per_page == 25
    assert {contracts[n].source.sql.table for n in ("erp_customers", "erp_products", "erp_orders")} == {
        "customers",
        "products",
        "orders",
    }
    assert {contracts[n].asset_group for n in ("erp_customers", "erp_products", "erp_orders")} == {"erp"}
    assert contracts["customers"].source.kind == "file"  # existing contracts stay valid unchanged


@pytest.mark.parametrize(
    "text,change,expected",
    [
        (
            HTTP,
            (
                "  http:\n    base_url: https://rates.example.com/v1\n    base_url_env: DQ_TEST_FX_URL\n"
                "    path: /rates\n    params: {base: USD}\n    records_key: data\n",
                "",
            ),
            "x.yaml:5: source: kind 'http' needs a 'http:' section with its options",
        ),
        (
            HTTP,
            ('schedule: "0 6 * * *"', 'schedule: "daily at six"'),
            "x.yaml:10: source.schedule: 'daily at six' is not a cron expression",
        ),
        (
            HTTP,
            ("    base_url: https://rates.example.com/v1\n    base_url_env: DQ_TEST_FX_URL\n", ""),
            "x.yaml:11: source.http: needs base_url or base_url_env",
        ),
        (
            HTTP,
            ("base_url: https://rates", "base_url: ftp://rates"),
            "x.yaml:12: source.http.base_url: 'ftp://rates.example.com/v1' is not an http(s):// URL",
        ),
        (
            HTTP,
            ("base_url_env: DQ_TEST_FX_URL", "base_url_env: fx-url"),
            "x.yaml:13: source.http.base_url_env: must name an environment variable",
        ),
        (
            HTTP,
            ("    records_key: data\n", "    records_key: data\n    retry: 3\n"),
            "x.yaml:17: source.http.retry: unknown field (typo?)",
        ),
        (
            HTTP,
            ("format: jsonl", "format: csv"),
            "x.yaml:5: source: kind 'http' delivers jsonl files: set format: jsonl",
        ),
        (HTTP, ('pattern: "fx/rates_*.jsonl"', 'pattern: "fx/*/rates_*.jsonl"'), "needs exactly one '*'"),
        (HTTP, ("kind: http", "kind: file"), "x.yaml:5: source: a 'http:' section needs kind: http (kind is 'file')"),
        (
            SQL,
            ("    mode: incremental\n", ""),
            "x.yaml:8: source.sql: a 'watermark' needs mode: incremental (mode 'full' reads every row each time)",
        ),
        (
            SQL,
            ("    watermark: changed_at\n", ""),
            "x.yaml:8: source.sql: mode 'incremental' needs a 'watermark' column",
        ),
        (SQL, ("    table: dbo.stock\n", ""), "x.yaml:8: source.sql: needs exactly one of 'table' or 'query'"),
        (
            SQL,
            ("    table: dbo.stock\n", "    table: dbo.stock\n    query: SELECT 1\n"),
            "needs exactly one of 'table' or 'query'",
        ),
        (
            SQL,
            ("url_env: DQ_WMS_DB_URL", "url_env: postgresql://u:p@h/db"),
            "x.yaml:9: source.sql.url_env: must name an environment variable (upper case, digits, '_'",
        ),
        (
            SQL,
            ("watermark: changed_at", "watermark: changed"),
            "x.yaml:1: (top level): source.sql.watermark 'changed' must be one of the contract's columns",
        ),
        (
            SQL,
            ("watermark: changed_at", "watermark: sku"),
            "source.sql.watermark 'sku' must be an integer, float, date or timestamp column (it is string)",
        ),
        (
            SQL.replace("  kind: sql\n", "").replace("  format: parquet\n", "  format: csv\n"),
            ("pattern", "pattern"),
            "x.yaml:4: source: a 'sql:' section needs kind: sql (kind is 'file')",
        ),
        (
            "name: a\ndescription: d\nowner: team:a\nsource:\n  pattern: 'a/*.csv'\n  schedule: '0 * * * *'\n"
            "columns:\n  - {name: x, type: string}\n",
            ("", ""),
            "x.yaml:4: source: schedule applies to pull sources (kind http or sql)",
        ),
    ],
)
def test_pull_source_errors_name_file_line_field_and_reason(text, change, expected):
    msg = error_of(text.replace(*change))
    assert expected in msg
    assert "u:p@h" not in msg  # a URL written where a variable name belongs is not echoed


def test_a_new_api_dataset_needs_only_a_yaml_contract(make_project, instance, monkeypatch):
    """A fifth dataset of an existing kind: write its contract, and its jobs, schedule, assets and checks exist."""
    # the contract turns its schedule on (default: stopped, as it calls an external system)
    project = make_project(
        HTTP.replace('  schedule: "0 6 * * *"\n', '  schedule: "0 6 * * *"\n  schedule_status: running\n'), SQL
    )
    defs = project.defs
    assert {"fx_rates_extract", "fx_rates_pipeline", "wms_stock_extract", "wms_stock_pipeline"} <= {
        j.name for j in defs.resolve_all_job_defs()
    }
    schedule = defs.resolve_schedule_def("fx_rates_extract_schedule")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    stopped = defs.resolve_schedule_def("wms_stock_extract_schedule")  # no `schedule:`: exists, off
    assert stopped.default_status == dg.DefaultScheduleStatus.STOPPED
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "source_fx_rates",
        "raw_fx_rates",
        "cleaned_fx_rates",
        "quarantine_fx_rates",
        "masked_fx_rates",
        "fx_rates_by_pair",
    } <= keys
    assert graph.get(dg.AssetKey("raw_fx_rates")).parent_keys == {dg.AssetKey("source_fx_rates")}
    assert graph.get(dg.AssetKey("source_fx_rates")).group_name == "treasury"
    assert not graph.get(dg.AssetKey("source_fx_rates")).is_materializable  # the API: external
    checks = {c.name for c in graph.get(dg.AssetKey("cleaned_fx_rates")).check_keys}
    assert {"failure_rate_within_threshold", "cleaned_passes_gx_suite"} <= checks
    assert "fx_rates_landing_sensor" in {s.name for s in defs.sensors}

    # and it runs: the API's records under "data", pulled, delivered, validated, published
    records = [
        {"pair": "EURUSD", "rate": 1.08, "as_of": "2026-11-30"},
        {"pair": "GBPUSD", "rate": 1.27, "as_of": "2026-11-30"},
        {"pair": "usdjpy", "rate": -1, "as_of": "2026-11-30"},
    ]
    with ReplayServer({"/v1/rates": {"data": records}}) as server:
        monkeypatch.setenv("DQ_TEST_FX_URL", server.url + "/v1")
        extracted = run_extract(instance, project.contracts["fx_rates"], str(project.landing))
    assert extracted.success and extracted.rows == 3
    assert server.requests[0].query == {"base": "USD"}
    out = project.ingest(instance, "fx_rates", project.landing / extracted.uri.split("/landing/")[1])
    assert out.rows == {"in": 3, "cleaned": 2, "quarantined": 1, "masked": 2}
    assert sorted(project.wh().read("fx_rates_by_pair")["pair"]) == ["EURUSD", "GBPUSD"]


def test_the_extract_schedule_skips_a_tick_while_an_extract_is_running(instance, tmp_path):
    from dq_platform.defs.extract import build_extract
    from dq_platform.defs.resources import LandingZoneResource

    contract = {c.name: c for c in load_contracts()}["crypto_markets"]
    defs = dg.Definitions.merge(
        build_extract(contract), dg.Definitions(resources={"landing": LandingZoneResource(uri=str(tmp_path))})
    )
    schedule = defs.resolve_schedule_def("crypto_markets_extract_schedule")
    # it calls an external API: shipped stopped, so a fresh (offline) UI does not fail and page every tick
    assert schedule.cron_schedule == "*/10 * * * *" and schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    (request,) = schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests
    running = instance.create_run_for_job(
        defs.resolve_job_def("crypto_markets_extract"), status=dg.DagsterRunStatus.STARTED
    )
    skipped = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert skipped.run_requests == []
    assert skipped.skip_message == f"crypto_markets_extract run {running.run_id[:8]} is still in progress"


def test_an_sql_extract_schedule_waits_for_its_database_url(instance, tmp_path, monkeypatch):
    from dq_platform.defs.extract import build_extract
    from dq_platform.defs.resources import LandingZoneResource

    contract = {c.name: c for c in load_contracts()}["erp_orders"]
    defs = dg.Definitions.merge(
        build_extract(contract), dg.Definitions(resources={"landing": LandingZoneResource(uri=str(tmp_path))})
    )
    schedule = defs.resolve_schedule_def("erp_orders_extract_schedule")
    monkeypatch.delenv("DQ_ERP_DB_URL", raising=False)
    skipped = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert skipped.run_requests == [] and skipped.skip_message.startswith("DQ_ERP_DB_URL is not set")
    monkeypatch.setenv("DQ_ERP_DB_URL", f"sqlite:///{tmp_path / 'erp.sqlite'}")
    assert len(schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests) == 1


def test_a_delivery_is_named_by_its_utc_time_and_never_replaces_one_not_yet_picked_up(tmp_path):
    import datetime as dt

    from dq_platform.defs.extract import delivery_relpath
    from dq_platform.io.landing_zones import landing_zone

    contract = {c.name: c for c in load_contracts()}["crypto_markets"]
    zone = landing_zone(tmp_path)
    now = dt.datetime(2026, 12, 1, 9, 45, 12, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    first = delivery_relpath(contract, now, zone)
    assert first == "crypto/markets_20261201T084512Z.jsonl"
    zone.put(first, b"{}\n")
    assert delivery_relpath(contract, now, zone) == "crypto/markets_20261201T084512Z_2.jsonl"


def test_the_demo_pulls_a_new_contract_from_stand_ins_built_from_the_contract(instance, tmp_path, monkeypatch):
    """pull_sources: an API or table the built-in demo data does not know gets the contract's sample data."""
    import io

    from dq_platform.demo.pull_sources import DemoPullSources

    monkeypatch.delenv("DQ_TEST_FX_URL", raising=False)
    monkeypatch.delenv("DQ_WMS_DB_URL", raising=False)
    fx, wms = parse_contract(HTTP), parse_contract(SQL.replace("table: dbo.stock", "table: stock"))
    out = io.StringIO()
    with DemoPullSources(instance, str(tmp_path / "landing"), tmp_path, out) as pull:
        fx_files, wms_files = pull.deliver(fx), pull.deliver(wms)
    assert len(fx_files) == 2 and len(wms_files) == 2
    text = out.getvalue()
    assert "the API answered 429, 500, 200 (429 and 500 retried)" in text
    assert "wms_stock              extract" in text and ": 5 rows, watermark 2026-11-02T17:50:00 -> " in text
    assert (tmp_path / ".dq_demo" / "dq_wms_db_url.sqlite").exists()
    assert "DQ_TEST_FX_URL" not in os.environ and "DQ_WMS_DB_URL" not in os.environ  # stand-ins do not outlive the demo
