"""basket_audit index for the redaction walk: (redacted_at, occurred_at)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The nightly cleanup redacts the audit rows past `privacy.audit_personal_data_days`
(`baskets.privacy.redaction`). It looks for rows not redacted yet (`redacted_at IS NULL`) that
were written before the cut-off, oldest first. With this index that is one range of the index
in the order the walk wants: rows redacted on earlier nights are not in it, and neither are the
rows still inside their keeping time. Without it, each batch either walked past every row
redacted before (the primary key in seq order, filtered) or sorted every candidate row again
(the index on occurred_at), so a first run on a large old audit log took minutes of one core.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_basket_audit_redacted_at_occurred_at"),
            ["redacted_at", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_basket_audit_redacted_at_occurred_at"))
