"""Never silent: alerts for the ways a run fails outside the flow (bad settings, missing driver,
unreachable database or Prefect server), the dead-man's switch, and no alert for an overlap.

The end-to-end cases with a Prefect server and workers are in tests/deployments/test_fleet.py.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.schemas.objects import FlowRun, State, StateType

from baskets.alerts import ping_heartbeat
from baskets.errors import CleanupAlreadyRunning, WorkerMisconfigured
from config.settings import AlertSettings, SettingsError, load_alert_settings
from config.urls import display_web_url
from tests import loopback_receivers
from tests.baskets.test_status import add_cleanup_run
from tests.conftest import NOW, REPO, DatabaseUnderTest, run_baskets_process
from tests.loopback_receivers import SmtpReceiver, WebhookReceiver, smtp_server, webhook_server  # noqa: F401


@pytest.fixture
def mail(request: pytest.FixtureRequest) -> SmtpReceiver:
    return request.getfixturevalue("smtp_server")


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> WebhookReceiver:
    return request.getfixturevalue("webhook_server")


@pytest.fixture
def pings() -> Iterator[tuple[str, list[str], list[int]]]:
    """An HTTP endpoint that records GETs: (base URL, paths received, statuses to answer first)."""
    received: list[str] = []
    fail_with: list[int] = []
    port = loopback_receivers.free_port()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            received.append(self.path)
            self.send_response(fail_with.pop(0) if fail_with else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", received, fail_with
    server.shutdown()
    server.server_close()


# --- the alert settings, read on their own ---------------------------------------------------------


def test_alert_settings_are_read_when_another_setting_is_bad(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        'database_url = "nope://"\nbogus = 1\n[retention]\nmax_share = 7.0\n'
        '[alerts]\nwebhook_url = "http://hooks.example/x"\nsmtp_host = "mail.example"\nmail_to = ["a@b.example"]\n'
    )
    monkeypatch.setenv("BASKETS_CONFIG", str(config))
    monkeypatch.setenv("BASKETS_NOT_A_SETTING", "1")
    monkeypatch.setenv("BASKETS_ALERTS__SMTP_PORT", "2525")  # the environment beats the file
    alerts = load_alert_settings()
    assert (alerts.webhook_url, alerts.smtp_host, alerts.smtp_port, alerts.mail_to) == (
        "http://hooks.example/x",
        "mail.example",
        2525,
        ["a@b.example"],
    )


def test_alert_settings_from_the_environment_survive_a_settings_file_that_is_no_toml(
    monkeypatch, tmp_path: Path
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("this is [not toml")
    monkeypatch.setenv("BASKETS_CONFIG", str(config))
    monkeypatch.setenv("BASKETS_ALERTS__WEBHOOK_URL", "http://hooks.example/y")
    assert load_alert_settings().webhook_url == "http://hooks.example/y"


def test_a_bad_alert_setting_is_named(monkeypatch) -> None:
    monkeypatch.setenv("BASKETS_DATABASE_URL", "nope://")
    monkeypatch.setenv("BASKETS_ALERTS__SMTP_PORT", "99999")
    with pytest.raises(SettingsError) as raised:
        load_alert_settings()
    assert (
        str(raised.value)
        == "setting alerts.smtp_port: 99999 is not a port (expected 1..65535, e.g. 25 or 587)"
    )


@pytest.mark.parametrize(
    "url",
    ["ftp://hc-ping.example/check-secret", "hc-ping.com/check-secret", "http://", "javascript:alert(1)",
     "http://hc-ping.example:99999/check-secret", "http://hc ping.example/check-secret",
     "https://hc-ping.example/check-secret\n", "file:///etc/passwd"],
)  # fmt: skip
def test_a_heartbeat_url_that_is_no_http_url_is_refused_without_showing_its_path(
    url: str, monkeypatch
) -> None:
    from config.settings import load_settings

    monkeypatch.setenv("BASKETS_ALERTS__HEARTBEAT_URL", url)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("setting alerts.heartbeat_url: ") and "\n" not in message
    assert (
        "is not an http(s) URL (expected e.g. https://hc-ping.com/your-check-uuid, or empty for none)"
        in message
    )
    assert "check-secret" not in message and "passwd" not in message


def test_web_urls_are_shown_without_user_path_or_query() -> None:
    assert display_web_url("https://user:pw@hc-ping.com/0f1e-uuid?token=x") == "https://hc-ping.com/…"
    assert display_web_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert display_web_url("http://host:notaport/x") == "***"


# --- the dead-man's switch --------------------------------------------------------------------------


def test_the_heartbeat_is_a_get_of_the_configured_url(pings) -> None:
    base, received, _ = pings
    delivery = ping_heartbeat(AlertSettings(heartbeat_url=f"{base}/ping/uuid-secret"))
    assert received == ["/ping/uuid-secret"]
    assert delivery is not None and (delivery.delivered, delivery.target) == (True, f"{base}/…")


def test_a_failed_heartbeat_is_reported_not_raised_and_keeps_its_path_secret(pings, caplog) -> None:
    base, received, fail_with = pings
    fail_with.append(500)
    answered = ping_heartbeat(AlertSettings(heartbeat_url=f"{base}/ping/uuid-secret"))
    unreachable = ping_heartbeat(
        AlertSettings(heartbeat_url=f"http://127.0.0.1:{loopback_receivers.free_port()}/ping/uuid-secret"),
        timeout=2,
    )
    assert answered is not None and (answered.delivered, answered.error) == (False, "HTTPError: HTTP 500")
    assert unreachable is not None and unreachable.delivered is False
    assert "Connection refused" in str(unreachable.error)
    assert "uuid-secret" not in caplog.text + str(answered) + str(unreachable)
    assert ping_heartbeat(AlertSettings()) is None


def test_a_successful_cleanup_pings_the_heartbeat_and_a_dry_run_does_not(
    cli, sqlite_db: DatabaseUnderTest, pings
) -> None:
    base, received, _ = pings
    env = {**sqlite_db.env, "BASKETS_ALERTS__HEARTBEAT_URL": f"{base}/ping/abc"}
    dry = cli("cleanup", "--dry-run", "--json", env=env)
    real = cli("cleanup", "--json", env=env)
    assert (dry.exit_code, real.exit_code) == (0, 0), real.stderr
    assert real.json()["heartbeat"] == "sent" and "heartbeat" not in dry.json()
    assert received == ["/ping/abc"]


def test_a_heartbeat_that_fails_does_not_fail_the_cleanup(cli, sqlite_db: DatabaseUnderTest) -> None:
    env = {
        **sqlite_db.env,
        "BASKETS_ALERTS__HEARTBEAT_URL": f"http://127.0.0.1:{loopback_receivers.free_port()}/ping/abc",
    }
    done = cli("cleanup", "--json", env=env)
    assert done.exit_code == 0
    assert done.json()["heartbeat"].startswith("failed: URLError: [Errno 111] Connection refused")


# --- what cron runs ------------------------------------------------------------------------------------


def alerting_env(smtp: SmtpReceiver, webhook: WebhookReceiver) -> dict[str, str]:
    return {
        "BASKETS_ALERTS__SMTP_HOST": smtp.host,
        "BASKETS_ALERTS__SMTP_PORT": str(smtp.port),
        "BASKETS_ALERTS__MAIL_TO": '["ops@shop.example"]',
        "BASKETS_ALERTS__WEBHOOK_URL": webhook.url,
    }


def test_cron_cleanup_with_the_prefect_server_down_alerts_and_exits_1(
    sqlite_db: DatabaseUnderTest, mail: SmtpReceiver, hook: WebhookReceiver, tmp_path: Path
) -> None:
    port = loopback_receivers.free_port()
    env = {
        **sqlite_db.env,
        **alerting_env(mail, hook),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
    }
    done = run_baskets_process("cleanup", env=env, cwd=tmp_path)
    line = (
        f"error: the Prefect server at http://127.0.0.1:{port}/… (PREFECT_API_URL) does not answer "
        "([Errno 111] Connection refused): retention-cleanup did not run (start the server, or unset "
        "PREFECT_API_URL to run without one)"
    )
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (1, line)
    [post] = hook.posts
    assert (post.body["kind"], post.body["flow"], post.body["state"]) == (
        "run-failed",
        "retention-cleanup",
        "NotStarted",
    )
    assert post.body["reason"] == line.removeprefix("error: ")
    [mail] = mail.mails
    assert mail.message["X-Baskets-Alert"] == "run-failed"
    assert sqlite_db.scalar("SELECT count(*) FROM cleanup_runs") == 0


def test_status_alert_alerts_when_the_database_cannot_be_reached(
    mail: SmtpReceiver, hook: WebhookReceiver, tmp_path: Path
) -> None:
    url = f"postgresql+psycopg://shop:pw-s3cret@127.0.0.1:{loopback_receivers.free_port()}/shop"
    env = {**alerting_env(mail, hook), "BASKETS_DATABASE_URL": url}
    quiet = run_baskets_process("status", env=env, cwd=tmp_path)
    assert quiet.returncode == 1 and hook.posts == []
    done = run_baskets_process("status", "--alert", env=env, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith(
        "error: cannot reach the database"
    )
    [post] = hook.posts
    assert (post.body["kind"], post.body["flow"]) == ("check-failed", "retention-cleanup")
    assert post.body["reason"].startswith("baskets status could not check: ")
    assert "Connection refused" in post.body["reason"]
    assert len(mail.mails) == 1
    assert "pw-s3cret" not in json.dumps(post.body) + mail.mails[0].message.as_string()


def test_status_alert_alerts_on_a_bad_setting_with_the_alert_settings_it_can_read(
    sqlite_db: DatabaseUnderTest, hook: WebhookReceiver, mail: SmtpReceiver, tmp_path: Path
) -> None:
    env = {**sqlite_db.env, **alerting_env(mail, hook), "BASKETS_RETENTION__BATCH_SIZE": "0"}
    done = run_baskets_process("status", "--alert", env=env, cwd=tmp_path)
    setting = "setting retention.batch_size: 0 is out of range (expected 1..100000, e.g. 1000)"
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (2, f"error: {setting}")
    [post] = hook.posts
    assert post.body["reason"] == f"baskets status could not check: {setting}"


# --- a missing database driver --------------------------------------------------------------------------

HIDE_PSYCOPG = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "psycopg":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
sys.argv = ["baskets", *sys.argv[1:]]
from cli.main import main
main()
"""


