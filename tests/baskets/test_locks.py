"""The one-cleanup-at-a-time lock on every database, including a holder killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from baskets.db import make_engine
from baskets.errors import CleanupAlreadyRunning, CleanupLockLost
from baskets.locks import LOCK_NAME, cleanup_lock, sqlite_lock_path
from tests.conftest import REPO, DatabaseUnderTest

HOLD_LOCK_SCRIPT = """
import sys, time
from baskets.db import make_engine
from baskets.locks import cleanup_lock
with cleanup_lock(make_engine(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_second_cleanup_is_refused_at_once_with_exit_code_7(db: DatabaseUnderTest) -> None:
    other = make_engine(db.url)
    try:
        with cleanup_lock(db.engine):
            started = time.monotonic()
            with pytest.raises(CleanupAlreadyRunning) as refused, cleanup_lock(other):
                pytest.fail("a second cleanup got the lock")
            assert time.monotonic() - started < 5  # refused, not queued behind the first
        assert refused.value.exit_code == 7
        assert "another cleanup is running" in refused.value.message
    finally:
        other.dispose()


def test_lock_is_free_again_after_the_run(db: DatabaseUnderTest) -> None:
    other = make_engine(db.url)
    try:
        with cleanup_lock(db.engine):
            pass
        with cleanup_lock(other):
            pass
        with cleanup_lock(db.engine):
            pass
    finally:
        other.dispose()


def test_lock_is_freed_when_its_run_raises(db: DatabaseUnderTest) -> None:
    with pytest.raises(RuntimeError), cleanup_lock(db.engine):
        raise RuntimeError("batch exploded")
    with cleanup_lock(db.engine):
        pass


def test_lock_of_a_killed_process_frees_itself(db: DatabaseUnderTest) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, db.url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CleanupAlreadyRunning), cleanup_lock(db.engine):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        # The server notices the dropped session within moments; the kernel drops a flock at once.
        deadline = time.monotonic() + 20
        while True:
            try:
                with cleanup_lock(db.engine):
                    break
            except CleanupAlreadyRunning:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_sqlite_lock_file_sits_beside_the_database_file(sqlite_db: DatabaseUnderTest) -> None:
    path = sqlite_lock_path(sqlite_db.engine)
    assert path is not None
    assert path == Path(str(sqlite_db.engine.url.database)).with_name("baskets.db.cleanup-lock")
    with cleanup_lock(sqlite_db.engine):
        assert path.read_text().strip() == str(os.getpid())


def test_in_memory_sqlite_needs_no_lock_file() -> None:
    engine = make_engine("sqlite://")
    assert sqlite_lock_path(engine) is None
    with cleanup_lock(engine):
        pass


def lock_session(database: DatabaseUnderTest) -> int:
    """The server session id (PostgreSQL backend pid, MariaDB connection id) holding this
    database's cleanup lock."""
    with database.engine.connect() as connection:
        if database.backend == "postgresql":
            return int(
                connection.exec_driver_sql(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ).scalar_one()
            )
        name = f"{LOCK_NAME}:{connection.exec_driver_sql('SELECT DATABASE()').scalar_one()}"[:64]
        return int(connection.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar_one())


def kill_session(database: DatabaseUnderTest, session: int) -> None:
    """End a server session as an administrator (or a crashed network) would."""
    with database.engine.connect() as connection:
        if database.backend == "postgresql":  # waits up to 10 s for the backend to be gone
            assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({session}, 10000)").scalar_one()
        else:
            connection.exec_driver_sql(f"KILL CONNECTION {session}")


def test_check_passes_while_the_lock_is_held(db: DatabaseUnderTest) -> None:
    with cleanup_lock(db.engine) as held:
        held.check()
        held.check()


def test_check_fails_once_the_lock_session_is_killed_and_another_run_may_lock(
    server_db: DatabaseUnderTest,
) -> None:
    other = make_engine(server_db.url)
    try:
        with cleanup_lock(server_db.engine) as held:  # leaving it must not raise: the session is gone
            kill_session(server_db, lock_session(server_db))
            with pytest.raises(CleanupLockLost) as lost:
                held.check()
            assert lost.value.exit_code == 1
            assert lost.value.message.startswith("the cleanup lock was lost (")
            assert "\n" not in lost.value.message
            with cleanup_lock(other) as second:  # a second run may start now
                second.check()
            with pytest.raises(CleanupLockLost):  # still lost: a new session would not be the holder
                held.check()
    finally:
        other.dispose()
