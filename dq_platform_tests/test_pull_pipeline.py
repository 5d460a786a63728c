"""Pull sources end to end: extract job -> file in the landing zone -> landing sensor -> pipeline run.

The crypto API is served by a real HTTP server on loopback (recorded responses), the ERP tables
live in the local PostgreSQL; the sensor is evaluated with build_sensor_context, and the runs it
requests execute the real dataset job (cleaned / quarantine / masked / gold on Delta tables).
"""

from __future__ import annotations

import copy

import dagster as dg
import pytest
import sqlalchemy as sa

from dq_platform.defs.extract import run_extract
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.defs.sensors import build_file_sensor
from dq_platform.demo.pull_sources import ERP_URL_ENV, apply_changes, erp_changes, erp_tables, write_table
from dq_platform.demo.replay_server import MARKETS_PATH, ReplayServer, Reply, recorded_markets
from dq_platform.engine import rules
from dq_platform.io import landing

from .conftest import PG_SERVER

pytestmark = pytest.mark.slow

API_ENV = "DQ_COINGECKO_BASE_URL"


@pytest.fixture
def coins_api(monkeypatch):
    """The recorded /coins/markets snapshot 1 on loopback; the contract's base URL variable points at it."""
    with ReplayServer({MARKETS_PATH: recorded_markets(1)}) as server:
        monkeypatch.setenv(API_ENV, server.url + "/api/v3")
        yield server


def tick(instance, contract, landing_uri: str, cursor: str | None = None) -> dg.SensorResult:
    """One landing-sensor tick as the daemon runs it, its partition requests applied."""
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": LandingZoneResource(uri=landing_uri)}
    )
    result = build_file_sensor(contract)(ctx)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result


def run_requested(project, instance, dataset: str, request: dg.RunRequest):
    """Execute the run the sensor asked for: the dataset job on the requested partition."""
    source = landing.describe(dataset, request.tags["dq/source_uri"])
    assert source.partition_key == request.partition_key
    return project.run(instance, dataset, source)


def extract_and_ingest(project, instance, dataset: str):
    contract = project.contracts[dataset]
    extracted = run_extract(instance, contract, str(project.landing))
    assert extracted.success, extracted.error
    result = tick(instance, contract, str(project.landing))
    (request,) = result.run_requests  # the .done marker: no stability wait
    return extracted, run_requested(project, instance, dataset, request)


def rule_by_id(quarantine) -> dict[str, str]:
    return dict(zip(quarantine["id"].fillna("<null>"), quarantine[rules.FAILED_RULES]))


def test_api_pull_flows_to_gold_through_the_landing_sensor(project, instance, coins_api):
    extracted, out = extract_and_ingest(project, instance, "crypto_markets")
    assert extracted.rows == 49 and extracted.uri.endswith(".jsonl") and "/crypto/markets_" in extracted.uri
    assert out.success, out.error
    assert out.rows == {"in": 49, "cleaned": 43, "quarantined": 6, "masked": 43}
    wh = project.wh()
    # every gate of the recorded messy records, with its rule id
    assert rule_by_id(wh.read("quarantine_crypto_markets")) == {
        "litecoin": "current_price:required",
        "ethereum-classic": "current_price_positive",
        "polkadot": "market_cap:type",
        "vechain": "market_cap_rank:min",
        "bonk": "low_not_above_high",
        "aave": "id:unique",
    }
    raw = wh.read("raw_crypto_markets")
    assert raw.loc[raw["id"] == "ripple", "roi"].iloc[0].startswith('{"times":')  # nested value as JSON text
    gold = wh.read("crypto_markets_by_coin_day").set_index("id")
    assert len(gold) == 43 and str(gold.loc["bitcoin", "period"])[:10] == "2026-11-29"
    assert gold.loc["bitcoin", "mean_price"] == 91234.0 and gold.loc["bitcoin", "pulls"] == 1
    checks = {f"{a}.{c}": (p, s) for a, c, p, s in out.checks}
    assert checks["cleaned_crypto_markets.failure_rate_within_threshold"] == (False, "WARN")  # 12% > warn 5%
    assert all(p for k, (p, _) in checks.items() if k != "cleaned_crypto_markets.failure_rate_within_threshold"), {
        k: v for k, v in checks.items() if not v[0]
    }
    # the extract's observation on raw: the audit log shows what it pulled
    (obs,) = instance.fetch_observations(dg.AssetKey("raw_crypto_markets"), limit=5).records
    meta = obs.event_log_entry.asset_observation.metadata
    assert meta["dq/extract/rows"].value == 49 and meta["dq/extract/pages"].value == 2
    assert meta["dq/extract/delivered_uri"].value == extracted.uri


