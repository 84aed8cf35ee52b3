"""The tamper-evident audit log of deleted and restored baskets: canonical rows, the hash chain, verify."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from baskets.errors import AuditChainBroken
from baskets.models import GENESIS_HASH, AuditChainHead, BasketAudit
from baskets.wording import plural

# The personal part of a row (docs/privacy.md): hashed as its digest (`personal_digest`), so it
# can be removed later (a redaction) while the chain still verifies.
PERSONAL_COLUMNS: tuple[str, ...] = (
    "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
    "account_email", "note", "lines",
)  # fmt: skip
# Not hashed directly: the hash itself, the personal part and its salt (their digest is), and the
# mark a redaction leaves (when and why), which a redaction writes without changing the hash.
_UNHASHED = frozenset({"hash", "personal_salt", "redacted_at", "redaction", *PERSONAL_COLUMNS})
STORED_COLUMNS: tuple[str, ...] = tuple(column.name for column in BasketAudit.__table__.columns)
# What the hash covers: the kept fields, the personal part's digest, seq and prev_hash.
HASHED_COLUMNS: tuple[str, ...] = tuple(name for name in STORED_COLUMNS if name not in _UNHASHED)
# What the hash of a row written before migration 0006 covered (now its `legacy_hash`): every
# column of that release's table but the hash.
LEGACY_HASHED_COLUMNS: tuple[str, ...] = (
    "seq", "event", "basket_id", "occurred_at", "actor", "actor_role", "reason", "note", "flow_run_id",
    "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
    "account_email", "account_type", "basket_created_at", "basket_modified_at", "line_count",
    "total_quantity", "lines", "prev_hash",
)  # fmt: skip
_TIME_COLUMNS = frozenset({"occurred_at", "basket_created_at", "basket_modified_at", "redacted_at"})
_QUANTITY_COLUMNS = frozenset({"total_quantity"})
# How canonical_document treats each column: as a time, a quantity, or anything else (str).
_KIND_OF: dict[str, type] = {
    name: dt.datetime if name in _TIME_COLUMNS else Decimal if name in _QUANTITY_COLUMNS else str
    for name in STORED_COLUMNS
}
# What a writer supplies per row; append_documents adds the chain columns, digest and salt.
DOCUMENT_COLUMNS: tuple[str, ...] = (
    "event", "basket_id", "occurred_at", "actor", "actor_role", "reason", "note", "flow_run_id",
    "shop_account_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
    "account_email", "account_type", "basket_created_at", "basket_modified_at", "line_count",
    "total_quantity", "lines", "detail",
)  # fmt: skip
_FOUR_PLACES = Decimal("0.0001")
CHAIN_HEAD_ID = 1


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


# Times as canonical text straight from the database (to_char / DATE_FORMAT of the naive UTC value).
_CANONICAL_TIME_SQL = {
    "postgresql": (func.to_char, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
    "mysql": (func.date_format, "%Y-%m-%dT%H:%i:%s.%f+00:00"),
    "mariadb": (func.date_format, "%Y-%m-%dT%H:%i:%s.%f+00:00"),
}


def canonical_time_column(column: Any, dialect_name: str) -> ColumnElement[str]:
    """A UTCDateTime column selected as text that `canonical_time_text` makes canonical: the
    canonical text itself on PostgreSQL and MariaDB, the stored text on SQLite. A cleanup reads
    millions of times; this skips a datetime object per value on the way in and out."""
    if dialect_name in _CANONICAL_TIME_SQL:
        function, pattern = _CANONICAL_TIME_SQL[dialect_name]
        return function(column, pattern)
    return type_coerce(column, String)


def canonical_time_text(text: str) -> str:
    """A time selected by `canonical_time_column` as `canonical_time` would write it."""
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
    """The bytes the hash of an audit row covers: sorted-key compact JSON of HASHED_COLUMNS (the
    kept fields, the personal part's digest, seq and prev_hash)."""
    return canonical_json(canonical_document(row, HASHED_COLUMNS))


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256(prev_hash ‖ canonical row) as 64 lowercase hex digits."""
    return _linked(prev_hash, canonical_row(row))


def legacy_chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash a row had before migration 0006: SHA-256(prev_hash ‖ canonical JSON of
    LEGACY_HASHED_COLUMNS), personal part included as it is."""
    return _linked(prev_hash, canonical_json(canonical_document(row, LEGACY_HASHED_COLUMNS)))


def personal_digest(row: Mapping[str, Any], salt: str | None) -> str:
    """SHA-256 of the personal part of `row` (PERSONAL_COLUMNS) and its random `salt`, as the
    canonical JSON of those values: what the chain hashes in the personal part's place."""
    document = canonical_document(row, PERSONAL_COLUMNS)
    document["personal_salt"] = salt
    return hashlib.sha256(canonical_json(document)).hexdigest()


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


def lock_chain_head(connection: Connection, *, after_snapshot: bool = False) -> ChainHead:
    """Read the chain head, locking it until the caller's transaction ends.

    Every writer takes this lock before it appends, so sequence numbers and prev_hash links
    never fork. On PostgreSQL the lock is on the table (EXCLUSIVE: readers go on). Taken as the
    transaction's first statement (LOCK TABLE takes no snapshot), a REPEATABLE READ transaction's
    snapshot comes after the lock and sees the head the last writer committed (a row lock would be
    taken in an older snapshot and fail with a serialization error whenever it had to wait).
    `after_snapshot` (PostgreSQL only) is for a transaction that has read before it locks: the
    head is then read on a connection of its own, which sees every commit up to the lock.
    Elsewhere FOR UPDATE of row CHAIN_HEAD_ID; SQLite ignores it, and there
    `write_transaction`'s BEGIN IMMEDIATE serialises writers.
    """
    if connection.dialect.name != "postgresql":
        query = select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == CHAIN_HEAD_ID)
        row = connection.execute(query.with_for_update()).first()
        if row is None:
            raise chain_head_missing()
        return ChainHead(seq=int(row.seq), hash=row.hash)
    connection.exec_driver_sql(f"LOCK TABLE {AuditChainHead.__tablename__} IN EXCLUSIVE MODE")
    if not after_snapshot:
        return read_chain_head(connection)
    with connection.engine.connect() as fresh:
        return read_chain_head(fresh)


