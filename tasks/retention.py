"""Retention cleanup steps: Prefect tasks to plan, snapshot and report; the batch delete with retries."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from baskets.backends import BatchLimits
from baskets.db import describe_failure, is_transaction_conflict
from baskets.errors import BasketsError
from baskets.files import FileRules
from baskets.retention import (
    CATEGORIES,
    BatchOutcome,
    CleanupPlan,
    ExpiredBasket,
    RetentionPolicy,
    RunTally,
    category_report_markdown,
    delete_expired_batch,
    plan_cleanup,
    record_skipped_baskets,
    record_snapshot,
    runs_missing_snapshot,
    snapshot_path,
    write_parquet_snapshot,
)
from baskets.roles import Actor
from baskets.wording import plural
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


@dataclass(frozen=True)
class BatchJob:
    """What every batch of one run is deleted with (`delete_batch_isolating_failures`)."""

    engine: Engine
    policy: RetentionPolicy
    now: dt.datetime
    actor: Actor
    run_id: int
    flow_run_id: str | None
    limits: BatchLimits | None
    # Waits before each retry of a failed batch (the setting retention.batch_retry_delays_seconds):
    # the transaction rolled back whole, so running it again cannot delete or audit twice.
    retry_delays: tuple[float, ...]


def delete_batch_isolating_failures(
    job: BatchJob, batch: Sequence[ExpiredBasket], tally: RunTally
) -> RunTally:
    """Delete one key-ordered batch with its audit rows (`delete_batch_with_retries`); returns
    the run's counts after it.

    One failing basket costs one basket: a batch that still fails after its retries is split in
    halves, each tried once and split again while it fails, until the baskets that fail by
    themselves are found. Only those are skipped (with the reason, `describe_failure`) and
    named in the run's summary; the rest of the batch is deleted and audited, in parts. A part
    gets no delayed retries: its batch had them, and a row lock that outlasted them would make
    every part wait its limit again.
    """
    counted = _Counted()
    outcome, error = delete_batch_with_retries(job, batch, tally, counted, job.retry_delays)
    if outcome is not None:
        return outcome.tally
    run_logger().warning(
        "batch %s..%s failed after %d retries (%s): splitting it to find the baskets that fail",
        batch[0].basket_id,
        batch[-1].basket_id,
        len(job.retry_delays),
        describe_failure(error),
    )
    return _split_until_isolated(job, batch, tally, counted, error)


@dataclass
class _Counted:
    """Whether a batch's parts have counted it yet as a batch, and as a failed one."""

    batch: bool = False
    failure: bool = False


def _split_until_isolated(
    job: BatchJob, baskets: Sequence[ExpiredBasket], tally: RunTally, counted: _Counted, error: Exception
) -> RunTally:
    """Skip `baskets` if it is one basket that failed with `error`; else delete each half,
    splitting it again when it fails."""
    if len(baskets) == 1:
        reason = describe_failure(error)
        run_logger().error("basket %s skipped for the next run: %s", baskets[0].basket_id, reason)
        tally = record_skipped_baskets(
            job.engine, baskets, run_id=job.run_id, tally=tally, reason=reason,
            new_batch=not counted.batch, new_failure=not counted.failure,
        )  # fmt: skip
        counted.batch = counted.failure = True
        return tally
    middle = len(baskets) // 2
    for part in (baskets[:middle], baskets[middle:]):
        outcome, failure = delete_batch_with_retries(job, part, tally, counted, ())
        tally = (
            outcome.tally
            if outcome is not None
            else _split_until_isolated(job, part, tally, counted, failure)
        )
    return tally


def delete_batch_with_retries(
    job: BatchJob,
    batch: Sequence[ExpiredBasket],
    tally: RunTally,
    counted: _Counted,
    delays: tuple[float, ...],
) -> tuple[BatchOutcome, None] | tuple[None, Exception]:
    """Delete `batch` in one transaction (`delete_expired_batch`), retrying after each of
    `delays`; (outcome, None), or (None, the last error) when it kept failing.

    A clash with a concurrent transaction (a serialization failure: someone changed a basket or
    line of the batch meanwhile; or a deadlock) is retried at once, up to CONFLICT_RETRIES
    times, without using up a delayed retry: the next attempt sees the change.

    A plain function, not a Prefect task: a task run costs tens of milliseconds of API calls,
    as much as the batch itself, and a night's cleanup has a thousand batches.
    """
    logger = run_logger()
    attempt = conflicts = 0
    where = f"{batch[0].basket_id}..{batch[-1].basket_id}"
    while True:
        try:
            outcome = delete_expired_batch(
                job.engine, batch, policy=job.policy, now=job.now, actor=job.actor, run_id=job.run_id,
                tally=tally, flow_run_id=job.flow_run_id, limits=job.limits, new_batch=not counted.batch,
            )  # fmt: skip
        except BasketsError:  # expected and final, e.g. a broken audit chain: no retry mends it
            raise
        except Exception as error:  # a lock timeout, a deadlock, a lost connection, a constraint
            if is_transaction_conflict(error) and conflicts < CONFLICT_RETRIES:
                conflicts += 1
                logger.info(
                    "batch %s clashed with a concurrent change, running it again: %s",
                    where,
                    _first_line(error),
                )
                continue
            if attempt == len(delays):
                return None, error
            logger.warning(
                "batch %s failed (retry %d of %d in %.0f s): %s",
                where, attempt + 1, len(delays), delays[attempt], _first_line(error),
            )  # fmt: skip
            time.sleep(delays[attempt])
            attempt += 1
            continue
        counted.batch = True
        if outcome.survived or outcome.gone:
            logger.info(
                "batch %s: %d deleted, %d touched since selection (kept), %d already gone",
                where, len(outcome.deleted), len(outcome.survived), len(outcome.gone),
            )  # fmt: skip
        return outcome, None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


@task(name="write-deleted-snapshot")
def write_deleted_snapshot(
    engine: Engine, first_seq: int | None, last_seq: int | None, path: Path, rules: FileRules | None = None
) -> int:
    """The Parquet snapshot of the baskets one run deleted, from their audit rows; returns rows."""
    rows = write_parquet_snapshot(engine, first_seq, last_seq, path, rules)
    run_logger().info("wrote %s to %s", plural(rows, "deleted basket"), path)
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
