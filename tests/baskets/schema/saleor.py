"""Saleor's checkout tables as Django's migrations create them in PostgreSQL (Saleor 3.20 line):
checkout_checkout, checkout_checkoutline and checkout_checkoutmetadata with every field of their
models (saleor/checkout/models.py), the gift card through table, discount_checkoutdiscount and
discount_checkoutlinediscount (saleor/discount/models.py), payment_payment and
payment_transactionitem with every field (saleor/payment/models.py), and the tables they refer to
with their keys and a few columns. Django's foreign keys: no ON DELETE rule, DEFERRABLE INITIALLY
DEFERRED; an index on every foreign key and db_index column, named as Django names them (its extra
varchar_pattern_ops `_like` indexes, GIN and named Meta indexes, which no cleanup uses, left out)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
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
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

TZ = DateTime(timezone=True)


def _fk(target: str) -> ForeignKey:
    return ForeignKey(target, deferrable=True, initially="DEFERRED")


def _money(name: str, nullable: bool = False) -> Column[Any]:
    """DecimalField(max_digits=DEFAULT_MAX_DIGITS (20), decimal_places=DEFAULT_DECIMAL_PLACES (3))."""
    return Column(name, Numeric(20, 3), nullable=nullable)


def _uuid_key() -> Column[Any]:
    return Column("id", UUID(as_uuid=True), primary_key=True)


def _metadata_columns() -> list[Column[Any]]:
    """ModelWithMetadata: metadata and private_metadata, JSONField(blank=True, null=True, default=dict)."""
    return [Column("private_metadata", JSONB), Column("metadata", JSONB)]


def django_index_name(table: str, column: str) -> str:
    """Django's name for a one-column index: table_column_ and 8 hex digits of md5(table, column)."""
    digest = hashlib.md5(usedforsecurity=False)
    for part in (table, column):
        digest.update(part.encode())
    return f"{table}_{column}_{digest.hexdigest()[:8]}"


def _referenced(m: MetaData) -> None:
    """The tables the checkout's rows refer to: their keys and a few columns."""
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
    Table("warehouse_warehouse", m, _uuid_key(), Column("name", String(250)))
    Table("product_productvariant", m, Column("id", Integer, primary_key=True), Column("sku", String(255)))
    Table("giftcard_giftcard", m, Column("id", Integer, primary_key=True), Column("code", String(16)))
    Table("discount_promotionrule", m, _uuid_key(), Column("name", String(255)))
    Table("discount_voucher", m, Column("id", Integer, primary_key=True), Column("name", String(255)))
    Table("order_order", m, _uuid_key(), Column("number", Integer, unique=True))
    Table("app_app", m, Column("id", Integer, primary_key=True), Column("name", String(60)))  # fmt: skip


