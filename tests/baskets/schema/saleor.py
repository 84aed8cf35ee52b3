"""Saleor's checkout tables as Django creates them in PostgreSQL (Saleor 3.0, saleor/checkout/models.py
at commit 01162a83): checkout_checkout with every field of the model (metadata and
private_metadata from ModelWithMetadata), checkout_checkoutline, the gift card through table,
and the tables they refer to (account_user, channel_channel, account_address, shipping method,
product variant, gift card, payment_payment), those only with the columns the tests need
besides their keys. Django's foreign keys: no ON DELETE rule, DEFERRABLE INITIALLY DEFERRED."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID


def _fk(target: str) -> ForeignKey:
    return ForeignKey(target, deferrable=True, initially="DEFERRED")


def saleor_metadata(*, without_index: str | None = None, with_gift_cards: bool = True) -> MetaData:
    m = MetaData()
    Table(
        "account_user",
        m,
        Column("id", Integer, primary_key=True),
        Column("email", String(254), unique=True),
        Column("first_name", String(256)),
        Column("last_name", String(256)),
        Column("is_active", Boolean),
    )
    Table(
        "channel_channel",
        m,
        Column("id", Integer, primary_key=True),
        Column("name", String(250)),
        Column("slug", String(255), unique=True),
        Column("currency_code", String(3)),
    )
    Table(
        "account_address",
        m,
        Column("id", Integer, primary_key=True),
        Column("first_name", String(256)),
        Column("city", String(256)),
        Column("country", String(2)),
    )
    Table("shipping_shippingmethod", m, Column("id", Integer, primary_key=True), Column("name", String(100)))
    Table("product_productvariant", m, Column("id", Integer, primary_key=True), Column("sku", String(255)))
    Table("giftcard_giftcard", m, Column("id", Integer, primary_key=True), Column("code", String(16)))
    Table(
        "checkout_checkout", m,
        Column("created", DateTime(timezone=True), nullable=False),
        Column("last_change", DateTime(timezone=True), nullable=False),
        Column("email", String(254), nullable=False),
        Column("token", UUID(as_uuid=True), primary_key=True),
        Column("quantity", Integer, CheckConstraint("quantity >= 0"), nullable=False),
        Column("user_id", Integer, _fk("account_user.id")),
        Column("billing_address_id", Integer, _fk("account_address.id")),
        Column("shipping_address_id", Integer, _fk("account_address.id")),
        Column("shipping_method_id", Integer, _fk("shipping_shippingmethod.id")),
        Column("discount_amount", Numeric(12, 3), nullable=False),
        Column("discount_name", String(255)),
        Column("note", Text, nullable=False),
        Column("translated_discount_name", String(255)),
        Column("voucher_code", String(12)),
        Column("metadata", JSONB),
        Column("private_metadata", JSONB),
        Column("currency", String(3), nullable=False),
        Column("country", String(2), nullable=False),
        Column("redirect_url", String(200)),
        Column("tracking_code", String(255)),
        Column("channel_id", Integer, _fk("channel_channel.id"), nullable=False),
    )  # fmt: skip
    indexes = {
        "checkout_checkout_user_id_8b2fe743": ("checkout_checkout", "user_id"),
        "checkout_checkoutline_checkout_id_41d5fa04": ("checkout_checkoutline", "checkout_id"),
        "checkout_checkout_gift_cards_checkout_id_e314728d": ("checkout_checkout_gift_cards", "checkout_id"),
        "payment_payment_checkout_id_1f32e1ab": ("payment_payment", "checkout_id"),
    }
    Table(
        "checkout_checkoutline", m,
        Column("id", Integer, primary_key=True),
        Column("quantity", Integer, CheckConstraint("quantity >= 0"), nullable=False),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token"), nullable=False),
        Column("variant_id", Integer, _fk("product_productvariant.id"), nullable=False),
        UniqueConstraint("checkout_id", "variant_id"),
    )  # fmt: skip
    if with_gift_cards:
        Table(
            "checkout_checkout_gift_cards", m,
            Column("id", Integer, primary_key=True),
            Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token"), nullable=False),
            Column("giftcard_id", Integer, _fk("giftcard_giftcard.id"), nullable=False),
            UniqueConstraint("checkout_id", "giftcard_id"),
        )  # fmt: skip
    Table(
        "payment_payment", m,
        Column("id", Integer, primary_key=True), Column("gateway", String(255)), Column("is_active", Boolean),
        Column("charge_status", String(20)), Column("total", Numeric(12, 3)), Column("currency", String(3)),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token")),
        Column("created", DateTime(timezone=True)),
    )  # fmt: skip
    for name, (table, column) in indexes.items():
        if name != without_index and table in m.tables:
            Index(name, m.tables[table].c[column])
    return m


NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=400)
CUSTOMER = uuid.UUID("6b8d7a3e-2c7f-4e0a-9f1e-0c5a1d2b3c41")
GUEST = uuid.UUID("1f0e2d3c-4b5a-4978-8695-a4b3c2d1e0f2")
PAYING = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c63")
FRESH = uuid.UUID("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e64")


def _checkout(
    token: uuid.UUID, user: int | None, email: str, when: dt.datetime, **extra: Any
) -> dict[str, Any]:
    return {"token": token, "user_id": user, "email": email, "created": when, "last_change": when, "quantity": 0,
            "discount_amount": Decimal("0.000"), "note": "", "currency": "USD", "country": "US", "channel_id": 1,
            "metadata": {}, "private_metadata": {}, "billing_address_id": None, "voucher_code": None,
            "redirect_url": None, **extra}  # fmt: skip


def fill_saleor(engine: Engine, metadata: MetaData) -> None:
    t = metadata.tables
    with engine.begin() as connection:
        connection.execute(insert(t["account_user"]), [
            {"id": 21, "email": "jan.kowalski@example.pl", "first_name": "Jan", "last_name": "Kowalski", "is_active": True},
        ])  # fmt: skip
        connection.execute(
            insert(t["channel_channel"]),
            [{"id": 1, "name": "Default channel", "slug": "default-channel", "currency_code": "USD"}],
        )
        connection.execute(
            insert(t["account_address"]), [{"id": 5, "first_name": "Jan", "city": "Wrocław", "country": "PL"}]
        )
        connection.execute(
            insert(t["product_productvariant"]), [{"id": 301, "sku": "JUICE-1"}, {"id": 302, "sku": "TEE-M"}]
        )
        connection.execute(insert(t["giftcard_giftcard"]), [{"id": 9, "code": "GIFT-0001"}])
        connection.execute(insert(t["checkout_checkout"]), [
            _checkout(CUSTOMER, 21, "jan.kowalski@example.pl", OLD, quantity=3, billing_address_id=5,
                      metadata={"source": "mobile"}, voucher_code="SUMMER",
                      discount_amount=Decimal("1.500"), redirect_url="https://shop.example/checkout"),
            _checkout(GUEST, None, "guest@example.org", OLD, quantity=1),
            _checkout(PAYING, None, "paying@example.org", OLD, quantity=1),
            _checkout(FRESH, 21, "jan.kowalski@example.pl", NOW, quantity=1),
        ])  # fmt: skip
        connection.execute(insert(t["checkout_checkoutline"]), [
            {"id": 1, "checkout_id": CUSTOMER, "variant_id": 301, "quantity": 2},
            {"id": 2, "checkout_id": CUSTOMER, "variant_id": 302, "quantity": 1},
            {"id": 3, "checkout_id": GUEST, "variant_id": 301, "quantity": 1},
            {"id": 4, "checkout_id": PAYING, "variant_id": 302, "quantity": 1},
            {"id": 5, "checkout_id": FRESH, "variant_id": 302, "quantity": 1},
        ])  # fmt: skip
        if "checkout_checkout_gift_cards" in t:
            connection.execute(
                insert(t["checkout_checkout_gift_cards"]),
                [{"id": 1, "checkout_id": CUSTOMER, "giftcard_id": 9}],
            )
        connection.execute(insert(t["payment_payment"]), [
            {"id": 77, "gateway": "mirumee.payments.dummy", "is_active": True, "charge_status": "not-charged",
             "total": Decimal("20.000"), "currency": "USD", "checkout_id": PAYING, "created": OLD},
        ])  # fmt: skip
