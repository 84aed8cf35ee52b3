"""PostgreSQL: keys bound as one array, REPEATABLE READ writers, the one-statement delete, COPY."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Numeric,
    String,
    and_,
    any_,
    bindparam,
    cast,
    create_engine,
    delete,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.engine import URL
from sqlalchemy.sql.sqltypes import NullType

from baskets.backends.base import BASKET_COLUMNS, ArrowReader, Backend, BatchLimits, ServerLock
from baskets.models import QUANTITY, Account, AuditChainHead, Basket, BasketAudit, BasketLine, ShopAccount

if TYPE_CHECKING:
    import pyarrow as pa

_IDS_PARAMETER = "basket_ids"
# A sum of four-place quantities, printed with its four places even when it is 0.
_TOTAL = Numeric(38, 4)
# `_delete_returning_statement`'s statements by the identity of their condition (kept beside it,
# so the id is not reused while the entry lives).
_STATEMENTS: dict[int, tuple[ColumnElement[bool], Any]] = {}
_STATEMENTS_KEPT = 8


class PostgreSQLBackend(Backend):
    name: ClassVar[str] = "postgresql"
    counts_by_joining_lines: ClassVar[bool] = True
    driver_extra: ClassVar[str | None] = "postgres"
    default_driver: ClassVar[str] = "postgresql+psycopg"

    def make_engine(self, url: URL, connect_timeout_seconds: float, **kwargs: Any) -> Engine:
        # libpq's connect_timeout covers the TCP connect and the start-up exchange alike (whole
        # seconds, at least 2).
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(
            url, connect_args={"connect_timeout": math.ceil(connect_timeout_seconds)}, **kwargs
        )

    def write_options(self) -> dict[str, Any]:
        # The one-statement delete needs REPEATABLE READ: a change by another transaction since
        # this one's snapshot to a row it deletes then fails with a serialization error (run the
        # transaction again) rather than going unseen.
        return {"isolation_level": "REPEATABLE READ"}

    @contextlib.contextmanager
    def batch_limits(self, connection: Connection, limits: BatchLimits) -> Iterator[None]:
        # SET LOCAL ends with the transaction; SET takes no snapshot, so the chain head lock
        # that follows still comes before the transaction's snapshot.
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {_milliseconds(limits.lock_timeout_seconds)}")
        connection.exec_driver_sql(
            f"SET LOCAL statement_timeout = {_milliseconds(limits.statement_timeout_seconds)}"
        )
        yield

    def key_in(self, column: Column[Any] | Any, keys: Sequence[str]) -> ColumnElement[bool]:
        """`column = ANY(array)` with the keys in one parameter: psycopg parses the text of every
        statement too long to cache (an IN list of 1,000 placeholders is) again for each batch,
        which cost more than the statement itself."""
        return _any_of_array(column, value=pg_array_literal(keys))

    def as_text(self, column: Any) -> Any:
        return cast(column, String)  # a uuid would come back as a UUID object per value, then str

    def canonical_time_column(self, column: Any) -> ColumnElement[str]:
        return func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')

    def lines_of(self, chunk: Sequence[str]) -> ColumnElement[bool]:
        """With the chunk's key range beside the key list: without it PostgreSQL, with no
        statistics on a freshly loaded table, estimates that a 1,000-value list matches most lines
        and scans the whole table for every batch. Only here: the uuid order is the order of
        the lowercase text ids, which need not hold under another backend's collation."""
        return and_(
            BasketLine.basket_id.between(min(chunk), max(chunk)), self.key_in(BasketLine.basket_id, chunk)
        )

    def take_baskets_in_one_statement(
        self, connection: Connection, ids: Sequence[str], still_matches: ColumnElement[bool]
    ) -> list[Sequence[Any]] | None:
        """Per chunk, one DELETE ... RETURNING of the baskets that still match, each with its
        account names and its lines read in the same statement (the lines go by the foreign
        key's cascade). The general way's three statements visit each basket and line twice;
        this one costs the bare DELETE plus the reading of the lines. The database writes the
        lines' canonical text itself: row_to_json of the line columns in sorted order is byte
        for byte what `canonical_lines_text` makes of the same values (a test holds the two
        together for every Unicode code point).

        Safe only in a REPEATABLE READ transaction (`write_options`): a line added or changed
        since the snapshot, which the cascade would delete unseen, makes the cascade fail with a
        serialization error instead, so the caller runs the transaction again. A condition on
        the account tables takes the general way (its join is locked row by row there).
        """
        from baskets.deletion import names_account_tables

        if names_account_tables(still_matches):
            return None
        statement = _delete_returning_statement(self, still_matches)
        removed: list[Sequence[Any]] = []
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            removed.extend(connection.execute(statement, {_IDS_PARAMETER: pg_array_literal(chunk)}).all())
        return removed

    def lock_chain_head(self, connection: Connection) -> tuple[int, str] | None:
        """The head is locked as a table (EXCLUSIVE: readers go on). Taken as the transaction's
        first statement that needs one (LOCK TABLE takes no snapshot), a REPEATABLE READ
        transaction's snapshot comes after the lock and sees the head the last writer committed;
        a row lock would be taken in an older snapshot and fail whenever it had to wait."""
        head = connection.dialect.identifier_preparer.quote(AuditChainHead.__tablename__)  # maybe prefixed
        connection.exec_driver_sql(f"LOCK TABLE {head} IN EXCLUSIVE MODE")
        row = connection.execute(select(AuditChainHead.seq, AuditChainHead.hash)).first()
        return None if row is None else (int(row.seq), row.hash)

    def stored_audit_row(self, values: list[Any], time_positions: Any, quantity: int) -> list[Any]:
        # COPY reads the canonical texts as they are (the +00:00 of a time is ignored for a
        # timestamp without time zone, which holds UTC).
        return values

    def insert_audit_rows(
        self, connection: Connection, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """COPY, fed as `rows` yields them: the database stores rows while the caller builds
        and hashes the next ones."""
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return
        quote = connection.dialect.identifier_preparer.quote  # the table maybe prefixed
        column_list = ", ".join(quote(name) for name in columns)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {quote(BasketAudit.__tablename__)} ({column_list}) FROM STDIN") as copy:
            copy.write_row(first)
            for row in rows:
                copy.write_row(row)

    def sql_dialect(self) -> Dialect:
        # numeric_dollar: ADBC's placeholders, and no doubling of % in literals as pyformat does
        return postgresql.dialect(paramstyle="numeric_dollar")

    def arrow_reader(
        self, engine: Engine, *, needs_engine_functions: bool = False
    ) -> tuple[str, ArrowReader] | None:
        from baskets.backends.transports import adbc_postgresql_batches

        return "adbc-postgresql", adbc_postgresql_batches

    def snapshot_reader(self, engine: Engine) -> ArrowReader | None:
        """ADBC, with sorts off: the run's rows were just inserted, so basket_audit has no
        statistics for them and the planner, expecting a handful, sorts a bitmap scan's rows (on
        disk, for a million) instead of reading the primary key in order."""
        from baskets.backends.transports import adbc_postgresql_batches

        def read(engine: Engine, sql: str) -> Iterator[pa.RecordBatch]:
            return adbc_postgresql_batches(engine, sql, before=("SET enable_sort = off",))

        return read

    def try_server_lock(self, connection: Connection, name: str) -> ServerLock | None:
        key = {"key": _lock_key(name)}
        if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
            return None
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
        bits = key["key"] & 0xFFFF_FFFF_FFFF_FFFF  # pg_locks lists a bigint key as two oids
        held = text(
            "SELECT pg_backend_pid() = :pid AND EXISTS (SELECT 1 FROM pg_locks WHERE locktype = "
            "'advisory' AND granted AND pid = :pid AND classid = CAST(:high AS oid) AND "
            "objid = CAST(:low AS oid) AND objsubid = 1)"
        ).bindparams(high=bits >> 32, low=bits & 0xFFFF_FFFF)
        return ServerLock(
            still_held=lambda: bool(connection.scalar(held, {"pid": pid})),
            release=lambda: bool(connection.scalar(text("SELECT pg_advisory_unlock(:key)"), key)),
            where=f"PostgreSQL advisory lock of session {pid}",
        )

    def reset_id_sequence(self, connection: Connection, table_name: str) -> None:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table_name}), 0) + 1, false)"
            )
        )

    def bulk_load(self, connection: Connection, table_name: str, table: pa.Table) -> None:
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        columns = ", ".join(table.column_names)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table_name} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _lock_key(name: str) -> int:
    """pg_try_advisory_lock takes a signed 64-bit key: derived from the name, so it is stable."""
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def pg_array_literal(keys: Sequence[str]) -> str:
    """`keys` as one PostgreSQL array literal, every element quoted: '{"a","b"}'.

    Sent as one text parameter and cast, so psycopg need not adapt a list element by element
    (which cost more per batch than the database's own work on the array)."""
    quoted = (key.replace("\\", "\\\\").replace('"', '\\"') for key in keys)
    return "{" + ",".join(f'"{key}"' for key in quoted) + "}"


