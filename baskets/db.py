"""Engines for the three supported databases and the schema upgrade that `baskets init` runs."""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from baskets.errors import BasketsError, WorkerMisconfigured

if TYPE_CHECKING:
    from config.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions. Every command checks the database against it, so
# it is a constant rather than a walk of the migration scripts (importing Alembic costs 0.1 s
# on every command); tests/baskets/test_db.py keeps it equal to Alembic's head.
SCHEMA_REVISION = "0006"

# The driver each backend gets when the URL names none.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mariadb+pymysql",
    "mariadb": "mariadb+pymysql",
}


def normalise_url(url: str | URL) -> URL:
    """Pick the project's driver for a bare backend name and anchor relative SQLite paths.

    A relative SQLite path is resolved against the working folder (and its folder created),
    so `sqlite:///var/baskets.db` means the same file for every command run from there.
    """
    parsed = make_url(url)
    if "+" not in parsed.drivername and parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=_DEFAULT_DRIVERS[parsed.drivername])
    backend = parsed.get_backend_name()
    path = sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of the file an SQLite URL names (relative to the working folder), or
    None for an in-memory database or another backend. Creates nothing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().resolve()


def database_key(url: str | URL) -> str:
    """A folder name for the database `url` names, the same for every URL of that database and
    free of secrets: backend, host, port and database name (for SQLite the file's name),
    sanitised to letters, digits, `.`, `_` and `-`, then 8 hex digits of SHA-256 over the same
    parts (for SQLite the file's absolute path), so two databases that read alike (one file name
    in two folders) still differ. User, password, driver and query are left out: the same
    database reached as another user or with other options is still the same database.
    E.g. `postgresql-db.example.com-5432-shop-1a2b3c4d`, `sqlite-baskets.db-5e6f7a8b`.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "mysql":
        backend = "mariadb"  # one server family, whichever name the URL uses
    path = sqlite_file(parsed)
    if backend == "sqlite":
        parts = ["sqlite", path.name if path else "memory"]
        identity = ["sqlite", str(path) if path else ":memory:"]
    else:
        parts = [backend, parsed.host or "localhost", str(parsed.port or ""), parsed.database or ""]
        identity = parts
    digest = hashlib.sha256("\0".join(identity).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    readable = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") for part in parts if part)
    return f"{readable[:80]}-{digest}"


def _sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Seconds a server may take to accept a connection and answer its handshake, when the caller
# has no settings to say (Settings.connect_timeout_seconds is the same by default).
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0


def make_engine(
    url: str | URL, *, connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS, **kwargs: Any
) -> Engine:
    """An engine for `url` with the project's per-backend set-up.

    SQLite gets WAL, foreign keys (ON DELETE CASCADE needs them), a busy timeout and a
    Unicode-aware lower() (its built-in one folds ASCII only, so 'ZOË' would miss 'zoë').
    Transactions that write the audit chain begin IMMEDIATE on SQLite (see `write_transaction`).
    A server that accepts the connection but never answers fails it (OperationalError) after
    `connect_timeout_seconds` (PostgreSQL rounds it up to whole seconds, at least 2); SQLite has
    no server and waits up to 30 s for a lock another process holds.
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as error:
        raise _missing_driver(parsed, error) from None
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event, not the driver, open transactions.
            dbapi_connection.isolation_level = None
            dbapi_connection.create_function("lower", 1, _sqlite_lower, deterministic=True)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("immediate", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if backend == "postgresql":
        # libpq's connect_timeout covers the TCP connect and the start-up exchange alike.
        return create_engine(
            parsed, connect_args={"connect_timeout": math.ceil(connect_timeout_seconds)}, **kwargs
        )
    # PyMySQL's connect_timeout covers the TCP connect only; its read timeout bounds the wait for
    # the server's greeting and the log-in, and is lifted once connected (below) so that a long
    # statement or a lock wait is not cut short.
    timeouts = {"connect_timeout": connect_timeout_seconds, "read_timeout": connect_timeout_seconds}
    engine = create_engine(parsed, connect_args=timeouts, **kwargs)

    @event.listens_for(engine, "connect")
    def _lift_read_timeout(dbapi_connection: Any, _record: Any) -> None:
        # PyMySQL applies its _read_timeout to the socket before the next read.
        dbapi_connection._read_timeout = None

    return engine


def engine_for_settings(settings: Settings) -> Engine:
    """An engine for the settings' database, with their connect timeout (see `make_engine`)."""
    return make_engine(settings.database_url, connect_timeout_seconds=settings.connect_timeout_seconds)


# The optional dependencies (`pip install 'basket-maintenance[EXTRA]'`) that bring each backend's driver.
_DRIVER_EXTRAS = {"postgresql": "postgres", "mysql": "mariadb", "mariadb": "mariadb"}


def _missing_driver(parsed: URL, error: ImportError) -> WorkerMisconfigured:
    backend = parsed.get_backend_name()
    extra = _DRIVER_EXTRAS.get(backend, backend)
    module = getattr(error, "name", None) or parsed.get_driver_name()
    return WorkerMisconfigured(
        f"database_url: the {backend} driver ({module}) is not installed here "
        f"(expected pip install 'basket-maintenance[{extra}]')"
    )


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that is going to write the audit chain.

    On SQLite it takes the write lock up front: taking it at BEGIN rather than at the first
    write avoids SQLite's deadlock-on-upgrade (SQLITE_BUSY that no timeout resolves) when two
    writers read before they write. On PostgreSQL it is REPEATABLE READ, which the one-statement
    delete (`baskets.deletion`) needs: a change by another transaction since this one's snapshot
    to a row it deletes fails with a serialization error (`is_transaction_conflict`) rather
    than going unseen; run the transaction again then. MariaDB's InnoDB is REPEATABLE READ
    already.
    """
    options: dict[str, Any] = {"immediate": True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


# Errors after which a transaction rolled back whole and may simply run again: PostgreSQL's
# serialization failure and deadlock (SQLSTATE), MariaDB's deadlock (error number).
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
_CONFLICT_ERRNOS = frozenset({1213})


def is_transaction_conflict(error: BaseException) -> bool:
    """Whether `error` is a clash with a concurrent transaction: a serialization failure or a
    deadlock, after which the database rolled the transaction back."""
    original = getattr(error, "orig", None)
    if getattr(original, "sqlstate", None) in _CONFLICT_SQLSTATES:
        return True
    args: tuple[Any, ...] = getattr(original, "args", ())
    return bool(args) and args[0] in _CONFLICT_ERRNOS


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_database(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest migration; safe to run again.

    Returns (revision before, revision after). Raises BasketsError when the database
    cannot be reached.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(_alembic_config(connection), "head")
            after = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as error:
        raise BasketsError(f"cannot reach the database: {_first_line(error)}") from None
    return before, after or ""


def head_revision() -> str:
    """The newest revision among the shipped migration scripts, as Alembic sees it."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a database `baskets init` never touched)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def check_schema(engine: Engine) -> None:
    """Raise BasketsError (telling to run `baskets init`) unless the schema is at SCHEMA_REVISION."""
    try:
        current = current_revision(engine)
    except (OperationalError, ProgrammingError) as error:
        raise BasketsError(f"cannot reach the database: {_first_line(error)}") from None
    if current != SCHEMA_REVISION:
        raise BasketsError(
            f"the database schema is at {current or 'nothing'}, not {SCHEMA_REVISION}: "
            "run `baskets init` first"
        )


def _first_line(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0]
