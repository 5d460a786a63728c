"""Read a SQL table (or query) through SQLAlchemy into a Parquet file, fully or by a watermark.

The contract's `source.sql` options say what (contract.SqlSource); the URL comes from the
environment variable `url_env` (any SQLAlchemy URL: `mssql+pyodbc://...` for SQL Server,
`postgresql://...`, `sqlite:///...`) and is never printed: only its password-free form is.

The statement is built with SQLAlchemy, never by formatting strings: the table is reflected and
an incremental read is `SELECT ... WHERE <watermark> > :last ORDER BY <watermark>`. Rows are
streamed in chunks of `chunk_rows` (server-side cursor where the driver has one) and appended to
the Parquet file as row groups, so a large table never sits whole in memory. Values are written
as text, as every raw layer holds them: the contract types them in the pipeline, whatever the
database's types (or, in SQLite, the lack of them).

Which rows an extract took is recorded by the caller (extract.py) in Dagster: the watermark range
of each run is in its tags, and the next run starts after the newest successful run's maximum.

Caveat of `>` watermarks: a row committed *after* an extract with a watermark value that is not
above the maximum that extract saw (a long transaction that stamped `updated_at` before
committing, or two rows with the same timestamp committed apart) is never picked up. Avoid it with
a watermark the database assigns in commit order and never repeats: SQL Server `rowversion`, a
sequence or identity bumped by an update trigger in PostgreSQL; or schedule the extract with a
safety margin and stamp `updated_at` at commit. Rows whose watermark is NULL are only read by a
full (or the first) extract.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from dq_platform.contract import SqlSource


class SqlSourceError(RuntimeError):
    """The table could not be read; the message names the table, the (password-free) URL and why."""


@dataclass
class Extracted:
    rows: int
    columns: list[str]
    source: str  # "<password-free URL> table <name>" for metadata and logs
    watermark_from: str | None  # the lower bound used (exclusive), as text; None: every row
    watermark_to: str | None  # the highest watermark among the rows taken (or watermark_from if none)


def engine_for(options: SqlSource, env=None) -> sa.Engine:
    env = os.environ if env is None else env
    url = env.get(options.url_env)
    if not url:
        raise SqlSourceError(
            f"{options.url_env} is not set: set it to the database's SQLAlchemy URL, e.g. "
            f"mssql+pyodbc://user:pass@host/db?driver=ODBC+Driver+18+for+SQL+Server, "
            f"postgresql://user:pass@host:5432/db or sqlite:///path/to/file.db"
        )
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as e:
        raise SqlSourceError(f"{options.url_env}: not a usable SQLAlchemy URL ({_scrub(str(e), url)})") from None


def safe_url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _scrub(text: str, *secrets: str | None) -> str:
    """Remove a URL and its password from a driver's message."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
            password = sa.engine.make_url(s).password if "://" in s else None
            if password:
                text = text.replace(str(password), "***")
    return text


def format_watermark(value) -> str:
    """A watermark value as the text kept in run tags (ISO for dates and times)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def parse_watermark(text: str, python_type: type | None):
    """Tag text back into the column's Python type, so the database compares like with like."""
    if python_type is None:  # a query's column: guess from the text
        for parse in (int, float, dt.datetime.fromisoformat):
            try:
                return parse(text)
            except ValueError:
                continue
        return text
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(text)
    if python_type is dt.date:
        return dt.date.fromisoformat(text[:10])
    if python_type in (int, float, decimal.Decimal):
        return python_type(text)
    return text


