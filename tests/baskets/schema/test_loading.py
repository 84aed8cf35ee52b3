"""The schema setting and mapping files: builtin, presets, and hostile files refused in one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from baskets.errors import WorkerMisconfigured
from baskets.schema import load_mapping, preset_names
from baskets.schema.loading import MAX_FILE_BYTES, parse_key_as
from tests.baskets.schema.shop import MAPPING


def _refusal(setting: str) -> str:
    with pytest.raises(WorkerMisconfigured) as caught:
        load_mapping(setting)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("schema: ")
    assert caught.value.exit_code == 2
    return message


def test_builtin_is_no_mapping_and_both_presets_load() -> None:
    assert load_mapping("builtin") is None
    assert preset_names() == ["magento2", "saleor"]
    magento, saleor = load_mapping("magento2"), load_mapping("saleor")
    assert magento is not None and magento.basket.table == "quote" and magento.basket.key_type == "integer"
    assert [child.table for child in magento.children] == [
        "quote_address", "quote_payment", "quote_id_mask", "quote_item_option", "quote_shipping_rate",
        "quote_address_item"]  # fmt: skip
    assert saleor is not None and saleor.basket.key_type == "guid" and saleor.lines.delete == "explicit"


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "shop.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_mapping_file_loads(tmp_path: Path) -> None:
    mapping = load_mapping(_file(tmp_path, MAPPING))
    assert mapping is not None and mapping.name == "tiny-shop"
    assert [child.table for child in mapping.child_links()] == ["cart_item", "cart_note", "cart_note_tag"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('key_type = "integer"', 'key_type = "uuid"'),
            "basket.key_type: Input should be 'integer', 'guid' or 'text'",
        ),
        (
            ('table = "cart"\n', 'table = "cart; DROP TABLE cart"\n'),
            "basket.table: 'cart; DROP TABLE cart' is not a table or column name",
        ),
        (('product = "sku"', 'product = "sku"\ncolour = "red"'), "lines.colour: unknown key"),
        (("[basket]", "surprise = 1\n[basket]"), "surprise: unknown key"),
        (('op = "is null"', 'op = "like"'), "account_type.rules.0.when.any.1.op: Input should be"),
        (
            ('value = ["pending", "authorized"]', 'value = "pending"'),
            "protect.exists.where: op 'in' takes a list",
        ),
        (
            ('parent = "cart_note"', 'parent = "cart_tag"'),
            "children: parent cart_tag of cart_note_tag is not the line table",
        ),
        (('modified = "updated"', 'modified = "' + "u" * 100 + '"'), "basket.modified: 'uuuu"),
        (('value = ["pending", "authorized"]', 'value = ["' + "x" * 600 + '"]'), "a value of 600 characters"),
        (
            ('value = ["pending", "authorized"]', "value = [" + ", ".join(["1"] * 300) + "]"),
            "300 values (expected at most 200)",
        ),
        (
            ('delete = "cascade"', 'delete = "sometimes"'),
            "lines.delete: Input should be 'cascade' or 'explicit'",
        ),
        # The suite's own names are rendered under bookkeeping_prefix: never the shop's.
        (('table = "cart"', 'table = "operators"'), "basket.table: operators is a name of the suite's own"),
        (('quantity = "qty"', 'quantity = "basket_audit"'), "lines.quantity: basket_audit is a name of"),
        (('table = "customer"', 'table = "alembic_version"'), "shop_account.table: alembic_version is a"),
        (('column = "state"', 'column = "cleanup_runs"'), "protect.exists.where.column: cleanup_runs is a"),
        (
            ('column = "guest"', 'column = "audit_chain_head"'),
            "account_type.rules.0.when.any.0.column: audit",
        ),
        (
            ('product = "sku"', 'product = "ix_basket_audit_basket_id"'),
            "lines.product: ix_basket_audit_basket_id",
        ),
        (
            ('delete = "cascade"', 'delete = "set_null"'),
            "lines.delete: Input should be 'cascade' or 'explicit'",
        ),
        (
            (
                'parent_column = "note_id"\ndelete = "explicit"',
                'parent_column = "note_id"\ndelete = "set_null"',
            ),
            'children.1: delete = "set_null" needs basket_column (the column set to NULL)',
        ),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in MAPPING
    message = _refusal(_file(tmp_path, MAPPING.replace(old, new, 1)))
    assert expected in message, message


def test_hostile_files_and_settings_are_refused(tmp_path: Path) -> None:
    assert "cannot read the mapping file" in _refusal(str(tmp_path / "missing.toml"))
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert "is not a file" in _refusal(str(folder))
    assert "is not a preset (expected builtin, magento2, saleor" in _refusal("shopify")
    assert "is not builtin, a preset or a file" in _refusal("magento2\x00")
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    assert f"(expected a mapping of at most {MAX_FILE_BYTES:,})" in _refusal(str(huge))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8 text" in _refusal(str(binary))
    broken = tmp_path / "broken.toml"
    broken.write_text("[basket\n")
    assert "(expected TOML)" in _refusal(str(broken))
    control = tmp_path / "control.toml"
    control.write_text(MAPPING.replace('name = "tiny-shop"', 'name = "tiny\\u0007shop"'))
    assert "name: 'tiny\\x07shop' is not a name" in _refusal(str(control))


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("integer", " 42 ", 42),
        ("guid", "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
        ("text", "cart-7", "cart-7"),
    ],
)
def test_keys_parse_by_the_mapped_type(kind: str, text: str, expected: object) -> None:
    assert parse_key_as(kind, text) == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("integer", "abc"),
        ("integer", "9" * 30),
        ("integer", "1\x00"),
        ("guid", "42"),
        ("text", ""),
        ("text", "x" * 256),
    ],
)
def test_bad_keys_are_refused(kind: str, text: str) -> None:
    with pytest.raises(ValueError):
        parse_key_as(kind, text)


def test_the_databases_own_file_is_not_a_mapping(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "baskets.db"
    sqlite3.connect(database).execute("CREATE TABLE t (x)").connection.commit()
    message = _refusal(str(database))
    assert "baskets.db: not UTF-8 text" in message or "(expected TOML)" in message
