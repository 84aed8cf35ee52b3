"""A small shop of its own (not a platform) for the mapped paths on SQLite: carts keyed by an
integer, items deleted by the shop's ON DELETE CASCADE, notes and their tags deleted explicitly,
payments that protect a cart."""

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

metadata = MetaData()
customer = Table(
    "customer", metadata,
    Column("id", Integer, primary_key=True),
    Column("first_name", String(50)), Column("last_name", String(50)), Column("email", String(200)),
    Column("erp_id", String(20)), Column("erp_name", String(100)),
)  # fmt: skip
cart = Table(
    "cart", metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customer.id")),
    Column("guest", Integer, nullable=False, server_default="0"),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    Column("coupon", String(20)),
    Column("blob", LargeBinary),
)  # fmt: skip
cart_item = Table(
    "cart_item", metadata,
    Column("id", Integer, primary_key=True),
    Column("cart_id", Integer, ForeignKey("cart.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sku", String(40), nullable=False), Column("variant", String(40)),
    Column("qty", Numeric(12, 4), nullable=False), Column("uom", String(10)),
)  # fmt: skip
cart_note = Table(
    "cart_note", metadata,
    Column("id", Integer, primary_key=True),
    Column("cart_id", Integer, ForeignKey("cart.id"), nullable=False, index=True),
    Column("body", Text),
)  # fmt: skip
cart_note_tag = Table(
    "cart_note_tag", metadata,
    Column("id", Integer, primary_key=True),
    Column("note_id", Integer, ForeignKey("cart_note.id"), nullable=False, index=True),
    Column("tag", String(20)),
)  # fmt: skip
payment = Table(
    "payment", metadata,
    Column("id", Integer, primary_key=True),
    Column("cart_id", Integer, index=True),
    Column("state", String(20)),
)  # fmt: skip

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


def build_shop(engine: Engine, folder: Path) -> Path:
    """Create and fill the shop's tables; the mapping file's path."""
    metadata.create_all(engine)
    old = NOW - dt.timedelta(days=400)
    with engine.begin() as connection:
        connection.execute(insert(customer), [
            {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "erp_id": "C-1",
             "erp_name": "Analytical Ltd"},
            {"id": 2, "first_name": "Édith", "last_name": None, "email": "edith@example.fr", "erp_id": None,
             "erp_name": None},
        ])  # fmt: skip
        connection.execute(insert(cart), [
            {"id": 10, "customer_id": 1, "guest": 0, "created": old, "updated": old, "coupon": "X1",
             "blob": b"\x00\xffraw"},
            {"id": 11, "customer_id": None, "guest": 1, "created": old, "updated": old, "coupon": None, "blob": None},
            {"id": 12, "customer_id": 2, "guest": 0, "created": old, "updated": old, "coupon": None, "blob": None},
            {"id": 13, "customer_id": None, "guest": 1, "created": NOW, "updated": NOW, "coupon": None, "blob": None},
            {"id": 14, "customer_id": None, "guest": 1, "created": old, "updated": old, "coupon": None, "blob": None},
        ])  # fmt: skip
        connection.execute(insert(cart_item), [
            {"id": 100, "cart_id": 10, "sku": "SKU-1", "variant": "red", "qty": Decimal("2.5"), "uom": "PCS"},
            {"id": 101, "cart_id": 10, "sku": "SKU-2", "variant": None, "qty": Decimal("1"), "uom": None},
            {"id": 102, "cart_id": 11, "sku": "SKU-3", "variant": None, "qty": Decimal("3"), "uom": "BOX"},
            {"id": 103, "cart_id": 12, "sku": "SKU-1", "variant": "blue", "qty": Decimal("1"), "uom": "PCS"},
            {"id": 104, "cart_id": 13, "sku": "SKU-4", "variant": None, "qty": Decimal("1"), "uom": None},
        ])  # fmt: skip
        connection.execute(insert(cart_note), [
            {"id": 1000, "cart_id": 10, "body": "gift wrap"}, {"id": 1001, "cart_id": 11, "body": "call first"},
        ])  # fmt: skip
        connection.execute(insert(cart_note_tag), [
            {"id": 5000, "note_id": 1000, "tag": "gift"}, {"id": 5001, "note_id": 1000, "tag": "vip"},
        ])  # fmt: skip
        connection.execute(insert(payment), [{"id": 1, "cart_id": 12, "state": "pending"}])
    path = folder / "tiny-shop.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return path
