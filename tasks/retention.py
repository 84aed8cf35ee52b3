"""Retention cleanup steps: Prefect tasks to plan, snapshot and report; the batch delete with retries."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from baskets.db import is_transaction_conflict
from baskets.retention import (
    CATEGORIES,
    BatchOutcome,
    CleanupPlan,
    DeletedSnapshot,
    ExpiredBasket,
    RetentionPolicy,
    RunTally,
    TakenBatch,
    abandon_taken_batch,
    category_report_markdown,
    finish_expired_batch,
    plan_cleanup,
    record_failed_batch,
    take_expired_batch,
)
from baskets.roles import Actor

# Waits before each retry of a failed batch (a lock timeout, a deadlock, a constraint error):
# the transaction rolled back whole, so running it again cannot delete or audit twice.
BATCH_RETRY_DELAYS: tuple[float, ...] = (2.0, 8.0, 30.0)
# Clashes with a concurrent transaction retried at once, on top of those.
CONFLICT_RETRIES = 5
# How often Python may switch threads while batches overlap (see _thread_switches_every).
GIL_SWITCH_SECONDS = 0.0005


@task(name="plan-retention-cleanup", cache_policy=NO_CACHE)
def plan_retention_cleanup(engine: Engine, policy: RetentionPolicy, now: dt.datetime) -> CleanupPlan:
    """Count the expired baskets per category against all baskets."""
    with engine.connect() as connection:
        plan = plan_cleanup(connection, policy, now)
    get_run_logger().info(
        "expired at %s: %s (%d of %d baskets, %.1f%%)",
        now.isoformat(),
        ", ".join(f"{name} {count}" for name, count in plan.expired.items()),
        plan.total,
        plan.all_baskets,
        plan.share * 100,
    )
    return plan


def delete_batches(
    engine: Engine,
    batches: Iterable[list[ExpiredBasket]],
    *,
    policy: RetentionPolicy,
    now: dt.datetime,
    actor: Actor,
    run_id: int,
    flow_run_id: str | None,
) -> Iterator[tuple[list[ExpiredBasket], RunTally]]:
    """Delete `batches` in order, each with its audit rows in a transaction of its own
    (`delete_batch_with_retries`); yield each with the run's counts after it. A batch that
    keeps failing is recorded as skipped (`record_failed_batch`) and the walk goes on.

    On PostgreSQL two batches overlap: while batch n writes its audit rows and commits, the
    statement of batch n + 1 deletes its baskets in a second transaction, in a worker thread
    (`TakeAhead`). The chain head, which orders the audit rows, is locked after that statement
    (`take_baskets`), so batch n + 1 waits for it only once batch n is ready to commit. Never
    more than two batch transactions are open. Elsewhere one batch after another.
    """
    tally = RunTally()
    common: dict[str, Any] = {
        "policy": policy, "now": now, "actor": actor, "run_id": run_id, "flow_run_id": flow_run_id
    }  # fmt: skip
    overlap = engine.dialect.name == "postgresql"
    walk = iter(batches)
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="take-next-batch") as worker,
        _thread_switches_every(GIL_SWITCH_SECONDS if overlap else None),
    ):
        batch = next(walk, None)
        ahead = TakeAhead(worker, engine, batch, policy, now)
        if overlap:
            ahead.start()
        try:
            while batch is not None:
                following = next(walk, None)
                current, ahead = ahead, TakeAhead(worker, engine, following, policy, now)
                outcome = delete_batch_with_retries(
                    engine, batch, tally=tally, taken_ahead=current, ahead=ahead if overlap else None,
                    **common,
                )  # fmt: skip
                if overlap:
                    ahead.start()  # if a retry of this batch stopped it
                if outcome is None:
                    tally = record_failed_batch(engine, batch, run_id=run_id, tally=tally)
                else:
                    tally = outcome.tally
                yield batch, tally
                batch = following
        finally:
            ahead.abandon()


@contextlib.contextmanager
def _thread_switches_every(seconds: float | None) -> Iterator[None]:
    """Let Python switch threads every `seconds` (None: leave it) until the block ends.

    The worker taking the next batch spends its time waiting for the database; each time an
    answer arrives it needs the interpreter, which this thread, building and hashing audit
    rows, otherwise hands over only every 5 ms: several waits of up to 5 ms per batch."""
    previous = sys.getswitchinterval()
    if seconds is not None:
        sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class TakeAhead:
    """A batch's first half (`take_expired_batch`) started in a worker thread, so that its
    statement runs while the batch before it is audited; `take` gives what it took."""

    def __init__(
        self,
        worker: ThreadPoolExecutor,
        engine: Engine,
        batch: list[ExpiredBasket] | None,
        policy: RetentionPolicy,
        now: dt.datetime,
    ) -> None:
        self._worker, self._engine, self._batch, self._policy, self._now = worker, engine, batch, policy, now
        self._future: Future[TakenBatch] | None = None

    def start(self) -> None:
        """Begin taking the batch in the worker, unless it is begun, or there is no batch."""
        if self._future is None and self._batch is not None:
            # Looked up at call time, like delete_batch_with_retries does (tests replace it).
            self._future = self._worker.submit(
                take_expired_batch, self._engine, self._batch, policy=self._policy, now=self._now
            )

    def take(self) -> TakenBatch | None:
        """What the started take took (raising what it raised), once; None if not started."""
        future, self._future = self._future, None
        return None if future is None else future.result()

    def abandon(self) -> None:
        """Roll back what a started take took (after waiting for its statement)."""
        future, self._future = self._future, None
        if future is not None and future.exception() is None:
            abandon_taken_batch(future.result().connection)


def delete_batch_with_retries(
    engine: Engine,
    batch: Sequence[ExpiredBasket],
    *,
    policy: RetentionPolicy,
    now: dt.datetime,
    actor: Actor,
    run_id: int,
    tally: RunTally,
    flow_run_id: str | None,
    taken_ahead: TakeAhead | None = None,
    ahead: TakeAhead | None = None,
) -> BatchOutcome | None:
    """Delete one key-ordered batch with its audit rows in one transaction (see
    delete_expired_batch), retrying after each of BATCH_RETRY_DELAYS; None when it kept failing.

    The first attempt uses what `taken_ahead` took, if it was started. Once an attempt has taken
    the batch's baskets, `ahead` (the next batch) is started; when an attempt fails, `ahead` is
    rolled back, so nothing else is held open while this batch waits for its retry.

    A clash with a concurrent transaction (a serialization failure: someone changed a basket or
    line of the batch meanwhile; or a deadlock) is retried at once, up to CONFLICT_RETRIES
    times, without using up a delayed retry: the next attempt sees the change.

    A plain function, not a Prefect task: a task run costs tens of milliseconds of API calls,
    as much as the batch itself, and a night's cleanup has a thousand batches.
    """
    logger = get_run_logger()
    delays = tuple(BATCH_RETRY_DELAYS)  # read at call time (tests shorten them)
    attempt = conflicts = 0
    while True:
        taken: TakenBatch | None = None
        try:
            taken = taken_ahead.take() if taken_ahead is not None else None
            taken_ahead = None
            if taken is None:
                taken = take_expired_batch(engine, batch, policy=policy, now=now)
            if ahead is not None:
                ahead.start()
            finishing, taken = taken, None  # finish_expired_batch ends the transaction either way
            outcome = finish_expired_batch(
                finishing, actor=actor, run_id=run_id, tally=tally, flow_run_id=flow_run_id
            )
        except Exception as error:  # a lock timeout, a deadlock, a lost connection, a constraint
            if taken is not None:
                abandon_taken_batch(taken.connection)
            if ahead is not None:
                ahead.abandon()
            if is_transaction_conflict(error) and conflicts < CONFLICT_RETRIES:
                conflicts += 1
                logger.info(
                    "batch %s..%s clashed with a concurrent change, running it again: %s",
                    batch[0].basket_id,
                    batch[-1].basket_id,
                    _first_line(error),
                )
                continue
            if attempt == len(delays):
                logger.error(
                    "batch %s..%s failed after %d retries, skipped for the next run: %s",
                    batch[0].basket_id,
                    batch[-1].basket_id,
                    len(delays),
                    _first_line(error),
                )
                return None
            logger.warning(
                "batch %s..%s failed (retry %d of %d in %.0f s): %s",
                batch[0].basket_id,
                batch[-1].basket_id,
                attempt + 1,
                len(delays),
                delays[attempt],
                _first_line(error),
            )
            time.sleep(delays[attempt])
            attempt += 1
            continue
        if outcome.survived or outcome.gone:
            logger.info(
                "batch %s..%s: %d deleted, %d touched since selection (kept), %d already gone",
                batch[0].basket_id,
                batch[-1].basket_id,
                len(outcome.deleted),
                len(outcome.survived),
                len(outcome.gone),
            )
        return outcome


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


@task(name="write-deleted-snapshot", cache_policy=NO_CACHE)
def write_deleted_snapshot(snapshot: DeletedSnapshot) -> int:
    """Complete the Parquet snapshot of the baskets one run deleted, from their audit rows (most
    of it read while the run went on); returns rows."""
    rows = snapshot.finish()
    get_run_logger().info("wrote %d deleted baskets to %s", rows, snapshot.path)
    return rows


@task(name="publish-retention-report", cache_policy=NO_CACHE)
def publish_retention_report(
    policy: RetentionPolicy, plan: CleanupPlan, tally: RunTally | None, dry_run: bool
) -> None:
    """One markdown artifact per account type and one for empty baskets."""
    for category in CATEGORIES:
        create_markdown_artifact(
            markdown=category_report_markdown(
                category, policy=policy, plan=plan, tally=tally, dry_run=dry_run
            ),
            key=f"retention-cleanup-{category}",
            description=f"retention cleanup: {category} baskets",
        )
