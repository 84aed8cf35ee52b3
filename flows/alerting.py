"""Alerts from Prefect: hooks for a failed or crashed retention-cleanup, and the cleanup-watchdog flow."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from baskets.alerts import Alert, Delivery, deliver_alert
from baskets.errors import BadInput, NotPermitted
from baskets.runtime import Runtime, current_runtime
from baskets.status import (
    CLEANUP_FLOW,
    WATCHDOG_FLOW,
    check_health,
    cleanup_run_for_flow_run,
    stale_alert_due,
    stale_alert_record,
    stale_success_alert,
)
from config.urls import display_url, hide_url_secrets
from flows.failures import fails_the_run_on_refusal
from flows.forms import form_time
from flows.runner import create_artifact, flow, run_logger

# Prefect is imported where it is used: a direct run (flows.runner) imports this module for the
# cleanup's hooks but never calls them, and must not load Prefect.
if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import FlowRun, State

_PREFECT_PREFIX = "Flow run encountered an exception: "
# What of a cleanup run's recorded detail an alert repeats: why, and which baskets wait.
_RUN_DETAILS = ("error", "batches", "failed_batches", "skipped_basket_ids", "snapshot")


def alert_cleanup_failed(flow: Flow[Any, Any], flow_run: FlowRun, state: State) -> None:
    """on_failure hook of retention-cleanup: tell the configured recipients, never raise.

    A run refused for what its caller gave (run-form values that fail validation, an operator
    who may not run it) is the caller's to see and pages nobody; a schedule whose parameters
    were wrong would never succeed, and the watchdog alerts on that. Everything else alerts,
    bad settings on a worker included."""
    if _refused_for_its_caller(state):
        return
    _alert_for_run("run-failed", flow, flow_run, state)


def _refused_for_its_caller(state: State) -> bool:
    from prefect.exceptions import ParameterTypeError

    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - a result that cannot be read is no refusal: alert
        return False
    # BadInput naming a form field (not a setting): a value typed into the run form.
    form_field = isinstance(error, BadInput) and error.field is not None
    return form_field or isinstance(error, ParameterTypeError | NotPermitted)


def alert_cleanup_crashed(flow: Flow[Any, Any], flow_run: FlowRun, state: State) -> None:
    """on_crashed hook of retention-cleanup (the process was interrupted or its infrastructure died)."""
    _alert_for_run("run-crashed", flow, flow_run, state)


def _alert_for_run(kind: str, flow: Flow[Any, Any], flow_run: FlowRun, state: State) -> None:
    from prefect.logging.loggers import flow_run_logger

    logger: logging.LoggerAdapter[Any] | logging.Logger
    try:
        logger = flow_run_logger(flow_run, flow)
    except Exception:  # noqa: BLE001 - no logger must not mean no alert
        logger = logging.getLogger("baskets.alerts")
    try:
        runtime = current_runtime()  # the run's database: the one the flow ran on
        alert = _run_alert(kind, flow, flow_run, state, runtime)
        _log_deliveries(logger, deliver_alert(alert, runtime.settings.alerts))
    except Exception as error:  # noqa: BLE001 - a hook that raises would hide the run's own failure
        logger.error("could not send the %s alert: %s: %s", kind, type(error).__name__, error)


def _run_alert(kind: str, flow: Flow[Any, Any], flow_run: FlowRun, state: State, runtime: Runtime) -> Alert:
    engine, settings = runtime.engine, runtime.settings
    database = display_url(engine.url)
    counts: dict[str, int] = {}
    details: dict[str, Any] = {}
    try:
        with engine.connect() as connection:
            run = cleanup_run_for_flow_run(connection, str(flow_run.id))
        if run is not None:
            counts = dict(run.counts)
            details = {"cleanup_status": run.status, "dry_run": run.dry_run, "actor": run.actor}
            details |= {key: run.detail[key] for key in _RUN_DETAILS if run.detail.get(key) not in (None, [])}
            if isinstance(details.get("error"), str):  # a driver's message may repeat the URL
                details["error"] = hide_url_secrets(details["error"], settings.database_url)
    except Exception as error:  # noqa: BLE001 - the database may be why the run failed
        details["cleanup_runs"] = f"not readable: {type(error).__name__}"
    message = (state.message or state.name or "no reason given").removeprefix(_PREFECT_PREFIX)
    reason = hide_url_secrets(message, settings.database_url)
    return Alert(
        kind=kind,
        flow=flow.name or CLEANUP_FLOW,
        state=state.name or str(state.type.value).title(),
        reason=reason,
        flow_run_id=str(flow_run.id),
        flow_run_name=flow_run.name,
        counts=counts,
        occurred_at=state.timestamp or dt.datetime.now(dt.UTC),
        database=database,
        details=details,
    )


def _log_deliveries(logger: logging.LoggerAdapter[Any] | logging.Logger, deliveries: list[Delivery]) -> None:
    if not deliveries:
        logger.warning("no alert sent: configure [alerts] smtp_host + mail_to and/or webhook_url")
    for delivery in deliveries:
        if delivery.delivered:
            logger.info("alert sent by %s to %s", delivery.channel, delivery.target)
        else:
            logger.error("alert by %s to %s failed: %s", delivery.channel, delivery.target, delivery.error)


def _reminder_variable(database: str) -> str:
    # One record per database: the watchdog may watch several stores from one Prefect server.
    return f"{WATCHDOG_FLOW}-{hashlib.sha256(database.encode()).hexdigest()[:16]}"


@flow(name=WATCHDOG_FLOW, log_prints=False)
@fails_the_run_on_refusal
def cleanup_watchdog(
    now: str = "",
    remind_after_hours: float = 24,
) -> dict[str, Any]:
    """Alert when no retention-cleanup has succeeded for longer than `alerts.stale_after_hours`.

    1. Read the cleanup health as of `now` (default: the current time).
    2. If it is stale, send the stale-success alert once per stale spell: again only after a
       newer success went stale too, or after `remind_after_hours`.
    3. Record the health as a markdown artifact and return it (without secrets).

    Args:
        now: Check as if it were this time: an ISO date or time, e.g. 2026-11-01T02:30 (UTC unless
            it has an offset). Empty: the current time.
        remind_after_hours: Alert again about the same stale spell after this many hours.
    """
    from prefect.variables import Variable

    logger = run_logger()
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
            _log_deliveries(logger, deliveries)
            alerted = any(d.delivered for d in deliveries)
            if alerted:
                Variable.set(name, stale_alert_record(report), overwrite=True)
        else:
            logger.info(
                "still stale; alerted at %s, next reminder %g hours after that",
                previous.get("alerted_at"),
                remind_after_hours,
            )

    summary = {**report.as_json(), "alerted": alerted}
    create_artifact(
        "markdown",
        key=WATCHDOG_FLOW,
        markdown=_health_markdown(report.healthy, report.problems, summary),
        description="retention-cleanup health",
    )
    return summary


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
