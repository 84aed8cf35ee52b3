"""One retention cleanup at a time per database: locks the OS or the server frees when the holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from baskets.errors import CleanupAlreadyRunning

LOCK_NAME = "basket-maintenance:retention-cleanup"
# pg_try_advisory_lock takes a signed 64-bit key; derive it from the name so it is stable.
POSTGRESQL_LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
# MariaDB's GET_LOCK names are server-wide and at most 64 characters: scope them to the database.
MARIADB_LOCK_NAME_MAX = 64


def _refuse(where: str) -> CleanupAlreadyRunning:
    return CleanupAlreadyRunning(
        f"another cleanup is running on this database ({where}); wait for it to finish "
        "(`baskets status` shows the last run)"
    )


def sqlite_lock_path(engine: Engine) -> Path | None:
    """The lock file beside an SQLite database file; None for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".cleanup-lock")


@contextlib.contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    path = sqlite_lock_path(engine)
    if path is None:  # in-memory: only this process can see it
        yield
        return
    # flock, not fcntl record locks: two opens in one process conflict too, and the kernel
    # drops the lock when the process dies, however it dies.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(f"lock file {path} is held") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _mariadb_lock_name(connection: Connection) -> str:
    database = connection.scalar(text("SELECT DATABASE()")) or ""
    return f"{LOCK_NAME}:{database}"[:MARIADB_LOCK_NAME_MAX]


@contextlib.contextmanager
def _server_lock(engine: Engine) -> Iterator[None]:
    # A dedicated connection in autocommit: the lock belongs to this session, not to a
    # transaction, and the server frees it when the session ends (also when the process dies).
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    released = False
    try:
        if engine.dialect.name == "postgresql":
            key = {"key": POSTGRESQL_LOCK_KEY}
            if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
                raise _refuse("PostgreSQL advisory lock is held")
            try:
                yield
            finally:
                released = bool(connection.scalar(text("SELECT pg_advisory_unlock(:key)"), key))
        else:
            name = {"name": _mariadb_lock_name(connection)}
            if connection.scalar(text("SELECT GET_LOCK(:name, 0)"), name) != 1:
                raise _refuse(f"MariaDB lock {name['name']!r} is held")
            try:
                yield
            finally:
                released = connection.scalar(text("SELECT RELEASE_LOCK(:name)"), name) == 1
    finally:
        if not released:
            # Never hand a session that may still hold the lock back to the pool.
            connection.invalidate()
        connection.close()


@contextlib.contextmanager
def cleanup_lock(engine: Engine) -> Iterator[None]:
    """Hold the one-cleanup-at-a-time lock of this database for the `with` block.

    Raises CleanupAlreadyRunning (exit 7) at once when another process or connection holds it.
    PostgreSQL: pg_try_advisory_lock; MariaDB: GET_LOCK(name, 0); SQLite: flock on a file beside
    the database file. Each is freed by the server or the kernel when its holder dies.
    """
    lock = _sqlite_lock(engine) if engine.dialect.name == "sqlite" else _server_lock(engine)
    with lock:
        yield
