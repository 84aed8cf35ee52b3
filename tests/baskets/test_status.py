"""The cleanup health check: last success, staleness, baskets per type, expired ones waiting, audit head."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from sqlalchemy import insert, update

from baskets.models import AuditChainHead, Basket, BasketLine, CleanupRun
from baskets.status import check_health, stale_alert_due, stale_alert_record, stale_success_alert
from config.settings import load_settings
from tests.conftest import NOW, DatabaseUnderTest

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def add_cleanup_run(
    database: DatabaseUnderTest,
    *,
    finished: dt.datetime,
    status: str = "succeeded",
    dry_run: bool = False,
    counts: tuple[int, int, int, int] = (10, 8, 1, 1),
    detail: dict | None = None,
    as_of: dt.datetime | None = None,
) -> str:
    flow_run_id = str(uuid.uuid4())
    selected, deleted, survived, skipped = counts
    with database.engine.begin() as connection:
        connection.execute(
            insert(CleanupRun).values(
                started_at=finished - dt.timedelta(minutes=5),
                finished_at=finished,
                status=status,
                actor="retention-policy",
                dry_run=dry_run,
                as_of=as_of or finished - dt.timedelta(minutes=5),
                selected=selected,
                deleted=deleted,
                survived=survived,
                skipped=skipped,
                flow_run_id=flow_run_id,
                detail=json.dumps(detail or {}),
            )
        )
    return flow_run_id


def add_basket(
    database: DatabaseUnderTest, account_type: str, modified_ago: dt.timedelta, lines: int
) -> None:
    basket_id = str(uuid.uuid4())
    with database.engine.begin() as connection:
        connection.execute(
            insert(Basket).values(
                id=basket_id,
                account_type=account_type,
                created_at=NOW - modified_ago - DAY,
                modified_at=NOW - modified_ago,
            )
        )
        for number in range(lines):
            connection.execute(
                insert(BasketLine).values(basket_id=basket_id, product_id=f"P{number}", quantity=Decimal("1"))
            )


def health(database: DatabaseUnderTest, now: dt.datetime = NOW):
    settings = load_settings(database_url=database.url)
    with database.engine.connect() as connection:
        return check_health(connection, settings, now)


def test_fresh_database_is_unhealthy_because_no_cleanup_ever_succeeded(db: DatabaseUnderTest) -> None:
    report = health(db)

    assert report.healthy is False
    assert report.problems == ["no retention-cleanup run has succeeded yet"]
    assert report.last_success is None
    assert report.hours_since_success is None
    assert report.baskets == {"anonymous": 0, "contact": 0, "customer": 0, "total": 0}
    assert report.audit_head_seq == 0
    assert report.audit_head_hash == "0" * 64


def test_success_two_hours_ago_is_healthy_and_reported_with_its_counts(db: DatabaseUnderTest) -> None:
    flow_run_id = add_cleanup_run(db, finished=NOW - 2 * HOUR, counts=(120, 110, 6, 4))

    report = health(db)

    assert report.healthy is True
    assert report.problems == []
    assert report.hours_since_success == 2.0
    assert report.last_success is not None
    assert report.last_success.finished_at == NOW - 2 * HOUR
    assert report.last_success.completed_at == NOW - 2 * HOUR
    assert report.last_success.counts == {"selected": 120, "deleted": 110, "survived": 6, "skipped": 4}
    assert report.last_success.flow_run_id == flow_run_id
    assert report.as_json()["last_success"]["deleted"] == 110


def test_success_older_than_the_alert_period_is_unhealthy(db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - 27 * HOUR)

    report = health(db)

    assert report.healthy is False
    assert report.problems == [
        "the last successful retention-cleanup finished 27 hours ago (alert after 26 hours)"
    ]


def test_success_exactly_at_the_alert_period_is_still_healthy(db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - 26 * HOUR)

    assert health(db).healthy is True


def test_moving_now_forward_turns_a_fresh_success_stale(db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - HOUR)

    assert health(db, NOW).healthy is True
    assert health(db, NOW + 26 * HOUR).healthy is False


def test_a_run_given_now_counts_as_finished_at_its_now_plus_its_duration(db: DatabaseUnderTest) -> None:
    # `baskets cleanup --now NOW-3h` run for real a month later, taking five minutes.
    add_cleanup_run(db, finished=NOW + 30 * DAY, as_of=NOW - 3 * HOUR - dt.timedelta(minutes=5))

    report = health(db)

    assert report.healthy is True
    assert report.last_success is not None
    assert report.last_success.completed_at == NOW - 3 * HOUR
    assert report.hours_since_success == 3.0


def test_runs_as_of_after_now_are_not_seen_yet(db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - 40 * HOUR, counts=(4, 4, 0, 0))
    add_cleanup_run(db, finished=NOW + 2 * HOUR, counts=(9, 9, 0, 0))

    report = health(db)

    assert report.healthy is False
    assert report.last_success is not None
    assert report.last_success.counts["deleted"] == 4


def test_dry_runs_and_failed_runs_do_not_count_as_success(db: DatabaseUnderTest) -> None:
    add_cleanup_run(db, finished=NOW - 30 * HOUR, counts=(5, 5, 0, 0))
    add_cleanup_run(db, finished=NOW - 3 * HOUR, dry_run=True)
    failed_id = add_cleanup_run(db, finished=NOW - 2 * HOUR, status="failed", counts=(9, 7, 0, 2))

    report = health(db)

    assert report.healthy is False
    assert report.last_success is not None
    assert report.last_success.counts["deleted"] == 5
    assert report.last_run is not None
    assert report.last_run.status == "failed"
    assert report.last_run.flow_run_id == failed_id
    assert report.last_run.counts["skipped"] == 2


def test_baskets_per_type_and_expired_waiting_follow_the_retention_policy(db: DatabaseUnderTest) -> None:
    add_basket(db, "Anonymous", 31 * DAY, lines=2)  # expired: anonymous after 30 days
    add_basket(db, "Anonymous", 29 * DAY, lines=1)  # not yet
    add_basket(db, "Customer", 181 * DAY, lines=1)  # expired: customer after 180 days
    add_basket(db, "Customer", 12 * HOUR, lines=0)  # empty but younger than a day
    add_basket(db, "Contact", 2 * DAY, lines=0)  # empty and older than a day

    report = health(db)

    assert report.baskets == {"anonymous": 2, "contact": 1, "customer": 2, "total": 5}
    assert report.expired_waiting == {"anonymous": 1, "contact": 0, "customer": 1, "empty": 1, "total": 3}


def test_audit_head_is_the_chain_head_row(db: DatabaseUnderTest) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(AuditChainHead).values(seq=42, hash="ab" * 32))

    report = health(db)

    assert (report.audit_head_seq, report.audit_head_hash) == (42, "ab" * 32)
    assert report.as_json()["audit_head"] == {"seq": 42, "hash": "ab" * 32}


def test_stale_alert_names_the_last_success_its_counts_and_what_waits(db: DatabaseUnderTest) -> None:
    flow_run_id = add_cleanup_run(db, finished=NOW - 40 * HOUR, counts=(50, 45, 3, 2))
    add_basket(db, "Anonymous", 45 * DAY, lines=1)

    alert = stale_success_alert(health(db), "sqlite:///shop.db")

    assert alert.kind == "stale-success"
    assert alert.flow == "retention-cleanup"
    assert alert.state == "Stale"
    assert (
        alert.reason == "the last successful retention-cleanup finished 40 hours ago (alert after 26 hours)"
    )
    assert alert.flow_run_id == flow_run_id
    assert alert.counts == {"selected": 50, "deleted": 45, "survived": 3, "skipped": 2, "expired_waiting": 1}
    assert alert.details["last_success_completed_at"] == (NOW - 40 * HOUR).isoformat()
    assert alert.database == "sqlite:///shop.db"


def test_stale_alert_is_due_once_per_stale_spell_and_again_after_the_reminder_period(
    sqlite_db: DatabaseUnderTest,
) -> None:
    add_cleanup_run(sqlite_db, finished=NOW - 30 * HOUR)
    first = health(sqlite_db, NOW)
    record = stale_alert_record(first)

    assert stale_alert_due(first, None, remind_after_hours=24) is True
    assert stale_alert_due(first, record, remind_after_hours=24) is False
    assert stale_alert_due(health(sqlite_db, NOW + 23 * HOUR), record, remind_after_hours=24) is False
    assert stale_alert_due(health(sqlite_db, NOW + 24 * HOUR), record, remind_after_hours=24) is True
    assert stale_alert_due(health(sqlite_db, NOW - HOUR), record, remind_after_hours=24) is True
    assert stale_alert_due(first, {"last_success": "garbage"}, remind_after_hours=24) is True
    assert stale_alert_due(first, {**record, "alerted_at": "not a time"}, remind_after_hours=24) is True


def test_a_new_success_that_goes_stale_alerts_again_at_once(sqlite_db: DatabaseUnderTest) -> None:
    add_cleanup_run(sqlite_db, finished=NOW - 30 * HOUR)
    record = stale_alert_record(health(sqlite_db, NOW))
    add_cleanup_run(sqlite_db, finished=NOW + HOUR)

    later = health(sqlite_db, NOW + 28 * HOUR)

    assert later.healthy is False
    assert stale_alert_due(later, record, remind_after_hours=24) is True


def test_healthy_report_is_never_due_for_an_alert(sqlite_db: DatabaseUnderTest) -> None:
    add_cleanup_run(sqlite_db, finished=NOW - HOUR)

    assert stale_alert_due(health(sqlite_db), None, remind_after_hours=24) is False
