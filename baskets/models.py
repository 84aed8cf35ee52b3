"""The tables: the webstore's baskets (read and deleted here) and the suite's own bookkeeping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    UUID,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Predictable names for every index and constraint, so Alembic can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACCOUNT_TYPES = ("Customer", "Anonymous", "Contact")
SHOP_ACCOUNT_TYPES = ("customer", "contact", "sales_agent")
ERP_ACCOUNT_KINDS = ("customer", "contact")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stored as naive UTC on every backend; read back timezone-aware.

    One representation everywhere keeps comparisons, exports and the audit hash identical
    on SQLite, PostgreSQL and MariaDB (MariaDB has no time zone type at all).
    """

    # Microseconds on MariaDB too (its DATETIME keeps whole seconds unless told).
    impl = DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a Core text() query
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC)


# MariaDB's default collation compares 'ALICE', 'Àlice' and 'alice ' equal to 'alice'; this one
# compares code points and does not pad, as SQLite and PostgreSQL compare (migration 0004).
EXACT_COLLATION = "utf8mb4_nopad_bin"


def exact_text(length: int) -> String:
    """Text compared exactly on every backend: identifiers such as operator names and ERP ids."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation=EXACT_COLLATION), "mysql", "mariadb"
    )


# Lowercase hyphenated text everywhere; PostgreSQL's native uuid type is smaller and faster
# (SQLAlchemy's generic UUID is the one its PostgreSQL dialect uses, without importing that dialect).
GUID = String(36).with_variant(UUID(as_uuid=False), "postgresql")
ERP_ID = exact_text(50)
# The longest basket key a mapped shop may have (an integer, a GUID or text; docs/schema-mapping.md).
BASKET_KEY_MAX = 255
# A basket key or shop account id of any schema, in the audit log: exact text (migration 0008).
AUDIT_KEY = exact_text(BASKET_KEY_MAX)
OPERATOR_NAME = exact_text(100)
QUANTITY = Numeric(18, 4, asdecimal=True)


def searchable_text(length: int) -> String:
    """Text the substring filters search: on MariaDB a binary collation, because its default
    (utf8mb4_general_ci) also ignores accents and 'a' would match 'å'; lower() supplies the
    case-insensitivity, as on the other backends."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ShopAccount(Base):
    """A login of the webstore: a customer, a contact of a customer, or a sales agent."""

    __tablename__ = "shop_accounts"
    __table_args__ = (
        CheckConstraint("shop_account_type IN ('customer', 'contact', 'sales_agent')", name="type"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[str] = mapped_column(GUID, primary_key=True)
    name: Mapped[str] = mapped_column(searchable_text(200))
    email: Mapped[str] = mapped_column(searchable_text(254))
    shop_account_type: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str | None] = mapped_column(ERP_ID)
    activated: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utc_now)


class Account(Base):
    """A customer or contact (prospect) synced from the ERP, keyed by its ERP id."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('customer', 'contact')", name="kind"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[str] = mapped_column(ERP_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(20))


class Basket(Base):
    """A shopping cart that has not become an order (yet)."""

    __tablename__ = "baskets"
    __table_args__ = (
        CheckConstraint("account_type IN ('Customer', 'Anonymous', 'Contact')", name="type"),
        # Retention selects by type and age; the overview sorts by age.
        Index(None, "modified_at"),
        Index(None, "shop_account_id"),
        Index(None, "account_id"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[str] = mapped_column(GUID, primary_key=True)
    # No foreign key: a basket may outlive its shop account.
    shop_account_id: Mapped[str | None] = mapped_column(GUID)
    account_id: Mapped[str | None] = mapped_column(ERP_ID)
    account_type: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class BasketLine(Base):
    __tablename__ = "basket_lines"
    __table_args__ = (Index(None, "basket_id"), {"mysql_charset": "utf8mb4"})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    basket_id: Mapped[str] = mapped_column(GUID, ForeignKey("baskets.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(50))
    variant_id: Mapped[str | None] = mapped_column(String(50))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    uom_id: Mapped[str | None] = mapped_column(String(20))


class Operator(Base):
    """A back-office user of this suite and their Sana-style role."""

    __tablename__ = "operators"
    __table_args__ = ({"mysql_charset": "utf8mb4"},)

    name: Mapped[str] = mapped_column(OPERATOR_NAME, primary_key=True)
    role: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utc_now)


class BasketAudit(Base):
    """One row per deleted (or restored) basket, and one per erasure, hash-chained:
    hash = SHA-256(prev_hash ‖ kept fields and the digest of the personal part).

    The personal part (`baskets.audit.PERSONAL_COLUMNS` and its salt) can be removed later
    (redaction, migration 0006) while the row keeps its digest, so the chain still verifies.
    """

    __tablename__ = "basket_audit"
    __table_args__ = (
        Index(None, "basket_id"),
        Index(None, "occurred_at"),
        # The redaction walk: rows not redacted yet, oldest first (migration 0007).
        Index(None, "redacted_at", "occurred_at"),
        {"mysql_charset": "utf8mb4"},
    )

    # Assigned by the writer while it holds the chain head, so the chain has no gaps or forks.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    event: Mapped[str] = mapped_column(String(20))  # deleted | restored | erased
    # NULL only on an `erased` row, which records an erasure, not a basket.
    basket_id: Mapped[str | None] = mapped_column(AUDIT_KEY)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(OPERATOR_NAME)
    actor_role: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    shop_account_id: Mapped[str | None] = mapped_column(AUDIT_KEY)
    shop_account_name: Mapped[str | None] = mapped_column(String(200))
    shop_account_email: Mapped[str | None] = mapped_column(String(254))
    account_id: Mapped[str | None] = mapped_column(ERP_ID)
    account_name: Mapped[str | None] = mapped_column(String(200))
    account_email: Mapped[str | None] = mapped_column(String(254))
    account_type: Mapped[str | None] = mapped_column(String(20))
    basket_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    basket_modified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    line_count: Mapped[int | None] = mapped_column(Integer)
    total_quantity: Mapped[Decimal | None] = mapped_column(QUANTITY)
    # The lines as canonical JSON, enough to restore the basket; NULL once redacted.
    lines: Mapped[str | None] = mapped_column(Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"))
    # An erasure's own record (reference and counts) as canonical JSON; hashed, never redacted.
    detail: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the personal part with its salt; hashed in its place, kept when it is removed.
    personal_digest: Mapped[str | None] = mapped_column(String(64))
    # Random, so the digest of a redacted row cannot be matched against a guess of what it held.
    personal_salt: Mapped[str | None] = mapped_column(String(32))
    # When and why the personal part was removed (retention or erasure); not hashed.
    redacted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    redaction: Mapped[str | None] = mapped_column(String(20))
    # The hash the row had before migration 0006, over the whole row (rows written before it).
    legacy_hash: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # no index: nothing looks rows up by hash (0002)


class AuditChainHead(Base):
    """The chain head: one row (id 1) holding the seq and hash of the last audit row. Every
    audit writer locks it first (`Backend.lock_chain_head`) and moves it to its new last row in
    the same transaction, which serialises the chain across sessions."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class CleanupRun(Base):
    """One row per retention-cleanup run: what `baskets status` and the stale alert read."""

    __tablename__ = "cleanup_runs"
    __table_args__ = (Index(None, "started_at"), {"mysql_charset": "utf8mb4"})

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    actor: Mapped[str] = mapped_column(OPERATOR_NAME)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    selected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    survived: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: per-type counts, error


GENESIS_HASH = "0" * 64