def _checkout(m: MetaData) -> None:
    Table(
        "checkout_checkout", m,
        Column("created_at", TZ, nullable=False),
        Column("last_change", TZ, nullable=False),
        Column("completing_started_at", TZ),
        Column("last_transaction_modified_at", TZ),
        Column("automatically_refundable", Boolean, nullable=False),
        Column("user_id", Integer, _fk("account_user.id")),
        Column("email", String(254)),
        Column("token", UUID(as_uuid=True), primary_key=True),
        Column("channel_id", Integer, _fk("channel_channel.id"), nullable=False),
        Column("billing_address_id", Integer, _fk("account_address.id")),
        Column("shipping_address_id", Integer, _fk("account_address.id")),
        Column("shipping_method_id", Integer, _fk("shipping_shippingmethod.id")),
        Column("collection_point_id", UUID(as_uuid=True), _fk("warehouse_warehouse.id")),
        Column("note", Text, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("country", String(2), nullable=False),
        _money("total_net_amount"), _money("total_gross_amount"), _money("base_total_amount"),
        _money("subtotal_net_amount"), _money("subtotal_gross_amount"), _money("base_subtotal_amount"),
        _money("shipping_price_net_amount"), _money("shipping_price_gross_amount"),
        Column("shipping_tax_rate", Numeric(5, 4), nullable=False),
        Column("authorize_status", String(32), nullable=False),
        Column("charge_status", String(32), nullable=False),
        Column("price_expiration", TZ, nullable=False),
        _money("discount_amount"),
        Column("discount_name", String(255)),
        Column("translated_discount_name", String(255)),
        Column("voucher_code", String(255)),
        Column("is_voucher_usage_increased", Boolean, nullable=False),
        Column("redirect_url", String(200)),
        Column("tracking_code", String(255)),
        Column("language_code", String(35), nullable=False),
        Column("tax_exemption", Boolean, nullable=False),
        Column("tax_error", String(255)),
    )  # fmt: skip
    Table(
        "checkout_checkoutline", m,
        *_metadata_columns(),
        _uuid_key(),
        Column("old_id", Integer, CheckConstraint("old_id >= 0"), unique=True),
        Column("created_at", TZ, nullable=False),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token"), nullable=False),
        Column("variant_id", Integer, _fk("product_productvariant.id"), nullable=False),
        Column("quantity", Integer, CheckConstraint("quantity >= 0"), nullable=False),
        Column("is_gift", Boolean, nullable=False),
        _money("price_override", nullable=True),
        Column("currency", String(3), nullable=False),
        _money("total_price_net_amount"), _money("total_price_gross_amount"),
        Column("tax_rate", Numeric(5, 4), nullable=False),
    )  # fmt: skip
    Table(
        "checkout_checkoutmetadata", m,
        Column("id", Integer, primary_key=True),
        *_metadata_columns(),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token"), nullable=False, unique=True),
    )  # fmt: skip


def _discounts(m: MetaData, name: str, owner: Column[Any], *extra: Any) -> None:
    """BaseDiscount's columns (saleor/discount/models.py) and the owner's foreign key."""
    Table(
        name, m,
        _uuid_key(),
        Column("created_at", TZ, nullable=False),
        Column("type", String(64), nullable=False),
        Column("value_type", String(10), nullable=False),
        _money("value"), _money("amount_value"),
        Column("currency", String(3), nullable=False),
        Column("name", String(255)), Column("translated_name", String(255)), Column("reason", Text),
        Column("promotion_rule_id", UUID(as_uuid=True), _fk("discount_promotionrule.id")),
        Column("voucher_id", Integer, _fk("discount_voucher.id")),
        Column("voucher_code", String(255)),
        owner, *extra,
    )  # fmt: skip


def _payments(m: MetaData) -> None:
    Table(
        "payment_payment", m,
        Column("id", Integer, primary_key=True),
        *_metadata_columns(),
        Column("gateway", String(255), nullable=False),
        Column("is_active", Boolean, nullable=False),
        Column("to_confirm", Boolean, nullable=False),
        Column("partial", Boolean, nullable=False),
        Column("created_at", TZ, nullable=False), Column("modified_at", TZ, nullable=False),
        Column("charge_status", String(20), nullable=False),
        Column("token", String(512), nullable=False),
        _money("total"), _money("captured_amount"),
        Column("currency", String(3), nullable=False),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token")),
        Column("order_id", UUID(as_uuid=True), _fk("order_order.id")),
        Column("store_payment_method", String(11), nullable=False),
        *(Column(f"billing_{field}", String(size), nullable=False) for field, size in (
            ("email", 254), ("first_name", 256), ("last_name", 256), ("company_name", 256), ("address_1", 256),
            ("address_2", 256), ("city", 256), ("city_area", 128), ("postal_code", 256), ("country_code", 2),
            ("country_area", 256))),
        Column("cc_first_digits", String(6), nullable=False), Column("cc_last_digits", String(4), nullable=False),
        Column("cc_brand", String(40), nullable=False),
        Column("cc_exp_month", Integer, CheckConstraint("cc_exp_month >= 0")),
        Column("cc_exp_year", Integer, CheckConstraint("cc_exp_year >= 0")),
        Column("payment_method_type", String(256), nullable=False),
        Column("customer_ip_address", INET),
        Column("extra_data", Text, nullable=False),
        Column("return_url", String(200)),
        Column("psp_reference", String(512)),
    )  # fmt: skip
    Table(
        "payment_transactionitem", m,
        Column("id", Integer, primary_key=True),
        *_metadata_columns(),
        Column("token", UUID(as_uuid=True), nullable=False, unique=True),
        Column("use_old_id", Boolean, nullable=False),
        Column("created_at", TZ, nullable=False), Column("modified_at", TZ, nullable=False),
        Column("name", String(512)), Column("message", String(512)), Column("psp_reference", String(512)),
        Column("available_actions", ARRAY(String(128)), nullable=False),
        Column("currency", String(3), nullable=False),
        *(_money(f"{value}_value") for value in (
            "charged", "authorized", "refunded", "canceled", "refund_pending", "charge_pending",
            "authorize_pending", "cancel_pending")),
        Column("external_url", String(200)),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token")),
        Column("order_id", UUID(as_uuid=True), _fk("order_order.id")),
        Column("user_id", Integer, _fk("account_user.id")),
        Column("app_id", Integer, _fk("app_app.id")),
        Column("app_identifier", String(256)),
    )  # fmt: skip


INDEXED = (
    ("checkout_checkout", "last_change"), ("checkout_checkout", "user_id"), ("checkout_checkout", "channel_id"),
    ("checkout_checkout", "billing_address_id"), ("checkout_checkout", "shipping_address_id"),
    ("checkout_checkout", "shipping_method_id"), ("checkout_checkout", "collection_point_id"),
    ("checkout_checkout", "authorize_status"), ("checkout_checkout", "charge_status"),
    ("checkout_checkoutline", "checkout_id"), ("checkout_checkoutline", "variant_id"),
    ("checkout_checkout_gift_cards", "checkout_id"), ("checkout_checkout_gift_cards", "giftcard_id"),
    ("discount_checkoutdiscount", "checkout_id"), ("discount_checkoutdiscount", "created_at"),
    ("discount_checkoutlinediscount", "line_id"), ("discount_checkoutlinediscount", "created_at"),
    ("payment_payment", "checkout_id"), ("payment_payment", "order_id"), ("payment_payment", "psp_reference"),
    ("payment_transactionitem", "checkout_id"), ("payment_transactionitem", "order_id"),
    ("payment_transactionitem", "user_id"), ("payment_transactionitem", "app_id"),
)  # fmt: skip


def saleor_metadata(*, without_index: tuple[str, str] | None = None) -> MetaData:
    m = MetaData()
    _referenced(m)
    _checkout(m)
    Table(
        "checkout_checkout_gift_cards", m,
        Column("id", Integer, primary_key=True),
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token"), nullable=False),
        Column("giftcard_id", Integer, _fk("giftcard_giftcard.id"), nullable=False),
        UniqueConstraint("checkout_id", "giftcard_id"),
    )  # fmt: skip
    _discounts(
        m, "discount_checkoutdiscount",
        Column("checkout_id", UUID(as_uuid=True), _fk("checkout_checkout.token")),
        UniqueConstraint("checkout_id", "promotion_rule_id"),
    )  # fmt: skip
    _discounts(
        m, "discount_checkoutlinediscount",
        Column("line_id", UUID(as_uuid=True), _fk("checkout_checkoutline.id")),
        Column("unique_type", String(64)),
        UniqueConstraint("line_id", "unique_type", name="unique_checkoutline_discount_type"),
    )  # fmt: skip
    _payments(m)
    for table, column in INDEXED:
        if (table, column) != without_index:
            Index(django_index_name(table, column), m.tables[table].c[column])
    return m


NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=400)
CUSTOMER = uuid.UUID("6b8d7a3e-2c7f-4e0a-9f1e-0c5a1d2b3c41")
GUEST = uuid.UUID("1f0e2d3c-4b5a-4978-8695-a4b3c2d1e0f2")
PAYING = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c63")
TRANSACTING = uuid.UUID("4d5e6f70-8192-4a3b-9c4d-5e6f70819203")
FRESH = uuid.UUID("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e64")
LINE = [uuid.UUID(f"00000000-0000-4000-8000-0000000000{n:02d}") for n in range(6)]
ZERO = Decimal("0.000")


