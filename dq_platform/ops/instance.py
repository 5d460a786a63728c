"""Opening Dagster's instance from a command-line process.

Several `dq-platform ingest` processes started at once on a new embedded instance would each
create its SQLite schemas and stamp their alembic revisions at the same moment, leaving
"more than one head present" and every one of them failing. The open is therefore serialized
with a file lock in DAGSTER_HOME (held only while the instance opens, milliseconds once the
schemas exist); PostgreSQL storage serializes its own migrations.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from dq_platform.io.instance_sqlite import tune_instance_sqlite

LOCK_FILE = ".dq-open.lock"


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    home = Path(os.environ["DAGSTER_HOME"])
    tune_instance_sqlite()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            # storages are built on first use: build (and, if new, create) them while locked
            instance.get_run_records(limit=1)
            instance.event_log_storage  # noqa: B018
            instance.schedule_storage  # noqa: B018
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance
