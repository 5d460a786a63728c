"""Where chunk tasks run (dq_platform/chunks/pool.py), with real processes and a real Dask cluster on loopback.

Local pool: results in order and equal to in-process, a task's own exception arrives as itself,
a worker killed mid-task is one clear error and the next call gets a fresh pool. Dask: the same
contract, tasks spread over both workers (from the workers' own records), and a worker killed
mid-run: the scheduler reruns its task on the survivor and the call returns every result.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from dq_platform import settings
from dq_platform.chunks import pool
from dq_platform.io.landing import SourceFileError
from dq_platform_tests import pool_tasks


@pytest.fixture
def local(monkeypatch):
    monkeypatch.delenv("DQ_DASK_SCHEDULER", raising=False)
    monkeypatch.setenv("DQ_WORKERS", "2")
    yield
    pool.shutdown()


@pytest.fixture
def on_dask(monkeypatch, dask_cluster):
    monkeypatch.setenv("DQ_DASK_SCHEDULER", dask_cluster.address)
    yield dask_cluster
    pool.shutdown()


def test_settings_name_the_variable_when_malformed(monkeypatch):
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("DQ_WORKERS", bad)
        with pytest.raises(settings.SettingsError, match="DQ_WORKERS must be a whole number"):
            pool.workers()
    monkeypatch.setenv("DQ_WORKERS", "3")
    assert pool.workers() == 3 and pool.where() == "local processes (3)"
    monkeypatch.setenv("DQ_WORKERS", "1")
    assert pool.where() == "in-process"
    monkeypatch.setenv("DQ_DASK_SCHEDULER", "http://10.0.0.5:8786/")
    with pytest.raises(settings.SettingsError, match="DQ_DASK_SCHEDULER must be a Dask scheduler address"):
        pool.where()
    monkeypatch.setenv("DQ_DASK_SCHEDULER", "10.0.0.5:8786")
    assert pool.where() == "dask tcp://10.0.0.5:8786"


def test_local_processes_return_results_in_order_equal_to_in_process(local, monkeypatch):
    items = list(range(25))
    parallel = pool.run_tasks(pool_tasks.square, items, what="squares")
    monkeypatch.setenv("DQ_WORKERS", "1")
    assert parallel == pool.run_tasks(pool_tasks.square, items, what="squares") == [x * x for x in items]


def test_local_pool_is_reused_and_runs_tasks_in_other_processes(local):
    pids = set(pool.run_tasks(pool_tasks.pid_after, [0.2] * 4, what="pids"))
    workers = set(pool._local[2]._processes)
    assert os.getpid() not in pids and pids <= workers and len(workers) == 2
    assert set(pool.run_tasks(pool_tasks.pid_after, [0.2] * 4, what="pids again")) <= workers  # the same pool


def test_one_item_runs_in_this_process(local):
    assert pool.run_tasks(pool_tasks.pid_after, [0], what="one chunk") == [os.getpid()]
    assert pool.run_tasks(pool_tasks.square, [], what="nothing") == []


def test_a_task_exception_arrives_as_itself(local):
    with pytest.raises(SourceFileError, match=r"^chunk-3\.csv, line 7: unterminated quoted value$"):
        pool.run_tasks(pool_tasks.fail_on_three, range(6), what="read")
    assert pool.run_tasks(pool_tasks.square, [1, 2, 3], what="after an error") == [1, 4, 9]


def test_an_exception_whose_constructor_does_not_take_its_message_arrives_as_itself(local):
    """pickle rebuilds an exception by calling cls(*args); for such a class that fails, which in a
    plain process pool breaks the whole pool. It arrives as itself, with its message."""
    with pytest.raises(pool_tasks.TwoPartError, match=r"^chunk\.csv, line 7: bad record$"):
        pool.run_tasks(pool_tasks.raise_two_part, range(4), what="read")


def test_a_result_that_cannot_be_read_back_is_one_clear_error_and_the_pool_recovers(local):
    with pytest.raises(pool.WorkerDied, match=r"^read: the local pool broke \(TypeError: .*picklable"):
        pool.run_tasks(pool_tasks.return_two_part, range(4), what="read")
    assert pool.run_tasks(pool_tasks.square, range(3), what="after") == [0, 1, 4]


def test_an_idle_worker_killed_between_calls_is_replaced_silently(local):
    import signal

    pids = set(pool.run_tasks(pool_tasks.pid_after, [0.2] * 4, what="pids"))
    os.kill(min(pids), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not pool._local[2]._broken:  # the pool's manager thread notices the death by itself
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert pool.run_tasks(pool_tasks.square, range(4), what="next") == [0, 1, 4, 9]


def test_a_killed_local_worker_is_one_clear_error_and_the_next_call_gets_a_fresh_pool(local):
    with pytest.raises(pool.WorkerDied) as caught:
        pool.run_tasks(pool_tasks.die_on_two, range(6), what="clean chunks of customers.csv")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("clean chunks of customers.csv: local worker process pid ")
    assert "SIGKILL: killed, e.g. out of memory" in message and "the next call starts a fresh pool" in message
    assert pool.run_tasks(pool_tasks.square, range(5), what="after the kill") == [0, 1, 4, 9, 16]


def test_the_pool_starts_safely_from_a_process_with_threads(local):
    """A Dagster run process has threads; forkserver workers never inherit their locks."""
    stop = threading.Event()
    busy = [threading.Thread(target=stop.wait) for _ in range(3)]
    for t in busy:
        t.start()
    try:
        assert pool.run_tasks(pool_tasks.square, range(8), what="threaded") == [x * x for x in range(8)]
    finally:
        stop.set()
        for t in busy:
            t.join()


# -- Dask ---------------------------------------------------------------------------------------


def test_dask_results_in_order_on_both_workers_and_a_task_exception_arrives_as_itself(on_dask):
    items = list(range(20))
    assert pool.where() == f"dask {on_dask.address}" and pool.workers() == 2
    assert pool.run_tasks(pool_tasks.slow_square, items, what="squares") == [x * x for x in items]
    ran = on_dask.tasks_ran()
    mine = {name: [k for k in keys if k.startswith("squares-")] for name, keys in ran.items()}
    assert set(mine) == {"w1", "w2"} and all(mine.values()), mine  # both workers ran some
    assert sorted(int(k.split("-")[1]) for keys in mine.values() for k in keys) == items  # each exactly once
    # a task's own exception arrives as itself, and the cluster goes on serving
    with pytest.raises(SourceFileError, match=r"^chunk-3\.csv, line 7: unterminated quoted value$"):
        pool.run_tasks(pool_tasks.fail_on_three, range(6), what="read")
    with pytest.raises(pool_tasks.TwoPartError, match=r"^chunk\.csv, line 7: bad record$"):
        pool.run_tasks(pool_tasks.raise_two_part, range(4), what="read")
    assert pool.run_tasks(pool_tasks.square, [2, 3], what="after an error") == [4, 9]


def test_dask_worker_killed_mid_run_its_tasks_are_rerun_on_the_survivor(on_dask):
    """Dask's answer to a dead worker: the scheduler reruns what it was running (and results only it
    held) on the other workers, so the call returns every result, once each, in order."""
    items = list(range(20))
    result: dict = {}

    def run():
        try:
            result["value"] = pool.run_tasks(pool_tasks.slow_square, items, what="drill")
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = e

    caller = threading.Thread(target=run)
    caller.start()
    deadline = time.monotonic() + 30
    while not all(any(k.startswith("drill-") for k in keys) for keys in on_dask.tasks_ran().values()):
        assert time.monotonic() < deadline, "the drill's tasks did not start on both workers"
        time.sleep(0.05)
    before = on_dask.tasks_ran()
    on_dask.kill("w2")
    caller.join(timeout=60)
    assert not caller.is_alive()
    assert "error" not in result, result.get("error")
    assert result["value"] == [x * x for x in items]
    assert list(on_dask.tasks_ran()) == ["w1"]  # w2 is gone from the cluster
    survivor = {int(k.split("-")[1]) for k in on_dask.tasks_ran()["w1"] if k.startswith("drill-")}
    finished_on_w2 = {int(k.split("-")[1]) for k in before["w2"] if k.startswith("drill-")}
    assert finished_on_w2  # w2 had run tasks before it died ...
    # ... and w1 ran every task: the one w2 was running, and those whose results died with it
    # (the client gathers once all are done, so nothing held only by w2 was fetched yet)
    assert survivor == set(items)


def test_an_unreachable_scheduler_is_one_line_naming_the_variable(monkeypatch):
    from dq_platform_tests.dask_cluster import free_port

    monkeypatch.setenv("DQ_DASK_SCHEDULER", f"tcp://127.0.0.1:{free_port()}")
    monkeypatch.setattr(pool, "DASK_CONNECT_TIMEOUT", "2s")
    with pytest.raises(ConnectionError, match=r"^DQ_DASK_SCHEDULER=tcp://127\.0\.0\.1:\d+: no Dask scheduler answers"):
        pool.run_tasks(pool_tasks.square, [1, 2], what="x")


def test_dask_task_that_kills_every_worker_it_runs_on_fails_cleanly(on_dask):
    """A chunk that always takes its worker down (e.g. out of memory) is not retried forever: after
    allowed-failures (3) dead workers the scheduler gives up, and the call raises one line naming it.
    The nannies restart the killed worker processes, so the cluster serves the next call."""
    t0 = time.monotonic()
    with pytest.raises(pool.WorkerDied) as caught:
        pool.run_tasks(pool_tasks.die_on_two, range(6), what="mask chunks of customers.csv")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("mask chunks of customers.csv: Dask gave up on task 'mask_chunks_of_customers.csv-2-")
    assert "4 workers died while running it" in message
    assert time.monotonic() - t0 < 60
    on_dask.wait_for_workers(2)
    assert pool.run_tasks(pool_tasks.square, range(4), what="after") == [0, 1, 4, 9]


def test_losing_the_dask_scheduler_mid_run_is_one_line_and_the_next_call_reconnects(on_dask, monkeypatch):
    import signal

    monkeypatch.setattr(pool, "DASK_CONNECT_TIMEOUT", "2s")
    threading.Timer(1.0, lambda: os.killpg(on_dask.scheduler.pid, signal.SIGKILL)).start()
    with pytest.raises(ConnectionError, match=r"^lost: lost the Dask scheduler DQ_DASK_SCHEDULER=tcp://.* mid-run"):
        pool.run_tasks(pool_tasks.slow_square, range(20), what="lost")
    on_dask.scheduler.wait(timeout=10)
    with pytest.raises(ConnectionError, match=r"no Dask scheduler answers"):  # not a stale client
        pool.run_tasks(pool_tasks.square, range(2), what="again")


def test_a_dagster_run_uses_the_local_pool_across_steps(local, instance):
    """Inside a real Dagster run (threads and all): two steps, one pool, workers outside the run process."""
    import dagster as dg

    @dg.asset
    def first() -> list:
        return pool.run_tasks(pool_tasks.pid_after, [0.1] * 4, what="first step")

    @dg.asset
    def second(first: list) -> list:
        return pool.run_tasks(pool_tasks.pid_after, [0.1] * 4, what="second step")

    result = dg.materialize([first, second], instance=instance)
    assert result.success
    a, b = result.output_for_node("first"), result.output_for_node("second")
    assert os.getpid() not in a
    assert set(a) | set(b) <= set(pool._local[2]._processes)  # both steps ran on the one pool of this process
