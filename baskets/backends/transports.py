"""Arrow record batches straight from a driver outside SQLAlchemy, one reader per backend's driver."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence

import pyarrow as pa
from sqlalchemy import Engine

# Rows per Arrow batch a reader asks its driver for.
BATCH_ROWS = 65_536


def adbc_sqlite_batches(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
    """ADBC's Arrow batches from SQLite, read in a child process (see baskets.sqlite_arrow_reader:
    ADBC's own copy of SQLite must not share a process with Python's on the same file)."""
    command = [sys.executable, "-m", "baskets.sqlite_arrow_reader", str(engine.url.database), str(BATCH_ROWS)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    completed = False
    try:
        child.stdin.write(sql.encode("utf-8"))
        child.stdin.close()
        try:
            reader = pa.ipc.open_stream(child.stdout)
        except pa.ArrowInvalid:  # the child failed before it wrote a stream: its stderr says why
            reader = None
        if reader is not None:
            yield from reader
        completed = True
    finally:
        if not completed:  # the consumer stopped early or the stream broke: stop the reader
            child.kill()
        child.wait()
        message = child.stderr.read().decode("utf-8", "replace").strip().splitlines()
        child.stdout.close()
        child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"SQLite export reader failed: {message[-1] if message else child.returncode}")


def sqlite_driver_batches(
    engine: Engine, sql: str, batch_rows: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Arrow batches from this process's own SQLite driver: the rows as the driver returns them
    (no SQLAlchemy type processing), turned into Arrow column by column. Types are SQLite's
    values': text for times, integer or real for numerics, Arrow's null type for a column that
    is NULL throughout a batch; the caller casts them. `batch_rows` default: BATCH_ROWS."""
    batch_rows = batch_rows or BATCH_ROWS
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            names = [column[0] for column in cursor.description]
            while rows := cursor.fetchmany(batch_rows):
                columns = [_driver_column(values) for values in zip(*rows, strict=True)]
                yield pa.RecordBatch.from_arrays(columns, names=names)
        finally:
            cursor.close()


def _driver_column(values: Sequence[object]) -> pa.Array:
    """One column of driver values as Arrow; text, most of a row, typed up front, which halves
    the time `pa.array` would take to find out."""
    first = next((value for value in values if value is not None), None)
    return pa.array(values, type=pa.string()) if isinstance(first, str) else pa.array(values)


def adbc_postgresql_batches(engine: Engine, sql: str, before: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
    """PostgreSQL's wire format as Arrow (ADBC), running the `before` statements first."""
    import adbc_driver_postgresql.dbapi as adbc_postgresql

    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_postgresql.connect(uri) as connection, connection.cursor() as cursor:
        for statement in before:
            cursor.execute(statement)
        cursor.execute(sql)
        yield from cursor.fetch_record_batch()


def connectorx_mysql_batches(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
    """Arrow from ConnectorX's Rust MySQL client: several times faster than PyMySQL."""
    import connectorx

    uri = engine.url.set(drivername="mysql", query={}).render_as_string(hide_password=False)
    reader = connectorx.read_sql(
        uri,
        sql,
        return_type="arrow_stream",
        batch_size=BATCH_ROWS,
        # The SQL's literals escape backslashes, so the session must read them that way.
        pre_execution_query=["SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"],
    )
    yield from reader


def has_connectorx() -> bool:
    try:
        import connectorx  # noqa: F401
    except ImportError:
        return False
    return True
