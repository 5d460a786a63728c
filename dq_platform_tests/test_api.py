"""The read-only data API through FastAPI's TestClient: every route, every error, the token, CORS,
and the canary: no raw or quarantined value ever appears in any answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dq_platform.defs.health import compute_health
from dq_platform.services.api import create_app
from dq_platform_tests.services_data import CANARY, CONTRACTS, build

pytestmark = pytest.mark.slow  # builds a small demo (about 30 s) once for the module


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return build(tmp_path_factory.mktemp("services"))


@pytest.fixture(scope="module")
def src(project):
    return project.sources()


@pytest.fixture(scope="module")
def client(src):
    return TestClient(create_app(src, token="", cors_origins=[]))


def outcome(project, partition_prefix: str):
    return next(o for o in project.outcomes if o.partition.startswith(partition_prefix))


def test_datasets_with_their_contract_summary_and_owners(client, src):
    listed = client.get("/datasets").json()
    assert [d["name"] for d in listed] == sorted(CONTRACTS)
    customers = client.get("/datasets/customers").json()
    assert customers["owner"] == src.contracts["customers"].owner
    assert customers["freshness_sla"] == "26h" and customers["failure_rate"]["review"] == 0.1
    assert {"name": "email", "type": "string", "pii": "email"} in customers["columns"]
    assert "masked_customers" in customers["tables"] and "customers_by_status" in customers["tables"]
    assert not any(t.startswith(("raw_", "cleaned_", "quarantine")) for t in customers["tables"])


@pytest.mark.parametrize(
    "route", ["/datasets/{}", "/datasets/{}/status", "/datasets/{}/checks", "/datasets/{}/quarantine"]
)
def test_an_unknown_dataset_is_a_404_that_names_the_known_ones(client, route):
    r = client.get(route.format("nope"))
    assert r.status_code == 404
    assert r.json()["detail"].startswith("no dataset 'nope': one of crypto_markets, customers")


def test_status_per_dataset_from_the_latest_runs(client, project, src):
    bad = outcome(project, "customers_bad.csv")
    status = client.get("/datasets/customers/status").json()
    assert status["last_run"]["run_id"] == bad.run_id and status["last_run"]["status"] == "FAILURE"
    assert status["last_file_run"]["rows_in"] == 60 and status["last_file_run"]["rows_quarantined"] == 36
    assert status["failure_rate"] == pytest.approx(36 / 60)
    assert status["runs"] == 4 and status["success_rate"] == pytest.approx(3 / 4)
    assert status["freshness"]["state"] == "fresh" and status["freshness"]["sla"] == "26h"
    assert any("failure_rate_within_threshold" in f for f in status["open_check_failures"])
    everything = {s["dataset"]: s for s in client.get("/status").json()}
    assert set(everything) == set(CONTRACTS)
    assert everything["sales_transactions"]["last_run"]["status"] == "SUCCESS"
    assert everything["sales_transactions"]["freshness"]["state"] == "no SLA"


def test_health_kpis_equal_platform_health(client, src):
    body = client.get("/health", params={"window_days": 7}).json()
    expected = compute_health(src.instance, src.check_keys, 7)
    assert body["overall"]["runs"] == expected["overall"]["runs"] == len(CONTRACTS) + 3
    assert body["overall"]["success_rate"] == pytest.approx(expected["overall"]["success_rate"])
    assert body["datasets"]["customers"]["open_failures"] == expected["datasets"]["customers"]["open_failures"]
    assert client.get("/health", params={"window_days": 0}).status_code == 422


def test_runs_paged_and_filtered_like_the_audit_command(client, project):
    first = client.get("/runs", params={"page_size": 2}).json()
    assert len(first["items"]) == 2 and first["has_more"]
    second = client.get("/runs", params={"page_size": 2, "page": 2}).json()
    assert {r["run_id"] for r in first["items"]}.isdisjoint(r["run_id"] for r in second["items"])
    customers = client.get("/runs", params={"dataset": "customers"}).json()["items"]
    assert [r["run_id"] for r in customers] == [
        o.run_id for o in reversed(project.outcomes) if o.dataset == "customers"
    ]
    failed = client.get("/runs", params={"status": "failure"}).json()["items"]
    assert [r["run_id"] for r in failed] == [outcome(project, "customers_bad.csv").run_id]
    assert failed[0]["rows_quarantined"] == 36 and "held by" in failed[0]["error"]
    assert client.get("/runs", params={"page": 99}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"status": "bogus"}, 400, "unknown status 'bogus'"),
        ({"since": "yesterday"}, 400, "--since 'yesterday': expected"),
        ({"dataset": "nope"}, 404, "no dataset 'nope'"),
        ({"page": 0}, 422, None),
        ({"page_size": 5000}, 422, None),
        ({"page": 200, "page_size": 1000}, 400, "page * page_size"),
    ],
)
def test_bad_run_filters_and_pages_are_4xx(client, params, status, detail):
    r = client.get("/runs", params=params)
    assert r.status_code == status
    if detail:
        assert detail in r.json()["detail"]


def test_one_run_and_its_checks(client, project):
    bad = outcome(project, "customers_bad.csv")
    run = client.get(f"/runs/{bad.run_id[:8]}").json()  # a unique prefix, as the audit table shows
    assert run["run_id"] == bad.run_id and run["status"] == "FAILURE" and run["job"] == "customers_pipeline"
    assert run["failures"] and all(set(f) == {"step", "message"} for f in run["failures"])  # no traceback
    checks = client.get(f"/runs/{bad.run_id}/checks").json()
    failed = {c["check"] for c in checks if not c["passed"]}
    assert "failure_rate_within_threshold" in failed
    assert len(checks) == len(bad.checks)
    latest = client.get("/datasets/customers/checks").json()
    assert latest["run_id"] == bad.run_id and len(latest["checks"]) == len(checks)
    assert client.get("/runs/0000dead").status_code == 404
    assert client.get("/runs/" + "x" * 100).status_code == 404


def test_quarantine_is_counted_per_rule_never_shown(client, project):
    body = client.get("/datasets/customers/quarantine").json()
    mine = [o for o in project.outcomes if o.dataset == "customers"]
    assert body["files"] == len(mine)
    assert body["rows_quarantined"] == sum(o.rows["quarantined"] for o in mine)
    assert body["rules"] and all(set(r) == {"rule", "rows"} for r in body["rules"])
    assert "email:format" in {r["rule"] for r in body["rules"]}  # the quarantined canary's invalid email
    assert sum(r["rows"] for r in body["rules"]) >= body["rows_quarantined"]  # a row may break several rules


def test_anomalies_route_answers_for_datasets_with_rules_only(client):
    r = client.get("/datasets/customers/anomalies")
    assert r.status_code == 404 and "declares no anomaly rules" in r.json()["detail"]


def test_files_waiting_for_review_with_the_command_that_decides(client, project):
    [waiting] = client.get("/reviews").json()
    held = outcome(project, "customers_review.csv")
    assert waiting["partition"] == held.partition and waiting["run_id"] == held.run_id
    assert "`dq-platform review approve|reject customers '" in waiting["how_to_decide"]


def test_only_masked_gold_and_semantic_tables_are_listed(client, project):
    tables = client.get("/tables").json()
    assert {t["kind"] for t in tables} <= {"masked", "gold", "semantic", "metric_definitions", "anomalies"}
    assert not [t["name"] for t in tables if t["name"].startswith(("raw_", "cleaned_", "quarantine"))]
    by_name = {t["name"]: t for t in tables}
    assert by_name["customers_by_status"]["exists"] and by_name["customers_by_status"]["filterable"] == [
        "account_status"
    ]
    published = [o for o in project.outcomes if o.dataset == "customers" and o.success and not o.held]
    assert by_name["masked_customers"]["rows"] == sum(o.rows["masked"] for o in published)


def test_table_rows_paged_with_columns_filters_and_dates(client, src):
    frame = src.warehouse.read("sales_transactions_by_day")
    body = client.get("/tables/sales_transactions_by_day", params={"page_size": 5}).json()
    assert body["total"] == len(frame) and body["pages"] == -(-len(frame) // 5) and len(body["rows"]) == 5
    periods = [r["period"] for r in body["rows"]]
    assert periods == sorted(periods, reverse=True)  # newest first
    currency = frame["currency"].iloc[0]
    only = client.get(
        "/tables/sales_transactions_by_day", params={"filter": f"currency:{currency}", "columns": "period,total_amount"}
    ).json()
    assert only["total"] == int((frame["currency"] == currency).sum())
    assert all(set(r) == {"period", "total_amount"} for r in only["rows"])
    day = frame["period"].max().date().isoformat()
    since = client.get("/tables/sales_transactions_by_day", params={"from": day}).json()
    assert since["total"] == int((frame["period"] >= frame["period"].max()).sum())
    both = client.get("/tables/sales_transactions_by_status", params={"filter": ["status:completed,failed"]}).json()
    assert {r["status"] for r in both["rows"]} <= {"completed", "failed"} and both["total"] > 0


@pytest.mark.parametrize(
    ("url", "params", "status", "detail"),
    [
        ("/tables/nope", {}, 404, "no table 'nope'"),
        ("/tables/raw_customers", {}, 404, "is not served"),
        ("/tables/cleaned_customers", {}, 404, "is not served"),
        ("/tables/quarantine_customers", {}, 404, "is not served"),
        ("/tables/customers_by_city", {"filter": "customers:3"}, 400, "filters on address, account_status"),
        ("/tables/customers_by_city", {"filter": "address"}, 400, "expected column:value"),
        ("/tables/customers_by_city", {"columns": "address,email"}, 400, "unknown column(s) email"),
        ("/tables/customers_by_city", {"page": 999}, 400, "past the last page"),
        ("/tables/customers_by_city", {"from": "2026-01-01"}, 400, "has no time column"),
        ("/tables/sales_transactions_by_day", {"from": "soon"}, 400, "expected an ISO date"),
        ("/tables/sales_transactions_by_day", {"from": "2026-02-01", "to": "2026-01-01"}, 400, "is after"),
        ("/tables/customers_by_city", {"page_size": 0}, 422, None),
        ("/tables/masked_customers", {"filter": "income:lots"}, 400, "values must be of its type, double"),
        ("/tables/masked_customers", {"filter": "created_date:someday"}, 400, "must be of its type, date32"),
    ],
)
def test_bad_tables_filters_and_pages_are_clear_4xx(client, url, params, status, detail):
    r = client.get(url, params=params)
    assert r.status_code == status, r.text
    if detail:
        assert detail in r.json()["detail"]


def test_every_filterable_column_of_every_table_answers_with_typed_values(client, src):
    """A real value of each filterable column finds its rows; a value of the wrong type is a 400, never a 500."""
    tried = 0
    for t in client.get("/tables").json():
        if not t["exists"]:
            continue
        frame = src.warehouse.read(t["name"])
        for column in t["filterable"]:
            values = frame[column].dropna()
            if values.empty:
                continue
            value = values.iloc[0]
            text = value.isoformat() if hasattr(value, "isoformat") else str(value)
            r = client.get(f"/tables/{t['name']}", params={"filter": f"{column}:{text}", "page_size": 1000})
            assert r.status_code == 200, (t["name"], column, r.text)
            assert r.json()["total"] >= 1, (t["name"], column, text)
            wrong = client.get(f"/tables/{t['name']}", params={"filter": f"{column}:not-a-value-%"})
            assert wrong.status_code in (200, 400), (t["name"], column, wrong.text)
            tried += 1
    assert tried > 20


def test_bearer_token_when_set(src):
    secured = TestClient(create_app(src, token="s3cret-token"))
    assert secured.get("/datasets").status_code == 401
    wrong = secured.get("/datasets", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "s3cret" not in wrong.text
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert secured.get("/datasets", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert secured.get("/healthz").status_code == 200  # liveness for the orchestrator
    spec = secured.get("/openapi.json").json()
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_token_and_cors_from_the_settings(src, monkeypatch):
    monkeypatch.setenv("DQ_API_TOKEN", "from-env")
    monkeypatch.setenv("DQ_API_CORS_ORIGINS", "https://bi.example.com, https://wiki.example.com")
    app = TestClient(create_app(src))
    assert app.get("/datasets").status_code == 401
    pre = app.options(
        "/datasets",
        headers={"Origin": "https://bi.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert pre.headers["access-control-allow-origin"] == "https://bi.example.com"
    other = app.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers


def test_kpi_answers_are_reused_for_the_cache_time_only():
    from dq_platform.services.api.deps import AnswerCache

    computed = []

    def compute():
        computed.append(1)
        return {"n": len(computed)}

    cache = AnswerCache(seconds=30)
    assert cache.get(("status",), compute) == cache.get(("status",), compute) == {"n": 1}
    assert cache.get(("health", 7.0), compute) == {"n": 2}  # other arguments, own answer
    off = AnswerCache(seconds=0)
    assert off.get(("status",), compute) == {"n": 3} and off.get(("status",), compute) == {"n": 4}
    short = AnswerCache(seconds=0.05)
    first = short.get(("status",), compute)
    import time

    time.sleep(0.1)
    assert short.get(("status",), compute) != first  # expired: computed again


def test_the_spec_is_served(client):
    spec = client.get("/openapi.json").json()
    assert {"/datasets", "/status", "/health", "/runs", "/runs/{run_id}", "/tables/{table}"} <= set(spec["paths"])
    assert all(set(ops) == {"get"} for ops in spec["paths"].values())  # read-only


def test_no_raw_or_quarantined_value_is_ever_returned(client, project, src):
    """The canaries went in with the input: one masked, one quarantined. Ask every route everything."""
    runs = client.get("/runs", params={"page_size": 1000, "include_monitoring": True}).json()["items"]
    urls = ["/datasets", "/status", "/health", "/reviews", "/tables", "/runs?page_size=1000"]
    for name in CONTRACTS:
        urls += [f"/datasets/{name}{tail}" for tail in ("", "/status", "/checks", "/quarantine", "/anomalies")]
    for r in runs:
        urls += [f"/runs/{r['run_id']}", f"/runs/{r['run_id']}/checks"]
    for t in client.get("/tables").json():
        body = client.get(f"/tables/{t['name']}", params={"page_size": 1000}).json()
        assert CANARY not in str(body).lower(), t["name"]
        for page in range(2, body.get("pages", 1) + 1):
            urls.append(f"/tables/{t['name']}?page_size=1000&page={page}")
    answered = 0
    for url in urls:
        r = client.get(url)
        assert r.status_code < 500, url
        assert CANARY not in r.text.lower(), url
        answered += r.status_code == 200
    assert answered > 40
    # and the canaries are really in the input: in raw (both) and quarantine (the bad row)
    raw = src.warehouse.read("raw_customers")
    assert raw.apply(lambda col: col.astype(str).str.lower().str.contains(CANARY)).to_numpy().sum() >= 2
    quarantined = src.warehouse.read("quarantine_customers")
    assert quarantined["first_name"].astype(str).str.lower().str.contains(CANARY).any()
