"""Redaction: the personal part of audit rows goes, the chain still verifies, tampering still shows."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from baskets.audit import CHAIN_HEAD_ID, PERSONAL_COLUMNS, verify_audit_chain_snapshot
from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit, restore_basket
from baskets.errors import NotFound
from baskets.models import GENESIS_HASH, AuditChainHead, Base, Basket, BasketAudit, Operator
from baskets.privacy.forget import ErasureSubject, erase_personal_data
from baskets.privacy.redaction import (
    ERASURE,
    RETENTION,
    count_rows_past_cutoff,
    redact_audit_rows,
    redact_rows_past_cutoff,
)
from baskets.roles import Actor
from tests.conftest import NOW, DatabaseUnderTest, seed

BOB = Actor("bob", "order_processor")
ALICE = Actor("alice", "system_administrator")


def _ids(database: DatabaseUnderTest, count: int) -> list[str]:
    with database.engine.connect() as connection:
        return [str(i) for i in connection.scalars(select(Basket.id).order_by(Basket.id).limit(count))]


def _delete(database: DatabaseUnderTest, ids: list[str], when: dt.datetime | None = None) -> None:
    with write_transaction(database.engine) as connection:
        delete_baskets_with_audit(connection, ids, actor=BOB, reason="broken", note="asked", occurred_at=when)


def _redact(database: DatabaseUnderTest, seqs: list[int], reason: str = RETENTION) -> int:
    with write_transaction(database.engine) as connection:
        return redact_audit_rows(connection, seqs, reason=reason, when=NOW)


def _row(database: DatabaseUnderTest, seq: int) -> dict[str, Any]:
    with database.engine.connect() as connection:
        return dict(
            connection.execute(select(BasketAudit.__table__).where(BasketAudit.seq == seq)).mappings().one()
        )


def test_redacted_rows_keep_their_hash_and_the_chain_verifies_with_and_without_a_saved_head(
    db: DatabaseUnderTest,
) -> None:
    seed(db, 20)
    _delete(db, _ids(db, 5))
    before = verify_audit_chain_snapshot(db.engine)
    hashes = [_row(db, seq)["hash"] for seq in range(1, 6)]
    assert _redact(db, [2, 4]) == 2
    assert _redact(db, [2]) == 0  # already redacted: nothing to do
    after = verify_audit_chain_snapshot(db.engine, before.head_hash)
    assert (after.ok, after.count, after.head_hash) == (True, 5, before.head_hash)
    assert [_row(db, seq)["hash"] for seq in range(1, 6)] == hashes
    redacted = _row(db, 2)
    assert all(redacted[name] is None for name in (*PERSONAL_COLUMNS, "personal_salt"))
    assert (redacted["redaction"], redacted["redacted_at"]) == (RETENTION, NOW)
    kept = _row(db, 3)
    assert kept["lines"] is not None and kept["note"] == "asked"


# (column, a changed value given the stored row) for every column a change to which verify catches.
CHANGES: dict[str, Any] = {
    "event": lambda row: "restored" if row["event"] != "restored" else "deleted",
    "basket_id": lambda row: str(uuid.uuid4()),
    "occurred_at": lambda row: row["occurred_at"] + dt.timedelta(microseconds=1),
    "actor": lambda row: row["actor"] + "x",
    "actor_role": lambda row: "system_administrator" if row["actor_role"] != "system_administrator" else "x",
    "reason": lambda row: "manual" if row["reason"] != "manual" else "broken",
    "flow_run_id": lambda row: "f00d",
    "account_type": lambda row: "Contact" if row["account_type"] != "Contact" else "Customer",
    "basket_created_at": lambda row: (row["basket_created_at"] or NOW) + dt.timedelta(seconds=1),
    "line_count": lambda row: (row["line_count"] or 0) + 1,
    "total_quantity": lambda row: (row["total_quantity"] or Decimal(0)) + Decimal("0.0001"),
    "detail": lambda row: '{"reference":"other"}',
    "personal_digest": lambda row: "0" * 64,
    "legacy_hash": lambda row: "1" * 64,
    "prev_hash": lambda row: "2" * 64,
    "hash": lambda row: "3" * 64,
    "personal_salt": lambda row: "4" * 32,
    **{name: (lambda row: "someone@example.com") for name in PERSONAL_COLUMNS if name != "shop_account_id"},
    "shop_account_id": lambda row: str(uuid.uuid4()),
}


@pytest.mark.parametrize("column", sorted(CHANGES))
def test_any_change_to_a_redacted_row_is_caught_naming_it(db: DatabaseUnderTest, column: str) -> None:
    seed(db, 10)
    _delete(db, _ids(db, 3))
    _redact(db, [2])
    row = _row(db, 2)
    with db.engine.begin() as connection:
        connection.execute(
            update(BasketAudit).where(BasketAudit.seq == 2).values({column: CHANGES[column](row)})
        )
    report = verify_audit_chain_snapshot(db.engine)
    assert (report.ok, report.first_bad_seq) == (False, 2), report.problem


def test_a_removed_row_or_a_cut_tail_is_caught_among_redacted_rows(db: DatabaseUnderTest) -> None:
    seed(db, 10)
    _delete(db, _ids(db, 4))
    _redact(db, [1, 2, 3, 4])
    with db.engine.begin() as connection:
        connection.execute(delete(BasketAudit).where(BasketAudit.seq == 4))
    assert verify_audit_chain_snapshot(db.engine).first_bad_seq == 4
    with db.engine.begin() as connection:
        connection.execute(delete(BasketAudit).where(BasketAudit.seq == 2))
    assert verify_audit_chain_snapshot(db.engine).first_bad_seq == 2


def test_restore_of_a_redacted_basket_is_refused_saying_when_and_why(db: DatabaseUnderTest) -> None:
    seed(db, 10)
    (basket_id,) = _ids(db, 1)
    _delete(db, [basket_id])
    _redact(db, [1])
    with pytest.raises(NotFound) as refused, write_transaction(db.engine) as connection:
        restore_basket(connection, basket_id, actor=ALICE)
    assert refused.value.exit_code == 4
    assert refused.value.message == (
        f"basket {basket_id} cannot be restored: its audit row (seq 1) was redacted on 2026-11-01 12:00 UTC: "
        "its personal data passed the audit retention (privacy.audit_personal_data_days)"
    )
    assert verify_audit_chain_snapshot(db.engine).count == 1  # nothing appended


def test_retention_redacts_exactly_the_rows_past_the_cutoff(db: DatabaseUnderTest) -> None:
    seed(db, 30)
    ids = _ids(db, 6)
    cutoff = NOW - dt.timedelta(days=365)
    times = [
        cutoff - dt.timedelta(days=3),
        cutoff - dt.timedelta(microseconds=1),
        cutoff,  # not before the cut-off: kept
        cutoff + dt.timedelta(microseconds=1),
        cutoff - dt.timedelta(days=400),
        NOW,
    ]
    for basket_id, when in zip(ids, times, strict=True):
        _delete(db, [basket_id], when)
    with db.engine.connect() as connection:
        assert count_rows_past_cutoff(connection, cutoff) == 3
    assert redact_rows_past_cutoff(db.engine, cutoff, batch_size=2, when=NOW) == 3
    with db.engine.connect() as connection:
        redacted = set(
            connection.scalars(select(BasketAudit.seq).where(BasketAudit.redacted_at.is_not(None)))
        )
    assert redacted == {1, 2, 5}
    assert redact_rows_past_cutoff(db.engine, cutoff, batch_size=2) == 0  # a second run finds nothing
    assert verify_audit_chain_snapshot(db.engine).ok


# --- property: any history verifies, any single change afterwards is caught -----------------------


def _reset(database: DatabaseUnderTest) -> None:
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in (AuditChainHead.__tablename__, Operator.__tablename__):
                connection.execute(delete(table))
        connection.execute(delete(AuditChainHead))
        connection.execute(insert(AuditChainHead).values(id=CHAIN_HEAD_ID, seq=0, hash=GENESIS_HASH))


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "restore", "redact", "erase"]), st.integers(min_value=0, max_value=7)
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=OPERATIONS,
    target=st.integers(min_value=0, max_value=10**6),
    column=st.sampled_from(sorted(CHANGES)),
)
def test_any_history_verifies_and_any_single_change_afterwards_is_caught(
    db: DatabaseUnderTest, tmp_path: Path, operations: list[tuple[str, int]], target: int, column: str
) -> None:
    _reset(db)
    seed(db, 8, seed_value=3)
    with db.engine.connect() as connection:
        baskets = connection.execute(
            select(Basket.id, Basket.shop_account_id, Basket.account_id).order_by(Basket.id)
        ).all()
    for operation, index in operations:
        basket_id, shop_account_id, account_id = (str(value) if value else None for value in baskets[index])
        if operation == "delete":
            with write_transaction(db.engine) as connection:
                delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="manual", note="n")
        elif operation == "restore":
            try:
                with write_transaction(db.engine) as connection:
                    restore_basket(connection, basket_id, actor=ALICE)
            except NotFound:  # never deleted, or its row is redacted
                pass
            except Exception as error:  # noqa: BLE001 - a basket that exists is refused (BadInput)
                assert getattr(error, "exit_code", None) == 2
        elif operation == "redact":
            _redact(db, [index + 1])
        else:
            subject = (
                ErasureSubject("shop_account_id", shop_account_id)
                if shop_account_id
                else ErasureSubject("account_id", account_id or "C-none")
            )
            erase_personal_data(
                db.engine, subject, actor=ALICE, reference="T-1", export_dir=tmp_path / "none"
            )
    report = verify_audit_chain_snapshot(db.engine)
    assert report.ok, report.problem
    if report.count == 0:
        return
    seq = target % report.count + 1
    row = _row(db, seq)
    if column in PERSONAL_COLUMNS and row["redacted_at"] is None and row[column] == "someone@example.com":
        return
    with db.engine.begin() as connection:
        connection.execute(
            update(BasketAudit).where(BasketAudit.seq == seq).values({column: CHANGES[column](row)})
        )
    broken = verify_audit_chain_snapshot(db.engine)
    assert (broken.ok, broken.first_bad_seq) == (False, seq), (column, broken.problem)


# --- a chain written by the release before migration 0006 --------------------------------------


def _at_0004_with_a_legacy_chain(database: DatabaseUnderTest, rows: int) -> list[str]:
    from alembic import command

    from baskets.db import _alembic_config
    from tests.baskets.legacy_chain import write_legacy_chain

    with database.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0004")
    return write_legacy_chain(database, rows)


def test_a_chain_written_before_0006_verifies_after_the_upgrade_and_can_be_redacted(
    db: DatabaseUnderTest,
) -> None:
    from baskets.db import upgrade_database

    old = _at_0004_with_a_legacy_chain(db, 5)
    assert upgrade_database(db.engine) == ("0004", "0008")
    upgraded = verify_audit_chain_snapshot(db.engine)
    assert (upgraded.ok, upgraded.count) == (True, 5)
    assert upgraded.head_hash != old[-1]  # hashed anew; the old hash is kept as legacy_hash
    assert [_row(db, seq)["legacy_hash"] for seq in range(1, 6)] == old
    for saved in (old[-1], old[1], upgraded.head_hash):  # heads saved before and after the upgrade
        assert verify_audit_chain_snapshot(db.engine, saved).ok
    assert _redact(db, [2, 3], ERASURE) == 2
    assert verify_audit_chain_snapshot(db.engine, old[-1]).ok
    with db.engine.begin() as connection:  # a kept field of a redacted old row
        connection.execute(update(BasketAudit).where(BasketAudit.seq == 3).values(actor="mallory"))
    assert verify_audit_chain_snapshot(db.engine).first_bad_seq == 3


def test_an_old_row_changed_before_the_upgrade_is_still_caught_after_it(db: DatabaseUnderTest) -> None:
    from baskets.db import upgrade_database

    _at_0004_with_a_legacy_chain(db, 4)
    with db.engine.begin() as connection:  # tampered with under the old release
        connection.execute(
            update(BasketAudit.__table__).where(BasketAudit.seq == 3).values(note="nothing here")
        )
    upgrade_database(db.engine)
    report = verify_audit_chain_snapshot(db.engine)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert (
        report.problem
        == "row 3 was changed after it was written (it no longer gives its hash from before 0006)"
    )
