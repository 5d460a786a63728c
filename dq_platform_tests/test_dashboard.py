"""Each dashboard page's logic through Streamlit's AppTest: the KPIs equal the numbers computed
from run storage and the gold tables, filters change them, and an empty project shows an empty
state (never a traceback)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.health import compute_health
from dq_platform_tests.services_data import CANARY, build

pytestmark = pytest.mark.slow  # builds a small demo (about 30 s) once for the module


def _page(name):
    """The script AppTest runs: one page of the dashboard."""
    from dq_platform.services.dashboard.views import PAGES

    PAGES[name][2]()


def run_page(name: str) -> AppTest:
    at = AppTest.from_function(_page, args=(name,), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def env(project, monkeypatch):
    for k, v in project.env().items():
        monkeypatch.setenv(k, v)
    return project


def _pct(v):
    return f"{v:.1%}"


def test_health_page_shows_the_kpis_of_run_storage(env):
    src = env.sources()
    at = run_page("health")
    expected = compute_health(src.instance, src.check_keys, 30)["overall"]
    shown = metrics(at)
    assert shown["Success rate"] == _pct(expected["success_rate"])
    assert shown["Runs"] == f"{expected['runs']:,}"
    assert shown["Open check failures"] == str(expected["open_failures"])
    assert shown["Files waiting for review"] == "1"
    assert any(c.value.startswith("Data as of ") for c in at.caption)
    table = at.table[0].value
    assert set(table.index) == set(src.contracts)
    assert table.loc["customers", "last status"] == "FAILURE"
    assert table.loc["customers", "failure rate"] == "60.0%"
    assert table.loc["customers", "freshness"] == "fresh (SLA 26h)"
    text = " ".join(m.value for m in at.markdown)
    assert "cleaned_customers.failure_rate_within_threshold" in text  # an open incident
    assert "dq-platform review approve|reject customers 'customers_review.csv@" in text
    assert CANARY not in str(table).lower() + text.lower()
    # the dataset filter narrows the table and the incidents
    at.sidebar.multiselect[0].set_value(["sales_transactions"]).run()
    assert list(at.table[0].value.index) == ["sales_transactions"]
    assert "cleaned_customers" not in " ".join(m.value for m in at.markdown)


def test_sales_page_kpis_equal_the_gold_table_and_follow_the_filters(env):
    by_day = env.sources().warehouse.read("sales_transactions_by_day")
    at = run_page("sales")
    shown = metrics(at)
    assert shown["Transactions"] == f"{int(by_day['transactions'].sum()):,}"
    assert shown["Total amount (all currencies)"] == f"{by_day['total_amount'].sum():,.2f}"
    assert shown["Days with sales"] == f"{by_day['period'].nunique():,}"
    currency = sorted(by_day["currency"].unique())[0]
    at.sidebar.multiselect[0].set_value([currency]).run()
    only = by_day[by_day["currency"] == currency]
    assert metrics(at)["Transactions"] == f"{int(only['transactions'].sum()):,}"
    last = by_day["period"].max().date()
    at.sidebar.date_input[0].set_value((last, last)).run()
    newest = only[only["period"].dt.date == last]
    assert metrics(at)["Transactions"] == f"{int(newest['transactions'].sum()):,}"
    assert len(at.get("vega_lite_chart")) == 4  # per day, by status, top customers, semantic metric


def test_crypto_customers_and_erp_pages_kpis_equal_their_gold_tables(env):
    wh = env.sources().warehouse
    coins = wh.read("crypto_markets_by_coin_day")
    assert metrics(run_page("crypto"))["Coins tracked"] == f"{coins['id'].nunique():,}"
    by_status = wh.read("customers_by_status")
    at = run_page("customers")
    assert metrics(at)["Customers"] == f"{int(by_status['customers'].sum()):,}"
    at.sidebar.multiselect[0].set_value(["active"]).run()
    active = by_status[by_status["account_status"] == "active"]
    assert metrics(at)["Customers"] == f"{int(active['customers'].sum()):,}"
    revenue = wh.read("erp_orders_revenue_by_category_month")
    shown = metrics(run_page("erp"))
    assert shown["Orders"] == f"{int(revenue['orders'].sum()):,}"
    assert shown["Units"] == f"{revenue['units'].sum():,.0f}"


@pytest.mark.parametrize("page", ["health", "sales", "crypto", "customers", "erp"])
def test_an_empty_project_shows_an_empty_state_not_a_traceback(page, tmp_path, monkeypatch):
    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / ".dagster_home"))
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DQ_CONTRACTS_DIR", str(CONTRACTS_DIR))
    at = run_page(page)
    [info] = at.info
    assert info.value.startswith("**No ") and "make demo" in info.value
    assert not at.metric