def chain_head_query() -> Select[int, str]:
    """The chain head's seq and hash: the head row with the highest seq."""
    return select(AuditChainHead.seq, AuditChainHead.hash).order_by(AuditChainHead.seq.desc()).limit(1)


def read_chain_head(connection: Connection) -> ChainHead:
    """The chain head as `connection` sees it; AuditChainBroken (exit 6) when its row is missing."""
    row = connection.execute(chain_head_query()).first()
    if row is None:
        raise chain_head_missing()
    return ChainHead(seq=int(row.seq), hash=row.hash)


def chain_head_missing() -> AuditChainBroken:
    """The error of a writer that finds no chain head row: nothing can be appended safely."""
    return AuditChainBroken(
        "audit chain broken: the chain head row (audit_chain_head) is missing, so rows may have "
        "been cut off; nothing was changed (`baskets audit verify` checks the log)"
    )


def fold_chain_head(connection: Connection) -> None:
    """Lock the chain head, move row CHAIN_HEAD_ID to it and remove the head rows overlapping
    batches added (`append_documents(add_head_row=True)`)."""
    _set_chain_head(connection, lock_chain_head(connection))


def _set_chain_head(connection: Connection, head: ChainHead) -> None:
    moved = connection.execute(
        update(AuditChainHead).where(AuditChainHead.id == CHAIN_HEAD_ID).values(seq=head.seq, hash=head.hash)
    )
    if moved.rowcount != 1:  # row CHAIN_HEAD_ID gone, only head rows of overlapping batches left
        raise chain_head_missing()
    if connection.dialect.name == "postgresql":  # the only backend with overlapping batches
        connection.execute(delete(AuditChainHead).where(AuditChainHead.id != CHAIN_HEAD_ID))


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
    add_head_row: bool = False,
    redaction: str | None = None,
    redacted_at: dt.datetime | None = None,
) -> ChainHead:
    """Chain and insert audit rows given as canonical documents (DOCUMENT_COLUMNS, values as
    `canonical_document` makes them; `detail` may be left out); return the new head.

    Each document gets its seq and prev_hash, a random salt and the digest of its personal part
    (`personal_digest`), is hashed once, and is stored from the same canonical values: what
    verify later reads back hashes to the same bytes. With `redaction` (a reason, e.g. `erasure`)
    the rows are written already redacted: the digest is hashed, the personal part and the salt
    are not stored, and `redacted_at` (default now) and `redaction` mark them. `documents` may be
    a generator: on PostgreSQL each row goes into the COPY as soon as it is hashed, so the
    database stores rows while this process builds the next ones. The caller must hold the
    head lock (`lock_chain_head`) in the same transaction.

    The new head goes into row CHAIN_HEAD_ID, or with `add_head_row` (PostgreSQL) into a row of
    its own, for a transaction that began before the last writer committed and so may not update
    a row that writer wrote (`lock_chain_head(after_snapshot=True)`).
    """
    to_stored = _STORED_ROW[connection.dialect.name]
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
                document.update(_REDACTED, redacted_at=mark, redaction=redaction)
            prev_hash = _linked(
                prev_hash, canonical_json(dict(zip(HASHED_COLUMNS, _HASHED_VALUES(document), strict=True)))
            )
            document["hash"] = prev_hash
            yield to_stored(document)

    _insert_audit_rows(connection, chained())
    new_head = ChainHead(seq=seq, hash=prev_hash)
    if new_head == head:
        return head
    if add_head_row:
        connection.execute(insert(AuditChainHead).values(id=seq + 1, seq=seq, hash=prev_hash))
    else:
        _set_chain_head(connection, new_head)
    return new_head