def _any_of_array(
    column: Column[Any] | Any, name: str | None = None, *, value: str | None = None
) -> ColumnElement[bool]:
    """`column = ANY(CAST(:keys AS type[]))`, `:keys` a parameter holding a `pg_array_literal`:
    bound here to `value`, or named `name` and bound at execution.

    The parameter has no type of its own (SQLAlchemy renders no `::VARCHAR` after it, psycopg
    sends a str as unknown), so PostgreSQL reads it as the array type once, when it is bound.
    Typed as text, it was cast to the array for every row a sequential scan visited, which
    PostgreSQL chooses for a table without statistics or a small one: a 1000-id batch on a
    freshly loaded 3,000-basket table took 2.9 s instead of milliseconds.
    """
    keys = bindparam(name, type_=NullType()) if value is None else bindparam(None, value, type_=NullType())
    return column == any_(cast(keys, ARRAY(column.type)))


def _delete_returning_statement(backend: Backend, still_matches: ColumnElement[bool]) -> Any:
    """`take_baskets_in_one_statement`'s statement for `still_matches`, the ids a parameter.

    Built once per condition object (a cleanup run passes the same one for every batch), so a
    batch neither builds it again nor has SQLAlchemy compute its cache key again: the two took
    about 5 ms of Python per batch of 1000 baskets."""
    kept = _STATEMENTS.get(id(still_matches))
    if kept is not None and kept[0] is still_matches:
        return kept[1]
    gone = (
        delete(Basket)
        .where(_any_of_array(Basket.id, _IDS_PARAMETER), still_matches)
        .returning(*(Basket.__table__.c[name] for name in BASKET_COLUMNS))
        .cte("gone")
    )
    shop = _account_lookup(ShopAccount, gone.c.shop_account_id)
    account = _account_lookup(Account, gone.c.account_id)
    lines = _lines_in_canonical_form(gone.c.id)
    statement = (
        select(
            *backend.basket_columns(gone.c),
            shop.c.name,
            shop.c.email,
            account.c.name,
            account.c.email,
            lines.c.line_count,
            lines.c.total_quantity,
            lines.c.lines,
        )
        .select_from(gone.outerjoin(shop, true()).outerjoin(account, true()).join(lines, true()))
        .order_by(gone.c.id)
    )
    if len(_STATEMENTS) >= _STATEMENTS_KEPT:
        _STATEMENTS.clear()
    _STATEMENTS[id(still_matches)] = (still_matches, statement)
    return statement


