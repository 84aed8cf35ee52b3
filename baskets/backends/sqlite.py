"""SQLite: the embedded default. One writer at a time (BEGIN IMMEDIATE), text times, no row locks."""

from __future__ import annotations

import contextlib
import functools
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import ColumnElement, Connection, Dialect, Engine, String, create_engine, event, type_coerce
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL

from baskets.backends.base import ArrowReader, Backend

if TYPE_CHECKING:
    import pyarrow as pa


# SQLite's default: a commit checkpoints the WAL once it holds this many pages.
AUTOCHECKPOINT_PAGES = 1000


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class SQLiteBackend(Backend):
    name: ClassVar[str] = "sqlite"
    session_locks: ClassVar[bool] = False
    default_driver: ClassVar[str] = "sqlite"
    # A database up to this size (its file and WAL, in bytes) is exported in this process through
    # SQLAlchemy: starting ADBC's child process (`arrow_reader`) costs ~0.6 s, and SQLAlchemy
    # reads ~50,000 export rows a second against ADBC's several hundred thousand, so the child
    # pays off from ~40,000 rows (~7 MB: 80,000 rows in 14.8 MB took 1.5 s in process, 1.1 s
    # through the child). 4 MiB holds ~20,000 rows.
    in_process_export_max_bytes: ClassVar[int] = 4 * 1024 * 1024

    def normalise_url(self, url: URL) -> URL:
        path = self.database_file(url)
        if path is None:
            return url
        path.parent.mkdir(parents=True, exist_ok=True)
        return url.set(database=str(path))

    def database_file(self, url: URL) -> Path | None:
        if url.database in (None, "", ":memory:"):
            return None
        return Path(url.database).expanduser().resolve()

    def database_identity(self, url: URL) -> tuple[list[str], list[str]]:
        # The file's name to read, its absolute path to tell two of one name apart.
        path = self.database_file(url)
        return ["sqlite", path.name if path else "memory"], ["sqlite", str(path) if path else ":memory:"]

    def make_engine(self, url: URL, connect_timeout_seconds: float, **kwargs: Any) -> Engine:
        """WAL, foreign keys (ON DELETE CASCADE needs them), a busy timeout and a Unicode-aware
        lower() (the built-in one folds ASCII only, so 'ZOË' would miss 'zoë'). No server to
        connect to: a lock another process holds is waited for up to 30 s. Transactions that
        write the audit chain begin IMMEDIATE (`write_options`)."""
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event, not the driver, open transactions.
            dbapi_connection.isolation_level = None
            dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            options = connection.get_execution_options()
            # Set on every transaction: a pooled connection keeps it from the one before.
            pages = AUTOCHECKPOINT_PAGES if options.get("checkpoint_at_commit", True) else 0
            connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={pages}")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("immediate", False) else "BEGIN")

        return engine

    def write_options(self) -> dict[str, Any]:
        # The write lock up front: taken at the first write instead, two writers that read
        # first deadlock on the upgrade (SQLITE_BUSY that no timeout resolves).
        return {"immediate": True}

    def batch_options(self) -> dict[str, Any]:
        # A commit whose WAL holds AUTOCHECKPOINT_PAGES or more copies those pages into the
        # database file and syncs both before COMMIT returns: about 4,500 pages for a batch of
        # 1,000 baskets, 0.05 to 0.6 s of its transaction's time. A batch's commit leaves that
        # to `after_batch`; writers are not held up by a checkpoint either way.
        return {"checkpoint_at_commit": False}

    def after_batch(self, engine: Engine) -> None:
        """Checkpoint the WAL (PASSIVE), alternately in the background and here.

        PASSIVE copies what no reader still needs and never waits for one, so a reader
        elsewhere cannot stall the run; what it leaves is copied after a later batch. The
        checkpoint after one batch copies while the next batch runs (its waits for the disk
        and the copying overlap that batch's work); after the next, this waits for it and
        checkpoints the rest, so the batch after that starts the log again from its
        beginning: the WAL holds at most two batches."""
        running = _background_checkpoints.pop(engine, None)
        if running is None:
            _background_checkpoints[engine] = _checkpointer().submit(_checkpoint, engine)
            return
        running.result()  # its error, if any, is this batch's
        _checkpoint(engine)

    def after_batches(self, engine: Engine) -> None:
        running = _background_checkpoints.pop(engine, None)
        if running is not None:
            running.result()

    def snapshot_options(self) -> dict[str, Any]:
        return {}  # a read transaction in WAL mode sees one snapshot already

    def canonical_time_column(self, column: Any) -> ColumnElement[str]:
        # The stored text; `canonical_time_text` turns it into the canonical form in Python.
        return type_coerce(column, String)

    def stored_audit_row(self, values: list[Any], time_positions: Any, quantity: int) -> list[Any]:
        values = super().stored_audit_row(values, time_positions, quantity)
        if values[quantity] is not None:
            values[quantity] = float(values[quantity])  # as SQLAlchemy binds Numeric here
        return values

    def sql_dialect(self) -> Dialect:
        return sqlite.dialect()

    def arrow_reader(
        self, engine: Engine, *, needs_engine_functions: bool = False
    ) -> tuple[str, ArrowReader] | None:
        # ADBC has its own copy of SQLite, without this engine's lower(); an in-memory
        # database is only visible to its engine; a small one is read faster in this process.
        path = self.database_file(engine.url)
        if needs_engine_functions or path is None or _stored_bytes(path) <= self.in_process_export_max_bytes:
            return None
        from baskets.backends.transports import adbc_sqlite_batches

        return "adbc-sqlite", adbc_sqlite_batches

    def snapshot_reader(self, engine: Engine) -> ArrowReader | None:
        """The driver's rows straight into Arrow in this process (`sqlite_driver_batches`): no
        ADBC child process, which would copy every row through a pipe, and no SQLAlchemy result
        processing, which built a datetime or Decimal object per value."""
        from baskets.backends.transports import sqlite_driver_batches

        return sqlite_driver_batches

    def bulk_load(self, connection: Connection, table_name: str, table: pa.Table) -> None:
        import pyarrow as pa

        placeholders = ", ".join("?" for _ in table.column_names)
        sql = f"INSERT INTO {table_name} ({', '.join(table.column_names)}) VALUES ({placeholders})"
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for batch in table.to_batches(max_chunksize=200_000):
            cursor.executemany(sql, _sqlite_rows(pa.Table.from_batches([batch])))


# The checkpoint `after_batch` left copying in the background, per engine.
_background_checkpoints: weakref.WeakKeyDictionary[Engine, Future[None]] = weakref.WeakKeyDictionary()


@functools.cache
def _checkpointer() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")


def _checkpoint(engine: Engine) -> None:
    connection = engine.raw_connection()
    try:
        connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # type: ignore[union-attr]
    finally:
        connection.close()


def _stored_bytes(path: Path) -> int:
    """The size of an SQLite database: its file and its write-ahead log (0 for what is missing)."""
    total = 0
    for part in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            total += part.stat().st_size
    return total


def _sqlite_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows in the text form SQLAlchemy's SQLite types read back (times as 'Y-m-d H:M:S.f')."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in table.column_names:
        column = table[name]
        if pa.types.is_timestamp(column.type):
            column = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_boolean(column.type):
            column = pc.cast(column, pa.int8())
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True))
