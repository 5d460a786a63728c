"""Cheaper commits for the embedded instance's SQLite files (Dagster's run, event and schedule storage).

Dagster's SQLite event log opens a new connection and commits once per event (125 per 1,000-row
file's run), each in SQLite's default rollback-journal mode with `synchronous=FULL`: several fsyncs
per event. On this machine that was 0.9 s of a quiet run and 5-7 s when other processes kept the disk
busy. In WAL mode with `synchronous=NORMAL` (the index, run and schedule databases; a run's own event log
only gets `synchronous=NORMAL`, see _RUN_LOG) a commit appends to the write-ahead log and syncs only at
checkpoints: measured 6.8 s -> 2.4 s of event writes on a busy disk. The database stays consistent
after any crash; a power loss can drop the last transactions before a checkpoint (SQLite's documented
trade-off). Production mode (PostgreSQL) is unaffected.

Only files under DAGSTER_HOME are touched: a SQLite database a pull source reads (SQLAlchemy too) keeps
its own journal mode. WAL mode is stored in the file, so every later reader and writer uses it.

The event log also built a new SQLAlchemy engine and SQLite connection for every use (~370 per small
file's run: the engine, SQLAlchemy's first-connect set-up, and on closing the last connection to a WAL
file a checkpoint). `_reuse_engines` keeps one engine per database file with one idle connection
(an idle SQLite connection holds no lock, so other processes write as before).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

from dq_platform import settings

_installed = False
# A run's own event log (history/runs/<run id>.db) is left in the journal mode Dagster gives it
# (WAL since Dagster 1.13, which its UI's watcher follows); this module never switches it.
_RUN_LOG = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.db$")
_in_wal: set[str] = set()  # files this process has put in WAL mode (the mode persists in the file)


def tune_instance_sqlite() -> None:
    """Install (once per process) the connect hook that puts the instance's SQLite files in WAL mode."""
    global _installed
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", _on_connect)
    _reuse_engines()
    _reuse_single_engines()
    _cache_alembic_heads()
    _installed = True


def _cache_alembic_heads() -> None:
    """Dagster's SQLite storages compare each database's schema revision with the head of their
    migration scripts whenever they are built, and building that head loads every migration script
    (alembic's ScriptDirectory). A code server builds an instance, so three storages, for every sensor
    evaluation: measured 58% of a code server's CPU with 9 landing sensors ticking every 2 s. The head
    of the installed Dagster's scripts cannot change while the process lives: it is read once per
    script folder; the database's own revision is still read every time."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from dagster._core.storage import sql
    from dagster._core.storage.event_log.sqlite import consolidated_sqlite_event_log, sqlite_event_log
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.schedules.sqlite import sqlite_schedule_storage

    original, original_stamp = sql.check_alembic_revision, sql.stamp_alembic_rev
    scripts: dict[str, ScriptDirectory] = {}  # its revision map is read once, then kept by alembic
    lock = getattr(sql, "_alembic_lock", None) or threading.Lock()  # Dagster's, shared with its migrations

    def script_of(alembic_config) -> ScriptDirectory:  # under the lock
        where = alembic_config.get_main_option("script_location")
        if where not in scripts:
            scripts[where] = ScriptDirectory.from_config(alembic_config)
        return scripts[where]

    def check_alembic_revision(alembic_config, conn):
        with lock:
            db_revision = MigrationContext.configure(conn).get_current_revision()
            return (db_revision, script_of(alembic_config).as_revision_number("head"))

    def stamp_alembic_rev(alembic_config, conn, rev: str = "head") -> None:
        """Every run's own event log is a new database stamped with the head revision (alembic's
        `stamp` command loads the scripts again each time): stamped through the kept scripts."""
        with lock:
            MigrationContext.configure(conn).stamp(script_of(alembic_config), rev)

    for module in (sqlite_run_storage, sqlite_event_log, consolidated_sqlite_event_log, sqlite_schedule_storage):
        if getattr(module, "check_alembic_revision", None) is original:  # a Dagster without it keeps its own
            module.check_alembic_revision = check_alembic_revision
        if getattr(module, "stamp_alembic_rev", None) is original_stamp:
            module.stamp_alembic_rev = stamp_alembic_rev


_ENGINES_KEPT = 16  # per storage: the index, the runs, and the newest runs' own event logs (an open file each)


def _kept_engine(conn_string: str, max_overflow: int):
    """An engine that keeps one idle SQLite connection between calls (an idle connection holds no
    lock, so other processes write as before); callers beyond it at once get connections of their own.
    Dagster's busy timeout."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool

    timeout = getattr(sqlite_event_log, "SQLITE_BUSY_TIMEOUT_SECONDS", 120)
    return create_engine(
        conn_string,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=max_overflow,
        connect_args={"timeout": timeout, "check_same_thread": False},
    )


