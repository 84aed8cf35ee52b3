"""The hash chain: one head row, locked by every writer, which appends after it and moves it; append-only."""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    select,
    update,
)

from baskets.audit.canonical import (
    DOCUMENT_COLUMNS,
    HASHED_COLUMNS,
    PERSONAL_COLUMNS,
    STORED_COLUMNS,
    TIME_COLUMNS,
    canonical_document,
    canonical_json,
    canonical_time,
    linked_hash,
)
from baskets.backends import backend_for
from baskets.backends.base import CHAIN_HEAD_ID
from baskets.errors import AuditChainBroken
from baskets.models import AuditChainHead, BasketAudit


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


def lock_chain_head(connection: Connection) -> ChainHead:
    """Read the chain head, locking it until the caller's transaction ends
    (`Backend.lock_chain_head`). Every writer takes this lock before it appends, so sequence
    numbers and prev_hash links never fork. AuditChainBroken (exit 6) when its row is missing."""
    found = backend_for(connection).lock_chain_head(connection)
    if found is None:
        raise chain_head_missing()
    return ChainHead(seq=found[0], hash=found[1])


def chain_head_query() -> Select[int, str]:
    """The chain head's seq and hash (its one row)."""
    return select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == CHAIN_HEAD_ID)


def chain_head_missing() -> AuditChainBroken:
    """The error of a writer that finds no chain head row: nothing can be appended safely."""
    return AuditChainBroken(
        "audit chain broken: the chain head row (audit_chain_head) is missing, so rows may have "
        "been cut off; nothing was changed (`baskets audit verify` checks the log)"
    )


def append_to_chain(connection: Connection, head: ChainHead, rows: Sequence[Mapping[str, Any]]) -> ChainHead:
    """Insert `rows` (audit columns without seq, prev_hash, hash; Python values) after `head`;
    return the new head. The caller must hold the head lock (`lock_chain_head`)."""
    documents = [canonical_document({"detail": None, **row}, DOCUMENT_COLUMNS) for row in rows]
    return append_documents(connection, head, documents)


def append_documents(
    connection: Connection,
    head: ChainHead,
    documents: Iterable[dict[str, Any]],
    *,
    redaction: str | None = None,
    redacted_at: dt.datetime | None = None,
) -> ChainHead:
    """Chain and insert audit rows given as canonical documents (DOCUMENT_COLUMNS, values as
    `canonical_document` makes them; `detail` may be left out), move the chain head to the last
    of them and return it.

    Each document gets its seq and prev_hash, a random salt and the digest of its personal part
    (`personal_digest`), is hashed once, and is stored from the same canonical values: what
    verify later reads back hashes to the same bytes. With `redaction` (a reason, e.g. `erasure`)
    the rows are written already redacted: the digest is hashed, the personal part and the salt
    are not stored, and `redacted_at` (default now) and `redaction` mark them. `documents` may be
    a generator, which the backend may consume while it stores (PostgreSQL's COPY). The caller
    must hold the head lock (`lock_chain_head`) in the same transaction.
    """
    backend = backend_for(connection)
    seq, prev_hash = head.seq, head.hash
    mark = None if redaction is None else canonical_time(redacted_at or dt.datetime.now(dt.UTC))

    def chained() -> Iterator[list[Any]]:
        nonlocal seq, prev_hash
        for document in documents:
            seq += 1
            document["seq"], document["prev_hash"], document["legacy_hash"] = seq, prev_hash, None
            document.setdefault("detail", None)
            salt = new_salt()
            # The document's values are canonical already: its personal part is digested as is.
            personal = dict(zip(PERSONAL_COLUMNS, _PERSONAL_VALUES(document), strict=True))
            personal["personal_salt"] = salt
            document["personal_digest"] = hashlib.sha256(canonical_json(personal)).hexdigest()
            document["personal_salt"], document["redacted_at"], document["redaction"] = salt, None, None
            if redaction is not None:
                document.update(REDACTED, redacted_at=mark, redaction=redaction)
            hashed = dict(zip(HASHED_COLUMNS, _HASHED_VALUES(document), strict=True))
            prev_hash = document["hash"] = linked_hash(prev_hash, canonical_json(hashed))
            stored = [*_STORED_VALUES(document)]
            yield backend.stored_audit_row(stored, _TIME_POSITIONS, _QUANTITY_POSITION)

    backend.insert_audit_rows(connection, _AUDIT_COLUMNS, chained())
    new_head = ChainHead(seq=seq, hash=prev_hash)
    if new_head == head:
        return head
    moved = connection.execute(
        update(AuditChainHead).where(AuditChainHead.id == CHAIN_HEAD_ID).values(seq=seq, hash=prev_hash)
    )
    if moved.rowcount != 1:
        raise chain_head_missing()
    return new_head


def new_salt() -> str:
    """A fresh random salt for a row's personal digest (128 bits as hex). A module attribute:
    tests that compare hashes across databases replace it with a repeatable one."""
    return secrets.token_hex(16)


# What a redaction leaves of the personal part: nothing (its digest stays).
REDACTED: dict[str, None] = {name: None for name in (*PERSONAL_COLUMNS, "personal_salt")}
# A stored row: every column in table order; the INSERT names them so.
_AUDIT_COLUMNS = STORED_COLUMNS
_HASHED_VALUES = operator.itemgetter(*HASHED_COLUMNS)
_PERSONAL_VALUES = operator.itemgetter(*PERSONAL_COLUMNS)
_STORED_VALUES = operator.itemgetter(*STORED_COLUMNS)
_TIME_POSITIONS = tuple(position for position, name in enumerate(_AUDIT_COLUMNS) if name in TIME_COLUMNS)
_QUANTITY_POSITION = _AUDIT_COLUMNS.index("total_quantity")


def audit_rows_for_basket(connection: Connection, basket_id: str) -> list[dict[str, Any]]:
    """Every audit row of `basket_id`, oldest first (a basket may be deleted, restored, deleted)."""
    rows = connection.execute(
        select(BasketAudit.__table__).where(BasketAudit.basket_id == basket_id).order_by(BasketAudit.seq)
    )
    return [dict(row._mapping) for row in rows]
