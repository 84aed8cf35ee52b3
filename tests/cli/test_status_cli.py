"""`baskets status` exit codes and output, the stale alert with --now moved forward, `baskets alerts test`."""
# ruff: noqa: F811 - the loopback receivers are fixtures imported by name

from __future__ import annotations

import datetime as dt
import json

from tests.baskets.test_status import HOUR, add_basket, add_cleanup_run
from tests.conftest import NOW, DatabaseUnderTest
from tests.loopback_receivers import (  # noqa: F401
    SmtpReceiver,
    WebhookReceiver,
    free_port,
    smtp_server,
    webhook_server,
)

PASSWORD = "smtp-pw-never-shown"
TOKEN = "hook-token-never-shown"
SECRET_PATH = "T0001/B0002/secretPathPart"


def alert_env(database: DatabaseUnderTest, webhook_url: str, smtp_port: int | None = None) -> dict[str, str]:
    env = {
        **database.env,
        "BASKETS_ALERTS__WEBHOOK_URL": webhook_url,
        "BASKETS_ALERTS__WEBHOOK_TOKEN": TOKEN,
        "BASKETS_ALERTS__SMTP_PASSWORD": PASSWORD,
    }
    if smtp_port is not None:
        env |= {
            "BASKETS_ALERTS__SMTP_HOST": "127.0.0.1",
            "BASKETS_ALERTS__SMTP_PORT": str(smtp_port),
            "BASKETS_ALERTS__MAIL_TO": '["ops@shop.example"]',
        }
    return env


def test_status_exits_0_when_a_cleanup_succeeded_recently(cli, db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - 3 * HOUR, counts=(20, 18, 1, 1))

    result = cli("status", "--now", NOW.isoformat(), env=db.env)

    assert result.exit_code == 0, result.stderr
    assert "healthy: retention-cleanup succeeded 3 hours ago" in result.stdout
    assert "deleted 18, survived 1, skipped 1" in result.stdout


def test_status_exits_1_on_a_database_where_no_cleanup_ever_succeeded(cli, db: DatabaseUnderTest) -> None:
    result = cli("status", "--json", env=db.env)

    assert result.exit_code == 1
    payload = result.json()
    assert payload["healthy"] is False
    assert payload["problems"] == ["no retention-cleanup run has succeeded yet"]
    assert payload["last_success"] is None


def test_status_json_reports_counts_waiting_baskets_and_audit_head(cli, db: DatabaseUnderTest) -> None:
    flow_run_id = add_cleanup_run(db, finished=NOW - 3 * HOUR, counts=(20, 18, 1, 1))
    add_basket(db, "Anonymous", dt.timedelta(days=40), lines=1)
    add_basket(db, "Customer", dt.timedelta(days=3), lines=2)

    result = cli("status", "--now", NOW.isoformat(), "--json", env=db.env)

    assert result.exit_code == 0, result.stderr
    payload = result.json()
    assert payload["healthy"] is True
    assert payload["hours_since_success"] == 3.0
    assert payload["stale_after_hours"] == 26
    assert payload["last_success"]["flow_run_id"] == flow_run_id
    assert payload["last_success"]["deleted"] == 18
    assert payload["baskets"] == {"anonymous": 1, "contact": 0, "customer": 1, "total": 2}
    assert payload["expired_waiting"]["anonymous"] == 1
    assert payload["expired_waiting"]["total"] == 1
    assert payload["audit_head"] == {"seq": 0, "hash": "0" * 64}
    assert payload["alerts_sent"] == []


def test_status_exits_1_once_now_is_past_the_alert_period(cli, db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - HOUR)
    later = (NOW + 26 * HOUR).isoformat()

    result = cli("status", "--now", later, env=db.env)

    assert result.exit_code == 1
    assert "NOT healthy: the last successful retention-cleanup finished 27 hours ago" in result.stdout


def test_stale_alert_period_comes_from_the_settings(cli, sqlite_db: DatabaseUnderTest) -> None:
    add_cleanup_run(sqlite_db, finished=NOW - 3 * HOUR)
    env = {**sqlite_db.env, "BASKETS_ALERTS__STALE_AFTER_HOURS": "2"}

    result = cli("status", "--now", NOW.isoformat(), "--json", env=env)

    assert result.exit_code == 1
    assert result.json()["problems"] == [
        "the last successful retention-cleanup finished 3 hours ago (alert after 2 hours)"
    ]


