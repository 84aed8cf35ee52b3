"""The saleor preset on PostgreSQL: Saleor 3.20's own checkout tables, every command through the CLI."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select, text

from baskets.schema.loading import PRESETS_DIR
from tests.baskets.schema.platform import platform_database, table_rows
from tests.baskets.schema.saleor import (
    CUSTOMER,
    FRESH,
    GUEST,
    PAYING,
    TRANSACTING,
    django_index_name,
    fill_saleor,
    saleor_metadata,
)
from tests.conftest import DatabaseUnderTest

CHECKOUT_TABLES = (
    "checkout_checkout",
    "checkout_checkoutline",
    "checkout_checkoutmetadata",
    "checkout_checkout_gift_cards",
    "discount_checkoutdiscount",
    "discount_checkoutlinediscount",
    "payment_payment",
    "payment_transactionitem",
)
OLD_ENOUGH = "2026-11-01T12:00"


@pytest.fixture
def saleor(tmp_path: Path, cli) -> Iterator[tuple[DatabaseUnderTest, MetaData, dict[str, str]]]:  # type: ignore[no-untyped-def]
    yield from platform_database(cli, tmp_path, "postgresql", "saleor", saleor_metadata(), fill_saleor)


def rows(engine: Engine, metadata: MetaData) -> dict[str, list[tuple]]:
    return table_rows(engine, metadata, CHECKOUT_TABLES)


def tokens(engine: Engine, metadata: MetaData) -> set:
    with engine.connect() as connection:
        return set(connection.execute(select(metadata.tables["checkout_checkout"].c.token)).scalars())


def test_list_and_export_show_saleor_checkouts(cli, saleor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, env = saleor
    listed = cli("list", "--json", "--as", "alice", env=env)
    assert listed.exit_code == 0, listed.stderr
    found = {row["basket_id"]: row for row in listed.json()["baskets"]}
    assert set(found) == {str(CUSTOMER), str(GUEST), str(PAYING), str(TRANSACTING), str(FRESH)}
    assert found[str(CUSTOMER)]["shop_account_name"] == "Jan Kowalski"
    assert found[str(CUSTOMER)]["account_type"] == "Customer" and found[str(CUSTOMER)]["line_count"] == 2
    assert found[str(GUEST)]["account_type"] == "Anonymous"
    assert found[str(TRANSACTING)]["account_type"] == "Anonymous"
    one = cli("list", "--json", "--as", "alice", "--basket-id", str(GUEST).upper(), env=env)
    assert [row["basket_id"] for row in one.json()["baskets"]] == [str(GUEST)]
    target = tmp_path / "checkouts.csv"
    exported = cli("export", "--as", "alice", "--output", str(target), env=env)
    assert exported.exit_code == 0, exported.stderr
    with target.open(encoding="utf-8-sig", newline="") as stream:
        table = list(csv.reader(stream))
    assert len(table[0]) == 11 and len(table) == 1 + 6
    customer_rows = [row for row in table[1:] if row[6] == str(CUSTOMER)]
    assert sorted(row[7] for row in customer_rows) == ["301", "302"]
    assert customer_rows[0][:6] == ["Jan Kowalski", "jan.kowalski@example.pl", "", "", "", "Customer"]


def test_delete_and_restore_put_every_row_back(cli, saleor, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = saleor
    before = rows(database.engine, metadata)
    deleted = cli("delete", str(CUSTOMER), str(GUEST), "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stderr
    gone = rows(database.engine, metadata)
    assert tokens(database.engine, metadata) == {PAYING, TRANSACTING, FRESH}
    for child in ("checkout_checkoutmetadata", "checkout_checkout_gift_cards", "discount_checkoutdiscount",
                  "discount_checkoutlinediscount"):  # fmt: skip
        assert gone[child] == [], child
    assert len(gone["checkout_checkoutline"]) == 3
    assert gone["payment_payment"] == before["payment_payment"]
    assert gone["payment_transactionitem"] == before["payment_transactionitem"]
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0
    for token in (CUSTOMER, GUEST):
        restored = cli("restore", str(token), "--as", "alice", env=env)
        assert restored.exit_code == 0, restored.stderr
    assert rows(database.engine, metadata) == before
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0


@pytest.mark.parametrize("protected", [PAYING, TRANSACTING], ids=["active-payment", "transaction-item"])
def test_a_checkout_with_a_payment_or_transaction_survives_delete_by_id(cli, saleor, protected) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = saleor
    before = rows(database.engine, metadata)
    by_id = cli("delete", str(protected), "--as", "alice", env=env)
    assert by_id.exit_code == 2 and "protected" in by_id.stderr and str(protected) in by_id.stderr
    assert rows(database.engine, metadata) == before


def test_payments_and_transactions_survive_filtered_delete_and_cleanup(
    cli, saleor, prefect_harness: None
) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = saleor
    before = rows(database.engine, metadata)
    filtered = cli("delete", "--yes", "--as", "alice", "--account-type", "anonymous", "--json", env=env)
    assert filtered.exit_code == 0, filtered.stderr
    assert filtered.json()["deleted"] == 1  # the guest's; the paying and the transacting one are protected
    assert tokens(database.engine, metadata) == {CUSTOMER, PAYING, TRANSACTING, FRESH}
    cleanup = cli("cleanup", "--as", "alice", "--now", OLD_ENOUGH, "--force", "--json", env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    assert tokens(database.engine, metadata) == {PAYING, TRANSACTING, FRESH}
    after = rows(database.engine, metadata)
    assert after["payment_payment"] == before["payment_payment"]
    assert after["payment_transactionitem"] == before["payment_transactionitem"]
    kept = (PAYING, TRANSACTING, FRESH)
    assert after["checkout_checkoutline"] == [
        row for row in before["checkout_checkoutline"] if row[5] in kept
    ]


def test_a_checkout_with_an_empty_transaction_is_kept(cli, saleor, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    """A zero-valued transaction (Saleor's own task would set its checkout_id to NULL) keeps the checkout too."""
    database, metadata, env = saleor
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE payment_transactionitem SET checkout_id = :guest, authorized_value = 0"),
                           {"guest": GUEST})  # fmt: skip
    deleted = cli("delete", str(GUEST), "--as", "alice", env=env)
    assert deleted.exit_code == 2 and "protected" in deleted.stderr
    cleanup = cli("cleanup", "--as", "alice", "--now", OLD_ENOUGH, "--force", "--json", env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    assert tokens(database.engine, metadata) == {GUEST, PAYING, FRESH}


def test_schema_check_fits_saleor_and_finds_a_missing_transaction_index(cli, saleor) -> None:  # type: ignore[no-untyped-def]
    database, _, env = saleor
    fits = cli("schema", "check", "--json", env=env)
    assert fits.exit_code == 0, fits.stdout + fits.stderr
    assert fits.json()["problems"] == [] and fits.json()["missing_indexes"] == []
    with database.engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {django_index_name('payment_transactionitem', 'checkout_id')}"))
    result = cli("schema", "check", "--json", env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    report = result.json()
    assert report["problems"] == []
    assert [(index["table"], index["column"], index["create"]) for index in report["missing_indexes"]] == [(
        "payment_transactionitem", "checkout_id",
        "CREATE INDEX bm_ix_payment_transactionitem_checkout_id ON payment_transactionitem (checkout_id);",
    )]  # fmt: skip


@pytest.mark.parametrize("forgotten", ["checkout_checkoutmetadata", "discount_checkoutlinediscount"])
def test_schema_check_catches_a_forgotten_saleor_child_table(
    cli, saleor, tmp_path: Path, forgotten: str
) -> None:  # type: ignore[no-untyped-def]
    _, _, env = saleor
    preset = (PRESETS_DIR / "saleor.toml").read_text(encoding="utf-8")
    children, protect = preset.split("\n[protect]")
    blocks = children.split("[[children]]")
    kept = [block for block in blocks[1:] if f'table = "{forgotten}"' not in block]
    assert len(kept) == len(blocks) - 2
    mapping = tmp_path / "saleor-without.toml"
    mapping.write_text("[[children]]".join([blocks[0], *kept]) + "\n[protect]" + protect, encoding="utf-8")
    result = cli("schema", "check", "--json", env={**env, "BASKETS_SCHEMA": str(mapping)})
    assert result.exit_code == 2, result.stdout + result.stderr
    problems = result.json()["problems"]
    assert len(problems) == 1 and problems[0].startswith(f"table {forgotten}: refers to a basket's rows")


@pytest.mark.parametrize(
    "bad", ["not-a-guid", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c63\x1b[2J", "f" * 100_000, "42"]
)
def test_delete_refuses_what_is_not_a_checkout_token(cli, saleor, bad: str) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = saleor
    before = rows(database.engine, metadata)
    result = cli("delete", str(GUEST), bad, "--as", "alice", env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert rows(database.engine, metadata) == before
