"""The embedded instance's SQLite tuning (io/instance_sqlite.py) on real Dagster storages."""

from __future__ import annotations

import sqlite3

import dagster as dg
import pytest
from alembic.script import ScriptDirectory
from dagster._core.storage.runs.sqlite import sqlite_run_storage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from dq_platform.io.instance_sqlite import tune_instance_sqlite


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    tune_instance_sqlite()
    return tmp_path


def script_loads(monkeypatch) -> list[str]:
    """The script folders alembic loads its migration scripts from, from now on (a list that grows)."""
    loads = []
    original = ScriptDirectory.from_config.__func__

    def counted(cls, config):
        loads.append(config.get_main_option("script_location"))
        return original(cls, config)

    monkeypatch.setattr(ScriptDirectory, "from_config", classmethod(counted))
    return loads


def test_migration_heads_are_read_once_and_each_database_revision_every_time(home, monkeypatch):
    DagsterSqliteStorage.from_local(str(home))  # creates the databases
    loads = script_loads(monkeypatch)
    for _ in range(5):  # what a code server does per sensor evaluation
        DagsterSqliteStorage.from_local(str(home))
    assert len(loads) == len(set(loads)) <= 3  # at most once per script folder (run, event log, schedule)

    storage = DagsterSqliteStorage.from_local(str(home))
    db, head = storage.run_storage.alembic_version()
    assert db == head and head is not None
    runs_db = home / "history" / "runs.db"
    with sqlite3.connect(runs_db) as conn:  # a database left at an older revision is still seen as such
        conn.execute("UPDATE alembic_version SET version_num = 'older'")
    db, head_again = DagsterSqliteStorage.from_local(str(home)).run_storage.alembic_version()
    assert (db, head_again) == ("older", head)
    assert sqlite_run_storage.check_alembic_revision.__module__ == "dq_platform.io.instance_sqlite"


def test_the_instance_databases_are_in_wal(home):
    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([dg.asset(name="a")(lambda: 1)], instance=instance).success
    for path in (
        home / "history" / "runs.db",
        home / "history" / "runs" / "index.db",
        home / "schedules" / "schedules.db",
    ):
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal", path


def test_run_and_schedule_storages_keep_one_engine_and_other_processes_see_each_commit(home):
    import subprocess
    import sys

    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([dg.asset(name="a")(lambda: 1)], instance=instance).success
        runs, schedules = instance.run_storage, instance.schedule_storage
        engines = (runs._dq_engine, schedules._dq_engine)
        for _ in range(3):
            instance.get_runs()
            instance.all_instigator_state()
        assert (runs._dq_engine, schedules._dq_engine) == engines  # not rebuilt per call
        # another process writes a run while this one holds its idle connections: seen at once, and back
        other = (
            "import dagster as dg\n"
            "with dg.DagsterInstance.get() as i:\n"
            "    assert len(i.get_runs()) == 1\n"
            "    assert dg.materialize([dg.asset(name='b')(lambda: 2)], instance=i).success\n"
        )
        done = subprocess.run([sys.executable, "-c", other], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert sorted(r.job_name for r in instance.get_runs()) == ["__ephemeral_asset_job__"] * 2


def test_each_runs_event_log_is_stamped_at_head_without_loading_the_scripts_again(home, monkeypatch):
    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([dg.asset(name="a")(lambda: 1)], instance=instance).success  # loads them once
        loads = script_loads(monkeypatch)
        run_ids = [dg.materialize([dg.asset(name="a")(lambda: 1)], instance=instance).run_id for _ in range(3)]
        head = instance.event_log_storage.alembic_version()[1]
    assert loads == []
    for run_id in run_ids:  # each its own database, stamped as Dagster's own stamp would
        with sqlite3.connect(home / "history" / "runs" / f"{run_id}.db") as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]


def test_a_table_found_is_not_looked_up_again_a_table_missing_is(home, monkeypatch):
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        engines = []
        original = sqlite_event_log.create_engine

        def counted(*args, **kwargs):
            engines.append(args[0])
            return original(*args, **kwargs)

        monkeypatch.setattr(sqlite_event_log, "create_engine", counted)
        assert all(storage.has_table("asset_check_executions") for _ in range(5))
        assert len(engines) <= 1  # asked once at most (once already if the instance asked before)
        assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
        missing = len(engines)
        index = home / "history" / "runs" / "index.db"
        with sqlite3.connect(index) as conn:
            conn.execute("CREATE TABLE no_such_table (x)")
        assert storage.has_table("no_such_table")  # a no is asked again: found once created
        assert len(engines) == missing + 1