def test_status_with_a_malformed_now_exits_2_with_one_line(cli, sqlite_db: DatabaseUnderTest) -> None:
    result = cli("status", "--now", "yesterday", env=sqlite_db.env)

    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --now: 'yesterday' is not an ISO date")
    assert len(result.stderr.strip().splitlines()) == 1


def test_status_on_an_unreachable_database_exits_1(cli, tmp_path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"

    result = cli("status", env={"BASKETS_DATABASE_URL": url})

    assert result.exit_code == 1
    assert "cannot reach the database" in result.stderr


def test_stale_alert_fires_with_now_moved_forward(
    cli, sqlite_db: DatabaseUnderTest, webhook_server: WebhookReceiver
) -> None:
    flow_run_id = add_cleanup_run(sqlite_db, finished=NOW - HOUR, counts=(7, 7, 0, 0))
    env = alert_env(sqlite_db, webhook_server.url)

    healthy = cli("status", "--alert", "--now", NOW.isoformat(), env=env)
    assert healthy.exit_code == 0
    assert webhook_server.posts == []

    later = (NOW + 30 * HOUR).isoformat()
    stale = cli("status", "--alert", "--now", later, "--json", env=env)

    assert stale.exit_code == 1
    [post] = webhook_server.posts
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.body["kind"] == "stale-success"
    assert post.body["state"] == "Stale"
    assert post.body["flow"] == "retention-cleanup"
    assert post.body["flow_run_id"] == flow_run_id
    assert post.body["reason"] == (
        "the last successful retention-cleanup finished 31 hours ago (alert after 26 hours)"
    )
    assert post.body["counts"]["deleted"] == 7
    assert post.body["occurred_at"] == (NOW + 30 * HOUR).isoformat()
    assert stale.json()["alerts_sent"] == [
        {
            "channel": "webhook",
            "target": webhook_server.url.rsplit("/hooks", 1)[0] + "/…",
            "delivered": True,
            "error": None,
        }
    ]


def test_status_output_and_json_never_show_alert_secrets(
    cli, sqlite_db: DatabaseUnderTest, webhook_server: WebhookReceiver, monkeypatch
) -> None:
    monkeypatch.setattr("baskets.alerts.RETRY_DELAYS", (0.01,))
    env = alert_env(sqlite_db, f"{webhook_server.url}/{SECRET_PATH}", smtp_port=free_port())

    for args in (("status", "--alert", "--json"), ("status", "--alert")):
        result = cli(*args, env=env)
        assert result.exit_code == 1
        for secret in (PASSWORD, TOKEN, SECRET_PATH):
            assert secret not in result.stdout
            assert secret not in result.stderr

    payload = cli("status", "--json", env=env).json()
    assert payload["alert_channels"]["webhook"]["token"] is True
    assert payload["alert_channels"]["email"]["to"] == ["ops@shop.example"]


def test_alerts_test_delivers_to_both_channels_and_exits_0(
    cli, sqlite_db: DatabaseUnderTest, webhook_server: WebhookReceiver, smtp_server: SmtpReceiver
) -> None:
    env = alert_env(sqlite_db, webhook_server.url, smtp_port=smtp_server.port)

    result = cli("alerts", "test", "--json", env=env)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json()["delivered"] is True
    assert [post.body["kind"] for post in webhook_server.posts] == ["test"]
    [mail] = smtp_server.mails
    assert mail.recipients == ["ops@shop.example"]
    assert mail.message["X-Baskets-Alert"] == "test"
    assert "no action needed" in mail.message.get_content()
    assert TOKEN not in result.stdout and PASSWORD not in result.stdout


def test_alerts_test_without_any_channel_exits_1(cli, sqlite_db: DatabaseUnderTest) -> None:
    result = cli("alerts", "test", env=sqlite_db.env)

    assert result.exit_code == 1
    assert "no alert channel configured" in result.stdout


def test_alerts_test_to_an_unreachable_webhook_exits_1_naming_the_failure(
    cli, sqlite_db: DatabaseUnderTest, monkeypatch
) -> None:
    monkeypatch.setattr("baskets.alerts.RETRY_DELAYS", (0.01,))
    url = f"http://127.0.0.1:{free_port()}/{SECRET_PATH}"

    result = cli("alerts", "test", "--json", env=alert_env(sqlite_db, url))

    assert result.exit_code == 1
    [sent] = result.json()["alerts_sent"]
    assert sent["delivered"] is False
    assert sent["error"].startswith("RuntimeError: cannot reach the webhook")
    assert SECRET_PATH not in json.dumps(sent) + result.stderr
