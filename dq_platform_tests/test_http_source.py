"""The HTTP API source against a real HTTP server on loopback (replay_server), no mocks of requests.

Retries (429 with Retry-After, 5xx), timeouts, pagination, the base URL from the environment,
bodies that are not a JSON list, and secrets kept out of errors.
"""

from __future__ import annotations

import json

import pytest

from dq_platform.contract import HttpSource
from dq_platform.demo.replay_server import MARKETS_PATH, ReplayServer, Reply, recorded_markets
from dq_platform.io.http_source import HttpSourceError, display_url, fetch, to_jsonl

ENV = "DQ_TEST_API_BASE_URL"


def options(base_url: str | None = None, **overrides) -> HttpSource:
    spec = {
        "base_url": base_url,
        "base_url_env": ENV,
        "path": "/coins/markets",
        "params": {"vs_currency": "usd", "sparkline": False},
        "pagination": {"per_page": 25, "max_pages": 5},
        "retries": 3,
        "backoff_seconds": 0.05,
        "timeout_seconds": 5,
    }
    spec.update(overrides)
    return HttpSource.model_validate(spec)


@pytest.fixture
def api(monkeypatch):
    """A replay server with the recorded snapshot 1 (25 + 24 coins); the env variable points at it."""
    servers = []

    def start(routes=None, script=None, **kw) -> ReplayServer:
        server = ReplayServer({MARKETS_PATH: recorded_markets(1)} if routes is None else routes, script=script, **kw)
        servers.append(server)
        monkeypatch.setenv(ENV, server.url + "/api/v3")
        return server

    yield start
    for s in servers:
        s.close()


def test_pages_are_read_until_a_short_page(api):
    server = api()
    got = fetch(options())
    assert len(got.records) == 49 and got.pages == 2 and got.requests == 2 and not got.truncated
    assert [r.query["page"] for r in server.requests] == ["1", "2"]
    assert server.requests[0].query == {"vs_currency": "usd", "sparkline": "false", "page": "1", "per_page": "25"}
    assert got.records[0]["id"] == "bitcoin" and got.url == display_url(server.url + MARKETS_PATH)


def test_an_empty_page_ends_pagination_and_max_pages_caps_it(api):
    full = [[{"id": f"c{p}{i}"} for i in range(2)] for p in range(3)]
    server = api({MARKETS_PATH: full})
    got = fetch(options(pagination={"per_page": 2, "max_pages": 10}))
    assert len(got.records) == 6 and [r.query["page"] for r in server.requests] == ["1", "2", "3", "4"]
    assert not got.truncated
    capped = fetch(options(pagination={"per_page": 2, "max_pages": 2}))
    assert len(capped.records) == 4 and capped.truncated


def test_429_with_retry_after_is_honoured_then_the_request_succeeds(api):
    server = api(script=[Reply(429, {"error": "rate limited"}, {"Retry-After": "1"})])
    got = fetch(options())
    assert len(got.records) == 49
    assert [r.status for r in server.requests] == [429, 200, 200]
    assert server.requests[0].query == server.requests[1].query  # the same page asked again
    # the client waited at least what the server asked for (a lower bound, not a speed test)
    assert server.requests[1].at - server.requests[0].at >= 1.0
    assert got.retried == ["429"] and got.requests == 3


def test_500_then_200_is_retried(api):
    server = api(script=[Reply(500, {"error": "boom"}), Reply(503, "unavailable")])
    got = fetch(options())
    assert len(got.records) == 49 and [r.status for r in server.requests] == [500, 503, 200, 200]
    assert got.retried == ["500", "503"]


def test_persistent_500_fails_after_the_retries_with_a_clear_error(api):
    server = api(script=[Reply(500, {"error": "boom"})] * 10)
    with pytest.raises(HttpSourceError) as e:
        fetch(options(retries=2))
    assert len(server.requests) == 3  # one try + 2 retries
    msg = str(e.value)
    assert msg.startswith(f"GET {server.url}/api/v3/coins/markets (page 1): HTTP 500")
    assert "after 2 retries" in msg and "the next scheduled extract tries again" in msg
    assert "vs_currency" not in msg  # no query string


