"""Alerts delivered to a real SMTP server and a real HTTP endpoint on loopback."""
# ruff: noqa: F811 - the loopback receivers are fixtures imported by name

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from baskets.alerts import Alert, deliver_alert, describe_channels, redact_url, scrub
from config.settings import AlertSettings
from tests.loopback_receivers import (  # noqa: F401
    SmtpReceiver,
    WebhookReceiver,
    free_port,
    smtp_server,
    smtp_tls_server,
    webhook_server,
)

PASSWORD = "s3cret-smtp-pa55"
TOKEN = "tok-9f8e7d6c5b4a"
WHEN = dt.datetime(2026, 11, 2, 2, 31, tzinfo=dt.UTC)


def failed_run_alert() -> Alert:
    return Alert(
        kind="run-failed",
        flow="retention-cleanup",
        state="Failed",
        reason="2 batches failed after retries: lock timeout",
        flow_run_id="0b4c1f52-6a0e-4d6c-9a55-2f0d8f0b1e11",
        flow_run_name="nimble-okapi",
        counts={"selected": 1200, "deleted": 1000, "survived": 0, "skipped": 200},
        occurred_at=WHEN,
        database="sqlite:////srv/baskets.db",
        details={"skipped_baskets": ["5e1c0a4e-0000-4000-8000-000000000001"]},
    )


def test_webhook_receives_the_run_state_counts_and_reason_with_the_bearer_token(
    webhook_server: WebhookReceiver,
) -> None:
    settings = AlertSettings(webhook_url=webhook_server.url, webhook_token=SecretStr(TOKEN))

    deliveries = deliver_alert(failed_run_alert(), settings)

    assert [(d.channel, d.delivered) for d in deliveries] == [("webhook", True)]
    [post] = webhook_server.posts
    assert post.path == "/hooks/basket-alerts"
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.headers["Content-Type"].startswith("application/json")
    assert post.body["flow"] == "retention-cleanup"
    assert post.body["flow_run_id"] == "0b4c1f52-6a0e-4d6c-9a55-2f0d8f0b1e11"
    assert post.body["flow_run_name"] == "nimble-okapi"
    assert post.body["state"] == "Failed"
    assert post.body["kind"] == "run-failed"
    assert post.body["counts"] == {"selected": 1200, "deleted": 1000, "survived": 0, "skipped": 200}
    assert post.body["reason"] == "2 batches failed after retries: lock timeout"
    assert post.body["occurred_at"] == "2026-11-02T02:31:00+00:00"
    assert post.body["details"]["skipped_baskets"] == ["5e1c0a4e-0000-4000-8000-000000000001"]
    assert post.body["text"].startswith("[basket-maintenance] retention-cleanup nimble-okapi: Failed")
    assert TOKEN not in json.dumps(post.body)


def test_webhook_without_a_token_sends_no_authorization_header(webhook_server: WebhookReceiver) -> None:
    deliver_alert(failed_run_alert(), AlertSettings(webhook_url=webhook_server.url))

    [post] = webhook_server.posts
    assert "Authorization" not in post.headers


def test_webhook_that_answers_500_once_is_retried_and_delivered(webhook_server: WebhookReceiver) -> None:
    webhook_server.fail_with = [500]

    deliveries = deliver_alert(
        failed_run_alert(), AlertSettings(webhook_url=webhook_server.url), retry_delays=[0.01]
    )

    assert deliveries[0].delivered is True
    assert len(webhook_server.posts) == 1


def test_email_reaches_every_recipient_with_subject_counts_and_reason(smtp_server: SmtpReceiver) -> None:
    settings = AlertSettings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        mail_from="baskets@shop.example",
        mail_to=["ops@shop.example", "oncall@shop.example"],
    )

    deliveries = deliver_alert(failed_run_alert(), settings)

    assert [(d.channel, d.delivered) for d in deliveries] == [("email", True)]
    [mail] = smtp_server.mails
    assert mail.sender == "baskets@shop.example"
    assert mail.recipients == ["ops@shop.example", "oncall@shop.example"]
    assert mail.message["Subject"] == (
        "[basket-maintenance] retention-cleanup nimble-okapi: Failed - "
        "2 batches failed after retries: lock timeout"
    )
    assert mail.message["X-Baskets-Alert"] == "run-failed"
    body = mail.message.get_content()
    assert "0b4c1f52-6a0e-4d6c-9a55-2f0d8f0b1e11" in body
    assert "2 batches failed after retries: lock timeout" in body
    assert "deleted           1,000" in body
    assert "skipped             200" in body
    assert "5e1c0a4e-0000-4000-8000-000000000001" in body