def _lines_in_canonical_form(basket_id: Any) -> Any:
    """A LATERAL subquery giving the line count, the total quantity and the
    `canonical_lines_text` of the lines of `basket_id`."""
    line = (
        select(
            # The columns in sorted order, as canonical JSON has its keys; a NUMERIC(18, 4)
            # quantity prints with its four places, as canonical_quantity writes it.
            BasketLine.id,
            BasketLine.product_id,
            cast(BasketLine.quantity, String).label("quantity"),
            BasketLine.uom_id,
            BasketLine.variant_id,
        )
        .where(BasketLine.basket_id == basket_id)
        .correlate(basket_id.table)
        .subquery("line")
    )
    as_json = cast(func.row_to_json(line.table_valued()), String)
    joined = func.string_agg(as_json, aggregate_order_by(literal_column("','"), line.c.id))
    return select(
        func.count().label("line_count"),
        cast(cast(func.coalesce(func.sum(cast(line.c.quantity, QUANTITY)), 0), _TOTAL), String).label(
            "total_quantity"
        ),
        ("[" + func.coalesce(joined, "") + "]").label("lines"),
    ).lateral("lines")


def _account_lookup(model: type[ShopAccount] | type[Account], reference: Any) -> Any:
    """The name and e-mail of the account `reference` points to, as a LATERAL subquery that
    OFFSET 0 keeps from being merged into a join: one primary-key probe per basket. As a join
    PostgreSQL hashes the whole account table for every batch, its estimate of a thousand
    probes from random pages being dearer than that."""
    return select(model.name, model.email).where(model.id == reference).offset(0).lateral()
