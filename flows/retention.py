"""The `retention-cleanup` flow: delete baskets past their retention, each with its audit row."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from baskets.alerts import ping_heartbeat
from baskets.backends import BatchLimits, backend_for
from baskets.db import check_schema
from baskets.errors import BasketsError, CleanupAlreadyRunning
from baskets.files import check_writable_folder
from baskets.locks import HeldLock, cleanup_lock
from baskets.retention import (
    CleanupIncomplete,
    CleanupPlan,
    ExpiredBasket,
    RetentionPolicy,
    RunTally,
    StepTimes,
    check_safety_share,
    finish_cleanup_run,
    record_refused_run,
    selected_ahead,
    snapshot_path,
    snapshot_rules,
    start_cleanup_run,
    walk_expired_batches,
)
from baskets.roles import Actor, authorize_cleanup
from baskets.runtime import current_runtime
from baskets.wording import plural
from config.settings import Settings
from flows.alerting import alert_cleanup_crashed, alert_cleanup_failed
from flows.failures import fails_the_run_on_refusal
from flows.forms import form_time
from flows.results import CleanupDryRunResult, CleanupResult, cleanup_dry_run_result, cleanup_result
from flows.runner import (
    create_artifact,
    current_flow_run_id,
    flow,
    report_progress,
    run_logger,
    update_progress_artifact,
)
from tasks import retention as retention_tasks
from tasks.retention import (
    catch_up_snapshots,
    plan_retention_cleanup,
    publish_retention_report,
    write_deleted_snapshot,
)

FLOW_NAME = "retention-cleanup"
PROGRESS_KEY = "retention-cleanup-progress"
# The progress artifact is updated after a batch at most this often.
PROGRESS_UPDATE_SECONDS = 1.0


@flow(
    name=FLOW_NAME,
    validate_parameters=True,
    on_failure=[alert_cleanup_failed],
    on_crashed=[alert_cleanup_crashed],
)
@fails_the_run_on_refusal
def retention_cleanup(
    now: str = "",
    dry_run: bool = False,
    force: bool = False,
    operator: str = "",
) -> CleanupResult | CleanupDryRunResult:
    """Delete the baskets past their retention (per account type; empty baskets sooner).

    1. Who: a scheduled run (no operator) acts as `retention-policy`; an on-demand run needs a
       system administrator, and so does `force`.
    2. Take this database's one-cleanup lock (exit 7 when another run holds it); record the run.
    3. Count the expired baskets per type; stop before deleting anything when they are more than
       the allowed share of all baskets (exit 5), unless forced.
    4. A dry run reports the counts and stops. Otherwise delete in key-ordered batches, each its
       own transaction with its audit rows and a re-check of expiry; a failing batch is retried
       with backoff, and skipped if it keeps failing while the run goes on.
    5. Snapshot the deleted baskets to Parquet from their audit rows; publish a report per type.
    6. Fail, naming the skipped baskets, when any batch was skipped (the next run picks them up).

    Args:
        now: Act as if it were this time: an ISO date or time, e.g. 2026-11-01T02:30 (UTC
            unless it has an offset). Empty: the current time.
        dry_run: Only count what would be deleted; delete nothing.
        force: Delete even when more than the allowed share of all baskets has expired (a
            system administrator only).
        operator: Your operator name, a system administrator. Empty: the schedule's built-in
            actor retention-policy.
    """
    as_of = form_time(now, "now") or dt.datetime.now(dt.UTC)
    runtime = current_runtime()
    settings = runtime.settings
    # The run's snapshot goes there after the deletes: refuse a folder it cannot write in now.
    check_writable_folder(settings.export_dir, "setting export_dir")
    policy = RetentionPolicy.from_settings(settings.retention)
    engine = runtime.engine
    flow_run_id = current_flow_run_id()
    check_schema(engine)
    actor = _cleanup_actor(engine, operator or None, force)
    with contextlib.ExitStack() as held:
        try:
            lock = held.enter_context(cleanup_lock(engine))
        except CleanupAlreadyRunning as error:
            record_refused_run(
                engine, actor=actor, dry_run=dry_run, as_of=as_of, flow_run_id=flow_run_id, error=error
            )
            raise
        return _run_holding_lock(engine, settings, policy, actor, as_of, dry_run, force, flow_run_id, lock)


def _run_holding_lock(
    engine: Engine,
    settings: Settings,
    policy: RetentionPolicy,
    actor: Actor,
    as_of: dt.datetime,
    dry_run: bool,
    force: bool,
    flow_run_id: str | None,
    lock: HeldLock,
) -> CleanupResult | CleanupDryRunResult:
    """Steps 2 to 6 of `retention_cleanup`, holding the lock. Longer than most functions, on
    purpose: the run's record is opened, kept and closed here around every step, so each way
    the run can end (dry run, safety limit, skipped baskets, success, any error) is visible in
    one place and closes the record exactly once."""
    logger = run_logger()
    run_id, abandoned = start_cleanup_run(
        engine, actor=actor, dry_run=dry_run, as_of=as_of, flow_run_id=flow_run_id
    )
    for run in abandoned:
        logger.warning(
            "cleanup run %d (started %s) never finished: closed as failed", run.run_id, run.started_at
        )
    tally = RunTally()
    plan: CleanupPlan | None = None
    written: Path | None = None  # this run's snapshot, once written
    took = StepTimes()
    # Closes this run's record with the step times as they stand when it is called.
    finish = functools.partial(finish_cleanup_run, engine, run_id, seconds=took.seconds)
    # What every summary of this run says besides its counts (the step times as they stand then).
    about_run: dict[str, Any] = {
        "run_id": run_id, "actor": actor, "flow_run_id": flow_run_id, "seconds": took.seconds,
    }  # fmt: skip
    try:
        with took("planning"):
            plan = plan_retention_cleanup(engine, policy, as_of)
        if dry_run:
            publish_retention_report(policy, plan, None, True)
            privacy = _apply_privacy_retention(engine, settings, as_of, dry_run=True)
            finish(tally, succeeded=True, plan=plan, privacy=privacy)
            return cleanup_dry_run_result(plan, privacy, **about_run)
        check_safety_share(plan, forced=force)
        if plan.over_limit:
            logger.warning("over the safety share (%.1f%%), forced by %s", plan.share * 100, actor.name)
        with took("deleting"):
            job = retention_tasks.BatchJob(
                engine, policy, plan.as_of, actor, run_id, flow_run_id, _batch_limits(settings),
                tuple(settings.retention.batch_retry_delays_seconds),
            )  # fmt: skip
            tally = _delete_in_batches(job, plan, lock)
        path = snapshot_path(settings.export_dir.resolve(), engine.url, run_id, dt.datetime.now(dt.UTC))
        with took("snapshot"):
            rows = _write_snapshots(engine, settings, tally, path)
            written = path
        with took("privacy"):
            privacy = _apply_privacy_retention(engine, settings, as_of, dry_run=False)
        publish_retention_report(policy, plan, tally, False)
        summary = cleanup_result(plan, tally, privacy, snapshot=path, snapshot_rows=rows, **about_run)
        if tally.failed_batches:
            message = summary.incomplete_message()
            finish(
                tally, succeeded=False, plan=plan, error=message, exit_code=1, snapshot=path, privacy=privacy
            )
            raise CleanupIncomplete(message, summary)
        finish(tally, succeeded=True, plan=plan, snapshot=path, privacy=privacy)
        ping = ping_heartbeat(settings.alerts)
        if ping is not None:
            summary.heartbeat = "sent" if ping.delivered else f"failed: {ping.error}"
        logger.info(
            "deleted %s, %s survived because touched, snapshot %s",
            plural(summary.deleted, "basket"),
            f"{summary.survived:,}",
            path,
        )
        return summary
    except CleanupIncomplete:
        raise
    except BaseException as error:
        _record_failure(finish, run_id, error, tally=tally, plan=plan, snapshot=written)
        raise


def _apply_privacy_retention(
    engine: Engine, settings: Settings, as_of: dt.datetime, *, dry_run: bool
) -> dict[str, Any]:
    """Personal data's end dates (docs/privacy.md): redact the audit rows older than
    `privacy.audit_personal_data_days`, remove the suite's files older than
    `privacy.export_keep_days` from export_dir; with `dry_run` only count them. Returns the
    counts and cut-offs, also published as an artifact."""
    from baskets.privacy.file_retention import export_keep_cutoff
    from baskets.privacy.redaction import audit_retention_cutoff
    from tasks.privacy import publish_privacy_report, redact_audit_past_cutoff, remove_old_files

    audit_cutoff = audit_retention_cutoff(as_of, settings.privacy.audit_personal_data_days)
    files_cutoff = export_keep_cutoff(as_of, settings.privacy.export_keep_days)
    privacy = {
        "audit_cutoff": audit_cutoff.isoformat(),
        "audit_rows_redacted": redact_audit_past_cutoff(
            engine, audit_cutoff, settings.retention.batch_size, dry_run
        ),
        "files_cutoff": files_cutoff.isoformat(),
        "files_removed": remove_old_files(settings.export_dir.resolve(), files_cutoff, dry_run),
    }
    publish_privacy_report(privacy, dry_run)
    return privacy


def _write_snapshots(engine: Engine, settings: Settings, tally: RunTally, path: Path) -> int:
    """Write this run's snapshot at `path`, then those of runs killed or failed before it; the
    number of rows in this run's."""
    export_dir = settings.export_dir.resolve()
    rules = snapshot_rules(export_dir, settings.file_mode)
    rows = write_deleted_snapshot(engine, tally.first_seq, tally.last_seq, path, rules)
    catch_up_snapshots(engine, export_dir, rules)
    return rows


