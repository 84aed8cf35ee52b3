"""Alerts from commands that cron runs unattended (`baskets status --alert`, `baskets cleanup`):
what no flow-run hook can send, because no flow run started.

Sent with the alert settings read on their own (config.settings.load_alert_settings), so a
bad database URL or a missing driver is still reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

from baskets.alerts import Alert, Delivery, deliver_alert
from baskets.errors import BasketsError
from config.settings import SettingsError, load_alert_settings
from config.urls import display_web_url, without_secrets

log = logging.getLogger("baskets.alerts")
# Seconds to wait for the Prefect server's /health before a tracked run is attempted.
PREFECT_HEALTH_TIMEOUT_SECONDS = 5.0


def send_command_alert(kind: str, flow: str, state: str, reason: str) -> list[Delivery]:
    """Send an alert about a command's failure on every configured channel; never raises."""
    try:
        alerts = load_alert_settings()
    except SettingsError as error:
        log.error("could not send the %s alert: %s", kind, error)
        return []
    alert = Alert(
        kind=kind,
        flow=flow,
        state=state,
        reason=without_secrets(reason),
        occurred_at=dt.datetime.now(dt.UTC),
    )
    return deliver_alert(alert, alerts)


@contextlib.contextmanager
def alert_if_it_fails(enabled: bool, *, kind: str, flow: str, doing: str) -> Iterator[None]:
    """Run the block; if it raises (bad settings, missing driver, database unreachable, a bug)
    and `enabled`, send `kind` saying what could not be done, then let the error go on."""
    try:
        yield
    except Exception as error:
        if enabled:
            first = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
            message = error.message if isinstance(error, BasketsError) else f"{type(error).__name__}: {first}"
            send_command_alert(kind, flow, "Error", f"{doing}: {message}")
        raise


def prefect_server_answers(flow: str = "retention-cleanup") -> None:
    """When this command's runs are tracked by a Prefect server (PREFECT_API_URL), check that it
    answers (`check_prefect_server`); without one there is nothing to check."""
    from flows.runner import prefect_api_url

    if api_url := prefect_api_url():
        check_prefect_server(api_url, flow=flow)


def check_prefect_server(api_url: str, *, flow: str) -> None:
    """Before a tracked run: the Prefect server at `api_url` answers its health check, or an
    alert goes out and BasketsError (exit 1) says the job did not run."""
    problem = server_answers(api_url, PREFECT_HEALTH_TIMEOUT_SECONDS)
    if problem is None:
        return
    message = (
        f"the Prefect server at {display_web_url(api_url)} (PREFECT_API_URL) does not answer ({problem}): "
        f"{flow} did not run (start the server, or unset PREFECT_API_URL to run without one)"
    )
    send_command_alert("run-failed", flow, "NotStarted", message)
    raise BasketsError(message)


def server_answers(api_url: str, timeout: float) -> str | None:
    """None when the Prefect API at `api_url` answers its health check, else why not (one line)."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout):  # noqa: S310
            return None
    except (urllib.error.URLError, OSError, ValueError) as error:
        return str(getattr(error, "reason", None) or error)
