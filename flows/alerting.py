"""Alerts from Prefect: hooks for a failed or crashed retention-cleanup, and the cleanup-watchdog flow."""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from baskets.alerts import Alert, deliver_alert
from baskets.errors import BadInput, CleanupAlreadyRunning, NotPermitted, WorkerMisconfigured
from baskets.runtime import current_runtime
from baskets.status import (
    CLEANUP_FLOW,
    WATCHDOG_FLOW,
    check_health,
    cleanup_run_for_flow_run,
    stale_alert_due,
    stale_alert_record,
    stale_success_alert,
)
from config.settings import Settings
from config.urls import display_url, hide_url_secrets
from flows.failures import fails_the_run_on_refusal
from flows.forms import form_time
from flows.run_alerts import RunEnd, log_deliveries, send_run_alert, state_hook
from flows.runner import create_artifact, current_flow_run_id, flow, run_logger

# Prefect is imported where it is used: a direct or recorded run (flows.runner) imports this
# module for the cleanup's hooks, and must not load Prefect.

# What of a cleanup run's recorded detail an alert repeats: why, and which baskets wait.
_RUN_DETAILS = ("error", "batches", "failed_batches", "skipped_basket_ids", "snapshot")


def cleanup_failure_alert(end: RunEnd) -> None:
    """On failure of retention-cleanup: tell the configured recipients, never raise.

    A run refused for what its caller gave (run-form values that fail validation, an operator
    who may not run it) is the caller's to see and pages nobody; a schedule whose parameters
    were wrong would never succeed, and the watchdog alerts on that. A run refused because
    another cleanup holds the lock (exit 7) is no failure: the other run goes on. Everything
    else alerts, bad settings on a worker included."""
    if _refused_for_its_caller(end.error):
        return
    send_run_alert("run-failed", end, enrich=_with_cleanup_record(end.flow_run_id))


def _refused_for_its_caller(error: BaseException | None) -> bool:
    # BadInput naming a form field (not a setting, not the worker): a value typed into the run form.
    typed = isinstance(error, BadInput) and error.field is not None
    typed = typed and not isinstance(error, WorkerMisconfigured)
    return typed or isinstance(error, NotPermitted | CleanupAlreadyRunning) or _parameter_type_error(error)


def _parameter_type_error(error: BaseException | None) -> bool:
    """Prefect's refusal of a parameter's type; only Prefect's engine raises it, so a process that
    has not loaded Prefect has none to check for."""
    exceptions = sys.modules.get("prefect.exceptions")
    return exceptions is not None and isinstance(error, exceptions.ParameterTypeError)


def cleanup_crash_alert(end: RunEnd) -> None:
    """On a crash of retention-cleanup (the process was interrupted or its infrastructure died)."""
    send_run_alert("run-crashed", end, enrich=_with_cleanup_record(end.flow_run_id))


def watchdog_failure_alert(end: RunEnd) -> None:
    """On failure or crash of cleanup-watchdog: a watchdog that cannot look is itself an alarm
    (database unreachable, bad settings, a bug)."""
    send_run_alert("watchdog-failed", end, enrich=_with_database)


# The flows' state hooks.
alert_cleanup_failed = state_hook(cleanup_failure_alert)
alert_cleanup_crashed = state_hook(cleanup_crash_alert)
alert_watchdog_failed = state_hook(watchdog_failure_alert)


def _with_database(alert: Alert, settings: Settings) -> Alert:
    return replace(alert, database=display_url(settings.database_url))


def _with_cleanup_record(flow_run_id: str) -> Callable[[Alert, Settings], Alert]:
    """Add the run's own record in cleanup_runs (counts, skipped baskets) to its alert."""

    def enrich(alert: Alert, settings: Settings) -> Alert:
        counts: dict[str, int] = {}
        details: dict[str, Any] = dict(alert.details)
        try:
            with current_runtime().engine.connect() as connection:  # the run's own database
                run = cleanup_run_for_flow_run(connection, flow_run_id)
            if run is not None:
                counts = dict(run.counts)
                details |= {"cleanup_status": run.status, "dry_run": run.dry_run, "actor": run.actor}
                details |= {
                    key: run.detail[key] for key in _RUN_DETAILS if run.detail.get(key) not in (None, [])
                }
                if isinstance(details.get("error"), str):  # a driver's message may repeat the URL
                    details["error"] = hide_url_secrets(details["error"], settings.database_url)
        except Exception as error:  # noqa: BLE001 - the database may be why the run failed
            details["cleanup_runs"] = f"not readable: {type(error).__name__}"
        return replace(alert, counts=counts, details=details, database=display_url(settings.database_url))

    return enrich


def _reminder_variable(database: str) -> str:
    # One record per database: the watchdog may watch several stores from one Prefect server.
    return f"{WATCHDOG_FLOW}-{hashlib.sha256(database.encode()).hexdigest()[:16]}"


