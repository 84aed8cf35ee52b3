"""A shop keyed by integers or by text, on every backend: the audit log keeps its keys (migration
0008), so list, delete, cleanup, audit verify and restore work end to end through the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, insert, select

from tests.baskets.schema.platform import platform_database, table_rows
from tests.baskets.schema.shop import NOW, fill_shop, key_of, shop_metadata, write_mapping
from tests.conftest import DatabaseUnderTest

SHOP_TABLES = ("customer", "cart", "cart_item", "cart_note", "cart_note_tag", "payment")
CLEANUP = ("cleanup", "--as", "alice", "--now", "2026-11-01T12:00", "--force", "--json")


@pytest.fixture(params=["integer", "text"])
def key_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def shop(  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest, key_type: str, tmp_path: Path, cli
) -> Iterator[tuple[DatabaseUnderTest, MetaData, dict[str, str]]]:
    mapping = str(write_mapping(tmp_path, key_type))
    yield from platform_database(
        cli, tmp_path, request.param, mapping, shop_metadata(key_type),
        lambda engine, tables: fill_shop(engine, tables, key_type),
    )  # fmt: skip


def _ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [row["basket_id"] for row in result.json()["baskets"]]


def test_list_delete_cleanup_verify_restore_with_the_shops_own_keys(  # type: ignore[no-untyped-def]
    cli, shop, key_type: str, prefect_harness: None
) -> None:
    database, metadata, env = shop
    key = {number: str(key_of(number, key_type)) for number in range(10, 15)}
    before = table_rows(database.engine, metadata, SHOP_TABLES)
    listed = cli("list", "--json", "--as", "alice", env=env)
    assert listed.exit_code == 0, listed.stderr
    assert sorted(_ids(listed)) == sorted(key.values())
    one = cli("list", "--json", "--as", "alice", "--basket-id", key[10], env=env)
    assert _ids(one) == [key[10]]

    deleted = cli("delete", key[10], "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stdout + deleted.stderr
    cleanup = cli(*CLEANUP, env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    gone = table_rows(database.engine, metadata, ("cart", "cart_item", "cart_note", "cart_note_tag"))
    assert [str(row[0]) for row in gone["cart"]] == [key[12], key[13]]  # 12 protected, 13 fresh
    assert [row[0] for row in gone["cart_item"]] == [103, 104]
    assert gone["cart_note"] == gone["cart_note_tag"] == []
    verified = cli("audit", "verify", "--as", "alice", "--json", env=env)
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    assert (verified.json()["ok"], verified.json()["rows"]) == (True, 3)
    shown = cli("audit", "show", key[10], "--as", "alice", "--json", env=env)
    assert shown.exit_code == 0, shown.stderr
    (event,) = shown.json()["events"]
    # The shop's own ids, as text: the basket key, and the integer customer id of its shop account.
    assert (event["basket_id"], event["shop_account_id"], event["line_count"]) == (key[10], "1", 2)

    for number in (10, 11, 14):
        restored = cli("restore", key[number], "--as", "alice", "--json", env=env)
        assert restored.exit_code == 0, restored.stdout + restored.stderr
    assert table_rows(database.engine, metadata, SHOP_TABLES) == before  # row for row, every table
    again = cli("audit", "verify", "--as", "alice", "--json", env=env)
    assert (again.exit_code, again.json()["rows"]) == (0, 6), again.stdout
    shown = cli("audit", "show", key[11], "--as", "alice", "--json", env=env)
    assert [event["event"] for event in shown.json()["events"]] == ["deleted", "restored"]


def test_a_huge_basket_id_is_refused_in_one_line_and_nothing_changes(  # type: ignore[no-untyped-def]
    cli, shop, key_type: str, prefect_harness: None
) -> None:
    database, metadata, env = shop
    before = table_rows(database.engine, metadata, SHOP_TABLES)
    huge = ("9" if key_type == "integer" else "k") * 100_000
    for args in (
        ("delete", huge, "--as", "alice"),
        ("restore", huge, "--as", "alice"),
        ("audit", "show", huge, "--as", "alice"),
        ("list", "--basket-id", huge, "--as", "alice"),
    ):
        result = cli(*args, env=env)
        assert result.exit_code == 2, (args[0], result.stdout[:300], result.stderr[:300])
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and len(lines[0]) < 300, (args[0], result.stderr[:300])
        assert "Traceback" not in result.stderr
        expected = "whole number" if key_type == "integer" else "100,000 characters (expected 1 to 255"
        assert expected in lines[0], (args[0], lines[0])
    assert table_rows(database.engine, metadata, SHOP_TABLES) == before
    verified = cli("audit", "verify", "--as", "alice", "--json", env=env)
    assert verified.json()["rows"] == 0


@pytest.mark.parametrize("key_type", ["text"])
def test_a_key_longer_than_the_audit_log_keeps_is_never_deleted(  # type: ignore[no-untyped-def]
    cli, shop, prefect_harness: None
) -> None:
    database, metadata, env = shop
    cart = metadata.tables["cart"]
    long_key = "Z" + "ü" * 299  # 300 characters: the shop's column holds it, the audit log could not
    old = NOW.replace(year=2025)
    with database.engine.begin() as connection:
        connection.execute(
            insert(cart).values(id=long_key, customer_id=None, guest=1, created=old, updated=old)
        )
    check = cli("schema", "check", "--json", env=env)
    assert any(
        note.startswith("column cart.id: type VARCHAR(400) allows keys longer than the 255 characters")
        for note in check.json()["notes"]
    ), check.stdout
    filtered = cli("delete", "--yes", "--as", "alice", "--account-type", "anonymous", "--json", env=env)
    assert filtered.exit_code == 0, filtered.stdout + filtered.stderr
    assert filtered.json()["deleted"] == 3  # 11, 13 and 14: the long key is not selected
    cleanup = cli(*CLEANUP, env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    with database.engine.connect() as connection:
        left = set(connection.scalars(select(cart.c.id)))
    assert left == {key_of(12, "text"), long_key}  # 10 expired and went; 12 is protected
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0


# --- set_null: rows that outlive the basket (a receipt, a payment) ----------------------------

SET_NULL_CHILD = """
[[children]]
table = "cart_receipt"
key = "id"
basket_column = "cart_id"
delete = "set_null"
"""


def test_a_set_null_child_outlives_the_delete_and_a_restore_links_it_again(  # type: ignore[no-untyped-def]
    cli, shop, key_type: str, tmp_path: Path, prefect_harness: None
) -> None:
    from sqlalchemy import Column, ForeignKey, Integer, Numeric, Table

    from tests.baskets.schema.shop import TEXT_KEY

    database, metadata, env = shop
    cart = metadata.tables["cart"]
    receipt = Table(
        "cart_receipt", metadata,
        Column("id", Integer, primary_key=True),
        Column("cart_id", cart.c.id.type, ForeignKey("cart.id"), nullable=True, index=True),
        Column("amount", Numeric(12, 2), nullable=False),
    )  # fmt: skip
    assert cart.c.id.type.__class__ is (Integer if key_type == "integer" else TEXT_KEY.__class__)
    receipt.create(database.engine)
    key = {number: key_of(number, key_type) for number in range(10, 15)}
    with database.engine.begin() as connection:
        connection.execute(insert(receipt), [
            {"id": 1, "cart_id": key[10], "amount": 12}, {"id": 2, "cart_id": key[10], "amount": 3},
            {"id": 3, "cart_id": key[11], "amount": 7},
        ])  # fmt: skip
    mapping = tmp_path / "with-receipts.toml"
    mapping.write_text(Path(env["BASKETS_SCHEMA"]).read_text() + SET_NULL_CHILD)
    env = {**env, "BASKETS_SCHEMA": str(mapping)}
    tables = (*SHOP_TABLES, "cart_receipt")
    before = table_rows(database.engine, metadata, tables)
    check = cli("schema", "check", "--json", env=env)
    assert check.json()["problems"] == [], check.stdout

    deleted = cli("delete", str(key[10]), "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stdout + deleted.stderr
    after = table_rows(database.engine, metadata, ("cart", "cart_receipt"))
    assert key[10] not in [row[0] for row in after["cart"]]
    # The receipts outlive the cart, unlinked in the delete's transaction.
    assert [(row[0], row[1]) for row in after["cart_receipt"]] == [(1, None), (2, None), (3, key[11])]
    restored = cli("restore", str(key[10]), "--as", "alice", "--json", env=env)
    assert restored.exit_code == 0, restored.stdout + restored.stderr
    assert table_rows(database.engine, metadata, tables) == before
    verified = cli("audit", "verify", "--as", "alice", "--json", env=env)
    assert (verified.exit_code, verified.json()["rows"]) == (0, 2), verified.stdout

    # A receipt deleted meanwhile is left deleted; one linked elsewhere stays there.
    assert cli("delete", str(key[10]), "--as", "alice", env=env).exit_code == 0
    with database.engine.begin() as connection:
        connection.execute(receipt.delete().where(receipt.c.id == 1))
        connection.execute(receipt.update().where(receipt.c.id == 2).values(cart_id=key[14]))
    assert cli("restore", str(key[10]), "--as", "alice", env=env).exit_code == 0
    rows = table_rows(database.engine, metadata, ("cart_receipt",))["cart_receipt"]
    assert [(row[0], row[1]) for row in rows] == [(2, key[14]), (3, key[11])]


def test_set_null_is_refused_where_rows_could_not_outlive_the_basket(  # type: ignore[no-untyped-def]
    cli, shop, tmp_path: Path
) -> None:
    from sqlalchemy import Column, ForeignKey, Integer, Table

    database, metadata, env = shop
    text = Path(env["BASKETS_SCHEMA"]).read_text()
    notes_block = 'basket_column = "cart_id"\ndelete = "explicit"'
    outliving_notes = text.replace(notes_block, 'basket_column = "cart_id"\ndelete = "set_null"')
    # cart_note_tag hangs off cart_note, whose rows would outlive the basket: refused in one line.
    hanging = tmp_path / "hanging.toml"
    hanging.write_text(outliving_notes)
    listed = cli("list", "--as", "alice", env={**env, "BASKETS_SCHEMA": str(hanging)})
    assert listed.exit_code == 2 and len(listed.stderr.strip().splitlines()) == 1, listed.stderr
    assert "parent cart_note of cart_note_tag is not the line table or a child deleted" in listed.stderr
    # cart_note.cart_id is NOT NULL; a cascading foreign key would delete the rows itself.
    Table(
        "cart_gift", metadata,
        Column("id", Integer, primary_key=True),
        Column("cart_id", metadata.tables["cart"].c.id.type, ForeignKey("cart.id", ondelete="CASCADE"), index=True),
    ).create(database.engine)  # fmt: skip
    start = outliving_notes.index('[[children]]\ntable = "cart_note_tag"')
    end = outliving_notes.index("[protect]")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        outliving_notes[:start] + outliving_notes[end:] + SET_NULL_CHILD.replace("cart_receipt", "cart_gift")
    )
    result = cli("schema", "check", "--json", env={**env, "BASKETS_SCHEMA": str(wrong)})
    assert result.exit_code == 2
    problems = result.json()["problems"]
    assert any(
        line.startswith("column cart_note.cart_id: NOT NULL, so its rows cannot outlive") for line in problems
    )
    assert any(
        line.startswith(
            "table cart_gift: the mapping says set_null, but its foreign key cart_gift.cart_id -> cart.id"
        )
        for line in problems
    ), problems