def test_a_database_url_whose_driver_extra_is_not_installed_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDE_PSYCOPG, "status"],
        env={**run_env(), "BASKETS_DATABASE_URL": "postgresql://shop:pw@db.example/shop"},
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: database_url: the postgresql driver (psycopg) is not installed here "
        "(expected pip install 'basket-maintenance[postgres]')",
    )


def run_env() -> dict[str, str]:
    import os

    return {**{k: v for k, v in os.environ.items() if not k.startswith("BASKETS_")}, "PYTHONPATH": str(REPO)}


# --- the state hooks ----------------------------------------------------------------------------------------


@pytest.fixture
def alerting_to(hook: WebhookReceiver, sqlite_db: DatabaseUnderTest, monkeypatch) -> WebhookReceiver:
    monkeypatch.setenv("BASKETS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("BASKETS_ALERTS__WEBHOOK_URL", hook.url)
    monkeypatch.setattr("baskets.alerts.RETRY_DELAYS", (0.01,))
    return hook


def failed_with(error: Exception, message: str) -> State:
    from prefect.states import Failed

    return Failed(message=message, data=error)


def a_run() -> FlowRun:
    return FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="lucky-lemur", parameters={})


def test_a_cleanup_refused_because_another_runs_alerts_nobody(alerting_to: WebhookReceiver) -> None:
    from flows.alerting import alert_cleanup_failed

    @flow(name="retention-cleanup")
    def stand_in() -> None:
        pass

    error = CleanupAlreadyRunning("another cleanup is running on this database (…)")
    alert_cleanup_failed(stand_in, a_run(), failed_with(error, error.message))
    assert alerting_to.posts == []


