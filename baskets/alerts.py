"""Alerts for unattended operation: compose one message, deliver it by e-mail and/or webhook.

Delivery never raises: an alert is sent from places (a failing flow's state hook, a watchdog,
a cron job) where a second failure must not hide the first. Failures are logged and reported
back. Secrets (SMTP password, webhook token) are only ever handed to the transport; every text
that leaves this module (log lines, error strings) is scrubbed of them first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from config.settings import AlertSettings
from config.urls import display_web_url

log = logging.getLogger("baskets.alerts")

PRODUCT = "basket-maintenance"
# Seconds to wait before each retry of one channel; a mail relay or a chat webhook that
# hiccups once should not lose the alert, and the caller should not wait minutes either.
RETRY_DELAYS: tuple[float, ...] = (1.0, 3.0)
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Alert:
    """What happened, in the words an operator on call needs.

    `kind` is one of run-failed, run-crashed, watchdog-failed, check-failed, stale-success or test.
    """

    kind: str
    flow: str
    state: str
    reason: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    occurred_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    database: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        run = f" {self.flow_run_name}" if self.flow_run_name else ""
        return f"[{PRODUCT}] {self.flow}{run}: {self.state} - {_first_line(self.reason, 120)}"

    def as_json(self) -> dict[str, Any]:
        """The webhook body (and the `--json` view): plain JSON, no secrets."""
        return {
            "source": PRODUCT,
            "kind": self.kind,
            "flow": self.flow,
            "flow_run_id": self.flow_run_id,
            "flow_run_name": self.flow_run_name,
            "state": self.state,
            "reason": self.reason,
            "counts": dict(self.counts),
            "occurred_at": self.occurred_at.astimezone(dt.UTC).isoformat(),
            "database": self.database,
            "details": self.details,
            # Chat webhooks (Slack, Mattermost, Teams workflows) show `text` as the message.
            "text": self.subject,
        }

    def as_text(self) -> str:
        """The e-mail body."""
        lines = [
            self.subject,
            "",
            f"flow:          {self.flow}",
            f"state:         {self.state}",
            f"flow run:      {self.flow_run_name or '-'} ({self.flow_run_id or 'no flow run'})",
            f"when (UTC):    {self.occurred_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
        ]
        if self.database:
            lines.append(f"database:      {self.database}")
        lines += ["", "reason:", f"  {self.reason}"]
        if self.counts:
            lines += ["", "counts:"] + [f"  {name:<12} {value:>10,}" for name, value in self.counts.items()]
        for name, value in self.details.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
            lines.append(f"{name}: {shown}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Delivery:
    """The outcome of one channel: e-mail or webhook."""

    channel: str
    target: str
    delivered: bool
    error: str | None = None


def email_configured(settings: AlertSettings) -> bool:
    return bool(settings.smtp_host and settings.mail_to)


def webhook_configured(settings: AlertSettings) -> bool:
    return bool(settings.webhook_url)


def describe_channels(settings: AlertSettings) -> dict[str, Any]:
    """Where alerts go, without secrets: for `baskets status` and `baskets alerts test`."""
    return {
        "email": {
            "configured": email_configured(settings),
            "smtp": f"{settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host else None,
            "starttls": settings.smtp_starttls,
            "login": settings.smtp_user or None,
            "to": list(settings.mail_to),
        },
        "webhook": {
            "configured": webhook_configured(settings),
            "url": redact_url(settings.webhook_url) if settings.webhook_url else None,
            "token": bool(settings.webhook_token.get_secret_value()),
        },
    }


def deliver_alert(
    alert: Alert,
    settings: AlertSettings,
    *,
    retry_delays: Sequence[float] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> list[Delivery]:
    """Send `alert` on every configured channel; returns one Delivery per channel tried.

    Never raises: a channel that still fails after its retries is logged (without secrets)
    and reported with delivered=False. An empty list means no channel is configured.
    """
    deliveries: list[Delivery] = []
    secrets = _secrets(settings)
    retry_delays = RETRY_DELAYS if retry_delays is None else retry_delays
    if email_configured(settings):
        target = f"smtp://{settings.smtp_host}:{settings.smtp_port}"
        send = functools.partial(_send_email, alert, settings, timeout)
        deliveries.append(_attempt("email", target, send, retry_delays, secrets))
    if webhook_configured(settings):
        target = redact_url(settings.webhook_url)
        send = functools.partial(_post_webhook, alert, settings, timeout)
        deliveries.append(_attempt("webhook", target, send, retry_delays, secrets))
    if not deliveries:
        log.warning("alert %r not sent: no e-mail or webhook configured (settings [alerts])", alert.subject)
    return deliveries


# Seconds to wait for the dead-man's switch: a slow monitoring service must not hold up a run.
HEARTBEAT_TIMEOUT_SECONDS = 5.0


def ping_heartbeat(settings: AlertSettings, *, timeout: float = HEARTBEAT_TIMEOUT_SECONDS) -> Delivery | None:
    """GET `settings.heartbeat_url` (a dead-man's switch such as healthchecks.io or Cronitor) after
    a successful cleanup; None when none is configured. Never raises: a failed ping is logged
    (without the URL's path, which is the check's secret) and reported with delivered=False."""
    url = settings.heartbeat_url
    if not url:
        return None
    target = display_web_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": PRODUCT}, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            response.read(1024)
    except Exception as failure:  # noqa: BLE001 - a ping that fails must not fail the run
        if isinstance(failure, urllib.error.HTTPError):  # its default message repeats the URL
            reason: object = f"HTTP {failure.code}"
        else:
            reason = getattr(failure, "reason", None) or failure
        error = scrub(f"{type(failure).__name__}: {_first_line(str(reason), 200)}", [url])
        log.warning("heartbeat ping to %s failed: %s", target, error)
        return Delivery("heartbeat", target, False, error)
    log.info("heartbeat ping sent to %s", target)
    return Delivery("heartbeat", target, True)


def redact_url(url: str) -> str:
    """`url` reduced to scheme, host and port: webhook paths and queries often embed a secret."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return (
        f"{parts.scheme}://{host}{port}/…"
        if parts.path not in ("", "/")
        else f"{parts.scheme}://{host}{port}"
    )


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _secrets(settings: AlertSettings) -> list[str]:
    values = [settings.smtp_password.get_secret_value(), settings.webhook_token.get_secret_value()]
    if settings.webhook_url:
        # The full URL (its path may be the secret of a chat webhook) and its query, if any.
        parts = urllib.parse.urlsplit(settings.webhook_url)
        values += [settings.webhook_url, parts.path if parts.path not in ("", "/") else "", parts.query]
    return sorted((value for value in values if value), key=len, reverse=True)


