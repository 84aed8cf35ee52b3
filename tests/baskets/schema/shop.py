"""A small shop of its own (not a platform) for the mapped paths, on any backend: carts keyed by
an integer or by text, items deleted by the shop's ON DELETE CASCADE, notes and their tags deleted
explicitly, payments that protect a cart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    insert,
)

# A text key: long enough for keys longer than the audit log keeps (to test they are left alone).
TEXT_KEY = String(400)


def shop_metadata(key_type: str = "integer") -> MetaData:
    """The shop's tables, its carts keyed by an integer or by text (`key_type`)."""
    metadata = MetaData()
    key = Integer if key_type == "integer" else TEXT_KEY
    Table(
        "customer", metadata,
        Column("id", Integer, primary_key=True),
        Column("first_name", String(50)), Column("last_name", String(50)), Column("email", String(200)),
        Column("erp_id", String(20)), Column("erp_name", String(100)),
    )  # fmt: skip
    Table(
        "cart", metadata,
        Column("id", key, primary_key=True, autoincrement=False),
        Column("customer_id", Integer, ForeignKey("customer.id")),
        Column("guest", Integer, nullable=False, server_default="0"),
        Column("created", DateTime, nullable=False),
        Column("updated", DateTime, nullable=False),
        Column("coupon", String(20)),
        Column("blob", LargeBinary),
    )  # fmt: skip
    Table(
        "cart_item", metadata,
        Column("id", Integer, primary_key=True),
        Column("cart_id", key, ForeignKey("cart.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("sku", String(40), nullable=False), Column("variant", String(40)),
        Column("qty", Numeric(12, 4), nullable=False), Column("uom", String(10)),
    )  # fmt: skip
    Table(
        "cart_note", metadata,
        Column("id", Integer, primary_key=True),
        Column("cart_id", key, ForeignKey("cart.id"), nullable=False, index=True),
        Column("body", Text),
    )  # fmt: skip
    Table(
        "cart_note_tag", metadata,
        Column("id", Integer, primary_key=True),
        Column("note_id", Integer, ForeignKey("cart_note.id"), nullable=False, index=True),
        Column("tag", String(20)),
    )  # fmt: skip
    Table(
        "payment", metadata,
        Column("id", Integer, primary_key=True),
        Column("cart_id", key, index=True),
        Column("state", String(20)),
    )  # fmt: skip
    return metadata


metadata = shop_metadata()
customer, cart, cart_item, cart_note, cart_note_tag, payment = (
    metadata.tables[name]
    for name in ("customer", "cart", "cart_item", "cart_note", "cart_note_tag", "payment")
)
# The text keys of carts 10 to 14: one exactly as long as the audit log keeps (255 characters),
# non-ASCII, mixed case, spaces and punctuation; they sort as the integer keys do.
TEXT_KEYS = {
    10: "A-cart/10 " + "é" * 245,
    11: "B-Cart 11",
    12: "C-cart-12",
    13: "D-ÇART-13",
    14: "E-cart#14",
}


def key_of(number: int, key_type: str = "integer") -> int | str:
    """Cart `number`'s key in a shop keyed by `key_type`."""
    return number if key_type == "integer" else TEXT_KEYS[number]


MAPPING = """
name = "tiny-shop"
description = "A shop of its own: integer cart ids, explicit notes, payments protect"

[basket]
table = "cart"
key = "id"
key_type = "integer"
created = "created"
modified = "updated"

[account_type]
default = "Customer"
rules = [ { type = "Anonymous", when = { any = [ { column = "guest", op = "=", value = 1 },
                                                 { column = "customer_id", op = "is null" } ] } } ]

[shop_account]
id = "customer_id"
table = "customer"
key = "id"
name = ["first_name", "last_name"]
email = "email"

[account]
id = "customer_id"
table = "customer"
key = "id"
name = "erp_name"

[lines]
table = "cart_item"
key = "id"
basket_column = "cart_id"
product = "sku"
variant = "variant"
quantity = "qty"
unit = "uom"
delete = "cascade"

[[children]]
table = "cart_note"
key = "id"
basket_column = "cart_id"
delete = "explicit"

[[children]]
table = "cart_note_tag"
key = "id"
parent = "cart_note"
parent_column = "note_id"
delete = "explicit"

[protect]
exists = { table = "payment", column = "cart_id", where = { column = "state", op = "in", value = ["pending", "authorized"] } }
"""

NOW = dt.datetime(2026, 11, 1, 12, 0)


def build_shop(engine: Engine, folder: Path, key_type: str = "integer") -> Path:
    """Create and fill the shop's tables (carts keyed by `key_type`); the mapping file's path."""
    tables = shop_metadata(key_type)
    tables.create_all(engine)
    fill_shop(engine, tables, key_type)
    return write_mapping(folder, key_type)


def write_mapping(folder: Path, key_type: str = "integer") -> Path:
    path = folder / f"tiny-shop-{key_type}.toml"
    path.write_text(MAPPING.replace('key_type = "integer"', f'key_type = "{key_type}"'), encoding="utf-8")
    return path


def fill_shop(engine: Engine, tables: MetaData, key_type: str = "integer") -> None:
    """The shop's rows: five carts (10 to 14, keyed as `key_type` says), their items, notes and
    tags, a pending payment for cart 12."""
    customer, cart, cart_item, cart_note, cart_note_tag, payment = (
        tables.tables[name]
        for name in ("customer", "cart", "cart_item", "cart_note", "cart_note_tag", "payment")
    )
    k = {number: key_of(number, key_type) for number in range(10, 15)}
    old = NOW - dt.timedelta(days=400)
    with engine.begin() as connection:
        connection.execute(insert(customer), [
            {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "erp_id": "C-1",
             "erp_name": "Analytical Ltd"},
            {"id": 2, "first_name": "Édith", "last_name": None, "email": "edith@example.fr", "erp_id": None,
             "erp_name": None},
        ])  # fmt: skip
        connection.execute(insert(cart), [
            {"id": k[10], "customer_id": 1, "guest": 0, "created": old, "updated": old, "coupon": "X1",
             "blob": b"\x00\xffraw"},
            {"id": k[11], "customer_id": None, "guest": 1, "created": old, "updated": old, "coupon": None, "blob": None},
            {"id": k[12], "customer_id": 2, "guest": 0, "created": old, "updated": old, "coupon": None, "blob": None},
            {"id": k[13], "customer_id": None, "guest": 1, "created": NOW, "updated": NOW, "coupon": None, "blob": None},
            {"id": k[14], "customer_id": None, "guest": 1, "created": old, "updated": old, "coupon": None, "blob": None},
        ])  # fmt: skip
        connection.execute(insert(cart_item), [
            {"id": 100, "cart_id": k[10], "sku": "SKU-1", "variant": "red", "qty": Decimal("2.5"), "uom": "PCS"},
            {"id": 101, "cart_id": k[10], "sku": "SKU-2", "variant": None, "qty": Decimal("1"), "uom": None},
            {"id": 102, "cart_id": k[11], "sku": "SKU-3", "variant": None, "qty": Decimal("3"), "uom": "BOX"},
            {"id": 103, "cart_id": k[12], "sku": "SKU-1", "variant": "blue", "qty": Decimal("1"), "uom": "PCS"},
            {"id": 104, "cart_id": k[13], "sku": "SKU-4", "variant": None, "qty": Decimal("1"), "uom": None},
        ])  # fmt: skip
        connection.execute(insert(cart_note), [
            {"id": 1000, "cart_id": k[10], "body": "gift wrap"}, {"id": 1001, "cart_id": k[11], "body": "call first"},
        ])  # fmt: skip
        connection.execute(insert(cart_note_tag), [
            {"id": 5000, "note_id": 1000, "tag": "gift"}, {"id": 5001, "note_id": 1000, "tag": "vip"},
        ])  # fmt: skip
        connection.execute(insert(payment), [{"id": 1, "cart_id": k[12], "state": "pending"}])
