"""State hooks that alert about a flow run, for every flow of the suite.

A hook never raises (a second failure would hide the run's own) and sends with the alert
settings it can read even when another setting is bad (config.settings.load_alert_settings):
a worker with a typo in its database URL must still be able to say so.

- the cleanup alerts on every failure but a refusal of what its caller gave (flows.alerting);
- the watchdog alerts on every failure and crash (flows.alerting);
- the other flows have a person at the run form, who sees their refusals: they alert when the
  worker is at fault (WorkerMisconfigured: bad setting, missing driver, other version) or
  the run crashed.

Each hook is a plain function of a RunEnd wrapped by `state_hook`: Prefect's engine calls the
wrapper with its Flow, FlowRun and State; a command's run recorded through the API
(flows.recorded_run) calls the plain function (`hook.on_end`) with its own RunEnd.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from baskets.alerts import Alert, Delivery, deliver_alert
from baskets.errors import WorkerMisconfigured
from config.settings import AlertSettings, Settings, SettingsError, load_alert_settings, load_settings
from config.urls import hide_url_secrets

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import FlowRun, State

# How Prefect's engine words a failure's message (a recorded run words it the same).
PREFECT_FAILURE_PREFIX = "Flow run encountered an exception: "
# What a hook adds from the run's own records: (alert, settings) -> alert with counts and details.
Enrich = Callable[[Alert, Settings], Alert]


@dataclass(frozen=True)
class RunEnd:
    """How a flow run ended, as the alert hooks read it: from Prefect's hook arguments
    (`run_end`), or from a run recorded without Prefect's engine (flows.recorded_run)."""

    flow: str
    flow_run_id: str
    flow_run_name: str
    state: str  # Failed, Crashed
    message: str
    error: BaseException | None  # the exception the run failed with, when known
    occurred_at: dt.datetime
    logger: logging.LoggerAdapter[Any] | logging.Logger


def state_error(state: State) -> Any:
    """The exception a Failed state carries (None when it carries none or cannot be read)."""
    try:
        return state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - a result that cannot be read carries no known error
        return None


def run_end(flow: Flow[Any, Any], flow_run: FlowRun, state: State) -> RunEnd:
    """A Prefect state hook's arguments as a RunEnd."""
    error = state_error(state) if state.is_failed() else None
    return RunEnd(
        flow=flow.name,
        flow_run_id=str(flow_run.id),
        flow_run_name=flow_run.name,
        state=state.name or str(state.type.value).title(),
        message=(state.message or state.name or "no reason given").removeprefix(PREFECT_FAILURE_PREFIX),
        error=error if isinstance(error, BaseException) else None,
        occurred_at=state.timestamp or dt.datetime.now(dt.UTC),
        logger=_run_logger(flow, flow_run),
    )


StateHook = Callable[["Flow[Any, Any]", "FlowRun", "State"], None]


def state_hook(on_end: Callable[[RunEnd], None]) -> StateHook:
    """A Prefect state hook that calls `on_end` with the run's RunEnd; `on_end` stays reachable as
    the hook's `on_end`, which a recorded run (flows.recorded_run) calls itself."""

    @functools.wraps(on_end)
    def hook(flow: Flow[Any, Any], flow_run: FlowRun, state: State) -> None:
        on_end(run_end(flow, flow_run, state))

    hook.on_end = on_end  # type: ignore[attr-defined]
    return hook


def worker_problem_alert(end: RunEnd) -> None:
    """On failure of an on-demand flow: alert when the worker, not the caller, is at fault."""
    if isinstance(end.error, WorkerMisconfigured):
        send_run_alert("run-failed", end)


def crash_alert(end: RunEnd) -> None:
    """On a crash: the run's process was interrupted or its infrastructure died."""
    send_run_alert("run-crashed", end)


# The on-demand flows' on_failure and on_crashed hooks.
alert_worker_problem = state_hook(worker_problem_alert)
alert_run_crashed = state_hook(crash_alert)


def send_run_alert(kind: str, end: RunEnd, enrich: Enrich | None = None) -> list[Delivery]:
    """Send `kind` about the run that ended as `end` on every configured channel; never raises."""
    logger = end.logger
    try:
        alerts = load_alert_settings()
    except SettingsError as error:
        logger.error("could not send the %s alert: %s", kind, error)
        return []
    try:
        settings: Settings | None = load_settings()
    except SettingsError as error:
        settings, settings_error = None, str(error)
    else:
        settings_error = None
    try:
        alert = Alert(
            kind=kind,
            flow=end.flow,
            state=end.state,
            reason=hide_url_secrets(end.message, settings.database_url if settings else None),
            flow_run_id=end.flow_run_id,
            flow_run_name=end.flow_run_name,
            occurred_at=end.occurred_at,
            details={"settings": settings_error} if settings_error else {},
        )
        if settings is not None and enrich is not None:
            alert = enrich(alert, settings)
        deliveries = deliver_alert(alert, alerts)
    except Exception as error:  # noqa: BLE001 - a hook that raises would hide the run's own failure
        logger.error("could not send the %s alert: %s: %s", kind, type(error).__name__, error)
        return []
    log_deliveries(logger, deliveries)
    return deliveries


def load_alert_settings_or_log(logger: logging.LoggerAdapter[Any] | logging.Logger) -> AlertSettings | None:
    """The alert settings, or None after logging why they cannot be read."""
    try:
        return load_alert_settings()
    except SettingsError as error:
        logger.error("could not send an alert: %s", error)
        return None


def log_deliveries(logger: logging.LoggerAdapter[Any] | logging.Logger, deliveries: list[Delivery]) -> None:
    if not deliveries:
        logger.warning("no alert sent: configure [alerts] smtp_host + mail_to and/or webhook_url")
    for delivery in deliveries:
        if delivery.delivered:
            logger.info("alert sent by %s to %s", delivery.channel, delivery.target)
        else:
            logger.error("alert by %s to %s failed: %s", delivery.channel, delivery.target, delivery.error)


def _run_logger(flow: Flow[Any, Any], flow_run: FlowRun) -> logging.LoggerAdapter[Any] | logging.Logger:
    try:
        from prefect.logging.loggers import flow_run_logger

        return flow_run_logger(flow_run, flow)
    except Exception:  # noqa: BLE001 - no logger must not mean no alert
        return logging.getLogger("baskets.alerts")
