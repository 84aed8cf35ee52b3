"""cleanup_run_batches: a running cleanup's counts, one row per batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

On PostgreSQL a retention run overlaps two batch transactions (the next batch's delete runs
while this one writes its audit rows). A REPEATABLE READ transaction may not update a row that
another committed after it began, so the batches no longer update the run's row in
cleanup_runs: each inserts its counts here, and adds a chain-head row (audit_chain_head, which
keeps its shape) rather than updating row 1.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cleanup_run_batches",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("survived", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "batch", name=op.f("pk_cleanup_run_batches")),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("cleanup_run_batches")