def test_a_timeout_is_retried_and_a_persistent_one_fails_clearly(api):
    server = api(script=[Reply(200, [], delay=2.0)])
    got = fetch(options(timeout_seconds=0.5, retries=2))
    assert len(got.records) == 49 and got.retried == ["timeout"]
    server.script = [Reply(200, [], delay=2.0)]
    with pytest.raises(
        HttpSourceError, match=r"coins/markets \(page 1\): no answer within timeout_seconds=0.5 after 0 retries; raise"
    ):
        fetch(options(timeout_seconds=0.5, retries=0))


def test_the_environment_variable_wins_over_the_contracts_base_url(api, dead_url, monkeypatch):
    server = api()
    assert len(fetch(options(base_url=dead_url + "/api/v3")).records) == 49
    assert len(server.requests) == 2
    monkeypatch.delenv(ENV)
    with pytest.raises(HttpSourceError, match=f"GET {dead_url}/api/v3/coins/markets \\(page 1\\): could not connect"):
        fetch(options(base_url=dead_url + "/api/v3", retries=0))
    with pytest.raises(HttpSourceError, match=f"no API base URL: set {ENV}"):
        fetch(options())


@pytest.mark.parametrize(
    "reply,expected",
    [
        (
            Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}),
            "coins/markets (page 1): the body is not JSON (text/html, 24 bytes)",
        ),
        (
            Reply(200, {"error": "plan limit"}),
            "the body is a JSON dict, not a list of records; if the records sit under a key",
        ),
        (Reply(200, [{"id": "a"}, 3]), "item 1 of the list is a JSON int, not an object"),
    ],
)
def test_a_body_that_is_not_a_json_list_of_objects_is_a_clear_error(api, reply, expected):
    api(script=[reply])
    with pytest.raises(HttpSourceError) as e:
        fetch(options())
    assert expected in str(e.value)


def test_records_under_a_key_and_a_single_request(api):
    api({"/api/v3/rates": {"data": [{"pair": "EURUSD", "rate": 1.08}], "next": None}})
    got = fetch(options(path="/rates", pagination=None, records_key="data"))
    assert got.records == [{"pair": "EURUSD", "rate": 1.08}] and got.pages == 1


def test_a_retry_after_above_the_limit_fails_instead_of_blocking(api):
    server = api(script=[Reply(429, {"error": "slow down"}, {"Retry-After": "3600"})])
    with pytest.raises(HttpSourceError, match="asks to wait 3600s, more than max_retry_after_seconds"):
        fetch(options(max_retry_after_seconds=5))
    assert len(server.requests) == 1


def test_the_api_key_comes_from_the_environment_and_never_appears_in_errors(api, monkeypatch):
    server = api(script=[Reply(401, {"error": "bad key"})])
    monkeypatch.setenv("DQ_TEST_API_KEY", "sk-secret-7f3a9b")
    with pytest.raises(HttpSourceError) as e:
        fetch(options(headers_env={"x-api-key": "DQ_TEST_API_KEY"}))
    assert server.requests[0].headers["x-api-key"] == "sk-secret-7f3a9b"
    assert "sk-secret-7f3a9b" not in str(e.value)
    assert "HTTP 401" in str(e.value) and "check the API key in DQ_TEST_API_KEY" in str(e.value)
    monkeypatch.delenv("DQ_TEST_API_KEY")
    server.script = [Reply(401, {"error": "no key"})]
    with pytest.raises(HttpSourceError, match="set DQ_TEST_API_KEY"):
        fetch(options(headers_env={"x-api-key": "DQ_TEST_API_KEY"}))
    assert "x-api-key" not in server.requests[-1].headers


def test_display_url_drops_credentials_and_query():
    assert display_url("https://user:pw@api.example.com:8443/v1/x?key=abc#f") == "https://api.example.com:8443/v1/x"


def test_json_lines_keep_keys_and_values_nested_values_become_json_text():
    data = to_jsonl(
        [{"id": "btc", "price": 1.5, "roi": {"times": 2}, "tags": ["a"], "rank": None}, {"id": "eth", "name": "Éther"}]
    )
    lines = data.decode("utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": "btc", "price": 1.5, "roi": '{"times":2}', "tags": '["a"]', "rank": None},
        {"id": "eth", "name": "Éther"},
    ]
    assert to_jsonl([]) == b""
