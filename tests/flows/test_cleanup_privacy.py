"""The nightly cleanup's privacy step: old audit rows redacted, old files removed, counts reported."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.models import Basket, BasketAudit
from baskets.roles import Actor
from tests.conftest import DatabaseUnderTest, add_operators, seed

BOB = Actor("bob", "order_processor")


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 40, 5)
    add_operators(db)
    return db


def _delete_days_ago(database: DatabaseUnderTest, days: list[int]) -> None:
    """Delete a basket `days[n]` days ago for each n: audit row n + 1, written then."""
    with database.engine.connect() as connection:
        ids = [str(i) for i in connection.scalars(select(Basket.id).order_by(Basket.id).limit(len(days)))]
    for basket_id, age in zip(ids, days, strict=True):
        with write_transaction(database.engine) as connection:
            when = dt.datetime.now(dt.UTC) - dt.timedelta(days=age)
            delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="broken", occurred_at=when)


def test_cleanup_redacts_old_audit_rows_removes_old_files_and_reports_both(
    cli, store: DatabaseUnderTest, tmp_path: Path
) -> None:
    _delete_days_ago(store, [366, 364, 366])  # 1 and 3 past privacy.audit_personal_data_days (365)
    assert (
        cli(
            "export", "--as", "alice", "--output", str(tmp_path / "var/exports/old.csv"), env=store.env
        ).exit_code
        == 0
    )
    assert (
        cli(
            "export", "--as", "alice", "--output", str(tmp_path / "var/exports/new.csv"), env=store.env
        ).exit_code
        == 0
    )
    month_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).timestamp()
    os.utime(tmp_path / "var/exports/old.csv", (month_ago, month_ago))
    (tmp_path / "var/exports/mine.csv").write_text("not the suite's\n")
    os.utime(tmp_path / "var/exports/mine.csv", (month_ago, month_ago))

    dry = cli("cleanup", "--dry-run", "--as", "alice", "--json", env=store.env)
    assert dry.exit_code == 0, dry.stderr
    assert (dry.json()["privacy"]["audit_rows_redacted"], dry.json()["privacy"]["files_removed"]) == (2, 1)
    assert (tmp_path / "var/exports/old.csv").exists()

    run = cli("cleanup", "--as", "alice", "--force", "--json", env=store.env)
    assert run.exit_code == 0, run.stderr
    assert (run.json()["privacy"]["audit_rows_redacted"], run.json()["privacy"]["files_removed"]) == (2, 1)
    assert not (tmp_path / "var/exports/old.csv").exists()
    assert (tmp_path / "var/exports/new.csv").exists() and (tmp_path / "var/exports/mine.csv").exists()
    with store.engine.connect() as connection:
        redacted = set(
            connection.scalars(select(BasketAudit.seq).where(BasketAudit.redacted_at.is_not(None)))
        )
    assert redacted == {1, 3}
    assert cli("audit", "verify", "--as", "bob", env=store.env).exit_code == 0

    status = cli("status", "--json", env=store.env)
    report = status.json()
    assert report["last_success"]["privacy"]["audit_rows_redacted"] == 2
    assert report["redacted_audit_rows"] == {"retention": 2, "erasure": 0}
    shown = cli("status", env=store.env).stdout
    assert (
        "personal data     last success redacted 2 audit rows, removed 1 file; redacted in all: 2 by "
        "retention, 0 by erasure"
    ) in shown
    said = cli("cleanup", "--as", "alice", env=store.env).stdout
    assert "  personal data: redacted 0 audit rows written before " in said


def test_a_shorter_audit_retention_setting_redacts_sooner(cli, store: DatabaseUnderTest) -> None:
    _delete_days_ago(store, [8, 6])
    env = {**store.env, "BASKETS_PRIVACY__AUDIT_PERSONAL_DATA_DAYS": "7"}
    run = cli("cleanup", "--as", "alice", "--force", "--json", env=env)
    assert run.exit_code == 0, run.stderr
    assert run.json()["privacy"]["audit_rows_redacted"] == 1


def test_a_bad_privacy_setting_stops_the_cleanup_before_it_starts(cli, store: DatabaseUnderTest) -> None:
    env = {**store.env, "BASKETS_PRIVACY__EXPORT_KEEP_DAYS": "0"}
    refused = cli("cleanup", "--as", "alice", env=env)
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: setting privacy.export_keep_days: 0 is below 1")
    with store.engine.connect() as connection:
        assert connection.scalar(select(BasketAudit.seq).limit(1)) is None
