"""A real Dask cluster on loopback for the pool and distributed-drill tests: `dask scheduler` and two
`dask worker` processes (w1, w2; one single-threaded worker process each) started from the venv's bin.

`dask_cluster` (per test) yields a `DaskCluster`: its `address`, the `scheduler` and `workers`
Popen handles, `kill(name)` (SIGKILL of a worker's whole process group: nanny and worker, as a
machine that dies) and `tasks_ran()`, which asks each live worker which task keys it executed,
from the worker's own state-machine log (`Worker.state.log`, kept long here through
DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH). Everything is killed afterwards.

Ports: free ones, taken from DQ_TEST_PORT_RANGE (e.g. 18700-18799) when set, else any.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_taken: set[int] = set()


def free_port() -> int:
    """A port nobody listens on, from DQ_TEST_PORT_RANGE when set (never the same twice in a session)."""
    span = os.environ.get("DQ_TEST_PORT_RANGE", "").strip()
    if span:  # from a random place in the range, so parallel test processes rarely try the same port
        low, high = (int(x) for x in span.split("-"))
        start = random.randint(low, high)
        candidates = [*range(start, high + 1), *range(low, start)]
    else:
        candidates = [0] * 20
    for port in candidates:
        if port and port in _taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        _taken.add(port)
        return port
    raise RuntimeError(f"no free port in DQ_TEST_PORT_RANGE={span}")


def executed_keys(dask_worker) -> list[str]:
    """Run on a worker (client.run): the keys of the tasks this worker executed, from its own log.
    Log entries are (key, start, recommended, final, recommendations, stimulus_id, time)."""
    return [
        str(entry[0])
        for entry in dask_worker.state.log
        if len(entry) == 7 and entry[1] == "executing" and entry[3] in ("memory", "error")
    ]


class DaskCluster:
    def __init__(self, log_dir: Path, names=("w1", "w2")):
        self.log_dir = log_dir
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": "100000",
            "DQ_THREADS": "1",
        }
        self.scheduler = self._start(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--dashboard-address", f":{free_port()}"],
        )
        self.workers: dict[str, subprocess.Popen] = {}
        for name in names:
            self.workers[name] = self._start(
                name,
                [
                    "worker",
                    self.address,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--name",
                    name,
                    "--no-dashboard",
                    "--worker-port",
                    str(free_port()),
                    "--nanny-port",
                    str(free_port()),
                ],
            )
        self._client = None

    def _start(self, label: str, args: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"dask-{label}.log", "wb")  # noqa: SIM115 - closed with the process
        try:
            # own process group, so kill() takes the nanny and its worker process together; the same
            # session, so with Linux's autogroup scheduling it competes for CPU like the caller's processes
            return subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=log, env=self.env, process_group=0)
        finally:
            log.close()

    def client(self):
        """The test's own client (distinct from the platform's cached one), for assertions."""
        if self._client is None:
            from distributed import Client

            self._client = Client(self.address, timeout="30s", set_as_default=False)
        return self._client

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for label, process in [("scheduler", self.scheduler), *self.workers.items()]:
                if process.poll() is not None:
                    raise RuntimeError(f"dask {label} exited with {process.returncode}: {self.log_tail(label)}")
            try:
                self.client().wait_for_workers(n, timeout=1)
                return
            except (TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{n} Dask workers did not connect to {self.address}") from None

    def names(self) -> dict[str, str]:
        """worker address -> name, of the workers connected now."""
        info = self.client().scheduler_info(n_workers=-1)["workers"]
        return {address: w["name"] for address, w in info.items()}

    def tasks_ran(self) -> dict[str, list[str]]:
        """worker name -> keys of the tasks it executed, as each live worker itself recorded them."""
        names = self.names()
        return {names.get(a, a): keys for a, keys in self.client().run(executed_keys).items()}

    def kill(self, name: str) -> None:
        """SIGKILL a worker's nanny and worker process at once (a machine that dies)."""
        process = self.workers[name]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def log_tail(self, label: str, lines: int = 5) -> str:
        path = self.log_dir / f"dask-{label}.log"
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close(timeout=5)
            except Exception:
                pass
        for process in [*self.workers.values(), self.scheduler]:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two workers (w1, w2) on loopback, connected; killed afterwards."""
    cluster = DaskCluster(tmp_path)
    try:
        cluster.wait_for_workers(2)
        yield cluster
    finally:
        cluster.close()
