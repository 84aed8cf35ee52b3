"""Deleting baskets with audit rows in one transaction, the re-check under lock, and restore."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, true, update
from sqlalchemy.exc import OperationalError

from baskets import deletion
from baskets.audit import canonical_lines, parse_lines, verify_audit_chain
from baskets.backends import backend_named
from baskets.backends import postgresql as postgresql_backend
from baskets.db import is_transaction_conflict, make_engine, upgrade_database, write_transaction
from baskets.deletion import delete as deletion_module
from baskets.deletion import (
    delete_baskets_with_audit,
    existing_basket_ids,
    restore_basket,
    select_basket_ids,
)
from baskets.errors import BadInput, NotFound
from baskets.models import AuditChainHead, Basket, BasketAudit, BasketLine
from baskets.retention import RunTally
from baskets.roles import Actor
from baskets.seed import seed_database
from tests.conftest import NOW, DatabaseUnderTest, commit_once_a_session_waits, seed

BOB = Actor("bob", "order_processor")
ALICE = Actor("alice", "system_administrator")
WHEN = dt.datetime(2026, 11, 2, 8, 30, 15, 123456, tzinfo=dt.UTC)


def _first_ids(database: DatabaseUnderTest, count: int, offset: int = 0) -> list[str]:
    with database.engine.connect() as connection:
        return list(connection.scalars(select(Basket.id).order_by(Basket.id).offset(offset).limit(count)))


def _snapshot(database: DatabaseUnderTest, basket_id: str) -> tuple[tuple, list[tuple]]:
    with database.engine.connect() as connection:
        basket = connection.execute(
            select(Basket.id, Basket.shop_account_id, Basket.account_id, Basket.account_type,
                   Basket.created_at, Basket.modified_at).where(Basket.id == basket_id)
        ).one()  # fmt: skip
        lines = connection.execute(
            select(BasketLine.id, BasketLine.product_id, BasketLine.variant_id, BasketLine.quantity,
                   BasketLine.uom_id).where(BasketLine.basket_id == basket_id).order_by(BasketLine.id)
        ).all()  # fmt: skip
    return tuple(basket), [
        (*line[:3], Decimal(line[3]).quantize(Decimal("0.0001")), line[4]) for line in lines
    ]


def _counts(database: DatabaseUnderTest) -> tuple[int, int, int, int]:
    with database.engine.connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(Basket)),
            connection.scalar(select(func.count()).select_from(BasketLine)),
            connection.scalar(select(func.count()).select_from(BasketAudit)),
            connection.scalar(select(AuditChainHead.seq)),
        )


def test_delete_writes_one_chained_audit_row_per_basket_and_removes_lines(db: DatabaseUnderTest) -> None:
    seed(db, 60)
    ids = _first_ids(db, 5)
    baskets_before, lines_before, _, _ = _counts(db)
    with db.engine.connect() as connection:
        doomed_lines = connection.scalar(
            select(func.count()).select_from(BasketLine).where(BasketLine.basket_id.in_(ids))
        )
    with write_transaction(db.engine) as connection:
        result = delete_baskets_with_audit(
            connection, list(reversed(ids)), actor=BOB, reason="broken", note="cannot calculate",
            flow_run_id="run-1", occurred_at=WHEN,
        )  # fmt: skip
    assert result.deleted == sorted(ids)
    assert result.missing == []
    assert (result.first_seq, result.last_seq) == (1, 5)
    assert _counts(db) == (baskets_before - 5, lines_before - doomed_lines, 5, 5)
    with db.engine.connect() as connection:
        rows = connection.execute(select(BasketAudit.__table__).order_by(BasketAudit.seq)).mappings().all()
        report = verify_audit_chain(connection)
    assert [row["basket_id"] for row in rows] == sorted(ids)
    assert {(row["actor"], row["actor_role"], row["reason"], row["note"], row["flow_run_id"], row["event"])
            for row in rows} == {("bob", "order_processor", "broken", "cannot calculate", "run-1", "deleted")}  # fmt: skip
    assert all(row["occurred_at"] == WHEN for row in rows)
    assert sum(row["line_count"] for row in rows) == doomed_lines
    for row in rows:
        lines = parse_lines(row["lines"])
        assert len(lines) == row["line_count"]
        assert sum((line["quantity"] for line in lines), Decimal(0)) == Decimal(
            row["total_quantity"]
        ).quantize(Decimal("0.0001"))
    assert rows[0]["prev_hash"] == "0" * 64
    assert [row["prev_hash"] for row in rows[1:]] == [row["hash"] for row in rows[:-1]]
    assert report.ok and report.count == 5 and report.head_hash == rows[-1]["hash"]


def test_audit_row_keeps_the_list_page_fields_of_the_basket(db: DatabaseUnderTest) -> None:
    seed(db, 80)
    from baskets.filters import BasketFilter
    from baskets.queries import list_baskets

    with db.engine.connect() as connection:
        shown = next(row for row in list_baskets(connection, BasketFilter(account_type="customer"), 50)
                     if row["shop_account_name"] and row["account_name"])  # fmt: skip
    with write_transaction(db.engine) as connection:
        delete_baskets_with_audit(
            connection, [shown["basket_id"]], actor=BOB, reason="manual", occurred_at=WHEN
        )
    with db.engine.connect() as connection:
        row = connection.execute(select(BasketAudit.__table__)).mappings().one()
    assert {key: row[key] for key in ("shop_account_name", "shop_account_email", "account_id", "account_name",
                                       "account_email", "account_type", "shop_account_id")} == {
        key: shown[key] for key in ("shop_account_name", "shop_account_email", "account_id", "account_name",
                                    "account_email", "account_type", "shop_account_id")
    }  # fmt: skip
    assert (row["basket_created_at"], row["basket_modified_at"]) == (
        shown["created_at"],
        shown["modified_at"],
    )
    assert row["line_count"] == shown["line_count"]


def test_unknown_ids_are_reported_missing_and_nothing_else_happens(db: DatabaseUnderTest) -> None:
    seed(db, 20)
    ids = _first_ids(db, 2)
    unknown = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    with write_transaction(db.engine) as connection:
        result = delete_baskets_with_audit(connection, [*ids, unknown], actor=BOB, reason="broken")
    assert result.deleted == sorted(ids)
    assert result.missing == [unknown]
    with write_transaction(db.engine) as connection:
        empty = delete_baskets_with_audit(connection, [unknown], actor=BOB, reason="broken")
    assert empty == deletion.DeletionResult(deleted=[], missing=[unknown], first_seq=None, last_seq=None)
    assert _counts(db)[2:] == (2, 2)


def test_basket_that_no_longer_matches_at_delete_time_survives(db: DatabaseUnderTest) -> None:
    seed(db, 30)
    ids = _first_ids(db, 4)
    cutoff = NOW - dt.timedelta(days=1)
    with db.engine.begin() as connection:
        connection.execute(
            update(Basket).where(Basket.id.in_(ids)).values(modified_at=cutoff - dt.timedelta(days=5))
        )
        # The customer came back to this one after it was selected.
        connection.execute(update(Basket).where(Basket.id == ids[1]).values(modified_at=NOW))
    with write_transaction(db.engine) as connection:
        result = delete_baskets_with_audit(
            connection, ids, actor=Actor("retention-policy", "system"), reason="retention",
            still_matches=Basket.modified_at < cutoff,
        )  # fmt: skip
    assert result.deleted == sorted(set(ids) - {ids[1]})
    assert result.missing == [ids[1]]
    with db.engine.connect() as connection:
        assert existing_basket_ids(connection, ids) == {ids[1]}


def test_one_condition_deletes_batch_after_batch_each_its_own_baskets(db: DatabaseUnderTest) -> None:
    """A cleanup run passes the same condition object for every batch; on PostgreSQL the one
    statement built around it is reused with each batch's ids, and must not keep the first's."""
    seed(db, 30)
    cutoff = NOW + dt.timedelta(days=1)
    still_matches = Basket.modified_at < cutoff
    first, second = _first_ids(db, 3), _first_ids(db, 4, offset=3)
    results = []
    for ids in (first, second):
        with write_transaction(db.engine) as connection:
            results.append(
                delete_baskets_with_audit(
                    connection, ids, actor=BOB, reason="retention", still_matches=still_matches
                )
            )
    assert [result.deleted for result in results] == [sorted(first), sorted(second)]
    assert [result.missing for result in results] == [[], []]
    statement = functools.partial(postgresql_backend._delete_returning_statement, backend_named("postgresql"))
    assert statement(still_matches) is statement(still_matches)
    assert statement(Basket.modified_at < cutoff) is not (
        statement(still_matches)
    )  # an equal condition in another object: built again, never mistaken for it
    with db.engine.connect() as connection:
        audited = list(connection.scalars(select(BasketAudit.basket_id).order_by(BasketAudit.seq)))
        assert existing_basket_ids(connection, first + second) == set()
    assert audited == sorted(first) + sorted(second)


def test_failure_after_the_delete_and_the_audit_insert_undoes_both(
    db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db, 30)
    ids = _first_ids(db, 3)
    before = _counts(db)
    with db.engine.connect() as connection:
        head_before = connection.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one()
    append_documents = deletion_module.append_documents

    def fail_after_audit(connection, head, documents, **options):  # type: ignore[no-untyped-def]
        append_documents(connection, head, documents, **options)
        assert connection.scalar(select(func.count()).select_from(BasketAudit)) == 3  # audit rows are in
        assert existing_basket_ids(connection, ids) == set()  # and the baskets gone
        raise RuntimeError("injected failure")

    monkeypatch.setattr(deletion_module, "append_documents", fail_after_audit)
    with pytest.raises(RuntimeError, match="injected"), write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, ids, actor=BOB, reason="broken")
    assert _counts(db) == before
    with db.engine.connect() as connection:
        assert connection.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one() == head_before
        assert existing_basket_ids(connection, ids) == set(ids)


def test_failure_in_the_delete_itself_undoes_the_audit_rows(db: DatabaseUnderTest) -> None:
    seed(db, 10)
    ids = _first_ids(db, 2)
    before = _counts(db)
    with pytest.raises(RuntimeError), write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, ids, actor=BOB, reason="broken")
        raise RuntimeError("the caller fails after the delete")
    assert _counts(db) == before


def test_same_seed_and_deletion_hash_the_same_as_on_a_reference_sqlite(
    db: DatabaseUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    salts = iter(range(10**6))
    # The salts are random in use; the same ones on both databases, so the hashes can be compared.
    monkeypatch.setattr("baskets.audit.chain.new_salt", lambda: f"{next(salts) % 25:032x}")
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    upgrade_database(reference)
    hashes = []
    for engine in (reference, db.engine):
        seed_database(engine, 120, 11, NOW, replace=True)
        with engine.connect() as connection:
            ids = list(connection.scalars(select(Basket.id).order_by(Basket.id).limit(25)))
        with write_transaction(engine) as connection:
            delete_baskets_with_audit(connection, ids[:20], actor=BOB, reason="broken", note="Zoë's “basket” ✓",
                                      flow_run_id="f00d", occurred_at=WHEN)  # fmt: skip
            delete_baskets_with_audit(connection, ids[20:], actor=ALICE, reason="manual", occurred_at=WHEN)
        with engine.connect() as connection:
            hashes.append(
                list(connection.execute(select(BasketAudit.hash).order_by(BasketAudit.seq)).scalars())
            )
            assert verify_audit_chain(connection).ok
    reference.dispose()
    assert len(hashes[0]) == 25
    assert hashes[1] == hashes[0]


def test_select_basket_ids_pages_in_key_order(db: DatabaseUnderTest) -> None:
    seed(db, 25)
    everything = _first_ids(db, 100)
    with db.engine.connect() as connection:
        first = select_basket_ids(connection, Basket.id.is_not(None), limit=10)
        second = select_basket_ids(connection, Basket.id.is_not(None), after=first[-1], limit=10)
    assert first + second == everything[:20]


def test_bad_reason_or_long_note_is_refused_before_anything_changes(db: DatabaseUnderTest) -> None:
    seed(db, 5)
    ids = _first_ids(db, 1)
    before = _counts(db)
    with pytest.raises(BadInput, match="^note: "), write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, ids, actor=BOB, reason="broken", note="x" * 2001)
    with pytest.raises(BadInput, match="^reason: "), write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, ids, actor=BOB, reason="")
    assert _counts(db) == before


def test_restore_puts_basket_and_lines_back_and_chains_a_restored_row(db: DatabaseUnderTest) -> None:
    seed(db, 40)
    with db.engine.connect() as connection:
        basket_id = connection.scalar(
            select(BasketLine.basket_id).group_by(BasketLine.basket_id)
            .having(func.count() > 2).order_by(BasketLine.basket_id).limit(1)
        )  # fmt: skip
    before = _snapshot(db, basket_id)
    with write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="broken")
    with write_transaction(db.engine) as connection:
        restored = restore_basket(connection, basket_id, actor=ALICE, note="customer asked", occurred_at=WHEN)
    assert (restored.restored_from_seq, restored.seq, restored.line_count) == (1, 2, len(before[1]))
    after = _snapshot(db, basket_id)
    # All as it was but modified_at: a restore is a touch (the next cleanup must not take it again).
    assert (after[0][:5], after[1]) == (before[0][:5], before[1])
    assert _aware(after[0][5]) == WHEN != _aware(before[0][5])
    with db.engine.connect() as connection:
        rows = connection.execute(select(BasketAudit.__table__).order_by(BasketAudit.seq)).mappings().all()
        assert verify_audit_chain(connection).ok
    assert [(row["event"], row["actor"], row["reason"]) for row in rows] == [
        ("deleted", "bob", "broken"), ("restored", "alice", "restore")
    ]  # fmt: skip
    assert rows[1]["lines"] == rows[0]["lines"]
    assert (_aware(rows[1]["basket_modified_at"]), rows[1]["basket_created_at"]) == (
        WHEN,
        rows[0]["basket_created_at"],
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def test_restored_basket_is_not_deleted_again_by_the_next_cleanup(db: DatabaseUnderTest) -> None:
    from baskets.retention import RetentionPolicy, delete_expired_batch, select_expired_basket_ids

    policy = RetentionPolicy(days={"anonymous": 30, "contact": 90, "customer": 180})
    seed(db, 40)
    with db.engine.connect() as connection:
        (expired, *_) = select_expired_basket_ids(connection, policy, NOW)
    delete_expired_batch(
        db.engine, [expired], policy=policy, now=NOW, actor=ALICE, run_id=1, tally=RunTally()
    )
    with write_transaction(db.engine) as connection:
        restore_basket(connection, expired.basket_id, actor=ALICE, occurred_at=NOW + dt.timedelta(minutes=5))
    later = NOW + dt.timedelta(hours=1)
    with db.engine.connect() as connection:
        again = select_expired_basket_ids(connection, policy, later, limit=10**6)
    assert expired.basket_id not in {basket.basket_id for basket in again}
    outcome = delete_expired_batch(
        db.engine, [expired], policy=policy, now=later, actor=ALICE, run_id=2, tally=RunTally()
    )
    assert (outcome.deleted, outcome.survived) == ([], [expired.basket_id])
    assert _counts(db)[0] == 40


def test_restore_refuses_an_existing_basket_and_an_unknown_one(db: DatabaseUnderTest) -> None:
    seed(db, 5)
    basket_id = _first_ids(db, 1)[0]
    with pytest.raises(BadInput, match="exists"), write_transaction(db.engine) as connection:
        restore_basket(connection, basket_id, actor=ALICE)
    with pytest.raises(NotFound, match="no deleted basket"), write_transaction(db.engine) as connection:
        restore_basket(connection, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", actor=ALICE)
    assert _counts(db)[2:] == (0, 0)


def test_two_concurrent_deleters_keep_the_chain_linear(server_db: DatabaseUnderTest) -> None:
    seed(server_db, 200)
    ids = _first_ids(server_db, 160)
    # Overlapping halves: every basket is deleted exactly once, by whichever thread gets it.
    halves = [ids[:100], ids[60:]]
    barrier = threading.Barrier(2)
    results: list[deletion.DeletionResult] = []
    errors: list[BaseException] = []

    def delete_in_batches(batch_ids: list[str], name: str) -> None:
        try:
            barrier.wait()
            for start in range(0, len(batch_ids), 10):
                with write_transaction(server_db.engine) as connection:
                    results.append(delete_baskets_with_audit(
                        connection, batch_ids[start:start + 10], actor=Actor(name, "order_processor"),
                        reason="manual",
                    ))  # fmt: skip
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=delete_in_batches, args=(half, f"op{i}")) for i, half in enumerate(halves)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    deleted = sorted(basket_id for result in results for basket_id in result.deleted)
    assert deleted == sorted(ids)
    ranges = sorted((r.first_seq, r.last_seq) for r in results if r.first_seq is not None)
    assert [first for first, _ in ranges] == [1] + [last + 1 for _, last in ranges[:-1]]
    with server_db.engine.connect() as connection:
        report = verify_audit_chain(connection)
        seqs = list(connection.scalars(select(BasketAudit.seq).order_by(BasketAudit.seq)))
    assert report.ok and report.count == 160
    assert seqs == list(range(1, 161))


def test_audit_account_fields_match_the_list_page_when_the_reference_differs_in_case_or_is_gone(
    db: DatabaseUnderTest,
) -> None:
    """Account names are looked up by exact key, as the list page joins them: an ERP id in
    another case names no account on any database (MariaDB too, since 0004), nor does a gone one."""
    from baskets.filters import BasketFilter
    from baskets.queries import list_baskets

    seed(db, 80)
    with db.engine.connect() as connection:
        customers = [row for row in list_baskets(connection, BasketFilter(account_type="customer"), 50)
                     if row["account_name"]][:2]  # fmt: skip
    odd_case, gone = customers[0]["basket_id"], customers[1]["basket_id"]
    with db.engine.begin() as connection:
        connection.execute(
            update(Basket)
            .where(Basket.id == odd_case)
            .values(account_id=customers[0]["account_id"].swapcase())
        )
        connection.execute(update(Basket).where(Basket.id == gone).values(account_id="NO-SUCH-ERP-ID"))
        shown = {
            row["basket_id"]: (row["account_name"], row["account_email"])
            for row in list_baskets(connection, BasketFilter(), 1000)
            if row["basket_id"] in (odd_case, gone)
        }
    assert shown[odd_case] == (None, None)
    assert shown[gone] == (None, None)
    with write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, [odd_case, gone], actor=BOB, reason="manual", occurred_at=WHEN)
    with db.engine.connect() as connection:
        audited = {
            row.basket_id: (row.account_name, row.account_email)
            for row in connection.execute(
                select(BasketAudit.basket_id, BasketAudit.account_name, BasketAudit.account_email)
            )
        }
    assert audited == shown
    with db.engine.connect() as connection:
        assert verify_audit_chain(connection).ok


AWKWARD_TEXTS = [
    'say "hi"',
    "back\\slash",
    "tab\tnew\nline\r",
    "\x01\x1f\x7f",
    "Zoë ✓ 😀",
    "\u2028\u2029",
    "{[,]}",
]


def test_lines_with_awkward_text_and_empty_baskets_are_audited_as_canonical_lines(
    db: DatabaseUnderTest,
) -> None:
    seed(db, 10)
    full, empty = _first_ids(db, 2)
    with db.engine.begin() as connection:
        connection.execute(BasketLine.__table__.delete().where(BasketLine.basket_id.in_([full, empty])))
        for number, text in enumerate(AWKWARD_TEXTS):
            connection.execute(BasketLine.__table__.insert().values(
                basket_id=full, product_id=text[:50], variant_id=None if number % 2 else text,
                quantity=Decimal("12345.6789") if number % 3 else Decimal("0.0001"), uom_id=text[:20] if number % 2 else None,
            ))  # fmt: skip
    _, expected_lines = _snapshot(db, full)
    with write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, [full, empty], actor=BOB, reason="broken", occurred_at=WHEN)
    with db.engine.connect() as connection:
        rows = {row["basket_id"]: row for row in connection.execute(select(BasketAudit.__table__)).mappings()}
        assert verify_audit_chain(connection).ok
    expected = canonical_lines(
        {"id": line_id, "product_id": product_id, "variant_id": variant_id, "quantity": quantity, "uom_id": uom_id}
        for line_id, product_id, variant_id, quantity, uom_id in expected_lines
    )  # fmt: skip
    assert rows[full]["lines"] == expected
    assert [line["product_id"] for line in parse_lines(rows[full]["lines"])] == AWKWARD_TEXTS
    assert (rows[full]["line_count"], Decimal(rows[full]["total_quantity"])) == (
        len(AWKWARD_TEXTS), sum((line[3] for line in expected_lines), Decimal(0)),
    )  # fmt: skip
    assert (rows[empty]["lines"], rows[empty]["line_count"], Decimal(rows[empty]["total_quantity"])) == (
        "[]", 0, Decimal(0),
    )  # fmt: skip


def _line_of(database: DatabaseUnderTest, basket_id: str) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(select(func.min(BasketLine.id)).where(BasketLine.basket_id == basket_id))


def test_postgresql_line_added_while_the_delete_waits_for_its_basket_fails_as_a_conflict(
    postgresql_db: DatabaseUnderTest,
) -> None:
    """The one statement reads the lines in the transaction's snapshot; a line committed after
    it, which the cascade would delete unread, fails the transaction (REPEATABLE READ) instead,
    and running it again audits the line."""
    seed(postgresql_db, 20)
    basket_id = _first_ids(postgresql_db, 1)[0]
    writer, waits = commit_once_a_session_waits(
        postgresql_db,
        lambda connection: connection.execute(
            BasketLine.__table__.insert().values(basket_id=basket_id, product_id="LATE", quantity=Decimal(3))
        ),
    )
    with pytest.raises(OperationalError) as raised, write_transaction(postgresql_db.engine) as connection:
        delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="broken")
    writer.join(60)
    assert waits == [1]  # the delete really waited for the inserting transaction
    assert is_transaction_conflict(raised.value)
    before = _snapshot(postgresql_db, basket_id)
    assert "LATE" in [line[1] for line in before[1]]  # rolled back: the basket and every line are there
    assert _counts(postgresql_db)[2] == 0
    with write_transaction(postgresql_db.engine) as connection:  # run again, it sees the line
        delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="broken")
    with postgresql_db.engine.connect() as connection:
        (row,) = connection.execute(select(BasketAudit.__table__)).mappings()
    assert [line["id"] for line in parse_lines(row["lines"])] == [line[0] for line in before[1]]
    assert row["line_count"] == len(before[1])


def test_line_changed_while_the_delete_waits_for_it_is_audited_as_committed(
    server_db: DatabaseUnderTest,
) -> None:
    seed(server_db, 20)
    basket_id = _first_ids(server_db, 1)[0]
    line_id = _line_of(server_db, basket_id)
    writer, waits = commit_once_a_session_waits(
        server_db,
        lambda connection: connection.execute(
            update(BasketLine).where(BasketLine.id == line_id).values(quantity=Decimal("42.5"))
        ),
    )
    for attempt in range(3):  # as every caller does, run a clash again (PostgreSQL's first try)
        try:
            with write_transaction(server_db.engine) as connection:
                result = delete_baskets_with_audit(connection, [basket_id], actor=BOB, reason="broken")
            break
        except OperationalError as error:
            assert is_transaction_conflict(error) and attempt == 0
    writer.join(60)
    assert waits == [1] and result.deleted == [basket_id]
    with server_db.engine.connect() as connection:
        (row,) = connection.execute(select(BasketAudit.__table__)).mappings()
        assert verify_audit_chain(connection).ok
    quantities = {line["id"]: line["quantity"] for line in parse_lines(row["lines"])}
    assert quantities[line_id] == Decimal("42.5")


def test_postgresql_reads_the_id_array_once_even_on_a_sequential_scan(
    postgresql_db: DatabaseUnderTest,
) -> None:
    """On a table without statistics, or a small one, PostgreSQL scans sequentially. The ids
    must then be one array constant: bound as text, they were cast to the array for every row
    the scan visited (a 1000-id batch on a fresh 3,000-basket table took 2.9 s)."""
    seed(postgresql_db, 60)
    ids = _first_ids(postgresql_db, 25)
    with postgresql_db.engine.connect() as connection:
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            connection.exec_driver_sql(f"SET {setting} = off")
        selection = select(Basket.id).where(deletion.key_in(connection, Basket.id, ids))
        batch = postgresql_backend._delete_returning_statement(backend_named("postgresql"), true())
        parameters_of_batch = {postgresql_backend._IDS_PARAMETER: postgresql_backend.pg_array_literal(ids)}
        for statement, parameters in ((selection, {}), (batch, parameters_of_batch)):
            compiled = statement.compile(connection)
            plan = "\n".join(
                row[0]
                for row in connection.exec_driver_sql(
                    f"EXPLAIN {compiled.string}", {**compiled.params, **parameters}
                )
            )
            assert "Seq Scan on baskets" in plan
            assert "'::uuid[]" in plan and "::cstring" not in plan, plan[:300]
        assert sorted(map(str, connection.scalars(selection))) == sorted(ids)
        deleted = connection.execute(batch, parameters_of_batch)
        assert sorted(row[0] for row in deleted) == sorted(ids)
        connection.rollback()  # the settings and the delete
    assert set(ids) <= set(_first_ids(postgresql_db, 60))
