"""One retention cleanup at a time per database: locks the OS or the server frees when the holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from baskets.backends import backend_for
from baskets.errors import CleanupAlreadyRunning, CleanupLockLost

LOCK_NAME = "basket-maintenance:retention-cleanup"


@dataclass(frozen=True)
class HeldLock:
    """The cleanup lock while it is held; `check()` before each step that must run under it."""

    # Whether the lock is still ours: False (or an exception) when it is not.
    still_held: Callable[[], bool]
    where: str

    def check(self) -> None:
        """Raise CleanupLockLost unless this process still holds the lock."""
        try:
            held = self.still_held()
        except Exception as error:  # noqa: BLE001 - a dead session fails in the driver's own way
            first = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
            raise CleanupLockLost(f"the cleanup lock was lost ({self.where}: {first}): run stopped") from None
        if not held:
            raise CleanupLockLost(f"the cleanup lock was lost ({self.where} is no longer held): run stopped")


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
def _sqlite_lock(engine: Engine) -> Iterator[HeldLock]:
    path = sqlite_lock_path(engine)
    # A flock lives as long as this process's descriptor: it cannot be lost while the run goes on.
    held = HeldLock(still_held=lambda: True, where=f"lock file {path}")
    if path is None:  # in-memory: only this process can see it
        yield held
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
            yield held
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _server_lock(engine: Engine) -> Iterator[HeldLock]:
    # A dedicated connection in autocommit: the lock belongs to this session, not to a
    # transaction, and the server frees it when the session ends (also when the process dies).
    # The check compares the session id taken with the lock: a Connection whose session died
    # opens a new one when used again, and that one holds nothing.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    released = False
    try:
        lock = backend_for(engine).try_server_lock(connection, LOCK_NAME)
        if lock is None:
            raise _refuse(f"the server's lock {LOCK_NAME!r} is held")
        try:
            yield HeldLock(lock.still_held, lock.where)
        finally:
            released = _released(lock.release)
    finally:
        if not released:
            # Never hand a session that may still hold the lock back to the pool.
            connection.invalidate()
        connection.close()


def _released(release: Callable[[], bool]) -> bool:
    """Release the lock; False, not an exception, when the session is gone (the server freed
    the lock with it) or no longer held it: the run's outcome is decided by then."""
    try:
        return release()
    except Exception:  # noqa: BLE001 - a dead session fails in the driver's own way
        return False


@contextlib.contextmanager
def cleanup_lock(engine: Engine) -> Iterator[HeldLock]:
    """Hold the one-cleanup-at-a-time lock of this database for the `with` block; it gives a
    `HeldLock` whose `check()` raises CleanupLockLost once the lock's session has died.

    Raises CleanupAlreadyRunning (exit 7) at once when another process or connection holds it.
    PostgreSQL: pg_try_advisory_lock; MariaDB: GET_LOCK(name, 0); SQLite: flock on a file beside
    the database file. Each is freed by the server or the kernel when its holder dies. Releasing
    never raises: a lock whose session died is freed already.
    """
    lock = _server_lock(engine) if backend_for(engine).session_locks else _sqlite_lock(engine)
    with lock as held:
        yield held
