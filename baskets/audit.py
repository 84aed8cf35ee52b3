"""The tamper-evident audit log of deleted and restored baskets: canonical rows, the hash chain, verify."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    select,
    update,
)

from baskets.backends import backend_for
from baskets.backends.base import CHAIN_HEAD_ID
from baskets.db import snapshot_read
from baskets.errors import AuditChainBroken
from baskets.models import GENESIS_HASH, AuditChainHead, BasketAudit
from baskets.wording import plural

# Every column of basket_audit except `hash`: exactly what the hash covers.
HASHED_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in BasketAudit.__table__.columns if column.name != "hash"
)
_TIME_COLUMNS = frozenset({"occurred_at", "basket_created_at", "basket_modified_at"})
_QUANTITY_COLUMNS = frozenset({"total_quantity"})
# How canonical_document treats each hashed column: as a time, a quantity, or anything else (str).
_KIND_OF: dict[str, type] = {
    name: dt.datetime if name in _TIME_COLUMNS else Decimal if name in _QUANTITY_COLUMNS else str
    for name in HASHED_COLUMNS
}
# What a writer supplies per row; append_documents adds the chain columns.
DOCUMENT_COLUMNS: tuple[str, ...] = tuple(name for name in HASHED_COLUMNS if name not in ("seq", "prev_hash"))
_FOUR_PLACES = Decimal("0.0001")


def canonical_quantity(value: Decimal | float | int | str) -> str:
    """A quantity as a decimal string with exactly four places, e.g. '2.5000'.

    SQLite keeps Numeric as REAL, so a value read back may be 2.4999999999; rounding to the
    column's four places gives the same text on every backend.
    """
    return _four_places(str(value))


@functools.lru_cache(maxsize=65_536)
def _four_places(text: str) -> str:
    # Keyed on the text, like the Decimal it is parsed from: a cleanup canonicalises millions of
    # quantities, most of them the same few values.
    return format(Decimal(text).quantize(_FOUR_PLACES), "f")


def canonical_time(value: dt.datetime) -> str:
    """An aware time as ISO 8601 UTC with microseconds, e.g. '2026-11-01T12:00:00.000000+00:00'."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} in an audit row")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_time_text(text: str) -> str:
    """A time selected by `Backend.canonical_time_column` as `canonical_time` would write it."""
    if len(text) == 32:  # canonical already
        return text
    if len(text) == 26 and text[10] == " " and text[19] == ".":  # SQLAlchemy's SQLite text
        return f"{text[:10]}T{text[11:]}+00:00"
    # Any other SQLite text, read as UTCDateTime reads it.
    return canonical_time(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def canonical_json(document: Any) -> bytes:
    """Sorted-key compact JSON, non-ASCII kept as UTF-8: byte for byte what
    `json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`
    gives for the strings, integers and nulls of an audit row (a test holds the two together),
    about ten times faster."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def canonical_document(row: Mapping[str, Any], names: Sequence[str] = HASHED_COLUMNS) -> dict[str, Any]:
    """The columns `names` of an audit row as the values its canonical JSON holds.

    Times are ISO UTC with microseconds, quantities four-place decimal strings, None is null;
    the same row therefore gives the same document on SQLite, PostgreSQL and MariaDB.
    """
    document: dict[str, Any] = {}
    for name in names:
        value, kind = row[name], _KIND_OF[name]
        if value is None or kind is str and type(value) is str:  # most values: kept as they are
            document[name] = value
        elif kind is dt.datetime:
            document[name] = canonical_time(value)
        elif kind is Decimal:
            document[name] = canonical_quantity(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            document[name] = int(value)
        else:
            document[name] = str(value)
    return document


def canonical_row(row: Mapping[str, Any]) -> bytes:
    """The bytes the hash of an audit row covers: sorted-key compact JSON of HASHED_COLUMNS."""
    return canonical_json(canonical_document(row))


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256(prev_hash ‖ canonical row) as 64 lowercase hex digits."""
    return _linked(prev_hash, canonical_row(row))


def _linked(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def canonical_line(
    line_id: int, product_id: str, variant_id: str | None, quantity: Decimal | float | str, uom_id: str | None
) -> dict[str, Any]:
    """One basket line as it is kept in an audit row's `lines`."""
    return {
        "id": int(line_id),
        "product_id": product_id,
        "variant_id": variant_id,
        "quantity": canonical_quantity(quantity),
        "uom_id": uom_id,
    }


def canonical_lines(lines: Iterable[Mapping[str, Any]]) -> str:
    """Basket lines as the canonical JSON text kept in an audit row (enough to restore them)."""
    ordered = sorted(lines, key=lambda line: int(line["id"]))
    return canonical_lines_text([canonical_line(*_LINE_FIELDS(line)) for line in ordered])


_LINE_FIELDS = operator.itemgetter("id", "product_id", "variant_id", "quantity", "uom_id")


def canonical_lines_text(lines: Sequence[Mapping[str, Any]]) -> str:
    """`canonical_lines` of lines already made by `canonical_line` and in line id order."""
    return canonical_json(lines).decode()


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The lines of an audit row back as dicts, quantities as Decimal."""
    return [{**line, "quantity": Decimal(line["quantity"])} for line in json.loads(text)]


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
    return append_documents(connection, head, [canonical_document(row, DOCUMENT_COLUMNS) for row in rows])


def append_documents(
    connection: Connection, head: ChainHead, documents: Iterable[dict[str, Any]]
) -> ChainHead:
    """Chain and insert audit rows given as canonical documents (DOCUMENT_COLUMNS, values as
    `canonical_document` makes them), move the chain head to the last of them and return it.

    Each document gets its seq and prev_hash, is hashed once, and is stored from the same
    canonical values: what verify later reads back hashes to the same bytes. `documents` may be
    a generator, which the backend may consume while it stores (PostgreSQL's COPY). The caller
    must hold the head lock (`lock_chain_head`) in the same transaction.
    """
    backend = backend_for(connection)
    seq, prev_hash = head.seq, head.hash

    def chained() -> Iterator[list[Any]]:
        nonlocal seq, prev_hash
        for document in documents:
            seq += 1
            document["seq"], document["prev_hash"] = seq, prev_hash
            prev_hash = _linked(prev_hash, canonical_json(document))
            stored = [*_HASHED_VALUES(document), prev_hash]
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


# A stored row: the hashed columns in table order, then the hash; the INSERT names them so.
_AUDIT_COLUMNS = (*HASHED_COLUMNS, "hash")
_HASHED_VALUES = operator.itemgetter(*HASHED_COLUMNS)
_TIME_POSITIONS = tuple(position for position, name in enumerate(_AUDIT_COLUMNS) if name in _TIME_COLUMNS)
_QUANTITY_POSITION = _AUDIT_COLUMNS.index("total_quantity")


@dataclass(frozen=True)
class ChainReport:
    """What `verify_audit_chain` found. `problem` is None when the chain holds; `first_bad_seq`
    names the first row that does not, and is None also when the rows hold but a saved head
    given to check against is not among them (no row to name)."""

    count: int  # rows read
    head_seq: int  # seq of the last row that verified
    head_hash: str  # hash of that row (GENESIS_HASH for an empty log)
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_audit_chain(connection: Connection, head: str | None = None, chunk: int = 2000) -> ChainReport:
    """Recompute the chain from seq 1 and report the first row that does not hold.

    Catches a changed field (hash mismatch), a removed row (gap in seq, or broken prev_hash
    link), swapped rows (broken link), a tail cut off behind the chain head's back (head row
    disagrees), and, given `head` (a hash saved earlier), a tail cut off together with the
    chain head. Streams the log, so memory stays flat on a big one.
    """
    stored_head = connection.execute(chain_head_query()).first()
    columns = [BasketAudit.__table__.c[name] for name in (*HASHED_COLUMNS, "hash")]
    result = connection.execution_options(stream_results=True, yield_per=chunk).execute(
        select(*columns).order_by(BasketAudit.seq)
    )
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    saved_head_seen = head is None or head == GENESIS_HASH
    problem: tuple[int, str] | None = None
    with result:
        for row in result.mappings():
            seq = int(row["seq"])
            if seq != expected_seq:
                gap = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
                problem = (expected_seq, f"row {gap} missing (next row is {seq})")
            elif row["prev_hash"] != prev_hash:
                problem = (seq, f"row {seq} does not link to row {seq - 1} (removed or reordered rows)")
            elif chain_hash(prev_hash, dict(row)) != row["hash"]:
                problem = (seq, f"row {seq} was changed after it was written (hash mismatch)")
            if problem:
                break
            count, prev_hash, expected_seq = count + 1, row["hash"], seq + 1
            saved_head_seen = saved_head_seen or row["hash"] == head
    last_seq = expected_seq - 1
    if problem is None and stored_head is None:
        problem = (
            last_seq + 1,
            f"the chain head row is missing (audit_chain_head is empty): rows after seq {last_seq} "
            "may have been cut off",
        )
    if problem is None and stored_head and (int(stored_head.seq), stored_head.hash) != (last_seq, prev_hash):
        if int(stored_head.seq) > last_seq:
            problem = (
                last_seq + 1,
                f"rows after seq {last_seq} missing (the chain head is at seq {stored_head.seq})",
            )
        else:
            problem = (
                min(last_seq, int(stored_head.seq) + 1),
                f"the chain head (seq {stored_head.seq}) does not match the last row (seq {last_seq})",
            )
    if problem is None and not saved_head_seen:
        return ChainReport(
            count=count,
            head_seq=last_seq,
            head_hash=prev_hash,
            problem=f"the chain never had head {head} (it has {plural(count, 'row')}; its head is "
            f"seq {last_seq}, hash {prev_hash}): rows after seq {last_seq} were cut off, the chain "
            "was rewritten, or that hash is another database's",
        )
    if problem is None:
        return ChainReport(count=count, head_seq=last_seq, head_hash=prev_hash)
    return ChainReport(
        count=count, head_seq=last_seq, head_hash=prev_hash, first_bad_seq=problem[0], problem=problem[1]
    )


def verify_audit_chain_snapshot(engine: Engine, head: str | None = None) -> ChainReport:
    """`verify_audit_chain` in one read-only snapshot, so deletions running meanwhile do not
    look like tampering."""
    with snapshot_read(engine) as connection:
        return verify_audit_chain(connection, head)


def audit_rows_for_basket(connection: Connection, basket_id: str) -> list[dict[str, Any]]:
    """Every audit row of `basket_id`, oldest first (a basket may be deleted, restored, deleted)."""
    rows = connection.execute(
        select(BasketAudit.__table__).where(BasketAudit.basket_id == basket_id).order_by(BasketAudit.seq)
    )
    return [dict(row._mapping) for row in rows]
