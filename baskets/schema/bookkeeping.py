"""`baskets init` on a mapped database: the suite's own tables only, never DDL on the shop's."""

from __future__ import annotations

from sqlalchemy import Engine, Table, insert, inspect, select

from baskets.backends.base import CHAIN_HEAD_ID
from baskets.db import SCHEMA_REVISION, current_revision
from baskets.errors import WorkerMisconfigured
from baskets.models import GENESIS_HASH, AuditChainHead, BasketAudit, CleanupRun, Operator
from baskets.schema.mapped import MappedSchema
from baskets.schema.prefix import bookkeeping_name

# The suite's own tables on a shop's database: who may act, the audit log and its chain head,
# the cleanup runs. The builtin basket tables (baskets, basket_lines, accounts, shop_accounts)
# are not created: the mapping names the shop's.
BOOKKEEPING: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (Operator, BasketAudit, AuditChainHead, CleanupRun)
)


def init_bookkeeping(engine: Engine, schema: MappedSchema) -> tuple[str | None, str]:
    """Create the suite's own tables that are missing, under the engine's bookkeeping prefix
    (`baskets.schema.prefix`), the chain head row, and record the schema revision; (revision
    before, revision after). Never adopts a table it did not create: WorkerMisconfigured when a
    table with a bookkeeping name is there but the database's bookkeeping was never initialised."""
    before = current_revision(engine)
    if before not in (None, SCHEMA_REVISION):
        raise WorkerMisconfigured(
            f"schema: the database's bookkeeping is at revision {before}, not {SCHEMA_REVISION} "
            "(expected a database this release initialised)"
        )
    with engine.begin() as connection:
        inspector = inspect(connection)
        names = {table.name: bookkeeping_name(engine, table.name) for table in BOOKKEEPING}
        present = [name for name in names.values() if inspector.has_table(name)]
        if before is None and present:
            raise WorkerMisconfigured(
                f"bookkeeping_prefix: the database already has a table {present[0]} that `baskets init` "
                "did not create (expected a prefix no table of the shop starts with, e.g. bm_)"
            )
        for table in BOOKKEEPING:
            if names[table.name] not in present:
                table.create(connection, checkfirst=False)
        if connection.scalar(select(AuditChainHead.id).where(AuditChainHead.id == CHAIN_HEAD_ID)) is None:
            connection.execute(insert(AuditChainHead).values(id=CHAIN_HEAD_ID, seq=0, hash=GENESIS_HASH))
        if before is None:
            from alembic import command

            from baskets.db import _alembic_config

            command.stamp(_alembic_config(connection), SCHEMA_REVISION)
    return before, SCHEMA_REVISION
