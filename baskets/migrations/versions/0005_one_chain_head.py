"""one chain head row and no cleanup_run_batches: retention batches run one after another

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A retention run's batches no longer overlap on PostgreSQL, so each one moves the one chain head
row and writes the run's counts in the run's own row. What an older run left is folded in: row
1 of audit_chain_head takes the head with the highest seq and the other head rows go; a run
still `running` takes the counts of its last batch row before cleanup_run_batches is dropped
(the next cleanup closes it as abandoned, as before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHAIN_HEAD_ID = 1
_HEADS = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
_RUNS = sa.table(
    "cleanup_runs", sa.column("id"), sa.column("status"), sa.column("selected"), sa.column("deleted"),
    sa.column("survived"), sa.column("skipped"), sa.column("detail"),
)  # fmt: skip
_BATCHES = sa.table(
    "cleanup_run_batches", sa.column("run_id"), sa.column("batch"), sa.column("selected"),
    sa.column("deleted"), sa.column("survived"), sa.column("skipped"), sa.column("detail"),
)  # fmt: skip


def upgrade() -> None:
    connection = op.get_bind()
    head = connection.execute(
        sa.select(_HEADS.c.seq, _HEADS.c.hash).order_by(_HEADS.c.seq.desc()).limit(1)
    ).first()
    if head is not None:
        moved = connection.execute(
            sa.update(_HEADS).where(_HEADS.c.id == CHAIN_HEAD_ID).values(seq=head.seq, hash=head.hash)
        )
        if moved.rowcount == 1:  # without row 1 the chain is broken already: verify must say so
            connection.execute(sa.delete(_HEADS).where(_HEADS.c.id != CHAIN_HEAD_ID))
    running = connection.execute(sa.select(_RUNS.c.id).where(_RUNS.c.status == "running")).scalars().all()
    for run_id in running:
        last = connection.execute(
            sa.select(_BATCHES.c.selected, _BATCHES.c.deleted, _BATCHES.c.survived, _BATCHES.c.skipped,
                      _BATCHES.c.detail)
            .where(_BATCHES.c.run_id == run_id)
            .order_by(_BATCHES.c.batch.desc())
            .limit(1)
        ).first()  # fmt: skip
        if last is not None:
            connection.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id).values(**last._mapping))
    op.drop_table("cleanup_run_batches")


def downgrade() -> None:
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
