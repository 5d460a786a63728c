"""PostgreSQL I/O: a dataset's published rows and anomalies mirrored into PostgreSQL tables.

The URL comes from the variable the contract names (`publish: {postgres: {url_env: DQ_EVENTS_PG_URL}}`);
the `<name>_postgres` asset that calls `publish` is defs/postgres.py. No Dagster here.

What leaves the warehouse is the masked layer, never `cleaned`: PostgreSQL is read by dashboards,
APIs and people outside the platform's gates, so it gets the GDPR-safe rows the PII-leak gate passed
(joinable tokens, scrubbed messages), exactly what the rest of the platform publishes.

Idempotent, one transaction per run:
- `<table>`: the run's file (partition) rows are deleted and re-inserted (COPY), so a re-run replaces.
- `<table>_anomalies`: the scopes the anomalies run replaced in Delta (its commit's `dq_scopes`) are
  replaced here the same way. A marker row in `dq_published` records which Delta version PostgreSQL
  holds; if a change was never mirrored (a failed publish, a rollback), the whole table is mirrored.
The marker row is locked for the transaction, so concurrent runs publish one after the other.
The URL's password never appears in logs or metadata (SQLAlchemy renders it hidden, errors are
scrubbed, statement parameters are hidden).
"""

import io
import json

import pandas as pd

from dq_platform import names
from dq_platform.contract import Contract
from dq_platform.engine.rules import PARTITION
from dq_platform.io.warehouse import Warehouse

MARKER_TABLE = "dq_published"
_GATES = names.GATES_KEY.removeprefix(names.COMMIT_PREFIX)  # the gate state's key in a Delta commit


class PublishError(RuntimeError):
    """Publishing failed; the message never holds the URL's password."""


def table_names(contract: Contract) -> tuple[str, str]:
    base = contract.publish.postgres.table or contract.name
    return base, names.anomalies(base)


def safe_url(url: str) -> str:
    """The URL with its password hidden; a URL that does not parse is not shown at all."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - SQLAlchemy's message would quote the whole URL
        return "(a URL that does not parse as postgresql://user:password@host:port/database)"


def _scrub(text, url: str) -> str:
    import sqlalchemy as sa

    text = str(text).replace(url, safe_url(url))
    try:
        password = sa.engine.make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    return text.replace(str(password), "***") if password else text


def _engine(url: str):
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    # NullPool: nothing stays connected after the step; hide_parameters: no row value in an error
    return sa.create_engine(url, poolclass=NullPool, hide_parameters=True)


# -- SQL helpers ----------------------------------------------------------------------------

_SQL_TYPES = {"b": "BOOLEAN", "i": "BIGINT", "u": "BIGINT", "f": "DOUBLE PRECISION", "M": "TIMESTAMP"}


def _sql_type(dtype) -> str:
    try:
        return _SQL_TYPES.get(pd.api.types.pandas_dtype(dtype).kind, "TEXT")
    except TypeError:
        return "TEXT"


def _q(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _qualified(conn, table: str, schema: str | None) -> str:
    return (f"{_q(conn, schema)}." if schema else "") + _q(conn, table)


def _ensure_table(conn, table: str, schema: str | None, frame: pd.DataFrame, index: list[str]) -> None:
    """Create the table from the frame's columns, or add the columns it lacks (a contract grew)."""
    import sqlalchemy as sa

    inspector = sa.inspect(conn)
    name = _qualified(conn, table, schema)
    if not inspector.has_table(table, schema=schema):
        cols = ", ".join(f"{_q(conn, c)} {_sql_type(t)}" for c, t in frame.dtypes.items())
        conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {name} ({cols})"))
        conn.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {_q(conn, table + '_dq_idx')} ON {name} "
                f"({', '.join(_q(conn, c) for c in index)})"
            )
        )
        return
    have = {c["name"] for c in inspector.get_columns(table, schema=schema)}
    for c, t in frame.dtypes.items():
        if c not in have:
            conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {_q(conn, c)} {_sql_type(t)}"))


def _insert(conn, table: str, schema: str | None, frame: pd.DataFrame) -> int:
    """COPY the rows in (psycopg2); other drivers fall back to multi-row INSERTs."""
    if len(frame) == 0:
        return 0
    cols = ", ".join(_q(conn, c) for c in frame.columns)
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        if hasattr(cursor, "copy_expert"):
            buf = io.StringIO()
            frame.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f")
            buf.seek(0)
            cursor.copy_expert(
                f"COPY {_qualified(conn, table, schema)} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf
            )
            return len(frame)
    finally:
        cursor.close()
    frame.to_sql(table, conn, schema=schema, if_exists="append", index=False, method="multi", chunksize=1000)
    return len(frame)


# -- publishing ---------------------------------------------------------------------------------