def new_salt() -> str:
    """A fresh random salt for a row's personal digest (128 bits as hex). A module attribute:
    tests that compare hashes across databases replace it with a repeatable one."""
    return secrets.token_hex(16)


# What a redaction leaves of the personal part: nothing (its digest stays).
_REDACTED: dict[str, None] = {name: None for name in (*PERSONAL_COLUMNS, "personal_salt")}
# A stored row: every column in table order; the INSERT names them so.
_AUDIT_COLUMNS = STORED_COLUMNS
_HASHED_VALUES = operator.itemgetter(*HASHED_COLUMNS)
_PERSONAL_VALUES = operator.itemgetter(*PERSONAL_COLUMNS)
_STORED_VALUES = operator.itemgetter(*STORED_COLUMNS)
_TIME_POSITIONS = tuple(position for position, name in enumerate(_AUDIT_COLUMNS) if name in _TIME_COLUMNS)
_QUANTITY_POSITION = _AUDIT_COLUMNS.index("total_quantity")


def _stored_as_canonical(document: Mapping[str, Any]) -> list[Any]:
    """PostgreSQL's COPY reads the canonical texts as they are (the +00:00 of a time is ignored
    for a timestamp without time zone, which holds UTC)."""
    return [*_STORED_VALUES(document)]


def _stored_naive_text(document: Mapping[str, Any]) -> list[Any]:
    """Times as 'YYYY-MM-DD HH:MM:SS.ffffff', the text SQLAlchemy stores on SQLite (so string
    comparisons keep working) and MariaDB reads for DATETIME(6)."""
    row = [*_STORED_VALUES(document)]
    for position in _TIME_POSITIONS:
        text = row[position]
        if text is not None:
            row[position] = f"{text[:10]} {text[11:26]}"
    return row


def _stored_sqlite(document: Mapping[str, Any]) -> list[Any]:
    row = _stored_naive_text(document)
    if row[_QUANTITY_POSITION] is not None:
        row[_QUANTITY_POSITION] = float(row[_QUANTITY_POSITION])  # as SQLAlchemy binds Numeric there
    return row


