"""`dq-platform dashboard` and `dq-platform api` as people start them, after a small demo-like run.

A real browser (Playwright driving Debian's Chromium, fixtures in browser.py) opens every page of
the dashboard, reads the KPIs it shows and compares them with the numbers computed from run
storage and the gold tables; a screenshot of each page is saved in the test's tmp folder. The API
command's answers are compared with the same numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from dq_platform.defs.health import compute_health
from dq_platform_tests.services_data import CANARY, build, free_port

pytestmark = pytest.mark.slow  # a small demo, two servers, a browser

CLI = str(Path(sys.executable).parent / "dq-platform")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return build(tmp_path_factory.mktemp("e2e"))


def _serve(project, command: list[str], ready: str, log: Path):
    port = free_port()
    env = {**os.environ, **project.env()}
    with open(log, "w") as out:
        proc = subprocess.Popen([CLI, *command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(url + ready, timeout=2).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{' '.join(command)} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def dashboard(project, tmp_path_factory):
    proc, url = _serve(project, ["dashboard"], "/_stcore/health", tmp_path_factory.mktemp("logs") / "dashboard.log")
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def api(project, tmp_path_factory):
    proc, url = _serve(project, ["api"], "/healthz", tmp_path_factory.mktemp("logs") / "api.log")
    yield url
    _stop(proc)


def _stop(proc) -> None:
    """SIGTERM (the command execs the server, so this pid is the server), then SIGKILL after 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def shown_metrics(page) -> dict[str, str]:
    out = {}
    for metric in page.locator('[data-testid="stMetric"]').all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        out[label] = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return out


def open_page(page, url: str, title: str, shots: Path, name: str) -> dict[str, str]:
    page.goto(url)
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    page.get_by_text("Data as of").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # charts draw after the numbers
    assert page.get_by_text("Page not found").count() == 0  # Streamlit's dialog for an unknown url path
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert CANARY not in page.content().lower()
    return shown_metrics(page)


def test_every_dashboard_page_shows_the_numbers_of_run_storage(project, dashboard, page, tmp_path):
    src = project.sources()
    wh = src.warehouse
    health = compute_health(src.instance, src.check_keys, 30)["overall"]

    shown = open_page(page, dashboard + "/", "Pipeline health", tmp_path, "health")  # the default page
    assert shown["Success rate"] == f"{health['success_rate']:.1%}"
    assert shown["Runs"] == f"{health['runs']:,}"
    assert shown["Open check failures"] == str(health["open_failures"])
    assert shown["Files waiting for review"] == "1"
    assert page.get_by_text("customers_review.csv@").count() >= 1

    by_day = wh.read("sales_transactions_by_day")
    shown = open_page(page, dashboard + "/sales", "Sales", tmp_path, "sales")
    assert shown["Transactions"] == f"{int(by_day['transactions'].sum()):,}"
    assert shown["Total amount (all currencies)"] == f"{by_day['total_amount'].sum():,.2f}"

    coins = wh.read("crypto_markets_by_coin_day")
    shown = open_page(page, dashboard + "/crypto", "Crypto markets", tmp_path, "crypto")
    assert shown["Coins tracked"] == f"{coins['id'].nunique():,}"
    assert shown["Pulls"] == f"{int(coins[coins['id'].isin(_top5(coins))]['pulls'].sum()):,}"

    by_status = wh.read("customers_by_status")
    shown = open_page(page, dashboard + "/customers", "Customers", tmp_path, "customers")
    assert shown["Customers"] == f"{int(by_status['customers'].sum()):,}"

    revenue = wh.read("erp_orders_revenue_by_category_month")
    shown = open_page(page, dashboard + "/erp", "ERP revenue", tmp_path, "erp")
    assert shown["Orders"] == f"{int(revenue['orders'].sum()):,}"
    assert shown["Units"] == f"{revenue['units'].sum():,.0f}"

    assert sorted(p.name for p in tmp_path.glob("*.png")) == [f"{n}.png" for n in sorted(PAGES)]
    assert not page.js_errors, page.js_errors


PAGES = ("health", "sales", "crypto", "customers", "erp")


def _top5(coins):
    return coins.groupby("id")["mean_market_cap"].mean().nlargest(5).index


def test_the_api_command_serves_the_same_numbers(project, api):
    src = project.sources()
    health = compute_health(src.instance, src.check_keys, 30)["overall"]
    body = requests.get(api + "/health", timeout=60).json()
    assert body["overall"]["runs"] == health["runs"]
    assert body["overall"]["success_rate"] == pytest.approx(health["success_rate"])
    status = {s["dataset"]: s for s in requests.get(api + "/status", timeout=60).json()}
    bad = next(o for o in project.outcomes if o.partition.startswith("customers_bad"))
    assert status["customers"]["last_run"]["run_id"] == bad.run_id
    rows = requests.get(api + "/tables/customers_by_status", timeout=60).json()
    assert sum(r["customers"] for r in rows["rows"]) == int(
        src.warehouse.read("customers_by_status")["customers"].sum()
    )
    assert requests.get(api + "/tables/quarantine_customers", timeout=60).status_code == 404
    assert requests.get(api + "/openapi.json", timeout=60).json()["info"]["title"] == "dq_platform data API"
