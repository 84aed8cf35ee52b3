"""Engines for the three supported databases and the schema upgrade that `baskets init` runs."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from baskets.backends import BatchLimits, backend_for
from baskets.errors import BasketsError, WorkerMisconfigured

if TYPE_CHECKING:
    from config.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions. Every command checks the database against it, so
# it is a constant rather than a walk of the migration scripts (importing Alembic costs 0.1 s
# on every command); tests/baskets/test_db.py keeps it equal to Alembic's head.
SCHEMA_REVISION = "0008"


def normalise_url(url: str | URL) -> URL:
    """Pick the project's driver for a bare backend name and complete the URL as its backend
    wants it (`Backend.normalise_url`): a relative SQLite path is resolved against the working
    folder (and its folder created), so `sqlite:///var/baskets.db` means the same file for
    every command run from there."""
    parsed = make_url(url)
    return backend_for(parsed).normalise_url(parsed)


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of the file an SQLite URL names (relative to the working folder), or
    None for an in-memory database or another backend. Creates nothing."""
    parsed = make_url(url)
    return backend_for(parsed).database_file(parsed)


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
    parts, identity = backend_for(parsed).database_identity(parsed)
    digest = hashlib.sha256("\0".join(identity).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    readable = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") for part in parts if part)
    return f"{readable[:80]}-{digest}"


# Seconds a server may take to accept a connection and answer its handshake, when the caller
# has no settings to say (Settings.connect_timeout_seconds is the same by default).
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0


def make_engine(
    url: str | URL, *, connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS, **kwargs: Any
) -> Engine:
    """An engine for `url` with its backend's connection set-up (`Backend.make_engine`): a
    server that accepts the connection but never answers fails it (OperationalError) after
    `connect_timeout_seconds`; SQLite has no server and waits up to 30 s for a lock another
    process holds."""
    parsed = normalise_url(url)
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as error:
        raise _missing_driver(parsed, error) from None
    return backend_for(parsed).make_engine(parsed, connect_timeout_seconds, **kwargs)


def engine_for_settings(settings: Settings) -> Engine:
    """An engine for the settings' database, with their connect timeout (see `make_engine`), on the
    schema the settings map (`schema`: the builtin tables or the shop's own, `baskets.schema`;
    on the shop's, the suite's own tables are named under `bookkeeping_prefix`)."""
    from baskets.schema import attach_mapping, load_mapping

    mapping = load_mapping(settings.schema)
    engine = make_engine(settings.database_url, connect_timeout_seconds=settings.connect_timeout_seconds)
    attach_mapping(engine, mapping, settings.bookkeeping_prefix)
    return engine


def _missing_driver(parsed: URL, error: ImportError) -> WorkerMisconfigured:
    backend = backend_for(parsed)
    module = getattr(error, "name", None) or parsed.get_driver_name()
    return WorkerMisconfigured(
        f"database_url: the {backend.name} driver ({module}) is not installed here "
        f"(expected pip install 'basket-maintenance[{backend.driver_extra or backend.name}]')"
    )


@contextlib.contextmanager
def write_transaction(
    engine: Engine, limits: BatchLimits | None = None, *, batch: bool = False
) -> Iterator[Connection]:
    """A transaction that is going to write the audit chain, with the backend's options for it
    (`Backend.write_options`: SQLite takes the write lock up front, PostgreSQL runs REPEATABLE
    READ; MariaDB's InnoDB is REPEATABLE READ already). `limits` bound its lock waits and
    statements where the database can (`Backend.batch_limits`). `batch`: a cleanup batch's, with
    `Backend.batch_options` (its caller calls `Backend.after_batch` once it has ended)."""
    backend = backend_for(engine)
    options = backend.write_options() | (backend.batch_options() if batch else {})
    with (
        engine.connect().execution_options(**options) as connection,
        connection.begin(),
        contextlib.ExitStack() as limited,
    ):
        if limits is not None:
            limited.enter_context(backend.batch_limits(connection, limits))
        yield connection


@contextlib.contextmanager
def snapshot_read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot from start to end, so deletions running
    meanwhile neither skew figures against each other nor look like tampering."""
    options = backend_for(engine).snapshot_options()
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


# What a database says when a batch hit its limits (`Backend.batch_limits`): PostgreSQL's
# lock_not_available and query_canceled (SQLSTATE), MariaDB's lock wait timeout and
# max_statement_time (error numbers; 3024 is MySQL's).
_TIMEOUT_SQLSTATES = {"55P03": "lock wait timeout", "57014": "statement timeout"}
_TIMEOUT_ERRNOS = {1205: "lock wait timeout", 1969: "statement timeout", 3024: "statement timeout"}


def describe_failure(error: BaseException) -> str:
    """Why a transaction failed, in a few words for a run's summary: 'lock wait timeout',
    'statement timeout', or the error's type and the first line of its message."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate in _TIMEOUT_SQLSTATES:
        return _TIMEOUT_SQLSTATES[sqlstate]
    args: tuple[Any, ...] = getattr(original, "args", ())
    if args and args[0] in _TIMEOUT_ERRNOS:
        return _TIMEOUT_ERRNOS[args[0]]
    text = str(original or error).strip()
    return f"{type(original or error).__name__}: {text.splitlines()[0] if text else ''}".strip()


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
    """The revision the database is at (None for a database `baskets init` never touched); on a
    mapped schema, the revision of the suite's own tables (their version table is prefixed too)."""
    from baskets.schema.prefix import VERSION_TABLE, bookkeeping_name

    version_table = bookkeeping_name(engine, VERSION_TABLE)
    with engine.connect() as connection:
        if not inspect(connection).has_table(version_table):
            return None
        quoted = connection.dialect.identifier_preparer.quote(version_table)
        return connection.scalar(text(f"SELECT version_num FROM {quoted}"))


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