_STORED_ROW = {
    "postgresql": _stored_as_canonical,
    "sqlite": _stored_sqlite,
    "mysql": _stored_naive_text,
    "mariadb": _stored_naive_text,
}


def _insert_audit_rows(connection: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Insert audit rows already in stored form, if any: COPY on PostgreSQL (fed as `rows`
    yields them), one prepared INSERT elsewhere."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    quote = connection.dialect.identifier_preparer.quote  # `lines` is a reserved word on MariaDB
    column_list = ", ".join(quote(name) for name in _AUDIT_COLUMNS)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY basket_audit ({column_list}) FROM STDIN") as copy:
            copy.write_row(first)
            for row in rows:
                copy.write_row(row)
        return
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    placeholders = ", ".join(marker for _ in _AUDIT_COLUMNS)
    statement = f"INSERT INTO basket_audit ({column_list}) VALUES ({placeholders})"
    connection.exec_driver_sql(statement, [tuple(first), *(tuple(row) for row in rows)])


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
    columns = [BasketAudit.__table__.c[name] for name in STORED_COLUMNS]
    result = connection.execution_options(stream_results=True, yield_per=chunk).execute(
        select(*columns).order_by(BasketAudit.seq)
    )
    expected_seq, prev_hash, prev_legacy, count = 1, GENESIS_HASH, GENESIS_HASH, 0
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
            else:
                found = row_problem(row, prev_legacy)
                problem = None if found is None else (seq, found)
            if problem:
                break
            count, prev_hash, expected_seq = count + 1, row["hash"], seq + 1
            prev_legacy = row["legacy_hash"] or prev_legacy
            saved_head_seen = saved_head_seen or head in (row["hash"], row["legacy_hash"])
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


def row_problem(row: Mapping[Any, Any], prev_legacy: str = GENESIS_HASH) -> str | None:
    """What is wrong with one stored audit row on its own (its link to the row before is the
    caller's to check), or None.

    A row whose personal part is still there must match the digest the chain hashed; a redacted
    row must hold no personal part at all; the kept fields, the digest, seq and prev_hash must give
    the stored hash. A row written before migration 0006 and not redacted must also still give
    its `legacy_hash` (its hash then, over the whole row), linked to the row before's.
    """
    seq = row["seq"]
    if row["redacted_at"] is None:
        if personal_digest(row, row["personal_salt"]) != row["personal_digest"]:
            return f"row {seq} was changed after it was written (its personal data does not match its digest)"
    elif any(row[name] is not None for name in _REDACTED):
        return f"row {seq} was changed after it was written (it is marked redacted but holds personal data)"
    if chain_hash(row["prev_hash"], row) != row["hash"]:
        return f"row {seq} was changed after it was written (hash mismatch)"
    legacy = row["legacy_hash"] is not None and row["redacted_at"] is None
    if legacy and legacy_chain_hash(prev_legacy, {**row, "prev_hash": prev_legacy}) != row["legacy_hash"]:
        return f"row {seq} was changed after it was written (it no longer gives its hash from before 0006)"
    return None


def verify_audit_chain_snapshot(engine: Engine, head: str | None = None) -> ChainReport:
    """`verify_audit_chain` in one read-only snapshot, so deletions running meanwhile do not
    look like tampering."""
    options: dict[str, Any] = {}
    if engine.dialect.name != "sqlite":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as connection, connection.begin():
        return verify_audit_chain(connection, head)


def audit_rows_for_basket(connection: Connection, basket_id: str) -> list[dict[str, Any]]:
    """Every audit row of `basket_id`, oldest first (a basket may be deleted, restored, deleted)."""
    rows = connection.execute(
        select(BasketAudit.__table__).where(BasketAudit.basket_id == basket_id).order_by(BasketAudit.seq)
    )
    return [dict(row._mapping) for row in rows]