def _reuse_engines() -> None:
    """SqliteEventLogStorage._connect with one engine per shard (database file) kept across calls.

    Dagster's own builds an engine per call (NullPool) and disposes of it. Here the engine and one idle
    connection stay; a transaction still begins and commits per call, so what other processes see is
    unchanged. A Dagster without this method (renamed in a later version) keeps its own behaviour."""
    try:
        from dagster._core.storage.event_log.sqlite import sqlite_event_log as module
    except ImportError:  # pragma: no cover
        return
    storage = getattr(module, "SqliteEventLogStorage", None)
    original = getattr(storage, "_connect", None)
    if original is None or getattr(original, "_dq_reuses_engines", False):
        return

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engines = self.__dict__.setdefault("_dq_engines", OrderedDict())
            engine = engines.get(shard)
            if engine is None:
                # the storage's lock lets one caller at a time use it
                engine = _kept_engine(self.conn_string_for_shard(shard), max_overflow=2)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                engines[shard] = engine
                while len(engines) > _ENGINES_KEPT:
                    engines.popitem(last=False)[1].dispose()
            else:
                engines.move_to_end(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    _connect._dq_reuses_engines = True
    storage._connect = _connect

    has_table = getattr(storage, "has_table", None)
    if has_table is not None and not getattr(has_table, "_dq_kept", False):

        def kept_has_table(self, table_name: str) -> bool:
            """Dagster asks the index database whether a table exists before storing every check
            evaluation and asset event, with a new engine each time (~90 ms of a small file's run).
            A table that exists stays (only a migration or a wipe by this process changes them):
            a yes is kept per storage, a no asked again."""
            kept = self.__dict__.setdefault("_dq_tables", set())
            if table_name in kept:
                return True
            found = has_table(self, table_name)
            if found:
                kept.add(table_name)
            return found

        kept_has_table._dq_kept = True
        storage.has_table = kept_has_table


def _reuse_single_engines() -> None:
    """The run and schedule storages' `connect` with one engine per storage object kept across calls
    (Dagster's builds and disposes of one per call, like the event log's: a daemon's sensor loop and
    a run's status updates connect hundreds of times a minute). A transaction per call, as before."""
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage

    lock = threading.Lock()

    def engine_of(self):
        engine = self.__dict__.get("_dq_engine")
        if engine is None:
            with lock:
                engine = self.__dict__.get("_dq_engine")
                if engine is None:  # no storage lock here: threads beyond the idle connection get their own
                    engine = self.__dict__["_dq_engine"] = _kept_engine(self._conn_string, max_overflow=8)
        return engine

    @contextmanager
    def connect(self):
        with engine_of(self).connect() as conn:
            with conn.begin():
                yield conn

    connect._dq_reuses_engines = True
    for cls in (SqliteRunStorage, SqliteScheduleStorage):
        original = cls.__dict__.get("connect")
        if original is not None and not getattr(original, "_dq_reuses_engines", False):
            cls.connect = connect


@functools.lru_cache(maxsize=4)
def _home_prefix(home: str) -> str:
    return str(Path(home).resolve()) + os.sep


def _on_connect(dbapi_connection, _record) -> None:
    """Per connection (Dagster opens one per event): `synchronous` is per connection, the journal
    mode is set once per file and process (setting it again costs ~1 ms a connection)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    home = settings.get("DAGSTER_HOME")
    if not home:
        return
    cursor = dbapi_connection.cursor()
    try:
        path = next((row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), "")
        if not path.startswith(_home_prefix(home)):
            return
        if path not in _in_wal and not _RUN_LOG.search(path):
            cursor.execute("PRAGMA journal_mode=WAL")
            if len(_in_wal) > 10_000:  # a long-lived daemon sees a file per run: stay bounded
                _in_wal.clear()
            _in_wal.add(path)
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
