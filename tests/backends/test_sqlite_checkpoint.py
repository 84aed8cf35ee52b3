"""SQLite: a cleanup batch's commit leaves the WAL checkpoint to `after_batch`, which keeps the
WAL to at most two batches and never waits for a reader."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading

import pytest
from sqlalchemy import Engine, func, select

from baskets.backends import backend_for, sqlite
from baskets.db import write_transaction
from baskets.models import Basket, BasketAudit
from baskets.retention import (
    RetentionPolicy,
    RunTally,
    delete_expired_batch,
    selected_ahead,
    start_cleanup_run,
    walk_expired_batches,
)
from baskets.roles import RETENTION_ACTOR, RETENTION_ROLE, Actor
from tests.conftest import NOW, DatabaseUnderTest, seed

ACTOR = Actor(RETENTION_ACTOR, RETENTION_ROLE)
AS_OF = NOW + dt.timedelta(days=3 * 365)  # every seeded basket is past retention
POLICY = RetentionPolicy(days={"anonymous": 30, "contact": 90, "customer": 180}, batch_size=100)


def checkpoint(db: DatabaseUnderTest, mode: str = "PASSIVE") -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames copied into the database file) after a checkpoint."""
    with db.engine.connect() as connection:
        return tuple(connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one())  # type: ignore[return-value]


def wal_bytes(db: DatabaseUnderTest) -> int:
    return os.path.getsize(f"{db.engine.url.database}-wal")


def clean_up(db: DatabaseUnderTest, after_each: object = None) -> list[int]:
    """Delete every expired basket in batches, each next one selected ahead as the flow does;
    the WAL's size in bytes after each batch."""
    run_id, _ = start_cleanup_run(db.engine, actor=ACTOR, dry_run=False, as_of=AS_OF, flow_run_id=None)
    tally, sizes = RunTally(), []
    for batch in selected_ahead(walk_expired_batches(db.engine, POLICY, AS_OF)):
        tally = delete_expired_batch(
            db.engine, batch, policy=POLICY, now=AS_OF, actor=ACTOR, run_id=run_id, tally=tally
        ).tally
        sizes.append(wal_bytes(db))
    backend_for(db.engine).after_batches(db.engine)
    return sizes


def test_a_batch_transaction_commits_without_checkpointing_and_others_still_do(
    sqlite_db: DatabaseUnderTest,
) -> None:
    setting = "PRAGMA wal_autocheckpoint"
    for batch in (True, False, True, False):  # one pooled connection: no setting carries over
        with write_transaction(sqlite_db.engine, batch=batch) as connection:
            assert connection.exec_driver_sql(setting).scalar() == (0 if batch else 1000)
    with sqlite_db.engine.connect() as connection:
        assert connection.exec_driver_sql(setting).scalar() == 1000


def test_a_cleanup_keeps_the_wal_to_at_most_two_batches(sqlite_db: DatabaseUnderTest) -> None:
    seed(sqlite_db, 3000, 5)
    checkpoint(sqlite_db, "TRUNCATE")
    sizes = clean_up(sqlite_db)
    assert len(sizes) == 30
    # The WAL starts again from its beginning after every second batch at the latest, so its
    # file stays the size of two batches; without the checkpoints it would grow by every batch.
    assert max(sizes) <= 3 * sizes[0]
    busy, frames, copied = checkpoint(sqlite_db)
    assert busy == 0 and frames == copied  # nothing left behind
    assert sqlite_db.scalar("SELECT count(*) FROM baskets") == 0


def test_every_second_checkpoint_runs_in_the_background_and_the_next_batch_waits_for_it(
    sqlite_db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release, seen = threading.Event(), threading.Event(), []
    checkpoint_here = sqlite._checkpoint

    def slow_checkpoint(engine: Engine) -> None:
        seen.append(threading.current_thread().name)
        if len(seen) == 1:
            started.set()
            assert release.wait(10)
        checkpoint_here(engine)

    monkeypatch.setattr(sqlite, "_checkpoint", slow_checkpoint)
    backend = backend_for(sqlite_db.engine)
    backend.after_batch(sqlite_db.engine)  # returns while its checkpoint still runs
    assert started.wait(10)
    waiting = threading.Thread(target=backend.after_batch, args=(sqlite_db.engine,))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # the next batch's waits for the one still running
    release.set()
    waiting.join(10)
    assert not waiting.is_alive()
    assert [name.startswith("sqlite-checkpoint") for name in seen] == [True, False]
    backend.after_batches(sqlite_db.engine)  # nothing left running: returns at once


def test_a_background_checkpoints_error_is_raised_by_the_next_batchs(
    sqlite_db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "_checkpoint", _failing_checkpoint)
    backend = backend_for(sqlite_db.engine)
    backend.after_batch(sqlite_db.engine)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        backend.after_batches(sqlite_db.engine)
    backend.after_batch(sqlite_db.engine)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        backend.after_batch(sqlite_db.engine)
    backend.after_batches(sqlite_db.engine)  # the error was raised once: nothing left


def test_a_reader_holding_its_snapshot_throughout_neither_stalls_nor_fails_the_cleanup(
    sqlite_db: DatabaseUnderTest,
) -> None:
    seed(sqlite_db, 1000, 6)
    with sqlite_db.engine.connect() as reader:  # as another process's long report would
        seen = reader.scalar(select(func.count()).select_from(Basket))
        sizes = clean_up(sqlite_db)
        assert reader.scalar(select(func.count()).select_from(Basket)) == seen == 1000  # its snapshot
        busy, frames, copied = checkpoint(sqlite_db)
        assert busy == 0 and copied < frames  # the reader still needs the run's pages in the WAL
    assert len(sizes) == 10
    backend_for(sqlite_db.engine).after_batch(sqlite_db.engine)  # the next batches', once they have ended
    backend_for(sqlite_db.engine).after_batch(sqlite_db.engine)
    busy, frames, copied = checkpoint(sqlite_db)
    assert busy == 0 and frames == copied
    assert sqlite_db.scalar("SELECT count(*) FROM baskets") == 0
    with sqlite_db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(BasketAudit)) == 1000


def test_the_batch_loop_waits_for_the_last_checkpoint_and_reports_its_own_failure_first(
    sqlite_db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.retention import _finishing_batches

    monkeypatch.setattr(sqlite, "_checkpoint", _failing_checkpoint)
    backend = backend_for(sqlite_db.engine)
    backend.after_batch(sqlite_db.engine)  # the last batch's checkpoint, failing in the background
    with pytest.raises(RuntimeError, match="the batch failed"), _finishing_batches(sqlite_db.engine):
        raise RuntimeError("the batch failed")
    backend.after_batch(sqlite_db.engine)
    with (
        pytest.raises(sqlite3.OperationalError, match="disk I/O error"),
        _finishing_batches(sqlite_db.engine),
    ):
        pass
    backend.after_batches(sqlite_db.engine)  # both were waited for: nothing left


def _failing_checkpoint(engine: Engine) -> None:
    raise sqlite3.OperationalError("disk I/O error")
