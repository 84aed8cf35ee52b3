"""Migrations on a database holding audit rows: 0005 folds 0004's overlapping batches into one chain
head (and 0006 after it keeps that chain verifying), 0007 adds an index, 0008 turns the audit
log's ids into text; the chain still verifies after each."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, inspect, select, update

from baskets.audit import verify_audit_chain_snapshot
from baskets.db import _alembic_config, current_revision, upgrade_database
from baskets.models import AuditChainHead, CleanupRun
from tests.baskets.audit.test_audit import _chain
from tests.baskets.legacy_chain import write_legacy_chain
from tests.conftest import NOW, DatabaseUnderTest, add_operators

_BATCHES = sa.table(
    "cleanup_run_batches", sa.column("run_id"), sa.column("batch"), sa.column("selected"),
    sa.column("deleted"), sa.column("survived"), sa.column("skipped"), sa.column("detail"),
)  # fmt: skip


def _to(db: DatabaseUnderTest, revision: str) -> None:
    with db.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def _as_a_running_0004_run_left_it(db: DatabaseUnderTest) -> tuple[int, str]:
    """Six audit rows, row 1 of the chain head two rows behind and two head rows of overlapping
    batches past it, a run still `running` whose counts are in its batch rows only; returns the
    run's id and the real head's hash."""
    hashes = write_legacy_chain(db, 6)  # rows as that release wrote them
    with db.engine.begin() as connection:
        connection.execute(update(AuditChainHead).values(seq=4, hash=hashes[3]))
        connection.execute(sa.insert(AuditChainHead).values(id=6, seq=5, hash=hashes[4]))
        connection.execute(sa.insert(AuditChainHead).values(id=7, seq=6, hash=hashes[5]))
        run_id = connection.execute(
            sa.insert(CleanupRun).values(
                started_at=NOW, status="running", actor="retention-policy", dry_run=False, as_of=NOW,
                detail=json.dumps({"batches": 0}),
            )
        ).inserted_primary_key[0]  # fmt: skip
        for batch, deleted in ((1, 3), (2, 6)):
            connection.execute(
                sa.insert(_BATCHES).values(
                    run_id=run_id, batch=batch, selected=deleted, deleted=deleted, survived=0, skipped=0,
                    detail=json.dumps({"batches": batch, "first_seq": 1, "last_seq": deleted}),
                )
            )  # fmt: skip
    return int(run_id), hashes[5]


def test_upgrade_folds_the_extra_head_rows_and_keeps_a_running_runs_counts(
    db: DatabaseUnderTest, cli
) -> None:
    _to(db, "0004")
    run_id, head_hash = _as_a_running_0004_run_left_it(db)
    assert upgrade_database(db.engine) == ("0004", "0008")
    with db.engine.connect() as connection:
        heads = [tuple(row) for row in connection.execute(select(AuditChainHead.id, AuditChainHead.seq))]
        run = connection.execute(select(CleanupRun).where(CleanupRun.id == run_id)).mappings().one()
    assert heads == [(1, 6)]
    assert "cleanup_run_batches" not in inspect(db.engine).get_table_names()
    assert (run["status"], run["deleted"], json.loads(run["detail"])["last_seq"]) == ("running", 6, 6)
    add_operators(db)
    # 0006 re-hashed the rows; the head saved before the upgrade is still accepted (legacy_hash).
    verified = cli("audit", "verify", "--head", head_hash, "--as", "bob", "--json", env=db.env)
    assert verified.exit_code == 0, verified.stderr
    assert (verified.json()["ok"], verified.json()["rows"]) == (True, 6)


def test_upgrade_leaves_a_missing_row_1_for_verify_to_report(db: DatabaseUnderTest, cli) -> None:
    _to(db, "0004")
    _as_a_running_0004_run_left_it(db)
    with db.engine.begin() as connection:
        connection.execute(sa.delete(AuditChainHead).where(AuditChainHead.id == 1))
    upgrade_database(db.engine)
    add_operators(db)
    verified = cli("audit", "verify", "--as", "bob", "--json", env=db.env)
    assert verified.exit_code == 6
    assert "chain head" in verified.stderr + verified.stdout


def test_downgrade_brings_back_the_batch_table_empty(db: DatabaseUnderTest) -> None:
    _chain(db, deletions=2)
    _to(db, "0004")
    assert current_revision(db.engine) == "0004"
    with db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(_BATCHES)) == 0
        assert [tuple(row) for row in connection.execute(select(AuditChainHead.id, AuditChainHead.seq))] == [
            (1, 2)
        ]
    assert upgrade_database(db.engine) == ("0004", "0008")


def test_0007_adds_the_redaction_walk_index_and_its_downgrade_removes_it(db: DatabaseUnderTest) -> None:
    def audit_indexes() -> dict[str, list[str]]:
        with db.engine.connect() as connection:
            found = inspect(connection).get_indexes("basket_audit")
        return {index["name"]: list(index["column_names"]) for index in found}

    assert audit_indexes()["ix_basket_audit_redacted_at_occurred_at"] == ["redacted_at", "occurred_at"]
    _chain(db, deletions=3)
    _to(db, "0006")
    assert current_revision(db.engine) == "0006"
    assert "ix_basket_audit_redacted_at_occurred_at" not in audit_indexes()
    assert upgrade_database(db.engine) == ("0006", "0008")
    assert audit_indexes()["ix_basket_audit_redacted_at_occurred_at"] == ["redacted_at", "occurred_at"]
    assert verify_audit_chain_snapshot(db.engine).count == 3


# --- 0008: the audit log's basket and shop account ids as exact text --------------------------


def _audit_ids(db: DatabaseUnderTest) -> list[tuple[object, ...]]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.text("SELECT seq, basket_id, shop_account_id, hash FROM basket_audit ORDER BY seq"))]  # fmt: skip


def _as_text(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Audit id rows with their ids as text (PostgreSQL's uuid column gives uuid.UUID or str)."""
    return [
        (seq, *(None if value is None else str(value) for value in ids), digest) for seq, *ids, digest in rows
    ]


