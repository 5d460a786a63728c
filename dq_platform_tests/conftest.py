"""Shared fixtures: a throw-away instance, warehouse and landing folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from dq_platform.contract import CONTRACTS_DIR, load_contracts, parse_contract
from dq_platform.definitions import build_definitions

TEST_MASKING_KEY = "test-masking-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _masking_key(monkeypatch):
    monkeypatch.setenv("DQ_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.delenv("DQ_ALLOW_DEV_MASKING_KEY", raising=False)


@pytest.fixture(scope="session")
def contracts():
    return {c.name: c for c in load_contracts()}


@pytest.fixture
def customers(contracts):
    return contracts["customers"]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


class Project:
    """A warehouse + landing folder + definitions for a folder of contracts."""

    def __init__(self, root: Path, contracts_dir: Path):
        self.root = root
        self.contracts_dir = contracts_dir
        self.warehouse = str(root / "warehouse")
        self.landing = root / "landing"
        self.landing.mkdir(parents=True, exist_ok=True)
        contracts = load_contracts(contracts_dir)
        self.contracts = {c.name: c for c in contracts}
        self.defs = build_definitions(contracts, self.warehouse)

    def wh(self):
        from dq_platform.storage import Warehouse

        return Warehouse(root=self.warehouse)

    def write_csv(self, relpath: str, frame) -> Path:
        path = self.landing / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    def materialize(self, instance, selection: list[str], partition: str | None = None):
        """Materialize some assets alone, as an engineer would from the UI."""
        return dg.materialize(list(self.defs.assets), selection=selection, partition_key=partition,
                              instance=instance, resources=self.defs.resources, raise_on_error=False)

    def ingest(self, instance, dataset: str, path: Path):
        from dq_platform.ingest import register, run_file

        contract = self.contracts[dataset]
        source = register(instance, contract, path, self.warehouse)
        return self.run(instance, dataset, source)

    def run(self, instance, dataset: str, source):
        from dq_platform.ingest import run_file

        return run_file(instance, self.contracts[dataset], source, contracts_dir=self.contracts_dir,
                        warehouse_root=self.warehouse)


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path, CONTRACTS_DIR)


@pytest.fixture
def make_project(tmp_path):
    def make(*yaml_texts: str) -> Project:
        folder = tmp_path / "contracts"
        folder.mkdir(exist_ok=True)
        for text in yaml_texts:
            (folder / f"{parse_contract(text).name}.yaml").write_text(text)
        return Project(tmp_path, folder)

    return make


# -- S3: a real S3 API server (moto) on loopback, no mocks of boto or pyarrow ------------------

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def s3_server():
    """An S3 (+ KMS) API server on 127.0.0.1 for the session; AWS_* variables point at it meanwhile.

    Yields the endpoint URL. The server runs in its own process, not as moto's ThreadedMotoServer:
    some deltalake calls (history, restore) hold the GIL while they wait on HTTP, so an
    in-process server thread can never answer them and the call hangs.
    """
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on 127.0.0.1:{port}") from None
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        with pytest.MonkeyPatch.context() as mp:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
                mp.delenv(name, raising=False)
            for name, value in {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
                mp.setenv(name, value)
            yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, uniquely named bucket on the session's S3 server."""
    import uuid

    import boto3

    name = f"dq-test-{uuid.uuid4().hex[:16]}"
    boto3.session.Session().client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    yield name
