"""operator names and ERP account ids compare exactly on MariaDB

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

MariaDB's default collation (utf8mb4_general_ci) ignores case and accents and pads trailing
spaces, so `--as 'Àlice'`, `'ALICE'` and `'alice '` all found the operator `alice`, and
`c0000050` matched the ERP account `C0000050`. utf8mb4_nopad_bin compares code points without
padding, as SQLite and PostgreSQL do. Only the collation changes: stored values, and so the
audit chain's hashes, stay as they are. SQLite and PostgreSQL need nothing.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from baskets.backends import backend_for

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EXACT_COLLATION = "utf8mb4_nopad_bin"
# (table, column, length, nullable): every column that holds an operator name or an ERP account id.
IDENTIFIER_COLUMNS = (
    ("operators", "name", 100, False),
    ("basket_audit", "actor", 100, False),
    ("cleanup_runs", "actor", 100, False),
    ("accounts", "id", 50, False),
    ("baskets", "account_id", 50, True),
    ("shop_accounts", "account_id", 50, True),
    ("basket_audit", "account_id", 50, True),
)


def _on_mariadb() -> bool:
    return backend_for(op.get_bind()).text_folds_case_by_default


def upgrade() -> None:
    if not _on_mariadb():
        return
    for table, column, length, nullable in IDENTIFIER_COLUMNS:
        op.alter_column(
            table,
            column,
            type_=mysql.VARCHAR(length, charset="utf8mb4", collation=EXACT_COLLATION),
            existing_type=sa.String(length),
            existing_nullable=nullable,
        )


def downgrade() -> None:
    if not _on_mariadb():
        return
    for table, column, length, nullable in IDENTIFIER_COLUMNS:
        op.alter_column(
            table,
            column,
            type_=mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_general_ci"),
            existing_type=mysql.VARCHAR(length, charset="utf8mb4", collation=EXACT_COLLATION),
            existing_nullable=nullable,
        )
