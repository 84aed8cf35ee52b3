"""The saleor preset on PostgreSQL: Saleor's own checkout tables, every command through the CLI."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select

from tests.baskets.schema.saleor import CUSTOMER, FRESH, GUEST, PAYING, fill_saleor, saleor_metadata
from tests.conftest import BACKENDS, DatabaseUnderTest, _make_database, add_operators

CHECKOUT_TABLES = (
    "checkout_checkout",
    "checkout_checkoutline",
    "checkout_checkout_gift_cards",
    "payment_payment",
)


@pytest.fixture
def saleor(tmp_path: Path, cli) -> Iterator[tuple[DatabaseUnderTest, MetaData, dict[str, str]]]:  # type: ignore[no-untyped-def]
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the backends under test")
    for database in _make_database("postgresql", tmp_path):
        metadata = saleor_metadata()
        metadata.drop_all(database.engine)
        metadata.create_all(database.engine)
        try:
            fill_saleor(database.engine, metadata)
            env = {"BASKETS_DATABASE_URL": database.url, "BASKETS_SCHEMA": "saleor"}
            result = cli("init", env=env)
            assert result.exit_code == 0, result.stderr
            add_operators(database)
            yield database, metadata, env
        finally:
            metadata.drop_all(database.engine)


def rows(engine: Engine, metadata: MetaData) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(
                select(metadata.tables[name]).order_by(*metadata.tables[name].primary_key))]
            for name in CHECKOUT_TABLES
        }  # fmt: skip


def test_list_and_export_show_saleor_checkouts(cli, saleor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, env = saleor
    listed = cli("list", "--json", "--as", "alice", env=env)
    assert listed.exit_code == 0, listed.stderr
    found = {row["basket_id"]: row for row in listed.json()["baskets"]}
    assert set(found) == {str(CUSTOMER), str(GUEST), str(PAYING), str(FRESH)}
    assert found[str(CUSTOMER)]["shop_account_name"] == "Jan Kowalski"
    assert found[str(CUSTOMER)]["account_type"] == "Customer" and found[str(CUSTOMER)]["line_count"] == 2
    assert found[str(GUEST)]["account_type"] == "Anonymous"
    one = cli("list", "--json", "--as", "alice", "--basket-id", str(GUEST).upper(), env=env)
    assert [row["basket_id"] for row in one.json()["baskets"]] == [str(GUEST)]
    target = tmp_path / "checkouts.csv"
    exported = cli("export", "--as", "alice", "--output", str(target), env=env)
    assert exported.exit_code == 0, exported.stderr
    with target.open(encoding="utf-8-sig", newline="") as stream:
        table = list(csv.reader(stream))
    assert len(table[0]) == 11 and len(table) == 1 + 5
    customer_rows = [row for row in table[1:] if row[6] == str(CUSTOMER)]
    assert [row[7] for row in customer_rows] == ["301", "302"]
    assert customer_rows[0][:6] == ["Jan Kowalski", "jan.kowalski@example.pl", "", "", "", "Customer"]


def test_delete_and_restore_put_every_row_back(cli, saleor, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = saleor
    before = rows(database.engine, metadata)
    deleted = cli("delete", str(CUSTOMER), str(GUEST), "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stderr
    gone = rows(database.engine, metadata)
    assert {row[3] for row in gone["checkout_checkout"]} == {PAYING, FRESH}
    assert gone["checkout_checkout_gift_cards"] == []
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0
    for token in (CUSTOMER, GUEST):
        restored = cli("restore", str(token), "--as", "alice", env=env)
        assert restored.exit_code == 0, restored.stderr
    assert rows(database.engine, metadata) == before
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0


def test_a_checkout_with_a_payment_survives_every_delete_path(cli, saleor, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = saleor
    by_id = cli("delete", str(PAYING), "--as", "alice", env=env)
    assert by_id.exit_code == 2 and "protected" in by_id.stderr
    filtered = cli("delete", "--yes", "--as", "alice", "--account-type", "anonymous", "--json", env=env)
    assert filtered.exit_code == 0, filtered.stderr
    assert filtered.json()["deleted"] == 1  # the guest's; the paying one is protected
    cleanup = cli("cleanup", "--as", "alice", "--now", "2026-11-01T12:00", "--force", "--json", env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    left = {row[3] for row in rows(database.engine, metadata)["checkout_checkout"]}
    assert left == {PAYING, FRESH}


def test_schema_check_on_saleor_finds_a_missing_payment_index(cli, saleor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database, _, env = saleor
    from sqlalchemy import text

    with database.engine.begin() as connection:
        connection.execute(text("DROP INDEX payment_payment_checkout_id_1f32e1ab"))
    result = cli("schema", "check", "--json", env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    report = result.json()
    assert report["problems"] == []
    # The lines' checkout_id leads Django's unique (checkout_id, variant_id): indexed already.
    missing = {(index["table"], index["column"]): index["create"] for index in report["missing_indexes"]}
    assert missing == {
        (
            "checkout_checkout",
            "last_change",
        ): "CREATE INDEX bm_ix_checkout_checkout_last_change ON checkout_checkout (last_change);",
        (
            "payment_payment",
            "checkout_id",
        ): "CREATE INDEX bm_ix_payment_payment_checkout_id ON payment_payment (checkout_id);",
    }
    with database.engine.begin() as connection:
        for statement in missing.values():
            connection.execute(text(statement))
    assert cli("schema", "check", env=env).exit_code == 0
