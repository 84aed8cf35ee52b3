"""Prefect-side alerts: the failure/crash hooks and the cleanup-watchdog flow, against loopback receivers."""
# ruff: noqa: F811 - the loopback receivers are fixtures imported by name

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import pytest
from prefect import flow
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.runtime import flow_run as current_flow_run
from sqlalchemy import func, select

import tasks.retention
from baskets.models import Basket, CleanupRun
from flows.alerting import alert_cleanup_crashed, alert_cleanup_failed, cleanup_watchdog
from tests.baskets.test_status import HOUR, add_basket, add_cleanup_run
from tests.conftest import NOW, DatabaseUnderTest, add_operators
from tests.loopback_receivers import WebhookReceiver, webhook_server  # noqa: F401

TOKEN = "hook-token-never-logged"


@pytest.fixture
def alerting_to(webhook_server: WebhookReceiver, sqlite_db: DatabaseUnderTest, monkeypatch):
    """Alerts of the sqlite_db database go to the loopback webhook."""
    monkeypatch.setenv("BASKETS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("BASKETS_ALERTS__WEBHOOK_URL", webhook_server.url)
    monkeypatch.setenv("BASKETS_ALERTS__WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setattr("baskets.alerts.RETRY_DELAYS", (0.01,))
    return webhook_server


def test_watchdog_alerts_once_when_cleanup_goes_stale_and_reminds_a_day_later(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest
) -> None:
    flow_run_id = add_cleanup_run(sqlite_db, finished=NOW - HOUR, counts=(12, 11, 1, 0))

    healthy = cleanup_watchdog(now=(NOW).isoformat())
    assert healthy["healthy"] is True
    assert healthy["alerted"] is False
    assert alerting_to.posts == []

    stale = cleanup_watchdog(now=(NOW + 30 * HOUR).isoformat())
    assert stale["healthy"] is False
    assert stale["alerted"] is True
    [post] = alerting_to.posts
    assert post.body["kind"] == "stale-success"
    assert post.body["flow_run_id"] == flow_run_id
    assert post.body["counts"]["deleted"] == 11
    assert post.body["reason"] == (
        "the last successful retention-cleanup finished 31 hours ago (alert after 26 hours)"
    )

    an_hour_later = cleanup_watchdog(now=(NOW + 31 * HOUR).isoformat())
    assert an_hour_later["alerted"] is False
    assert len(alerting_to.posts) == 1

    a_day_later = cleanup_watchdog(now=(NOW + 54 * HOUR).isoformat())
    assert a_day_later["alerted"] is True
    assert len(alerting_to.posts) == 2


def test_failure_hook_alerts_with_the_run_its_counts_and_reason(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, caplog
) -> None:
    caplog.set_level(logging.DEBUG)

    @flow(name="retention-cleanup", on_failure=[alert_cleanup_failed])
    def failing_cleanup() -> None:
        from sqlalchemy import insert

        from baskets.models import CleanupRun

        with sqlite_db.engine.begin() as connection:
            connection.execute(
                insert(CleanupRun).values(
                    started_at=NOW, finished_at=NOW, status="failed", actor="retention-policy",
                    dry_run=False, as_of=NOW, selected=30, deleted=20, survived=0, skipped=10,
                    flow_run_id=current_flow_run.get_id(),
                    detail='{"error": "1 of 3 batches failed", "skipped_basket_ids": ["b-1", "b-2"]}',
                )
            )  # fmt: skip
        raise RuntimeError("1 of 3 batches failed after retries: lock wait timeout")

    state = failing_cleanup(return_state=True)

    assert state.is_failed()
    [post] = alerting_to.posts
    assert post.body["kind"] == "run-failed"
    assert post.body["flow"] == "retention-cleanup"
    assert post.body["state"] == "Failed"
    assert post.body["flow_run_id"] == str(state.state_details.flow_run_id)
    assert post.body["flow_run_name"]
    assert "lock wait timeout" in post.body["reason"]
    assert post.body["counts"] == {"selected": 30, "deleted": 20, "survived": 0, "skipped": 10}
    assert post.body["details"]["skipped_basket_ids"] == ["b-1", "b-2"]
    assert post.body["details"]["error"] == "1 of 3 batches failed"
    assert TOKEN not in caplog.text


def test_crash_hook_alerts_even_when_the_run_recorded_nothing(
    alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest
) -> None:
    run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="brave-otter", parameters={})
    crashed = State(type=StateType.CRASHED, name="Crashed", message="Execution was interrupted by SIGTERM")

    @flow(name="retention-cleanup")
    def stand_in() -> None:
        pass

    alert_cleanup_crashed(stand_in, run, crashed)

    [post] = alerting_to.posts
    assert post.body["kind"] == "run-crashed"
    assert post.body["state"] == "Crashed"
    assert post.body["flow_run_name"] == "brave-otter"
    assert post.body["reason"] == "Execution was interrupted by SIGTERM"
    assert post.body["counts"] == {}


def test_hook_never_raises_when_the_database_is_gone(alerting_to: WebhookReceiver, monkeypatch) -> None:
    monkeypatch.setenv("BASKETS_DATABASE_URL", "postgresql+psycopg://nobody:db-pass-x@127.0.0.1:1/none")
    run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="calm-lynx", parameters={})
    failed = State(type=StateType.FAILED, name="Failed", message="cannot reach the database")

    @flow(name="retention-cleanup")
    def stand_in() -> None:
        pass

    alert_cleanup_failed(stand_in, run, failed)

    [post] = alerting_to.posts
    assert post.body["details"] == {"cleanup_runs": "not readable: OperationalError"}
    assert post.body["database"] == "postgresql+psycopg://nobody:***@127.0.0.1:1/none"