def test_email_over_starttls_logs_in_and_never_logs_the_password(
    smtp_tls_server: SmtpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = AlertSettings(
        smtp_host=smtp_tls_server.host,
        smtp_port=smtp_tls_server.port,
        smtp_starttls=True,
        smtp_user="alerts@shop.example",
        smtp_password=SecretStr(PASSWORD),
        mail_to=["ops@shop.example"],
    )

    deliveries = deliver_alert(failed_run_alert(), settings)

    assert deliveries[0].delivered is True
    assert smtp_tls_server.logins == [("alerts@shop.example", PASSWORD)]
    assert smtp_tls_server.starttls_seen == [True]
    assert PASSWORD not in caplog.text
    assert PASSWORD not in smtp_tls_server.mails[0].message.as_string()


def test_both_channels_are_used_when_both_are_configured(
    smtp_server: SmtpReceiver, webhook_server: WebhookReceiver
) -> None:
    settings = AlertSettings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        mail_to=["ops@shop.example"],
        webhook_url=webhook_server.url,
    )

    deliveries = deliver_alert(failed_run_alert(), settings)

    assert [(d.channel, d.delivered) for d in deliveries] == [("email", True), ("webhook", True)]
    assert len(smtp_server.mails) == 1
    assert len(webhook_server.posts) == 1


def test_unreachable_channels_are_reported_and_logged_without_secrets_and_never_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    closed = free_port()
    secret_path = "/services/T000/B000/XyZsecretPath"
    settings = AlertSettings(
        smtp_host="127.0.0.1",
        smtp_port=closed,
        smtp_user="alerts",
        smtp_password=SecretStr(PASSWORD),
        mail_to=["ops@shop.example"],
        webhook_url=f"http://127.0.0.1:{closed}{secret_path}?key=q-secret",
        webhook_token=SecretStr(TOKEN),
    )

    deliveries = deliver_alert(failed_run_alert(), settings, retry_delays=[0.01], timeout=2)

    assert [(d.channel, d.delivered) for d in deliveries] == [("email", False), ("webhook", False)]
    assert all(d.error for d in deliveries)
    assert deliveries[1].target == f"http://127.0.0.1:{closed}/…"
    assert "failed (attempt 2)" in caplog.text
    assert "not delivered" in caplog.text
    for secret in (PASSWORD, TOKEN, "XyZsecretPath", "q-secret"):
        assert secret not in caplog.text
        assert all(secret not in (d.error or "") + d.target for d in deliveries)


def test_no_configured_channel_sends_nothing_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert deliver_alert(failed_run_alert(), AlertSettings()) == []
    assert "no e-mail or webhook configured" in caplog.text


def test_channel_description_names_targets_but_no_secrets() -> None:
    settings = AlertSettings(
        smtp_host="mail.shop.example",
        smtp_port=587,
        smtp_user="alerts",
        smtp_password=SecretStr(PASSWORD),
        mail_to=["ops@shop.example"],
        webhook_url="https://hooks.example.com/services/XyZsecretPath",
        webhook_token=SecretStr(TOKEN),
    )

    described = describe_channels(settings)

    text = json.dumps(described)
    assert described["email"]["smtp"] == "mail.shop.example:587"
    assert described["webhook"] == {"configured": True, "url": "https://hooks.example.com/…", "token": True}
    for secret in (PASSWORD, TOKEN, "XyZsecretPath"):
        assert secret not in text


def test_redacted_url_keeps_scheme_host_and_port_only() -> None:
    assert redact_url("https://hooks.example.com:8443/a/b?token=x") == "https://hooks.example.com:8443/…"
    assert redact_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


@given(
    secret=st.text(alphabet=st.characters(blacklist_characters="*"), min_size=1, max_size=20),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_scrubbed_text_never_contains_the_secret(secret: str, before: str, after: str) -> None:
    scrubbed = scrub(before + secret + after, [secret])
    assert secret not in scrubbed
    assert "***" in scrubbed
