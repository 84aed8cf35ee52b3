"""The interface every database backend implements, with the behaviour most of them share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Column, ColumnElement, Connection, Dialect, Engine, Select, create_engine
from sqlalchemy.engine import URL

from baskets.models import AuditChainHead, BasketAudit, BasketLine

if TYPE_CHECKING:
    import pyarrow as pa

# The basket columns a delete takes, in the order the deletion's rows hold them.
BASKET_COLUMNS = ("id", "shop_account_id", "account_id", "account_type", "created_at", "modified_at")
CHAIN_HEAD_ID = 1
# A reader of Arrow record batches for one SQL text with its values inlined (see `literal_sql`).
ArrowReader = Callable[[Engine, str], Iterator["pa.RecordBatch"]]


@dataclass(frozen=True)
class BatchLimits:
    """How long one batch transaction may wait for a row lock and run one statement, in seconds."""

    lock_timeout_seconds: float
    statement_timeout_seconds: float


@dataclass(frozen=True)
class ServerLock:
    """A session-level lock a server frees when the session ends (`Backend.try_server_lock`)."""

    still_held: Callable[[], bool]
    release: Callable[[], bool]
    where: str


class Backend:
    """One database's way of doing what the domain modules need (Prefect's query components are
    the model: an object chosen once per engine, injected into the code that differs).

    The methods here are the common way; a subclass overrides what its database does otherwise.
    """

    name: ClassVar[str]
    # The optional dependency (`pip install 'basket-maintenance[EXTRA]'`) that brings the driver.
    driver_extra: ClassVar[str | None] = None
    # Whether `=` on the id columns is exactly Python's `==` on the values read (binary text, uuid).
    exact_keys: ClassVar[bool] = True
    # Whether the database's default text collation folds case and ignores trailing spaces
    # (MariaDB's utf8mb4 default), so identifier columns need a binary collation of their own.
    text_folds_case_by_default: ClassVar[bool] = False
    # Whether counting the expired baskets is faster as one join to the lines' basket ids than as
    # one probe of basket_lines per basket (PostgreSQL: 0.6 s against 1.3 s at 300,000 baskets).
    counts_by_joining_lines: ClassVar[bool] = False
    # Whether the cleanup lock is a lock of a server session (else a lock file, `baskets.locks`).
    session_locks: ClassVar[bool] = True

    # Which driver a URL naming only the backend gets.
    default_driver: ClassVar[str]

    # --- URLs, engines and transactions ----------------------------------------------------

    def normalise_url(self, url: URL) -> URL:
        """`url` with the project's driver when it names none."""
        if "+" not in url.drivername:
            url = url.set(drivername=self.default_driver)
        return url

    def database_file(self, url: URL) -> Path | None:
        """The absolute path of the file the database lives in, None for a server's."""
        return None

    def database_identity(self, url: URL) -> tuple[list[str], list[str]]:
        """(readable parts, identifying parts) of the database `url` names (`database_key`):
        backend, host, port and database name, free of user, password, driver and query."""
        parts = [self.name, url.host or "localhost", str(url.port or ""), url.database or ""]
        return parts, parts

    def make_engine(self, url: URL, connect_timeout_seconds: float, **kwargs: Any) -> Engine:
        """An engine for `url` with the backend's connection set-up."""
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    def write_options(self) -> dict[str, Any]:
        """Execution options of a transaction that writes the audit chain (`write_transaction`)."""
        return {}

    def batch_options(self) -> dict[str, Any]:
        """Execution options a cleanup batch's transaction adds to `write_options` (`write_transaction`)."""
        return {}

    def after_batch(self, engine: Engine) -> None:
        """Work a cleanup batch's commit leaves to be done after its transaction (`batch_options`)."""

    def after_batches(self, engine: Engine) -> None:
        """Wait for what `after_batch` left running, once a run's batches are done."""

    def snapshot_options(self) -> dict[str, Any]:
        """Execution options of a read that must see one snapshot from start to end."""
        return {"isolation_level": "REPEATABLE READ"}

    @contextlib.contextmanager
    def batch_limits(self, connection: Connection, limits: BatchLimits) -> Iterator[None]:
        """Apply `limits` to the transaction open on `connection` for the `with` block."""
        yield

    # --- keys and values -------------------------------------------------------------------

    def key_in(self, column: Column[Any] | Any, keys: Sequence[str]) -> ColumnElement[bool]:
        """`column IN keys`."""
        return column.in_(keys)

    def as_text(self, column: Any) -> Any:
        """An id column selected as text."""
        return column

    def canonical_time_column(self, column: Any) -> ColumnElement[str]:
        """A UTCDateTime column selected as text that `canonical_time_text` makes canonical."""
        raise NotImplementedError

    def basket_columns(self, columns: Any) -> tuple[Any, ...]:
        """The BASKET_COLUMNS of `columns` (the baskets table's, or a CTE's returning them), ids as
        text and times as `canonical_time_column` gives them."""
        return (
            self.as_text(columns.id),
            self.as_text(columns.shop_account_id),
            columns.account_id,
            columns.account_type,
            self.canonical_time_column(columns.created_at),
            self.canonical_time_column(columns.modified_at),
        )

    def lines_of(self, chunk: Sequence[str]) -> ColumnElement[bool]:
        """`basket_lines.basket_id IN chunk`."""
        return self.key_in(BasketLine.basket_id, chunk)

    # --- deleting --------------------------------------------------------------------------

    def take_baskets_in_one_statement(
        self, connection: Connection, ids: Sequence[str], still_matches: ColumnElement[bool]
    ) -> list[Sequence[Any]] | None:
        """Delete the baskets among `ids` that still match with their lines, in one statement
        per chunk, returning them as `baskets.deletion` takes them; None where the backend has
        no such statement (the caller then locks, reads and deletes)."""
        return None

    # --- the audit log ---------------------------------------------------------------------

    def lock_chain_head(self, connection: Connection) -> tuple[int, str] | None:
        """Lock the chain head until the transaction ends and return its (seq, hash), or None
        when its row is missing."""
        query = (
            AuditChainHead.__table__.select()
            .with_only_columns(AuditChainHead.seq, AuditChainHead.hash)
            .where(AuditChainHead.id == CHAIN_HEAD_ID)
            .with_for_update()
        )
        row = connection.execute(query).first()
        return None if row is None else (int(row.seq), row.hash)

    def stored_audit_row(self, values: list[Any], time_positions: Sequence[int], quantity: int) -> list[Any]:
        """An audit row's values (canonical texts, in table order) as this backend stores them:
        times as 'YYYY-MM-DD HH:MM:SS.ffffff', the text SQLAlchemy stores on SQLite (so string
        comparisons keep working) and MariaDB reads for DATETIME(6)."""
        for position in time_positions:
            text = values[position]
            if text is not None:
                values[position] = f"{text[:10]} {text[11:26]}"
        return values

    def insert_audit_rows(
        self, connection: Connection, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Insert audit rows already in stored form: one prepared INSERT, executed for many."""
        rows = list(rows)
        if not rows:
            return
        quote = connection.dialect.identifier_preparer.quote  # `lines` is a reserved word on MariaDB
        column_list = ", ".join(quote(name) for name in columns)
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        placeholders = ", ".join(marker for _ in columns)
        statement = f"INSERT INTO {quote(BasketAudit.__tablename__)} ({column_list}) VALUES ({placeholders})"
        connection.exec_driver_sql(statement, [tuple(row) for row in rows])

    # --- reading as Arrow ------------------------------------------------------------------

    def sql_dialect(self) -> Dialect:
        """The dialect `literal_sql` renders for (drivers outside SQLAlchemy read its text)."""
        raise NotImplementedError

    def literal_sql(self, query: Select[Any], engine: Engine | None = None) -> str:
        """`query` as one SQL text with its values inlined, for a driver outside SQLAlchemy.
        SQLAlchemy renders the literals (quotes doubled), never string pasting. With `engine`,
        the suite's own tables are named as on its database (`baskets.schema.prefix`)."""
        dialect = self.sql_dialect()
        if engine is not None:
            from baskets.schema.prefix import dialect_prefix, prefix_dialect

            prefix_dialect(dialect, dialect_prefix(engine.dialect))
        return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    def arrow_reader(
        self, engine: Engine, *, needs_engine_functions: bool = False
    ) -> tuple[str, ArrowReader] | None:
        """The fastest way to read rows as Arrow here, (name, reader), or None: read them
        through SQLAlchemy. `needs_engine_functions`: the query calls a function only this
        process's engine has (SQLite's Unicode lower())."""
        return None

    def snapshot_reader(self, engine: Engine) -> ArrowReader | None:
        """The reader for the retention snapshot's audit rows (read in key order), or None."""
        return None

    # --- the cleanup lock and seeding ------------------------------------------------------

    def try_server_lock(self, connection: Connection, name: str) -> ServerLock | None:
        """Take the session-level lock `name` on `connection` (autocommit) without waiting;
        None when another session holds it."""
        raise NotImplementedError

    def reset_id_sequence(self, connection: Connection, table_name: str) -> None:
        """Move `table_name`'s id generator past the ids loaded explicitly (`bulk_load`)."""

    def bulk_load(self, connection: Connection, table_name: str, table: pa.Table) -> None:
        """Insert an Arrow table's rows into `table_name`, columns by name."""
        from sqlalchemy import text

        names = table.column_names
        sql = text(
            f"INSERT INTO {table_name} ({', '.join(names)}) VALUES ({', '.join(':' + c for c in names)})"
        )
        for batch in table.to_batches(max_chunksize=20_000):
            connection.execute(sql, batch.to_pylist())
