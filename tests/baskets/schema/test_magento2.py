"""The magento2 preset on MariaDB: Magento's own quote tables, every command through the CLI."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData

from tests.baskets.schema.magento2 import fill_magento, magento_metadata
from tests.baskets.schema.platform import platform_database, table_rows
from tests.conftest import DatabaseUnderTest

QUOTE_TABLES = ("quote", "quote_item", "quote_item_option", "quote_address", "quote_shipping_rate",
                "quote_address_item", "quote_payment", "quote_id_mask")  # fmt: skip


@pytest.fixture
def magento(tmp_path: Path, cli) -> Iterator[tuple[DatabaseUnderTest, MetaData, dict[str, str]]]:  # type: ignore[no-untyped-def]
    yield from platform_database(cli, tmp_path, "mariadb", "magento2", magento_metadata(), fill_magento)


def rows(engine: Engine, metadata: MetaData) -> dict[str, list[tuple]]:
    return table_rows(engine, metadata, QUOTE_TABLES)


def test_list_and_export_show_magento_quotes(cli, magento, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, env = magento
    listed = cli("list", "--json", "--as", "alice", env=env)
    assert listed.exit_code == 0, listed.stderr
    found = {row["basket_id"]: row for row in listed.json()["baskets"]}
    assert set(found) == {"101", "102", "103", "104", "105"}
    assert found["101"]["shop_account_name"] == "Veronica Costello"
    assert found["101"]["account_type"] == "Customer" and found["101"]["line_count"] == 2
    assert found["102"]["account_type"] == "Anonymous"
    assert found["101"]["account_id"] is None
    one = cli("list", "--json", "--as", "alice", "--basket-id", "102", env=env)
    assert [row["basket_id"] for row in one.json()["baskets"]] == ["102"]
    target = tmp_path / "quotes.csv"
    exported = cli("export", "--as", "alice", "--output", str(target), env=env)
    assert exported.exit_code == 0, exported.stderr
    with target.open(encoding="utf-8-sig", newline="") as stream:
        table = list(csv.reader(stream))
    assert len(table[0]) == 11
    assert [
        "Veronica Costello",
        "veronica@example.com",
        "",
        "",
        "",
        "Customer",
        "101",
        "MH01-XS-Black",
        "",
        "2",
        "",
    ] in [row[:11] for row in table[1:]] or any(row[6] == "101" for row in table[1:])


def test_delete_and_restore_put_every_row_of_every_table_back(cli, magento, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = magento
    before = rows(database.engine, metadata)
    deleted = cli("delete", "101", "102", "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stderr
    gone = rows(database.engine, metadata)
    assert [row[0] for row in gone["quote"]] == [103, 104, 105]
    assert (
        gone["quote_item_option"] == [] and gone["quote_shipping_rate"] == [] and gone["quote_id_mask"] == []
    )
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0
    for quote in ("101", "102"):
        restored = cli("restore", quote, "--as", "alice", env=env)
        assert restored.exit_code == 0, restored.stderr
    assert rows(database.engine, metadata) == before
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0


def test_a_quote_with_an_order_being_placed_survives_every_delete_path(
    cli, magento, prefect_harness: None
) -> None:  # type: ignore[no-untyped-def]
    database, metadata, env = magento
    by_id = cli("delete", "103", "--as", "alice", env=env)
    assert by_id.exit_code == 2 and "protected" in by_id.stderr
    filtered = cli("delete", "--yes", "--as", "alice", "--account-type", "customer", "--json", env=env)
    assert filtered.exit_code == 0, filtered.stderr
    assert filtered.json()["deleted"] == 2  # 101 and 105; 103 is protected
    cleanup = cli("cleanup", "--as", "alice", "--now", "2026-11-01T12:00", "--force", "--json", env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    assert [row[0] for row in rows(database.engine, metadata)["quote"]] == [103, 104]


def test_schema_check_on_magento_wants_an_updated_at_index_and_a_forgotten_child(
    cli, magento, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    database, _, env = magento
    result = cli("schema", "check", "--json", env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    report = result.json()
    assert report["problems"] == []
    assert [(index["table"], index["column"]) for index in report["missing_indexes"]] == [
        ("quote", "updated_at")
    ]
    from sqlalchemy import text

    with database.engine.begin() as connection:
        connection.execute(text(report["missing_indexes"][0]["create"]))
    assert cli("schema", "check", env=env).exit_code == 0
    from baskets.schema.loading import PRESETS_DIR

    preset = (PRESETS_DIR / "magento2.toml").read_text()
    start = preset.index("[[children]]\n# QUOTE_ID_MASK")
    end = preset.index("[[children]]", start + 5)
    forgetful = tmp_path / "forgetful.toml"
    forgetful.write_text(preset[:start] + preset[end:])
    forgot = cli("schema", "check", env={**env, "BASKETS_SCHEMA": str(forgetful)})
    assert forgot.exit_code == 2
    assert (
        "does not fit: table quote_id_mask: refers to a basket's rows (quote_id_mask.quote_id -> quote, ON DELETE CASCADE)"
        in forgot.stdout
    )