def _python_type(column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _selectable(engine: sa.Engine, options: SqlSource) -> tuple[sa.FromClause, str]:
    """The reflected table (or the query as a subquery), and how to name it in messages."""
    if options.query is not None:
        sub = sa.text(options.query)
        columns = [sa.column(options.watermark)] if options.watermark else []
        return sub.columns(*columns).subquery("source_query"), "query"
    schema, _, name = options.table.rpartition(".")
    try:
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise SqlSourceError(f"table '{options.table}' not found in {safe_url(engine)}") from None
    if options.watermark and options.watermark not in table.c:
        raise SqlSourceError(
            f"table '{options.table}' has no watermark column '{options.watermark}' "
            f"(columns: {', '.join(table.c.keys())})"
        )
    return table, f"table {options.table}"


def statement(engine: sa.Engine, options: SqlSource, last: str | None):
    """The SELECT for this extract, the watermark value bound (None: every row), and a label."""
    source, label = _selectable(engine, options)
    if options.query is not None:
        stmt = sa.select(sa.literal_column("*")).select_from(source)
    else:
        stmt = sa.select(source)
    bound = None
    if options.mode == "incremental":
        col = source.c[options.watermark]
        if last is not None:
            bound = parse_watermark(last, _python_type(col) if options.query is None else None)
            stmt = stmt.where(
                col > sa.bindparam("last_watermark", bound, type_=col.type if options.query is None else None)
            )
        stmt = stmt.order_by(col)
    return stmt, bound, label


def _text_column(values: tuple) -> pa.Array:
    """One column of a chunk as text: Arrow casts typed values at once; mixed types fall back to str()."""
    try:
        arr = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr.cast(pa.string())
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return pa.array([None if v is None else bytes(v).hex() for v in values], pa.string())
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _max(values: tuple):
    """The largest non-null value of a column chunk (Arrow's kernel; mixed types fall back to Python's max)."""
    try:
        return pc.max(pa.array(values, from_pandas=False)).as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        try:
            return max(filter(lambda v: v is not None, values), default=None)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in values if v is not None})
            raise ValueError(f"the watermark column mixes {', '.join(kinds)} values, which cannot be ordered") from None


def extract(options: SqlSource, last: str | None, target: str | Path, env=None) -> Extracted:
    """Write the rows after watermark `last` (all rows when None or mode full) to a Parquet file.

    No row: no file is written (`rows == 0`). The watermark maximum is taken from the rows read,
    which arrive in watermark order.
    """
    env = os.environ if env is None else env
    engine = engine_for(options, env)
    url = env.get(options.url_env)
    label = f"table {options.table}" if options.table else "query"
    try:
        stmt, _, label = statement(engine, options, last if options.mode == "incremental" else None)
        source = f"{safe_url(engine)} {label}"
        rows, high, writer, columns = 0, None, None, []
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, max_row_buffer=options.chunk_rows).execute(stmt)
                columns = list(result.keys())
                wm_index = columns.index(options.watermark) if options.watermark in columns else None
                for chunk in result.partitions(options.chunk_rows):
                    cols = list(zip(*chunk))
                    if wm_index is not None:
                        top = _max(cols[wm_index])
                        high = top if high is None or (top is not None and top > high) else high
                    table = pa.table({name: _text_column(values) for name, values in zip(columns, cols)})
                    if writer is None:
                        writer = pq.ParquetWriter(str(target), table.schema)
                    writer.write_table(table)
                    rows += len(chunk)
        finally:
            if writer is not None:
                writer.close()
    except sa.exc.SQLAlchemyError as e:
        reason = _scrub(str(getattr(e, "orig", None) or e).strip().splitlines()[0], url)
        raise SqlSourceError(f"{safe_url(engine)} {label}: {type(e).__name__}: {reason}") from None
    except ValueError as e:  # e.g. SQLite text in a DATETIME column the driver cannot convert
        raise SqlSourceError(
            f"{safe_url(engine)} {label}: a value could not be read as its column's type "
            f"({_scrub(str(e), url)}); fix the row or read it through a query that casts it"
        ) from None
    finally:
        engine.dispose()
    if options.mode == "incremental" and options.watermark not in columns and rows:
        raise SqlSourceError(f"{source}: the result has no watermark column '{options.watermark}'")
    if options.mode != "incremental":
        return Extracted(rows=rows, columns=columns, source=source, watermark_from=None, watermark_to=None)
    to = format_watermark(high) if high is not None else last
    return Extracted(rows=rows, columns=columns, source=source, watermark_from=last, watermark_to=to)