def test_the_same_api_response_twice_is_one_partition(project, instance, coins_api):
    contract = project.contracts["crypto_markets"]
    first = run_extract(instance, contract, str(project.landing))
    second = run_extract(instance, contract, str(project.landing))
    assert first.uri != second.uri  # two deliveries, same bytes
    result = tick(instance, contract, str(project.landing))
    assert len(result.run_requests) == 1
    assert instance.get_dynamic_partitions("crypto_markets_files") == [result.run_requests[0].partition_key]
    coins_api.routes[MARKETS_PATH] = recorded_markets(2)  # the market moved: new content, new partition
    run_extract(instance, contract, str(project.landing))
    later = tick(instance, contract, str(project.landing), result.cursor)
    assert len(later.run_requests) == 1 and len(instance.get_dynamic_partitions("crypto_markets_files")) == 2


def messy_snapshot() -> list[list[dict]]:
    """Snapshot 2 (48 coins; official-trump has price 0) with one more fault of each kind."""
    pages = copy.deepcopy(recorded_markets(2))
    coins = {r["id"]: r for page in pages for r in page}
    coins["bitcoin"]["current_price"] = -5
    coins["ethereum"]["current_price"] = "abc"
    coins["ripple"]["market_cap_rank"] = 0
    coins["solana"]["market_cap_rank"] = 100001
    coins["cardano"]["low_24h"], coins["cardano"]["high_24h"] = 1.0, 0.5
    coins["dogecoin"]["id"] = None
    pages[1].append(dict(coins["tether"]))  # a duplicate id
    return pages


def test_each_gate_quarantines_its_rows_with_its_rule_id(project, instance, coins_api):
    coins_api.routes[MARKETS_PATH] = messy_snapshot()
    _, out = extract_and_ingest(project, instance, "crypto_markets")
    assert out.success, out.error  # 8 of 49 rejected: 16% < the 20% error level
    assert out.rows == {"in": 49, "cleaned": 41, "quarantined": 8, "masked": 41}
    assert rule_by_id(project.wh().read("quarantine_crypto_markets")) == {
        "bitcoin": "current_price_positive",
        "official-trump": "current_price_positive",
        "ethereum": "current_price:type",
        "ripple": "market_cap_rank:min",
        "solana": "market_cap_rank:max",
        "cardano": "low_not_above_high",
        "<null>": "id:required",
        "tether": "id:unique",
    }


def test_a_failure_rate_over_the_error_level_holds_masked_and_gold(project, instance, coins_api):
    coins_api.routes[MARKETS_PATH] = recorded_markets(2)
    _, good = extract_and_ingest(project, instance, "crypto_markets")
    assert good.success
    wh = project.wh()
    gold_before = wh.read("crypto_markets_by_coin_day")
    bad = copy.deepcopy(recorded_markets(2)[0][:10])
    for coin in bad[:3]:
        coin["current_price"] = -1  # 30% of the pull
    coins_api.routes[MARKETS_PATH] = [bad]
    _, held = extract_and_ingest(project, instance, "crypto_markets")
    assert not held.success and held.rows["quarantined"] == 3
    assert "cleaned_crypto_markets.failure_rate_within_threshold: 3 of 10 rows failed" in held.failed_gates[0]
    assert set(wh.row_counts("masked_crypto_markets")) == {good.partition}
    assert wh.read("crypto_markets_by_coin_day").equals(gold_before)


def test_an_api_failing_after_its_retries_fails_the_extract_and_delivers_nothing(project, instance, coins_api):
    coins_api.script = [Reply(503, "down")] * 10
    contract = project.contracts["crypto_markets"]
    failed = run_extract(instance, contract, str(project.landing))
    assert not failed.success and "HTTP 503" in failed.error and "after 5 retries" in failed.error
    assert list(project.landing.rglob("*.jsonl")) == []
    assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE


