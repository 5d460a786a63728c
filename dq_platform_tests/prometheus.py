"""A real Prometheus for the metrics tests: Debian's `prometheus` 2.42 on a loopback port.

`.ci/run` installs the package (prometheus + promtool) with apt-get when missing. Ports are picked
free at random in 33000-33999. Queries go through Prometheus's HTTP API, as Grafana's would.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

PROMETHEUS = os.environ.get("DQ_TEST_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = os.environ.get("DQ_TEST_PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"


def require(exe: str) -> str:
    if not os.path.exists(exe):
        pytest.fail(f"no {exe}: install Debian's `prometheus` package (.ci/run does)", pytrace=False)
    return exe


def free_port(low: int = 33000, high: int = 33999) -> int:
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def wait_until(what: str, predicate, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (requests.RequestException, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class Prometheus:
    """A running Prometheus scraping `target` every second, with the given rule files."""

    def __init__(self, folder: Path, target: str, rule_files: list[Path]):
        require(PROMETHEUS)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": "dq_platform", "static_configs": [{"targets": [target]}]}],
        }
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.log = open(folder / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until("Prometheus to be ready", lambda: requests.get(f"{self.url}/-/ready", timeout=2).ok)

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """An instant query's vector: [{"metric": {...}, "value": [ts, "v"]}, ...] (scalars as one sample)."""
        params = {"query": expr, **({"time": at} if at is not None else {})}
        body = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
        return data["result"]

    def query_range(self, expr: str, seconds: float = 30, step: float = 1) -> list[dict]:
        end = time.time()
        params = {"query": expr, "start": end - seconds, "end": end, "step": step}
        body = requests.get(f"{self.url}/api/v1/query_range", params=params, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        assert body["data"]["resultType"] == "matrix"
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single sample of an instant query (None when empty); fails on more than one."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr}: {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def values(self, expr: str, by: str) -> dict[str, float]:
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(expr)}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