def _checkout_row(
    token: uuid.UUID, user: int | None, email: str | None, when: dt.datetime, **extra: Any
) -> dict[str, Any]:
    row = {"token": token, "user_id": user, "email": email, "created_at": when, "last_change": when,
           "completing_started_at": None, "last_transaction_modified_at": None, "automatically_refundable": False,
           "channel_id": 1, "billing_address_id": None, "shipping_address_id": None, "shipping_method_id": None,
           "collection_point_id": None, "note": "", "currency": "USD", "country": "US",
           "shipping_tax_rate": Decimal("0.0000"), "authorize_status": "none", "charge_status": "none",
           "price_expiration": when, "discount_name": None, "translated_discount_name": None, "voucher_code": None,
           "is_voucher_usage_increased": False, "redirect_url": None, "tracking_code": None, "language_code": "en",
           "tax_exemption": False, "tax_error": None}  # fmt: skip
    for money in ("total_net_amount", "total_gross_amount", "base_total_amount", "subtotal_net_amount",
                  "subtotal_gross_amount", "base_subtotal_amount", "shipping_price_net_amount",
                  "shipping_price_gross_amount", "discount_amount"):  # fmt: skip
        row[money] = ZERO
    return {**row, **extra}


def _line(
    n: int, checkout: uuid.UUID, variant: int, quantity: int, price: str, **extra: Any
) -> dict[str, Any]:
    total = Decimal(price) * quantity
    return {"id": LINE[n], "old_id": None, "created_at": OLD, "checkout_id": checkout, "variant_id": variant,
            "quantity": quantity, "is_gift": False, "price_override": None, "currency": "USD",
            "total_price_net_amount": total, "total_price_gross_amount": total, "tax_rate": Decimal("0.0000"),
            "metadata": {}, "private_metadata": {}, **extra}  # fmt: skip