def _record_failure(
    finish: Callable[..., None],
    run_id: int,
    error: BaseException,
    *,
    tally: RunTally,
    plan: CleanupPlan | None,
    snapshot: Path | None,
) -> None:
    """Close the run's record as failed with `error`'s first line (`finish`: its
    `finish_cleanup_run`); a failure to record it is logged, not raised over the run's own."""
    message = error.message if isinstance(error, BasketsError) else f"{type(error).__name__}: {error}"
    try:
        finish(
            tally,
            succeeded=False,
            plan=plan,
            error=message.splitlines()[0] if message else type(error).__name__,
            exit_code=getattr(error, "exit_code", 1),
            snapshot=snapshot,
        )
    except Exception as unrecorded:  # noqa: BLE001 - the run's own failure is the one to report
        # The record stays `running`; the next run closes it as failed (`start_cleanup_run`).
        run_logger().error("could not record run %d as failed: %s", run_id, unrecorded)


def _batch_limits(settings: Settings) -> BatchLimits:
    return BatchLimits(settings.cleanup.lock_timeout_seconds, settings.cleanup.statement_timeout_seconds)


def _delete_in_batches(job: retention_tasks.BatchJob, plan: CleanupPlan, lock: HeldLock) -> RunTally:
    """Delete the expired baskets batch after batch (each one committed before the next),
    reporting progress to the progress artifact and this process's listeners."""
    progress = create_artifact(
        "progress",
        progress=0.0,
        key=PROGRESS_KEY,
        description=f"retention cleanup as of {plan.as_of:%Y-%m-%d %H:%M} UTC",
    )
    tally = RunTally()
    done = 0
    next_update = time.monotonic() + PROGRESS_UPDATE_SECONDS
    with _old_objects_frozen(), _finishing_batches(job.engine):
        batches = _while_locked(
            lock, selected_ahead(walk_expired_batches(job.engine, job.policy, plan.as_of))
        )
        for batch in batches:
            tally = retention_tasks.delete_batch_isolating_failures(job, batch, tally)
            done += len(batch)
            expected = max(plan.total, done)
            if time.monotonic() >= next_update:  # one API call per batch would cost more than some batches
                update_progress_artifact(progress, progress=100.0 * done / expected)
                next_update = time.monotonic() + PROGRESS_UPDATE_SECONDS
            report_progress(done, expected)
    update_progress_artifact(progress, progress=100.0)
    return tally