@flow(
    name=WATCHDOG_FLOW,
    log_prints=False,
    on_failure=[alert_watchdog_failed],
    on_crashed=[alert_watchdog_failed],
)
@fails_the_run_on_refusal
def cleanup_watchdog(
    now: str = "",
    remind_after_hours: float = 24,
    crashed_after_minutes: float = 10,
) -> dict[str, Any]:
    """Alert when no retention-cleanup has succeeded for longer than `alerts.stale_after_hours`,
    and close the runs left Running by a worker that died.

    1. Close as Crashed every run of the suite's deployments that is Running but has sent no
       heartbeat for `crashed_after_minutes` (its process is gone), and alert about each.
    2. Read the cleanup health as of `now` (default: the current time).
    3. If it is stale, send the stale-success alert once per stale spell: again only after a
       newer success went stale too, or after `remind_after_hours`.
    4. Record the health as a markdown artifact and return it (without secrets).
    A watchdog run that fails (database unreachable, bad settings) alerts too.

    Args:
        now: Check as if it were this time: an ISO date or time, e.g. 2026-11-01T02:30 (UTC unless
            it has an offset). Empty: the current time.
        remind_after_hours: Alert again about the same stale spell after this many hours.
        crashed_after_minutes: A Running run without a heartbeat for this long is closed as
            crashed (runs send one every 3 minutes: keep this above that, e.g. 10).
    """
    from prefect.variables import Variable

    logger = run_logger()
    if not 0 < crashed_after_minutes <= 7 * 24 * 60:
        raise BadInput(
            f"crashed_after_minutes: {crashed_after_minutes:g} is out of range "
            "(expected minutes 0 < minutes <= 10080, e.g. 10)",
            field="crashed_after_minutes",
        )
    closed = close_runs_left_running(dt.timedelta(minutes=crashed_after_minutes))
    runtime = current_runtime()
    settings = runtime.settings
    checked_at = form_time(now, "now") or dt.datetime.now(dt.UTC)
    database = display_url(runtime.engine.url)
    with runtime.engine.connect() as connection:
        report = check_health(connection, settings, checked_at)

    alerted = False
    if not report.healthy:
        name = _reminder_variable(database)
        previous = Variable.get(name, default=None)
        if stale_alert_due(report, previous, remind_after_hours):
            deliveries = deliver_alert(stale_success_alert(report, database), settings.alerts)
            log_deliveries(logger, deliveries)
            alerted = any(d.delivered for d in deliveries)
            if alerted:
                Variable.set(name, stale_alert_record(report), overwrite=True)
        else:
            logger.info(
                "still stale; alerted at %s, next reminder %g hours after that",
                previous.get("alerted_at"),
                remind_after_hours,
            )

    summary = {**report.as_json(), "alerted": alerted, "closed_as_crashed": closed}
    create_artifact(
        "markdown",
        key=WATCHDOG_FLOW,
        markdown=_health_markdown(report.healthy, report.problems, summary),
        description="retention-cleanup health",
    )
    return summary


# Every flow the suite deploys: their runs are the ones the watchdog looks after.
SUITE_FLOWS = (
    CLEANUP_FLOW, WATCHDOG_FLOW, "report-export", "basket-delete", "audit-report", "basket-restore",
)  # fmt: skip
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"


def close_runs_left_running(silent_for: dt.timedelta) -> list[str]:
    """Set Crashed every Running flow run of a suite deployment (other than this one) that
    started over `silent_for` ago and has sent no heartbeat for that long, and alert about each.
    Returns the ids closed. Runs started from the command line (no deployment) are left alone:
    the person at the terminal sees them end."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter
    from prefect.states import Crashed

    logger = run_logger()
    now = dt.datetime.now(dt.UTC)
    this_run = current_flow_run_id()
    closed: list[str] = []
    with get_client(sync_client=True) as client:
        running = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(SUITE_FLOWS))),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
                deployment_id=FlowRunFilterDeploymentId(is_null_=False),
            ),
        )
        for run in running:
            started = run.start_time or run.expected_start_time
            if str(run.id) == this_run or started is None or now - started < silent_for:
                continue
            heartbeats = client.read_events(
                EventFilter(
                    occurred=EventOccurredFilter(since=now - silent_for, until=now),
                    event=EventNameFilter(name=[HEARTBEAT_EVENT]),
                    resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
                ),
                limit=1,
            )
            if heartbeats.events:
                continue
            minutes = silent_for.total_seconds() / 60
            message = (
                f"left Running without a heartbeat for {minutes:g} minutes (its worker or process "
                "died): closed as Crashed by the cleanup-watchdog"
            )
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            closed.append(str(run.id))
            logger.warning("flow run %s (%s) %s", run.name, run.id, message)
            _alert_closed_run(client, run, message)
    return closed


def _alert_closed_run(client: Any, run: Any, message: str) -> None:
    from flows.run_alerts import load_alert_settings_or_log

    alerts = load_alert_settings_or_log(run_logger())
    if alerts is None:
        return
    try:
        flow_name = client.read_flow(run.flow_id).name
    except Exception:  # noqa: BLE001 - the alert matters more than the flow's name
        flow_name = "flow run"
    alert = Alert(
        kind="run-crashed",
        flow=flow_name,
        state="Crashed",
        reason=message,
        flow_run_id=str(run.id),
        flow_run_name=run.name,
        occurred_at=dt.datetime.now(dt.UTC),
    )
    log_deliveries(run_logger(), deliver_alert(alert, alerts))


def _health_markdown(healthy: bool, problems: list[str], summary: dict[str, Any]) -> str:
    last = summary["last_success"]
    lines = [
        f"# retention-cleanup: {'healthy' if healthy else 'NOT healthy'}",
        "",
        *[f"- {problem}" for problem in problems],
        "",
        "| | |",
        "| --- | --- |",
        f"| checked at (UTC) | {summary['checked_at']:%Y-%m-%d %H:%M} |",
        f"| last success | {last['completed_at'] if last else 'never'} |",
        f"| hours since success | {summary['hours_since_success'] if last else '-'} |",
        f"| baskets | {summary['baskets']['total']:,} |",
        f"| expired and waiting | {summary['expired_waiting']['total']:,} |",
        f"| audit head | {summary['audit_head']['seq']} `{summary['audit_head']['hash'][:16]}…` |",
        f"| alert sent | {'yes' if summary['alerted'] else 'no'} |",
    ]
    return "\n".join(lines) + "\n"