@pytest.fixture
def expired_baskets(sqlite_db: DatabaseUnderTest, monkeypatch, tmp_path) -> list[str]:
    """Six baskets long past retention, in batches of two, with no safety share in the way."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BASKETS_RETENTION__BATCH_SIZE", "2")
    monkeypatch.setenv("BASKETS_RETENTION__MAX_SHARE", "1")
    for _ in range(6):
        add_basket(sqlite_db, "Anonymous", dt.timedelta(days=90), lines=1)
    with sqlite_db.engine.connect() as connection:
        return sorted(connection.scalars(select(Basket.id)))


def test_retention_cleanup_with_a_failing_basket_alerts_naming_it(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, expired_baskets, monkeypatch
) -> None:
    from flows.retention import retention_cleanup

    real_delete = tasks.retention.delete_expired_batch
    poisoned = expired_baskets[2]  # the second batch

    def delete_unless_poisoned(engine, batch, **kwargs):
        if any(basket.basket_id == poisoned for basket in batch):
            raise RuntimeError("database is locked")
        return real_delete(engine, batch, **kwargs)

    monkeypatch.setattr(tasks.retention, "delete_expired_batch", delete_unless_poisoned)
    monkeypatch.setenv("BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS", "[0.0]")

    state = retention_cleanup(now=NOW.isoformat(), return_state=True)

    assert state.is_failed()
    [post] = alerting_to.posts
    assert post.body["kind"] == "run-failed"
    assert post.body["flow"] == "retention-cleanup"
    assert post.body["state"] == "Failed"
    assert post.body["flow_run_id"] == str(state.state_details.flow_run_id)
    assert post.body["counts"] == {"selected": 6, "deleted": 5, "survived": 0, "skipped": 1}
    assert post.body["details"]["skipped_basket_ids"] == [poisoned]
    assert post.body["details"]["failed_batches"] == 1
    assert post.body["reason"].startswith(
        f"retention cleanup incomplete: skipped 1 basket: RuntimeError: database is locked "
        f"(left for the next run: {poisoned}); deleted 5, survived 0; 1 of 3 batches failed after retries"
    )
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"


def test_retention_cleanup_refused_by_the_safety_limit_alerts(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, expired_baskets, monkeypatch
) -> None:
    from flows.retention import retention_cleanup

    monkeypatch.setenv("BASKETS_RETENTION__MAX_SHARE", "0.25")

    state = retention_cleanup(now=NOW.isoformat(), return_state=True)

    assert state.is_failed()
    [post] = alerting_to.posts
    assert post.body["kind"] == "run-failed"
    assert "would delete 6 of 6 baskets" in post.body["reason"]
    assert post.body["counts"]["deleted"] == 0
    assert post.body["details"]["cleanup_status"] == "failed"


def test_successful_retention_cleanup_sends_no_alert_and_makes_status_healthy(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, expired_baskets
) -> None:
    from flows.retention import retention_cleanup

    summary = retention_cleanup(now=NOW.isoformat())

    assert summary.deleted == 6
    assert alerting_to.posts == []
    watchdog = cleanup_watchdog(now=(NOW + HOUR).isoformat())
    assert watchdog["healthy"] is True
    assert watchdog["last_success"]["deleted"] == 6
    assert watchdog["audit_head"]["seq"] == 6


def test_the_watchdog_is_served_hourly_beside_the_nightly_cleanup() -> None:
    from config.settings import load_settings
    from deployments.serve import build_deployments

    found = {f"{d.flow_name}/{d.name}": d for d in build_deployments(load_settings())}

    watchdog = found["cleanup-watchdog/hourly"]
    assert watchdog.entrypoint == "flows.alerting.cleanup_watchdog"
    assert [(s.schedule.cron, s.schedule.timezone) for s in watchdog.schedules] == [("0 * * * *", "UTC")]
    assert "retention-cleanup/nightly" in found


def test_failure_alert_masks_the_database_password_in_url_reason_and_recorded_error(
    alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, monkeypatch
) -> None:
    from sqlalchemy import insert

    from baskets.models import CleanupRun

    secret = "S3cr3t-Zebra-91"
    monkeypatch.setenv("BASKETS_DATABASE_URL", f"{sqlite_db.url}?password={secret}")
    run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="quiet-heron", parameters={})
    with sqlite_db.engine.begin() as connection:
        connection.execute(
            insert(CleanupRun).values(
                started_at=NOW, finished_at=NOW, status="failed", actor="retention-policy", dry_run=False,
                as_of=NOW, flow_run_id=str(run.id), detail=f'{{"error": "OperationalError: dsn password={secret}"}}',
            )
        )  # fmt: skip
    failed = State(
        type=StateType.FAILED, name="Failed", message=f"OperationalError: could not log in with {secret}"
    )

    @flow(name="retention-cleanup")
    def stand_in() -> None:
        pass

    alert_cleanup_failed(stand_in, run, failed)

    [post] = alerting_to.posts
    assert post.body["database"] == f"{sqlite_db.url}?password=***"
    assert post.body["reason"] == "OperationalError: could not log in with ***"
    assert post.body["details"]["error"] == "OperationalError: dsn password=***"
    assert secret not in json.dumps(post.body)


def _cleanup_flow_runs() -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["retention-cleanup"])))
    return len(runs)


@pytest.mark.parametrize(
    ("args", "settings", "code", "says"),
    [
        (("--as", "bob"), {}, 3, "error: --as: 'bob' is an order_processor: only system_administrator may run cleanup"),
        (("--as", "nobody"), {}, 3, "error: --as: no operator named 'nobody'"),
        (("--force",), {}, 3, "error: --force: only a system administrator may force a cleanup"),
        (("--force", "--as", "bob"), {}, 3, "error: --as: 'bob' is an order_processor"),
        (("--as", ""), {}, 2, "error: --as: empty operator name"),
        (("--now", "0001-01-01T00:00+01:00"), {}, 2, "error: --now: '0001-01-01T00:00+01:00' is out of range"),
        (
            ("--as", "alice"),
            {"BASKETS_RETENTION__DAYS": '{"anonymous": 99999999999999999999, "contact": 90, "customer": 180}'},
            2,
            "error: setting retention.days: anonymous: 99999999999999999999 is above 36500",
        ),
    ],
)  # fmt: skip
def test_a_cleanup_refused_at_the_command_line_starts_no_run_and_sends_no_alert(
    cli,
    prefect_harness,
    alerting_to: WebhookReceiver,
    sqlite_db: DatabaseUnderTest,
    expired_baskets,
    args: tuple[str, ...],
    settings: dict[str, str],
    code: int,
    says: str,
) -> None:
    from tests.conftest import add_operators

    add_operators(sqlite_db)
    runs = _cleanup_flow_runs()
    result = cli("cleanup", "--now", NOW.isoformat(), *args, env={**sqlite_db.env, **settings})
    assert result.exit_code == code
    assert result.stderr.strip().startswith(says) and len(result.stderr.strip().splitlines()) == 1
    assert _cleanup_flow_runs() == runs
    assert alerting_to.posts == []
    with sqlite_db.engine.connect() as connection:
        assert sorted(connection.scalars(select(Basket.id))) == expired_baskets


def test_a_run_form_now_out_of_range_fails_in_one_line_before_the_run_does_anything(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, expired_baskets, monkeypatch
) -> None:
    from flows.retention import retention_cleanup

    monkeypatch.setenv("BASKETS_DATABASE_URL", sqlite_db.url)
    state = retention_cleanup(now="0001-01-01T00:00+01:00", return_state=True)

    assert state.is_failed()
    assert "now: '0001-01-01T00:00+01:00' is out of range (expected a time from 1900-01-01" in (
        state.message or ""
    )
    with sqlite_db.engine.connect() as connection:
        assert sorted(connection.scalars(select(Basket.id))) == expired_baskets
        assert connection.scalar(select(func.count()).select_from(CleanupRun)) == 0
    assert alerting_to.posts == []  # bad run-form input is the caller's to see: nobody is paged


def test_a_run_form_cleanup_by_an_operator_without_the_right_fails_without_an_alert(
    prefect_harness, alerting_to: WebhookReceiver, sqlite_db: DatabaseUnderTest, expired_baskets, monkeypatch
) -> None:
    from flows.retention import retention_cleanup

    add_operators(sqlite_db)
    monkeypatch.setenv("BASKETS_DATABASE_URL", sqlite_db.url)
    state = retention_cleanup(operator="bob", return_state=True)

    assert state.is_failed()
    assert "'bob' is a" in (state.message or "") and "order_processor" in (state.message or "")
    with sqlite_db.engine.connect() as connection:
        assert sorted(connection.scalars(select(Basket.id))) == expired_baskets
    assert alerting_to.posts == []
