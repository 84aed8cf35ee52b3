"""What differs between SQLite, PostgreSQL and MariaDB, behind one interface (`Backend`).

Domain modules ask `backend_for(engine_or_connection)` for the backend and call its methods;
they never look at a dialect's name themselves (tests/backends/test_no_dialect_branches.py).
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.engine import URL, make_url

from baskets.backends.base import Backend, BatchLimits

__all__ = ["Backend", "BatchLimits", "backend_for", "backend_named"]


def backend_for(bind: Engine | Connection | Dialect | URL | str) -> Backend:
    """The backend of an engine, a connection, a dialect or a database URL."""
    if isinstance(bind, Engine | Connection):
        return backend_named(bind.dialect.name)
    if isinstance(bind, Dialect):
        return backend_named(bind.name)
    return backend_named(make_url(bind).get_backend_name())


@functools.cache
def backend_named(name: str) -> Backend:
    """The backend for a SQLAlchemy backend name (`sqlite`, `postgresql`, `mysql`, `mariadb`)."""
    if name == "sqlite":
        from baskets.backends.sqlite import SQLiteBackend

        return SQLiteBackend()
    if name == "postgresql":
        from baskets.backends.postgresql import PostgreSQLBackend

        return PostgreSQLBackend()
    if name in ("mysql", "mariadb"):
        from baskets.backends.mariadb import MariaDBBackend

        return MariaDBBackend()
    raise ValueError(f"unsupported database backend {name!r} (expected sqlite, postgresql or mariadb)")
