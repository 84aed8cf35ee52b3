"""basket_audit.hash without its unique index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Nothing looks a row up by its hash (verify walks the chain in seq order), while the index made
every audit insert a write at a random place of a large B-tree: about a sixth of what a
retention batch wrote on SQLite. The chain itself is what makes the log tamper-evident.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        batch_op.drop_constraint("uq_basket_audit_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_basket_audit_hash", ["hash"])