def _column_types(db: DatabaseUnderTest) -> dict[str, tuple[str, int | None]]:
    """(type name, length) of the audit id columns, as the database reports them."""
    with db.engine.connect() as connection:
        columns = inspect(connection).get_columns("basket_audit")
    return {
        column["name"]: (type(column["type"]).__name__.upper(), getattr(column["type"], "length", None))
        for column in columns
        if column["name"] in _KEY_COLUMNS
    }


_KEY_COLUMNS = ("basket_id", "shop_account_id")


def test_0008_turns_the_audit_ids_into_text_and_the_chain_of_real_deletes_still_verifies(
    db: DatabaseUnderTest, cli, prefect_harness: None
) -> None:
    _to(db, "0007")
    if db.backend == "postgresql":
        assert set(_column_types(db).values()) == {("UUID", None)}
    _chain(db, deletions=4)  # real builtin deletes, written into the 0007 table
    before = _audit_ids(db)
    assert len(before) == 4 and sum(1 for row in before if row[2] is not None) >= 1
    assert upgrade_database(db.engine) == ("0007", "0008")
    after = _audit_ids(db)
    # Byte for byte the text the suite wrote and hashed: lowercase, hyphenated.
    assert after == _as_text(before)
    assert all(isinstance(row[1], str) and row[1] == row[1].lower() and len(row[1]) == 36 for row in after)
    assert _column_types(db) == dict.fromkeys(_KEY_COLUMNS, ("VARCHAR", 255))
    if db.backend == "mariadb":
        with db.engine.connect() as connection:
            collations = dict(connection.execute(sa.text(
                "SELECT column_name, collation_name FROM information_schema.columns WHERE table_schema = "
                "DATABASE() AND table_name = 'basket_audit' AND column_name IN ('basket_id', 'shop_account_id')"
            )).all())  # fmt: skip
        assert {name.lower(): value for name, value in collations.items()} == dict.fromkeys(
            _KEY_COLUMNS, "utf8mb4_nopad_bin"
        )
    with db.engine.connect() as connection:
        indexes = {
            index["name"]: index["column_names"] for index in inspect(connection).get_indexes("basket_audit")
        }
    assert indexes["ix_basket_audit_basket_id"] == ["basket_id"]
    add_operators(db)
    verified = cli("audit", "verify", "--as", "bob", "--json", env=db.env)
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    assert (verified.json()["ok"], verified.json()["rows"]) == (True, 4)
    first = str(after[0][1])
    restored = cli("restore", first, "--as", "alice", "--json", env=db.env)
    assert restored.exit_code == 0, restored.stdout + restored.stderr
    again = cli("audit", "verify", "--as", "bob", "--json", env=db.env)
    assert (again.exit_code, again.json()["rows"]) == (0, 5)
    shown = cli("audit", "show", first.upper(), "--as", "bob", "--json", env=db.env)
    assert shown.exit_code == 0, shown.stderr
    assert [event["event"] for event in shown.json()["events"]] == ["deleted", "restored"]


def test_0008_downgrade_keeps_guids_and_refuses_a_mapped_shops_key(db: DatabaseUnderTest) -> None:
    _chain(db, deletions=2)
    before = _audit_ids(db)
    _to(db, "0007")
    assert _as_text(_audit_ids(db)) == before
    assert upgrade_database(db.engine) == ("0007", "0008")
    with db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE basket_audit SET basket_id = '1042' WHERE seq = 2"))
    with pytest.raises(
        RuntimeError, match=r"cannot downgrade below 0008: basket_audit.basket_id holds '1042'"
    ):
        _to(db, "0007")
    assert current_revision(db.engine) == "0008"