def _discount(key: str, **extra: Any) -> dict[str, Any]:
    return {"id": uuid.UUID(key), "created_at": OLD, "type": "promotion", "value_type": "percentage",
            "value": Decimal("10.000"), "amount_value": Decimal("1.500"), "currency": "USD",
            "name": "Summer sale", "translated_name": None, "reason": None,
            "promotion_rule_id": uuid.UUID("7e000000-0000-4000-8000-000000000001"), "voucher_id": None,
            "voucher_code": None, **extra}  # fmt: skip


def _payment() -> dict[str, Any]:
    row: dict[str, Any] = {f"billing_{field}": "" for field in (
        "email", "first_name", "last_name", "company_name", "address_1", "address_2", "city", "city_area",
        "postal_code", "country_code", "country_area")}  # fmt: skip
    return {**row, "id": 77, "gateway": "mirumee.payments.dummy", "is_active": True, "to_confirm": False,
            "partial": False, "created_at": OLD, "modified_at": OLD, "charge_status": "not-charged",
            "token": "", "total": Decimal("20.000"), "captured_amount": ZERO, "currency": "USD",
            "checkout_id": PAYING, "order_id": None, "store_payment_method": "none",
            "billing_email": "paying@example.org", "cc_first_digits": "", "cc_last_digits": "4242",
            "cc_brand": "visa", "cc_exp_month": 12, "cc_exp_year": 2030, "payment_method_type": "card",
            "customer_ip_address": "203.0.113.7", "extra_data": "", "return_url": None, "psp_reference": None,
            "metadata": {}, "private_metadata": {}}  # fmt: skip