def publish(url: str, contract: Contract, warehouse: Warehouse, partition: str, run_id: str) -> dict:
    """Replace the partition's rows and mirror the anomalies' latest change, in one transaction."""
    import sqlalchemy as sa

    target = contract.publish.postgres
    schema = target.db_schema
    events_table, anomalies_table = table_names(contract)
    out = {"target": safe_url(url), "events_table": _dotted(schema, events_table)}
    engine = None
    try:
        engine = _engine(url)
        with engine.begin() as conn:
            marker = _qualified(conn, MARKER_TABLE, schema)
            conn.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {marker} (table_name TEXT PRIMARY KEY, "
                    f"delta_version BIGINT, run_id TEXT, published_at TIMESTAMPTZ DEFAULT now())"
                )
            )
            # the partition's rows: only what passed masked's gates (a held partition has no commit there)
            masked = names.masked(contract.name)
            commit = warehouse.last_commit(masked, partition)
            if commit is not None and commit.get(_GATES) == names.PASSED:
                rows = warehouse.read(masked, partition=partition)
                _ensure_table(conn, events_table, schema, rows, [PARTITION])
                name = _qualified(conn, events_table, schema)
                deleted = conn.execute(
                    sa.text(f"DELETE FROM {name} WHERE {_q(conn, PARTITION)} = :p"), {"p": partition}
                ).rowcount
                out.update(rows_published=_insert(conn, events_table, schema, rows), rows_replaced=deleted)
            else:
                out.update(rows_published=0, rows_replaced=0, events="masked partition not published: skipped")
            if contract.anomalies:
                out.update(_mirror_anomalies(conn, contract, warehouse, schema, anomalies_table, marker, run_id))
    except PublishError:
        raise
    except Exception as e:  # noqa: BLE001 - the driver's message may quote the URL: scrub, keep the class
        raise PublishError(
            f"publishing {contract.name} to {safe_url(url)} failed: {type(e).__name__}: {_scrub(e, url)}"
        ) from None
    finally:
        if engine is not None:
            engine.dispose()
    return out


def _dotted(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _mirror_anomalies(
    conn, contract: Contract, warehouse: Warehouse, schema: str | None, table: str, marker: str, run_id: str
) -> dict:
    import sqlalchemy as sa

    delta_table = names.anomalies(contract.name)
    conn.execute(sa.text(f"INSERT INTO {marker} (table_name) VALUES (:t) ON CONFLICT DO NOTHING"), {"t": table})
    held = conn.execute(
        sa.text(f"SELECT delta_version FROM {marker} WHERE table_name = :t FOR UPDATE"), {"t": table}
    ).scalar()
    dt = warehouse.table(delta_table)  # read under the lock: the newest state, published in order
    if dt is None:
        return {"anomalies": "no anomalies table yet"}
    version = dt.version()
    commit = warehouse.last_commit(delta_table) or {}
    scopes = json.loads(commit.get("dq_scopes") or "null")
    name = _qualified(conn, table, schema)
    from dq_platform.engine import anomalies

    like = anomalies.empty(contract)
    _ensure_table(conn, table, schema, like, ["rule_id", "window_start"])
    cols = list(like.columns)
    incremental = (
        scopes is not None
        and held is not None
        and held >= commit.get("version", -1) - 1
        and not any(s["kind"] == "all" for s in scopes)
    )
    replaced = 0
    if incremental:
        frames = []
        for s in scopes:
            where, params, filters = _scope(conn, s)
            replaced += conn.execute(sa.text(f"DELETE FROM {name} WHERE {where}"), params).rowcount
            frames.append(warehouse.read(delta_table, columns=cols, filters=filters))
        rows = pd.concat(frames, ignore_index=True) if frames else like
    else:
        replaced = conn.execute(sa.text(f"DELETE FROM {name}")).rowcount
        rows = warehouse.read(delta_table, columns=cols)
    inserted = _insert(conn, table, schema, rows)
    conn.execute(
        sa.text(f"UPDATE {marker} SET delta_version = :v, run_id = :r, published_at = now() WHERE table_name = :t"),
        {"v": version, "r": run_id, "t": table},
    )
    return {
        "anomalies_table": _dotted(schema, table),
        "anomalies_published": inserted,
        "anomalies_replaced": replaced,
        "anomalies_mode": "changed scopes" if incremental else "whole table",
        "anomalies_delta_version": version,
    }


def _scope(conn, s: dict) -> tuple[str, dict, list[tuple]]:
    """A replaced scope as SQL (for PostgreSQL) and as Delta filters (to read its new rows)."""
    q = lambda c: _q(conn, c)  # noqa: E731
    if s["kind"] == "row":
        return (
            f"{q('rule_id')} = :r AND {q('partitions')} = :p",
            {"r": s["rule_id"], "p": s["partition"]},
            [("rule_id", "=", s["rule_id"]), ("partitions", "=", s["partition"])],
        )
    if s["kind"] == "window":
        lo, hi = pd.Timestamp(s["start"]), pd.Timestamp(s["end"])
        return (
            f"{q('rule_id')} = :r AND {q('window_start')} >= :lo AND {q('window_end')} <= :hi",
            {"r": s["rule_id"], "lo": lo.to_pydatetime(), "hi": hi.to_pydatetime()},
            [
                ("rule_id", "=", s["rule_id"]),
                ("window_start", ">=", lo.to_pydatetime()),
                ("window_end", "<=", hi.to_pydatetime()),
            ],
        )
    return f"{q('rule_id')} = :r", {"r": s["rule_id"]}, [("rule_id", "=", s["rule_id"])]
