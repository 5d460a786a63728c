"""Schemathesis against the spec the API serves, on a real uvicorn on loopback: no generated
request (valid or not) may make the server answer 5xx."""

from __future__ import annotations

import threading
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from dq_platform_tests.services_data import build, free_port

pytestmark = pytest.mark.slow  # a small demo, then a few hundred generated requests


@pytest.fixture(scope="module")
def api_url(tmp_path_factory):
    import uvicorn

    from dq_platform.services.api import create_app

    project = build(tmp_path_factory.mktemp("schema"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(project.sources(), token=""), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_makes_a_server_error(api_url, mode):
    """Every operation of the served spec, with valid (positive) and invalid (negative) requests.

    Driven through Hypothesis directly (schemathesis' lazy pytest fixture does not work with pytest 9)."""
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    seen: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            response = case.call(timeout=60)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"
            case.validate_response(response, checks=[not_a_server_error])

        try:
            call()
        except Unsatisfiable:  # negative mode: an operation without parameters has no invalid request
            assert mode is GenerationMode.NEGATIVE and "{" not in operation.path and not operation.query
    assert sum(seen.values()) > 50 and 200 in seen, seen  # the requests really reached the app
    assert all(code < 500 for code in seen), seen
