"""Retention cleanup steps: Prefect tasks to plan, snapshot and report; the batch delete with retries."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from baskets.db import is_transaction_conflict
from baskets.errors import BasketsError
from baskets.files import FileRules
from baskets.retention import (
    CATEGORIES,
    BatchOutcome,
    CleanupPlan,
    ExpiredBasket,
    PreviousBatch,
    RetentionPolicy,
    RunTally,
    category_report_markdown,
    delete_expired_batch,
    plan_cleanup,
    record_snapshot,
    runs_missing_snapshot,
    snapshot_path,
    write_parquet_snapshot,
)
from baskets.roles import Actor
from flows.runner import create_artifact, run_logger, task

# Clashes with a concurrent transaction retried at once, on top of those.
CONFLICT_RETRIES = 5


@task(name="plan-retention-cleanup")
def plan_retention_cleanup(engine: Engine, policy: RetentionPolicy, now: dt.datetime) -> CleanupPlan:
    """Count the expired baskets per category against all baskets."""
    with engine.connect() as connection:
        plan = plan_cleanup(connection, policy, now)
    run_logger().info(
        "expired at %s: %s (%d of %d baskets, %.1f%%)",
        now.isoformat(),
        ", ".join(f"{name} {count}" for name, count in plan.expired.items()),
        plan.total,
        plan.all_baskets,
        plan.share * 100,
    )
    return plan


def delete_batch_with_retries(
    engine: Engine,
    batch: Sequence[ExpiredBasket],
    *,
    policy: RetentionPolicy,
    now: dt.datetime,
    actor: Actor,
    run_id: int,
    tally: RunTally | PreviousBatch,
    flow_run_id: str | None,
    retry_delays: Sequence[float] = (2.0, 8.0, 30.0),
) -> BatchOutcome | None:
    """Delete one key-ordered batch with its audit rows in one transaction (see
    delete_expired_batch), retrying after each of `retry_delays` (seconds; the setting
    retention.batch_retry_delays_seconds); None when it kept failing.

    `tally` as delete_expired_batch takes it. With a `PreviousBatch` only the first attempt
    overlaps the previous batch; any retry waits for that batch and runs on its own, locking the
    chain head first. A first attempt that only timed out waiting for the previous batch runs
    again at once without using up a retry.

    A clash with a concurrent transaction (a serialization failure: someone changed a basket or
    line of the batch meanwhile; or a deadlock) is retried at once, up to CONFLICT_RETRIES
    times, without using up a delayed retry: the next attempt sees the change.

    A plain function, not a Prefect task: a task run costs tens of milliseconds of API calls,
    as much as the batch itself, and a night's cleanup has a thousand batches.
    """
    logger = run_logger()
    delays = tuple(retry_delays)
    attempt = conflicts = 0
    while True:
        try:
            outcome = delete_expired_batch(
                engine,
                batch,
                policy=policy,
                now=now,
                actor=actor,
                run_id=run_id,
                tally=tally,
                flow_run_id=flow_run_id,
            )
        except BasketsError:  # expected and final, e.g. a broken audit chain: no retry mends it
            raise
        except Exception as error:  # a lock timeout, a deadlock, a lost connection, a constraint
            if callable(tally):
                tally = tally(None)  # raises what the previous batch raised, if it failed
                if isinstance(error, TimeoutError):  # the previous batch took long: not this one's fault
                    logger.info(
                        "batch %s..%s waited too long for the previous batch, running it again",
                        batch[0].basket_id,
                        batch[-1].basket_id,
                    )
                    continue
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


@task(name="write-deleted-snapshot")
def write_deleted_snapshot(
    engine: Engine, first_seq: int | None, last_seq: int | None, path: Path, rules: FileRules | None = None
) -> int:
    """The Parquet snapshot of the baskets one run deleted, from their audit rows; returns rows."""
    rows = write_parquet_snapshot(engine, first_seq, last_seq, path, rules)
    run_logger().info("wrote %d deleted baskets to %s", rows, path)
    return rows


@task(name="catch-up-snapshots")
def catch_up_snapshots(engine: Engine, export_dir: Path, rules: FileRules) -> list[Path]:
    """Write the snapshot of every ended run that deleted baskets without one on record (killed,
    or failed before or while writing it), and record it; returns the paths written."""
    written = []
    for run in runs_missing_snapshot(engine):
        path = snapshot_path(export_dir, engine.url, run.run_id, run.started_at)
        rows = write_parquet_snapshot(engine, run.first_seq, run.last_seq, path, rules)
        record_snapshot(engine, run.run_id, path)
        run_logger().warning(
            "run %d ended without its snapshot: wrote %d deleted baskets to %s", run.run_id, rows, path
        )
        written.append(path)
    return written


@task(name="publish-retention-report")
def publish_retention_report(
    policy: RetentionPolicy, plan: CleanupPlan, tally: RunTally | None, dry_run: bool
) -> None:
    """One markdown artifact per account type and one for empty baskets."""
    for category in CATEGORIES:
        create_artifact(
            "markdown",
            markdown=category_report_markdown(
                category, policy=policy, plan=plan, tally=tally, dry_run=dry_run
            ),
            key=f"retention-cleanup-{category}",
            description=f"retention cleanup: {category} baskets",
        )
