"""Shared fixtures: a throw-away instance, warehouse and landing folder per test."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dq_platform.contract import CONTRACTS_DIR, load_contracts, parse_contract
from dq_platform.definitions import build_definitions
from dq_platform_tests.browser import browser, page  # noqa: F401 - fixtures for UI and dashboard tests
from dq_platform_tests.dask_cluster import dask_cluster  # noqa: F401 - pool and distributed-drill tests
from dq_platform_tests.kafka_broker import durable_kafka_broker, kafka_broker  # noqa: F401 - stream tests

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


def sensor_tick(sensor, instance, cursor=None):
    """One tick of `sensor` on a real instance, as the daemon evaluates it; returns the new cursor."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as ctx:
        sensor.evaluate_tick(ctx)
        return ctx.cursor


class Ticker:
    """Ticks a sensor again and again, carrying its cursor from tick to tick."""

    def __init__(self, sensor, instance):
        self.sensor, self.instance, self.cursor = sensor, instance, None

    def __call__(self):
        self.cursor = sensor_tick(self.sensor, self.instance, self.cursor)
        return self.cursor


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
        from dq_platform.io.warehouse import Warehouse

        return Warehouse(root=self.warehouse)

    def write_csv(self, relpath: str, frame) -> Path:
        path = self.landing / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    def materialize(self, instance, selection: list[str], partition: str | None = None):
        """Materialize some assets alone, as an engineer would from the UI."""
        return dg.materialize(
            list(self.defs.assets),
            selection=selection,
            partition_key=partition,
            instance=instance,
            resources=self.defs.resources,
            raise_on_error=False,
        )

    def ingest(self, instance, dataset: str, path: Path):
        from dq_platform.defs.partitions import register

        contract = self.contracts[dataset]
        source = register(instance, contract, path, self.warehouse)
        return self.run(instance, dataset, source)

    def run(self, instance, dataset: str, source):
        from dq_platform.defs.file_runs import run_file

        return run_file(
            instance, self.contracts[dataset], source, contracts_dir=self.contracts_dir, warehouse_root=self.warehouse
        )


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
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


# -- Dagster instances on real storage: PostgreSQL (127.0.0.1:5432) and SQLite ------------------

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def pg_databases():
    """Creates throw-away databases (dq_audit_<random>) on the local PostgreSQL; drops them at the end.

    Call it with a label; it returns the database's URL. `.ci/run` starts PostgreSQL if it is down.
    """
    import uuid

    import sqlalchemy as sa

    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        engine.connect().close()
    except sa.exc.OperationalError as e:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432 (start it, e.g. with .ci/run): {e.orig}")
    created: list[str] = []

    def create(label: str = "t") -> str:
        name = f"dq_audit_{label}_{uuid.uuid4().hex[:10]}"
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return name

    yield create
    with engine.connect() as conn:
        for name in created:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def instance_env(kind: str, pg_databases, label: str = "t") -> dict[str, str]:
    """The environment that selects the instance kind: DAGSTER_PG_URL for postgres, nothing for sqlite.

    The URL carries a password (trust auth ignores it) so tests can prove it is never printed.
    """
    if kind == "sqlite":
        return {}
    return {"DAGSTER_PG_URL": f"postgresql://postgres:{PG_TEST_PASSWORD}@127.0.0.1:5432/{pg_databases(label)}"}


PG_TEST_PASSWORD = "pw-never-printed-7f3a"


def open_instance(home: Path, env: dict[str, str]) -> dg.DagsterInstance:
    """A persistent instance whose dagster.yaml is rendered from the repository's, as the CLI does."""
    from dq_platform.settings import render_instance_config

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(render_instance_config(REPO / "dagster.yaml", env))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)  # read while the instance loads
        return dg.DagsterInstance.from_config(str(home))


REPO = Path(__file__).resolve().parents[1]

# -- alert receivers: a real HTTP server and a real SMTP server on loopback ------------------


class HttpReceiver:
    """Records every POST (path, JSON body); answers with the next programmed status (then 200)."""

    def __init__(self):
        import http.server
        import threading

        self.posts: list[tuple[str, dict]] = []
        self.raw: list[str] = []
        self.responses: list[int] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                import json

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.raw.append(body)
                status = receiver.responses.pop(0) if receiver.responses else 200
                if status < 300:
                    receiver.posts.append((self.path, json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"error")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path_prefix: str) -> list[dict]:
        return [b for p, b in self.posts if p.startswith(path_prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_receiver():
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp_receiver():
    """An aiosmtpd server on 127.0.0.1; yields (host, port, messages) with each message as bytes."""
    import socket

    from aiosmtpd.controller import Controller

    messages: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            messages.append(envelope.content)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port, messages
    controller.stop()


@pytest.fixture
def dead_url():
    """A loopback URL nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def pg_instance():
    """A Dagster instance on the machine's PostgreSQL (127.0.0.1:5432), in a throw-away database."""
    import uuid

    import psycopg2

    name = f"dq_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"  # SQLAlchemy 2.1 would pick psycopg 3
    try:
        with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as inst:
            yield inst
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test (screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