def test_a_hook_on_a_worker_with_a_bad_database_url_alerts_with_the_alert_settings(
    alerting_to: WebhookReceiver, monkeypatch
) -> None:
    from flows.alerting import alert_cleanup_failed, alert_watchdog_failed

    monkeypatch.setenv("BASKETS_DATABASE_URL", "nope://shop:pw-hidden@db/shop")

    @flow(name="retention-cleanup")
    def cleanup() -> None:
        pass

    @flow(name="cleanup-watchdog")
    def watchdog() -> None:
        pass

    error = WorkerMisconfigured("setting database_url: 'nope://shop:***@db/shop' is not a database URL")
    alert_cleanup_failed(cleanup, a_run(), failed_with(error, error.message))
    alert_watchdog_failed(watchdog, a_run(), failed_with(error, error.message))
    bodies = [post.body for post in alerting_to.posts]
    assert [(b["kind"], b["flow"], b["reason"]) for b in bodies] == [
        ("run-failed", "retention-cleanup", error.message),
        ("watchdog-failed", "cleanup-watchdog", error.message),
    ]
    assert bodies[0]["details"]["settings"] == (
        "setting database_url: 'nope' is not a supported database (expected sqlite, postgresql or mariadb)"
    )
    assert "pw-hidden" not in json.dumps(bodies)


def test_on_demand_flows_alert_only_when_their_worker_is_at_fault(alerting_to: WebhookReceiver) -> None:
    from baskets.errors import BadInput, NotPermitted
    from flows.run_alerts import alert_run_crashed, alert_worker_problem

    @flow(name="report-export")
    def export() -> None:
        pass

    for error in (BadInput("created_before: not a date"), NotPermitted("operator: carol may not export")):
        alert_worker_problem(export, a_run(), failed_with(error, error.message))
    assert alerting_to.posts == []
    worker = WorkerMisconfigured("database_url: the mariadb driver (pymysql) is not installed here")
    alert_worker_problem(export, a_run(), failed_with(worker, worker.message))
    alert_run_crashed(export, a_run(), State(type=StateType.CRASHED, name="Crashed", message="SIGTERM"))
    assert [(p.body["kind"], p.body["reason"]) for p in alerting_to.posts] == [
        ("run-failed", worker.message),
        ("run-crashed", "SIGTERM"),
    ]


