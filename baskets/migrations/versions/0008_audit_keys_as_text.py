"""the audit log keeps any shop's basket key and shop account id: exact text of up to 255 characters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

`basket_audit.basket_id` and `basket_audit.shop_account_id` were GUID columns: PostgreSQL's
`uuid`, elsewhere VARCHAR(36). A mapped shop (docs/schema-mapping.md) may key its baskets by an
integer or by text, and its shop accounts too, which a `uuid` column cannot hold and a 36-character
one only partly. Both become VARCHAR(255) (the longest basket key a mapping accepts), compared
exactly on every backend: MariaDB gets the binary collation migration 0004 gives identifiers.

Every stored value stays as it was, as text: PostgreSQL turns a uuid into its lowercase hyphenated
text, the form the suite wrote and hashed, so the audit chain of the rows already written goes on
verifying. The index on basket_id is rebuilt by the database with the column.

The downgrade turns them back into GUID columns; it refuses while a row holds a value that is not
a GUID (a mapped shop's integer or text key), which the old column cannot hold.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY_LENGTH = 255
COLUMNS = ("basket_id", "shop_account_id")
_GUID = sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql")
_KEY = sa.String(length=KEY_LENGTH).with_variant(
    mysql.VARCHAR(KEY_LENGTH, charset="utf8mb4", collation="utf8mb4_nopad_bin"), "mysql", "mariadb"
)
_AUDIT = sa.table("basket_audit", *(sa.column(name) for name in COLUMNS))


def upgrade() -> None:
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(
                name, type_=_KEY, existing_type=_GUID, existing_nullable=True,
                postgresql_using=f"{name}::text",
            )  # fmt: skip


def downgrade() -> None:
    connection = op.get_bind()
    for name in COLUMNS:
        column = _AUDIT.c[name]
        # A GUID is 36 characters; on PostgreSQL the cast back to uuid refuses any other text of
        # that length, and rolls the whole downgrade back.
        other = connection.scalar(sa.select(column).where(sa.func.length(column) != 36).limit(1))
        if other is not None:
            raise RuntimeError(
                f"cannot downgrade below 0008: basket_audit.{name} holds {str(other)[:40]!r}, which "
                "is not a GUID (a mapped shop's key) and a GUID column cannot hold"
            )
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(
                name, type_=_GUID, existing_type=_KEY, existing_nullable=True,
                postgresql_using=f"{name}::uuid",
            )  # fmt: skip
