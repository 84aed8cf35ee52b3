"""audit rows whose personal part can be redacted while the chain still verifies

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03

Until now a row's hash covered the whole row, names and e-mail addresses included, so removing
them broke the chain. From here on the hash covers the kept fields and a salted digest of the
personal part (`baskets.audit.PERSONAL_COLUMNS`); a redaction removes the personal part and
its salt and keeps the digest, and the hash does not change (docs/audit.md).

The rows already written are brought into the new form here, in seq order: each gets a random
salt and the digest of its personal part, keeps its old hash as `legacy_hash`, and is hashed and
linked anew. `audit verify` goes on checking every unredacted old row against its `legacy_hash`
too, so a row changed before the upgrade still fails verification, and a head hash saved before
the upgrade is still found (`--head`). A chain-head row that matched the old last row is moved to
its new hash; one that did not stays as it was, and verify reports it as before.

Also: basket_id, account_type, the basket's times, counts and lines become nullable (an erasure
is recorded by a row of its own without a basket, and a redacted row has no lines).

Merge note: on the branch this was written on, 0005 did not exist yet; it revises 0004 there and
is to revise 0005 once both are merged.
"""

import secrets
from typing import Any, cast

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from baskets.audit import (
    STORED_COLUMNS,
    chain_hash,
    legacy_chain_hash,
    personal_digest,
)
from baskets.models import GENESIS_HASH, AuditChainHead, BasketAudit, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_GUID = sa.String(length=36).with_variant(sa.UUID(as_uuid=False), "postgresql")
_LONGTEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql")
# (column, type) of every column that becomes nullable.
NOW_NULLABLE = (
    ("basket_id", _GUID),
    ("account_type", sa.String(length=20)),
    ("basket_created_at", UTCDateTime()),
    ("basket_modified_at", UTCDateTime()),
    ("line_count", sa.Integer()),
    ("total_quantity", sa.Numeric(precision=18, scale=4)),
    ("lines", _LONGTEXT),
)
NEW_COLUMNS: tuple[sa.Column[Any], ...] = (
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("personal_digest", sa.String(length=64), nullable=True),
    sa.Column("personal_salt", sa.String(length=32), nullable=True),
    sa.Column("redacted_at", UTCDateTime(), nullable=True),
    sa.Column("redaction", sa.String(length=20), nullable=True),
    sa.Column("legacy_hash", sa.String(length=64), nullable=True),
)
_CHUNK = 2000


def upgrade() -> None:
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        for column in NEW_COLUMNS:
            batch_op.add_column(column.copy())
        for name, type_ in NOW_NULLABLE:
            batch_op.alter_column(name, existing_type=type_, nullable=True)
    _rehash(op.get_bind())


def _rehash(connection: sa.Connection) -> None:
    """Give every row its salt, digest and legacy hash, and hash and link it anew, in seq order."""
    audit = cast(sa.Table, BasketAudit.__table__)
    renamed = {}  # old hash -> new hash, for the chain-head rows
    after, new_prev = 0, GENESIS_HASH
    while True:
        rows = (
            connection.execute(
                sa.select(audit).where(audit.c.seq > after).order_by(audit.c.seq).limit(_CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        updates = []
        for stored in rows:
            row = dict(stored)
            salt = secrets.token_hex(16)
            row.update(
                personal_salt=salt,
                personal_digest=personal_digest(row, salt),
                legacy_hash=row["hash"],
                prev_hash=new_prev,
                redacted_at=None,
                redaction=None,
                detail=None,
            )
            new_prev = chain_hash(new_prev, row)
            renamed[row["legacy_hash"]] = new_prev
            updates.append(
                {"key": row["seq"], "salt": salt, "digest": row["personal_digest"],
                 "legacy": row["legacy_hash"], "prev": row["prev_hash"], "new": new_prev}
            )  # fmt: skip
        connection.execute(
            sa.update(audit)
            .where(audit.c.seq == sa.bindparam("key"))
            .values(
                personal_salt=sa.bindparam("salt"),
                personal_digest=sa.bindparam("digest"),
                legacy_hash=sa.bindparam("legacy"),
                prev_hash=sa.bindparam("prev"),
                hash=sa.bindparam("new"),
            ),
            updates,
        )
        after = rows[-1]["seq"]
    _move_heads(connection, renamed)


def _move_heads(connection: sa.Connection, renamed: dict[str, str]) -> None:
    heads = cast(sa.Table, AuditChainHead.__table__)
    for head_id, old in connection.execute(sa.select(heads.c.id, heads.c.hash)).all():
        if old in renamed:
            connection.execute(sa.update(heads).where(heads.c.id == head_id).values(hash=renamed[old]))


def downgrade() -> None:
    connection = op.get_bind()
    audit = cast(sa.Table, BasketAudit.__table__)
    redacted = connection.scalar(
        sa.select(sa.func.count())
        .select_from(audit)
        .where(sa.or_(audit.c.redacted_at.is_not(None), audit.c.basket_id.is_(None)))
    )
    if redacted:
        raise RuntimeError(
            f"cannot downgrade below 0006: {redacted} audit rows are redacted or record an erasure, "
            "which the old form cannot hold"
        )
    renamed = {}
    after, prev = 0, GENESIS_HASH
    while True:
        rows = (
            connection.execute(
                sa.select(audit).where(audit.c.seq > after).order_by(audit.c.seq).limit(_CHUNK)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        updates = []
        for stored in rows:
            row = {name: stored[name] for name in STORED_COLUMNS} | {"prev_hash": prev}
            new = legacy_chain_hash(prev, row)
            renamed[stored["hash"]] = new
            updates.append({"key": row["seq"], "prev": prev, "new": new})
            prev = new
        connection.execute(
            sa.update(audit)
            .where(audit.c.seq == sa.bindparam("key"))
            .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("new")),
            updates,
        )
        after = rows[-1]["seq"]
    _move_heads(connection, renamed)
    with op.batch_alter_table("basket_audit", schema=None) as batch_op:
        for name, type_ in NOW_NULLABLE:
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        for column in NEW_COLUMNS:
            batch_op.drop_column(column.name)
