"""Alembic environment: runs on the connection `baskets.db.upgrade_database` hands over."""

from alembic import context

from baskets.models import Base
from baskets.schema.prefix import VERSION_TABLE, bookkeeping_name

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    # alembic_version, or bm_alembic_version beside a shop's tables (baskets.schema.prefix)
    version_table=bookkeeping_name(connection, VERSION_TABLE),
)
with context.begin_transaction():
    context.run_migrations()