def _attempt(
    channel: str,
    target: str,
    send: Callable[[], None],
    retry_delays: Sequence[float],
    secrets: list[str],
) -> Delivery:
    error = ""
    for attempt, delay in enumerate([0.0, *retry_delays], start=1):
        if delay:
            time.sleep(delay)
        try:
            send()
        except Exception as failure:  # noqa: BLE001 - any failure of a transport is reported, not raised
            error = scrub(f"{type(failure).__name__}: {_first_line(str(failure), 300)}", secrets)
            log.warning("alert by %s to %s failed (attempt %d): %s", channel, target, attempt, error)
            continue
        log.info("alert sent by %s to %s", channel, target)
        return Delivery(channel, target, True)
    log.error("alert by %s to %s not delivered: %s", channel, target, error)
    return Delivery(channel, target, False, error)


def _send_email(alert: Alert, settings: AlertSettings, timeout: float) -> None:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = settings.mail_from
    message["To"] = ", ".join(settings.mail_to)
    message["X-Baskets-Alert"] = alert.kind
    message.set_content(alert.as_text())
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def _post_webhook(alert: Alert, settings: AlertSettings, timeout: float) -> None:
    body = json.dumps(alert.as_json(), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": PRODUCT}
    token = settings.webhook_token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(settings.webhook_url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            response.read()
    except urllib.error.HTTPError as error:
        # The default message repeats the URL; the status and reason are what matter.
        raise RuntimeError(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise RuntimeError(f"cannot reach the webhook: {error.reason}") from None


def _first_line(text: str, limit: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
