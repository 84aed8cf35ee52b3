"""MariaDB (and MySQL): case-insensitive keys, DATE_FORMAT times, GET_LOCK, session time limits."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Connection, Dialect, Engine, create_engine, event, func, text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL

from baskets.backends.base import ArrowReader, Backend, BatchLimits, ServerLock

# GET_LOCK names are server-wide and at most 64 characters: scoped to the database.
LOCK_NAME_MAX = 64


class MariaDBBackend(Backend):
    name: ClassVar[str] = "mariadb"
    # The default collation compares keys case-insensitively: Python's == is stricter.
    exact_keys: ClassVar[bool] = False
    text_folds_case_by_default: ClassVar[bool] = True
    driver_extra: ClassVar[str | None] = "mariadb"
    default_driver: ClassVar[str] = "mariadb+pymysql"

    def normalise_url(self, url: URL) -> URL:
        url = super().normalise_url(url)
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url

    def make_engine(self, url: URL, connect_timeout_seconds: float, **kwargs: Any) -> Engine:
        """PyMySQL's connect_timeout covers the TCP connect only; its read timeout bounds the
        wait for the server's greeting and the log-in, and is lifted once connected so that a
        long statement or a lock wait is not cut short (the batch limits bound those)."""
        kwargs.setdefault("pool_pre_ping", True)
        timeouts = {"connect_timeout": connect_timeout_seconds, "read_timeout": connect_timeout_seconds}
        engine = create_engine(url, connect_args=timeouts, **kwargs)

        @event.listens_for(engine, "connect")
        def _lift_read_timeout(dbapi_connection: Any, _record: Any) -> None:
            # PyMySQL applies its _read_timeout to the socket before the next read.
            dbapi_connection._read_timeout = None

        return engine

    @contextlib.contextmanager
    def batch_limits(self, connection: Connection, limits: BatchLimits) -> Iterator[None]:
        # Session variables (MariaDB has no SET LOCAL): set for the block, then back to the
        # server's defaults before the connection returns to the pool. innodb_lock_wait_timeout
        # counts whole seconds.
        connection.exec_driver_sql(
            f"SET SESSION innodb_lock_wait_timeout = {max(1, math.ceil(limits.lock_timeout_seconds))}, "
            f"max_statement_time = {float(limits.statement_timeout_seconds)!r}"
        )
        try:
            yield
        finally:
            try:
                connection.exec_driver_sql(
                    "SET SESSION innodb_lock_wait_timeout = DEFAULT, max_statement_time = DEFAULT"
                )
            except Exception:  # noqa: BLE001 - a dead session: never hand it back with the limits
                connection.invalidate()

    def canonical_time_column(self, column: Any) -> ColumnElement[str]:
        return func.date_format(column, "%Y-%m-%dT%H:%i:%s.%f+00:00")

    def sql_dialect(self) -> Dialect:
        return mysql.dialect(paramstyle="named", is_mariadb=True)

    def arrow_reader(
        self, engine: Engine, *, needs_engine_functions: bool = False
    ) -> tuple[str, ArrowReader] | None:
        from baskets.backends.transports import connectorx_mysql_batches, has_connectorx

        return ("connectorx-mysql", connectorx_mysql_batches) if has_connectorx() else None

    def try_server_lock(self, connection: Connection, name: str) -> ServerLock | None:
        database = connection.scalar(text("SELECT DATABASE()")) or ""
        scoped = {"name": f"{name}:{database}"[:LOCK_NAME_MAX]}
        if connection.scalar(text("SELECT GET_LOCK(:name, 0)"), scoped) != 1:
            return None
        session = connection.scalar(text("SELECT CONNECTION_ID()"))
        held = text("SELECT IS_USED_LOCK(:name) = :session AND CONNECTION_ID() = :session")
        return ServerLock(
            still_held=lambda: connection.scalar(held, {**scoped, "session": session}) == 1,
            release=lambda: bool(connection.scalar(text("SELECT RELEASE_LOCK(:name)"), scoped)),
            where=f"MariaDB lock {scoped['name']!r} of connection {session}",
        )
