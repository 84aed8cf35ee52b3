"""`baskets init` on a mapped database: the suite's own tables only, never DDL on the shop's."""

from __future__ import annotations

from sqlalchemy import Engine, Table, insert, select

from baskets.backends.base import CHAIN_HEAD_ID
from baskets.db import SCHEMA_REVISION, current_revision
from baskets.errors import WorkerMisconfigured
from baskets.models import GENESIS_HASH, AuditChainHead, BasketAudit, CleanupRun, Operator
from baskets.schema.mapped import MappedSchema

# The suite's own tables on a shop's database: who may act, the audit log and its chain head,
# the cleanup runs. The builtin basket tables (baskets, basket_lines, accounts, shop_accounts)
# are not created: the mapping names the shop's.
BOOKKEEPING: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (Operator, BasketAudit, AuditChainHead, CleanupRun)
)
# The revision the first release with mappings stamped: the migrations after it change only the
# bookkeeping tables, so they upgrade a mapped database as they do a builtin one.
FIRST_MAPPED_REVISION = "0007"


def init_bookkeeping(engine: Engine, schema: MappedSchema) -> tuple[str | None, str]:
    """Create the suite's own tables that are missing (upgrade those an earlier release made), the
    chain head row, and record the schema revision; (revision before, revision after).
    WorkerMisconfigured when the mapping names one of the suite's tables as the shop's."""
    names = {table.name for table in BOOKKEEPING} | {"alembic_version"}
    clash = sorted(names & set(schema.tables))
    if clash:
        raise WorkerMisconfigured(
            f"schema: table {clash[0]} is one of the suite's own tables, not the shop's (expected the "
            "shop's basket tables in the mapping)"
        )
    before = current_revision(engine)
    if before is not None and not FIRST_MAPPED_REVISION <= before <= SCHEMA_REVISION:
        raise WorkerMisconfigured(
            f"schema: the database's bookkeeping is at revision {before}, not {SCHEMA_REVISION} "
            f"(expected {FIRST_MAPPED_REVISION} to {SCHEMA_REVISION}, which this release upgrades)"
        )
    from alembic import command

    from baskets.db import _alembic_config

    with engine.begin() as connection:
        if before is not None and before != SCHEMA_REVISION:
            command.upgrade(_alembic_config(connection), SCHEMA_REVISION)
        for table in BOOKKEEPING:
            table.create(connection, checkfirst=True)
        if connection.scalar(select(AuditChainHead.id).where(AuditChainHead.id == CHAIN_HEAD_ID)) is None:
            connection.execute(insert(AuditChainHead).values(id=CHAIN_HEAD_ID, seq=0, hash=GENESIS_HASH))
        if before is None:
            command.stamp(_alembic_config(connection), SCHEMA_REVISION)
    return before, SCHEMA_REVISION