# --- status: the last run --------------------------------------------------------------------------------------


def test_status_leaves_out_refused_runs_and_shows_the_last_runs_reason_and_skipped(
    cli, sqlite_db: DatabaseUnderTest
) -> None:
    add_cleanup_run(sqlite_db, finished=NOW - dt.timedelta(hours=30))
    add_cleanup_run(
        sqlite_db, finished=NOW - dt.timedelta(hours=6), status="failed", counts=(10, 7, 0, 3),
        detail={"error": "retention cleanup incomplete: 1 of 4 batches failed after retries", "exit_code": 1},
    )  # fmt: skip
    add_cleanup_run(
        sqlite_db, finished=NOW - dt.timedelta(hours=1), status="failed", counts=(0, 0, 0, 0),
        detail={"error": "another cleanup is running on this database (…)", "exit_code": 7},
    )  # fmt: skip
    shown = cli("status", "--now", NOW.isoformat(), env=sqlite_db.env)
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("last run")]
    assert line == (
        "last run          failed, as of 2026-11-01 05:55 UTC: skipped 3; "
        "reason: retention cleanup incomplete: 1 of 4 batches failed after retries"
    )
    as_json = cli("status", "--json", "--now", NOW.isoformat(), env=sqlite_db.env).json()
    assert (as_json["last_run"]["skipped"], as_json["last_run"]["reason"]) == (
        3,
        "retention cleanup incomplete: 1 of 4 batches failed after retries",
    )
    assert as_json["last_success"]["reason"] is None


# --- the worker's working folder ----------------------------------------------------------------------------------


def test_the_pull_step_makes_and_enters_the_working_folder(monkeypatch, tmp_path: Path) -> None:
    from deployments.steps import enter_working_folder

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    entered = enter_working_folder()
    folder = tmp_path / "home" / "basket-maintenance"
    assert entered == {"directory": str(folder)} and Path.cwd() == folder
    assert folder.stat().st_mode & 0o777 == 0o700
    given = enter_working_folder(str(tmp_path / "elsewhere" / "deep"))
    assert Path.cwd() == tmp_path / "elsewhere" / "deep" == Path(given["directory"])
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FileExistsError):
        enter_working_folder(str(tmp_path / "a-file"))


# --- baskets deploy: what it refuses -------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["", "  ", "a/b", "bad\x00name", "x" * 101, "50%"])
def test_deploy_refuses_a_pool_name_that_is_no_name(cli, pool: str) -> None:
    done = cli("deploy", "--pool", pool)
    assert done.exit_code == 2
    assert (
        done.stderr.strip()
        == f"error: --pool: {pool!r} is not a work pool name (expected e.g. --pool baskets)"
    )


def test_deploy_needs_a_prefect_server_that_answers(tmp_path: Path) -> None:
    env = {"PREFECT_API_URL": "", "PREFECT_PROFILES_PATH": str(tmp_path / "none.toml")}
    unset = run_baskets_process("deploy", "--pool", "baskets", env=env, cwd=tmp_path)
    assert (unset.returncode, unset.stderr.strip()) == (
        2,
        "error: PREFECT_API_URL is not set (expected the API of the Prefect server the workers use, "
        "e.g. PREFECT_API_URL=http://prefect.internal:4200/api)",
    )
    down = run_baskets_process(
        "deploy",
        "--pool",
        "baskets",
        env={"PREFECT_API_URL": f"http://127.0.0.1:{loopback_receivers.free_port()}/api"},
        cwd=tmp_path,
    )
    assert (down.returncode, down.stderr.strip()) == (
        1,
        "error: the Prefect server at PREFECT_API_URL does not answer: [Errno 111] Connection refused",
    )


@pytest.mark.parametrize("minutes", [0, -5, 10_081, float("nan")])
def test_the_watchdog_refuses_a_crashed_after_minutes_out_of_range_in_one_line(
    prefect_harness, alerting_to: WebhookReceiver, minutes: float
) -> None:
    from baskets.errors import BadInput
    from flows.alerting import cleanup_watchdog

    with pytest.raises(BadInput) as raised:
        cleanup_watchdog(crashed_after_minutes=minutes)
    assert raised.value.message == (
        f"crashed_after_minutes: {minutes:g} is out of range (expected minutes 0 < minutes <= 10080, e.g. 10)"
    )
    # A scheduled watchdog whose parameters are wrong would never look: that alerts.
    assert [post.body["kind"] for post in alerting_to.posts] == ["watchdog-failed"]