def _transaction() -> dict[str, Any]:
    row: dict[str, Any] = {f"{value}_value": ZERO for value in (
        "charged", "refunded", "canceled", "refund_pending", "charge_pending", "authorize_pending",
        "cancel_pending")}  # fmt: skip
    return {**row, "id": 5, "token": uuid.UUID("ab000000-0000-4000-8000-000000000005"), "use_old_id": False,
            "created_at": OLD, "modified_at": OLD, "name": "Credit card", "message": "",
            "psp_reference": "PSP-5", "available_actions": ["charge", "cancel"], "currency": "USD",
            "authorized_value": Decimal("12.000"), "external_url": None, "checkout_id": TRANSACTING,
            "order_id": None, "user_id": None, "app_id": 3, "app_identifier": "saleor.app.payment.stripe",
            "metadata": {}, "private_metadata": {}}  # fmt: skip


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
        connection.execute(insert(t["discount_promotionrule"]), [
            {"id": uuid.UUID("7e000000-0000-4000-8000-000000000001"), "name": "10% off juice"}])  # fmt: skip
        connection.execute(insert(t["app_app"]), [{"id": 3, "name": "Stripe"}])
        connection.execute(insert(t["checkout_checkout"]), [
            _checkout_row(CUSTOMER, 21, "jan.kowalski@example.pl", OLD, billing_address_id=5, voucher_code="SUMMER",
                          discount_amount=Decimal("1.500"), total_gross_amount=Decimal("15.500"),
                          redirect_url="https://shop.example/checkout"),
            _checkout_row(GUEST, None, None, OLD),
            _checkout_row(PAYING, None, "paying@example.org", OLD, authorize_status="partial"),
            _checkout_row(TRANSACTING, None, "card@example.org", OLD, authorize_status="full",
                          last_transaction_modified_at=OLD),
            _checkout_row(FRESH, 21, "jan.kowalski@example.pl", NOW),
        ])  # fmt: skip
        connection.execute(insert(t["checkout_checkoutline"]), [
            _line(0, CUSTOMER, 301, 2, "5.000", metadata={"gift-wrap": "yes"}),
            _line(1, CUSTOMER, 302, 1, "7.000"),
            _line(2, GUEST, 301, 1, "5.000"),
            _line(3, PAYING, 302, 1, "7.000"),
            _line(4, TRANSACTING, 301, 2, "5.000"),
            _line(5, FRESH, 302, 1, "7.000"),
        ])  # fmt: skip
        connection.execute(insert(t["checkout_checkoutmetadata"]), [
            {"id": 1, "checkout_id": CUSTOMER, "metadata": {"source": "mobile"}, "private_metadata": {"crm": "A-17"}},
            {"id": 2, "checkout_id": GUEST, "metadata": {}, "private_metadata": {}},
        ])  # fmt: skip
        connection.execute(
            insert(t["checkout_checkout_gift_cards"]), [{"id": 1, "checkout_id": CUSTOMER, "giftcard_id": 9}]
        )
        connection.execute(insert(t["discount_checkoutdiscount"]), [
            _discount("d0000000-0000-4000-8000-000000000001", checkout_id=CUSTOMER, type="voucher",
                      promotion_rule_id=None, voucher_code="SUMMER")])  # fmt: skip
        connection.execute(insert(t["discount_checkoutlinediscount"]), [
            _discount("d1000000-0000-4000-8000-000000000001", line_id=LINE[0], unique_type="promotion")])  # fmt: skip
        connection.execute(insert(t["payment_payment"]), [_payment()])
        connection.execute(insert(t["payment_transactionitem"]), [_transaction()])