def test_extract_into_an_s3_landing_zone(project, instance, coins_api, s3_bucket):
    contract = project.contracts["crypto_markets"]
    uri = f"s3://{s3_bucket}/incoming"
    out = run_extract(instance, contract, uri)
    assert out.success and out.uri.startswith(f"s3://{s3_bucket}/incoming/crypto/markets_")
    result = tick(instance, contract, uri)
    (req,) = result.run_requests
    assert req.tags["dq/source_uri"] == out.uri


@pytest.fixture
def erp_db(pg_databases, monkeypatch):
    """The demo's ERP tables (messy rows included) in a throw-away PostgreSQL database."""
    url = f"{PG_SERVER}/{pg_databases('erp')}"
    monkeypatch.setenv(ERP_URL_ENV, url)
    engine = sa.create_engine(url)
    tables = erp_tables()
    for name, frame in tables.items():
        write_table(engine, name, frame)
    yield engine, tables
    engine.dispose()


def test_sql_tables_flow_incrementally_and_masked_ids_join(project, instance, erp_db):
    engine, tables = erp_db
    wh = project.wh()
    _, customers = extract_and_ingest(project, instance, "erp_customers")
    _, orders = extract_and_ingest(project, instance, "erp_orders")
    assert customers.success and orders.success, (customers.error, orders.error)
    assert customers.rows == {"in": 41, "cleaned": 35, "quarantined": 6, "masked": 35}
    assert orders.rows == {"in": 152, "cleaned": 144, "quarantined": 8, "masked": 144}
    quarantined = wh.read("quarantine_erp_orders")
    assert sorted(quarantined[rules.FAILED_RULES]) == sorted(
        ["quantity:min"] * 3
        + ["customer_id:required", "status:allowed_values", "updated_after_ordered"]
        + ["order_id:unique"] * 2
    )
    # customer ids are tokenized in one key domain: masked orders still join masked customers
    cleaned_c, cleaned_o = wh.read("cleaned_erp_customers"), wh.read("cleaned_erp_orders")
    masked_c, masked_o = wh.read("masked_erp_customers"), wh.read("masked_erp_orders")
    expected = int(cleaned_o["customer_id"].isin(cleaned_c["customer_id"]).sum())
    assert expected > 100 and int(masked_o["customer_id"].isin(masked_c["customer_id"]).sum()) == expected
    assert not masked_c["email"].isin(tables["customers"]["email"]).any()
    assert not masked_o["customer_id"].astype(str).isin(cleaned_o["customer_id"].astype(str)).any()

    # new and changed rows in the ERP: the next extract delivers exactly those, as a new partition
    for name, key in (("orders", "order_id"), ("customers", "customer_id")):
        new, updates = erp_changes(tables)[name]
        apply_changes(engine, name, key, new, updates)
    _, more = extract_and_ingest(project, instance, "erp_orders")
    assert more.partition != orders.partition and more.rows["in"] == 15
    raw = wh.read("raw_erp_orders", partition=more.partition)
    assert sorted(raw["order_id"].astype(int)) == [10, 20, 33, *range(151, 163)]
    assert set(wh.row_counts("masked_erp_orders")) == {orders.partition, more.partition}


def test_cli_extract_then_ingest(tmp_path, monkeypatch, capsys, coins_api):
    from dq_platform.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DQ_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    assert main(["extract", "customers"]) == 2
    assert (
        "'customers' is not a pull-source (http/sql) contract; those are: crypto_markets, erp_customers"
        in capsys.readouterr().err
    )
    assert main(["extract", "crypto_markets", "--ingest"]) == 0
    out = capsys.readouterr().out
    assert "crypto_markets: extract run " in out and "SUCCESS: 49 rows; delivered file://" in out
    assert "crypto_markets: markets_" in out and "SUCCESS rows {'in': 49, 'cleaned': 43" in out
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["crypto_markets_extract", "crypto_markets_pipeline"]
        assert {r.tags["dq/trigger"] for r in runs} == {"cli"}