@contextlib.contextmanager
def _finishing_batches(engine: Engine) -> Iterator[None]:
    """Once the batches are done, or one failed: wait for what they left running
    (`Backend.after_batches`; SQLite: the last batch's checkpoint). After a failure, the
    failure is what the run reports, not an error of that leftover work."""
    backend = backend_for(engine)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            backend.after_batches(engine)
        raise
    backend.after_batches(engine)


def _while_locked(lock: HeldLock, batches: Iterator[list[ExpiredBasket]]) -> Iterator[list[ExpiredBasket]]:
    """`batches`, each handed on only after checking this run still holds the cleanup lock: a run
    whose lock session died stops before its next batch (CleanupLockLost) rather than go on
    beside a second run that took the lock."""
    for batch in batches:
        lock.check()
        yield batch


@contextlib.contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Leave the objects that exist now out of the garbage collector's collections while the
    block runs (`gc.freeze`), collect young objects less often, and restore both afterwards.

    Measured with `gc.callbacks` over a flow at 300,000 baskets: 1.26 s of collections in the
    batch loop, most of it in full collections that walked everything Prefect and the libraries
    had loaded (about 250 ms each), the rest in 830 young ones; 0.04 s this way. A batch's
    objects go by reference counting (they hold no cycles), so collecting young objects every
    20,000 allocations holds little garbage. Nothing frozen is lost: what became garbage
    meanwhile goes at a later full collection. Both settings are the process's, so two runs in
    one process would share them (harmless: the first to end restores them).
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_YOUNG_OBJECTS_COLLECTED, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


# Net allocations of tracked objects between young collections while batches run (Python's: 700).
_YOUNG_OBJECTS_COLLECTED = 20_000


def _cleanup_actor(engine: Engine, operator: str | None, force: bool) -> Actor:
    """The actor of this run; NotPermitted (exit 3) for a wrong operator or an unpermitted force."""
    with engine.connect() as connection:
        return authorize_cleanup(connection, operator, force)
