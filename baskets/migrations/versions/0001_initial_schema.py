"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from baskets.models import GENESIS_HASH, UTCDateTime, searchable_text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.CheckConstraint("kind IN ('customer', 'contact')", name=op.f("ck_accounts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "basket_audit",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column(
            "basket_id",
            sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column(
            "shop_account_id",
            sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql"),
            nullable=True,
        ),
        sa.Column("shop_account_name", sa.String(length=200), nullable=True),
        sa.Column("shop_account_email", sa.String(length=254), nullable=True),
        sa.Column("account_id", sa.String(length=50), nullable=True),
        sa.Column("account_name", sa.String(length=200), nullable=True),
        sa.Column("account_email", sa.String(length=254), nullable=True),
        sa.Column("account_type", sa.String(length=20), nullable=False),
        sa.Column("basket_created_at", UTCDateTime(), nullable=False),
        sa.Column("basket_modified_at", UTCDateTime(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total_quantity", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column(
            "lines",
            sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql"),
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_basket_audit")),
        sa.UniqueConstraint("hash", name=op.f("uq_basket_audit_hash")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_basket_audit_basket_id"), ["basket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_basket_audit_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "baskets",
        sa.Column(
            "id",
            sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "shop_account_id",
            sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql"),
            nullable=True,
        ),
        sa.Column("account_id", sa.String(length=50), nullable=True),
        sa.Column("account_type", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "account_type IN ('Customer', 'Anonymous', 'Contact')", name=op.f("ck_baskets_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baskets")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("baskets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_baskets_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_baskets_modified_at"), ["modified_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_baskets_shop_account_id"), ["shop_account_id"], unique=False)

    op.create_table(
        "cleanup_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("selected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("survived", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cleanup_runs")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("cleanup_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cleanup_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "operators",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_operators")),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "shop_accounts",
        sa.Column(
            "id",
            sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql"),
            nullable=False,
        ),
        sa.Column("name", searchable_text(200), nullable=False),
        sa.Column("email", searchable_text(254), nullable=False),
        sa.Column("shop_account_type", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=50), nullable=True),
        sa.Column("activated", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "shop_account_type IN ('customer', 'contact', 'sales_agent')",
            name=op.f("ck_shop_accounts_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_accounts")),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "basket_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "basket_id",
            sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql"),
            nullable=False,
        ),
        sa.Column("product_id", sa.String(length=50), nullable=False),
        sa.Column("variant_id", sa.String(length=50), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("uom_id", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["basket_id"],
            ["baskets.id"],
            name=op.f("fk_basket_lines_basket_id_baskets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_basket_lines")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("basket_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_basket_lines_basket_id"), ["basket_id"], unique=False)

    # The chain starts from a known genesis hash; writers lock this row to append.
    head = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    with op.batch_alter_table("basket_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_basket_lines_basket_id"))

    op.drop_table("basket_lines")
    op.drop_table("shop_accounts")
    op.drop_table("operators")
    with op.batch_alter_table("cleanup_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cleanup_runs_started_at"))

    op.drop_table("cleanup_runs")
    with op.batch_alter_table("baskets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_baskets_shop_account_id"))
        batch_op.drop_index(batch_op.f("ix_baskets_modified_at"))
        batch_op.drop_index(batch_op.f("ix_baskets_account_id"))

    op.drop_table("baskets")
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_basket_audit_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_basket_audit_basket_id"))

    op.drop_table("basket_audit")
    op.drop_table("audit_chain_head")
    op.drop_table("accounts")
