"""Every command on a mapped schema: a small shop of its own on SQLite (the default suite)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from baskets.db import make_engine
from tests.baskets.schema.shop import build_shop, cart, metadata


@pytest.fixture
def shop(tmp_path: Path, cli) -> tuple[Engine, dict[str, str]]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = make_engine(url)
    mapping = build_shop(engine, tmp_path)
    env = {"BASKETS_DATABASE_URL": url, "BASKETS_SCHEMA": str(mapping)}
    result = cli("init", env=env)
    assert result.exit_code == 0, result.stderr
    from baskets.roles import add_operator
    from baskets.schema import attach_mapping, load_mapping

    bookkeeping = make_engine(url)  # the suite's own tables, under bm_ as the commands see them
    attach_mapping(bookkeeping, load_mapping(str(mapping)))
    with bookkeeping.begin() as connection:
        add_operator(connection, "alice", "system_administrator", None)
    bookkeeping.dispose()
    yield engine, env
    engine.dispose()


def _rows(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
            for table in metadata.sorted_tables
        }


def test_init_creates_only_the_suites_tables_and_leaves_the_shops_alone(shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, _ = shop
    from sqlalchemy import inspect

    names = set(inspect(engine).get_table_names())
    assert names == {
        "bm_alembic_version", "bm_audit_chain_head", "bm_basket_audit", "bm_cleanup_runs", "bm_operators",
        "cart", "cart_item", "cart_note", "cart_note_tag", "customer", "payment",
    }  # fmt: skip


def test_list_shows_the_mapped_fields_and_filters_by_integer_id(cli, shop) -> None:  # type: ignore[no-untyped-def]
    _, env = shop
    result = cli("list", "--json", "--as", "alice", env=env)
    assert result.exit_code == 0, result.stderr
    rows = {row["basket_id"]: row for row in result.json()["baskets"]}
    assert set(rows) == {"10", "11", "12", "13", "14"}
    assert rows["10"]["shop_account_name"] == "Ada Lovelace"
    assert rows["10"]["account_name"] == "Analytical Ltd"
    assert rows["10"]["line_count"] == 2
    assert rows["11"]["account_type"] == "Anonymous"
    assert rows["12"]["shop_account_name"] == "Édith"
    one = cli("list", "--json", "--as", "alice", "--basket-id", "11", env=env)
    assert [row["basket_id"] for row in one.json()["baskets"]] == ["11"]
    bad = cli("list", "--as", "alice", "--basket-id", "abc", env=env)
    assert bad.exit_code == 2
    assert "--basket-id" in bad.stderr and "whole number" in bad.stderr
    anonymous = cli("list", "--json", "--as", "alice", "--account-type", "anonymous", env=env)
    assert sorted(row["basket_id"] for row in anonymous.json()["baskets"]) == ["11", "13", "14"]


def test_export_writes_the_eleven_columns(cli, shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, env = shop
    target = tmp_path / "out.csv"
    result = cli("export", "--as", "alice", "--output", str(target), env=env)
    assert result.exit_code == 0, result.stderr
    with target.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    assert len(rows[0]) == 11
    body = rows[1:]
    assert len(body) == 6  # five lines, one basket without lines
    assert any("SKU-1" in row and "Ada Lovelace" in row for row in body)


def test_delete_audit_restore_puts_every_row_back(cli, shop, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    engine, env = shop
    before = _rows(engine)
    deleted = cli("delete", "10", "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stderr
    after = _rows(engine)
    assert [row[0] for row in after["cart"]] == [11, 12, 13, 14]
    assert [row[0] for row in after["cart_item"]] == [102, 103, 104]
    assert after["cart_note"] == [(1001, 11, "call first")] and after["cart_note_tag"] == []
    verify = cli("audit", "verify", "--json", "--as", "alice", env=env)
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    restored = cli("restore", "10", "--as", "alice", "--json", env=env)
    assert restored.exit_code == 0, restored.stderr
    assert _rows(engine) == before
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0


def test_a_protected_basket_survives_every_delete_path(cli, shop, prefect_harness: None) -> None:  # type: ignore[no-untyped-def]
    engine, env = shop
    by_id = cli("delete", "12", "--as", "alice", env=env)
    assert by_id.exit_code == 2 and "protected" in by_id.stderr
    filtered = cli("delete", "--yes", "--as", "alice", "--account-type", "customer", "--json", env=env)
    assert filtered.exit_code == 0, filtered.stderr
    assert filtered.json()["deleted"] == 1  # basket 10; 12 is protected
    cleanup = cli("cleanup", "--as", "alice", "--now", "2026-11-01T12:00", "--force", "--json", env=env)
    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    with engine.connect() as connection:
        left = list(connection.scalars(select(cart.c.id).order_by(cart.c.id)))
    assert left == [12, 13]


def test_a_bad_mapping_is_refused_naming_the_key(cli, shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, env = shop
    bad = tmp_path / "bad.toml"
    bad.write_text(
        Path(env["BASKETS_SCHEMA"]).read_text().replace('key_type = "integer"', 'key_type = "uuid"')
    )
    result = cli("list", "--as", "alice", env={**env, "BASKETS_SCHEMA": str(bad)})
    assert result.exit_code == 2
    assert "basket.key_type" in result.stderr and "Traceback" not in result.stderr


def test_schema_check_reports_a_missing_index_then_fits(cli, shop) -> None:  # type: ignore[no-untyped-def]
    engine, env = shop
    result = cli("schema", "check", "--json", env=env)
    assert result.exit_code == 2, result.stdout + result.stderr
    report = result.json()
    assert report["fits"] is False and report["problems"] == []
    assert [(index["table"], index["column"]) for index in report["missing_indexes"]] == [("cart", "updated")]
    statement = report["missing_indexes"][0]["create"]
    assert statement == "CREATE INDEX bm_ix_cart_updated ON cart (updated);"
    with engine.begin() as connection:
        from sqlalchemy import text

        connection.execute(text(statement))
    fits = cli("schema", "check", env=env)
    assert fits.exit_code == 0, fits.stdout
    assert "schema tiny-shop fits the database" in fits.stdout


def test_schema_check_catches_a_forgotten_child_table_and_a_wrong_delete_rule(
    cli, shop, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    engine, env = shop
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE cart_coupon (id INTEGER PRIMARY KEY, cart_id INTEGER REFERENCES cart (id))")
        )
    forgotten = cli("schema", "check", env=env)
    assert forgotten.exit_code == 2
    assert (
        "does not fit: table cart_coupon: refers to a basket's rows (cart_coupon.cart_id -> cart, ON DELETE NO ACTION)"
        in forgotten.stdout
    )
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        Path(env["BASKETS_SCHEMA"])
        .read_text()
        .replace(
            'basket_column = "cart_id"\ndelete = "explicit"', 'basket_column = "cart_id"\ndelete = "cascade"'
        )
    )
    result = cli("schema", "check", "--json", env={**env, "BASKETS_SCHEMA": str(wrong)})
    assert result.exit_code == 2
    assert any(
        line.startswith("table cart_note: the mapping says cascade") for line in result.json()["problems"]
    )


def test_schema_check_names_a_missing_table_and_column(cli, shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, env = shop
    broken = tmp_path / "broken.toml"
    broken.write_text(
        Path(env["BASKETS_SCHEMA"])
        .read_text()
        .replace('product = "sku"', 'product = "article"')
        .replace('table = "payment"', 'table = "payments"')
    )
    result = cli("schema", "check", "--json", env={**env, "BASKETS_SCHEMA": str(broken)})
    assert result.exit_code == 2
    assert result.json()["problems"] == [
        "table payments: not in the database",
        "column cart_item.article: not in the database",
    ]


def test_audit_show_report_and_status_on_the_shops_tables(
    cli, shop, tmp_path: Path, prefect_harness: None
) -> None:  # type: ignore[no-untyped-def]
    _, env = shop
    assert cli("delete", "10", "--as", "alice", env=env).exit_code == 0
    shown = cli("audit", "show", "10", "--as", "alice", "--json", env=env)
    assert shown.exit_code == 0, shown.stderr
    (event,) = shown.json()["events"]
    assert (
        event["basket_id"] == "10"
        and event["line_count"] == 2
        and Decimal(event["total_quantity"]) == Decimal("3.5")
    )
    assert [(line["id"], line["product_id"], line["variant_id"], line["uom_id"]) for line in event["lines"]] == [
        (100, "SKU-1", "red", "PCS"), (101, "SKU-2", None, None)]  # fmt: skip
    assert event["shop_account_name"] == "Ada Lovelace" and event["account_name"] == "Analytical Ltd"
    bad = cli("audit", "show", "ten", "--as", "alice", env=env)
    assert bad.exit_code == 2 and "BASKET_ID" in bad.stderr
    report = cli("audit", "report", "--as", "alice", "--format", "csv", "--output", str(tmp_path / "r.csv"),
                 "--since", "2000-01-01", "--json", env=env)  # fmt: skip
    assert report.exit_code == 0, report.stderr
    status = cli("status", "--json", env=env)
    assert status.exit_code in (0, 1), status.stderr  # unhealthy: no cleanup has run yet
    assert status.json()["baskets"] == {"anonymous": 3, "contact": 0, "customer": 1, "total": 4}
    forget = cli("forget", "--email", "ada@example.com", "--as", "alice", "--dry-run", env=env)
    assert forget.exit_code == 2 and "builtin tables only" in forget.stderr


def test_the_seed_products_tables_as_a_mapping_list_what_builtin_lists(cli, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    from tests.baskets.schema.platform import mapped_database
    from tests.conftest import REPO, add_operators, seed

    seed(sqlite_db, 40, 5)
    add_operators(sqlite_db)
    builtin = cli("list", "--json", "--as", "alice", "--limit", "100", env=sqlite_db.env)
    example = str(REPO / "docs" / "examples" / "seed-product.toml")
    # Mapped, the seed product's database gets the suite's own bm_ tables beside its own.
    assert cli("init", env={**sqlite_db.env, "BASKETS_SCHEMA": example}).exit_code == 0
    add_operators(mapped_database(sqlite_db, example))
    mapped = cli(
        "list", "--json", "--as", "alice", "--limit", "100", env={**sqlite_db.env, "BASKETS_SCHEMA": example}
    )
    assert builtin.exit_code == 0 and mapped.exit_code == 0, mapped.stderr
    assert mapped.json()["baskets"] == builtin.json()["baskets"]
    assert len(builtin.json()["baskets"]) == 40
    check = cli("schema", "check", "--json", env={**sqlite_db.env, "BASKETS_SCHEMA": example})
    assert check.exit_code == 0, check.stdout


def test_seed_refuses_the_shops_tables(cli, shop) -> None:  # type: ignore[no-untyped-def]
    engine, env = shop
    result = cli("seed", "--baskets", "5", env=env)
    assert result.exit_code == 2 and "seed fills the builtin tables only" in result.stderr
    with engine.connect() as connection:
        assert list(connection.scalars(select(cart.c.id).order_by(cart.c.id))) == [10, 11, 12, 13, 14]
