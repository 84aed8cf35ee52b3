"""The one-cleanup-at-a-time lock on every database, including a holder killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baskets.db import make_engine
from baskets.errors import CleanupAlreadyRunning
from baskets.locks import cleanup_lock, sqlite_lock_path
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
