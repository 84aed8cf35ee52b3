"""Deleting baskets with their lines, each with an audit row in the same transaction, and restoring them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Numeric,
    String,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.sql import visitors
from sqlalchemy.sql.sqltypes import NullType

from baskets.audit import (
    append_documents,
    append_to_chain,
    audit_rows_for_basket,
    canonical_line,
    canonical_lines_text,
    canonical_time,
    canonical_time_column,
    canonical_time_text,
    lock_chain_head,
    parse_lines,
)
from baskets.errors import BadInput, NotFound
from baskets.guid import parse_guid
from baskets.models import QUANTITY, Account, Basket, BasketLine, ShopAccount
from baskets.queries import joined_baskets
from baskets.roles import Actor

# Ids per IN list: well under every backend's bound-parameter limit, big enough to be set-based.
IN_LIST_SIZE = 1000
NOTE_MAX_CHARS = 2000
REASON_MAX_CHARS = 30


@dataclass(frozen=True)
class DeletionResult:
    deleted: list[str]  # basket ids deleted and audited, in key (id) order
    missing: list[str]  # ids asked for that did not exist or no longer matched `still_matches`
    first_seq: int | None  # audit seq range written (None if nothing deleted)
    last_seq: int | None


def _chunks(items: Sequence[str], size: int = IN_LIST_SIZE) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_in(connection: Connection, column: Column[Any] | Any, keys: Sequence[str]) -> ColumnElement[bool]:
    """`column IN keys`; on PostgreSQL as `column = ANY(array)` with the keys in one parameter.

    psycopg parses the text of every statement too long to cache (an IN list of 1,000
    placeholders is) again for each batch, which cost more than the statement itself.
    """
    if connection.dialect.name == "postgresql":
        return _any_of_array(column, value=pg_array_literal(keys))
    return column.in_(keys)


def _any_of_array(
    column: Column[Any] | Any, name: str | None = None, *, value: str | None = None
) -> ColumnElement[bool]:
    """PostgreSQL: `column = ANY(CAST(:keys AS type[]))`, `:keys` a parameter holding a
    `pg_array_literal`: bound here to `value`, or named `name` and bound at execution.

    The parameter has no type of its own (SQLAlchemy renders no `::VARCHAR` after it, psycopg
    sends a str as unknown), so PostgreSQL reads it as the array type once, when it is bound.
    Typed as text, it was cast to the array for every row a sequential scan visited, which
    PostgreSQL chooses for a table without statistics or a small one: a 1000-id batch on a
    freshly loaded 3,000-basket table took 2.9 s instead of milliseconds.
    """
    keys = bindparam(name, type_=NullType()) if value is None else bindparam(None, value, type_=NullType())
    return column == any_(cast(keys, ARRAY(column.type)))


def pg_array_literal(keys: Sequence[str]) -> str:
    """`keys` as one PostgreSQL array literal, every element quoted: '{"a","b"}'.

    Sent as one text parameter and cast, so psycopg need not adapt a list element by element
    (which cost more per batch than the database's own work on the array)."""
    quoted = (key.replace("\\", "\\\\").replace('"', '\\"') for key in keys)
    return "{" + ",".join(f'"{key}"' for key in quoted) + "}"


def parse_basket_ids(basket_ids: list[str], field: str = "basket_ids") -> list[str]:
    """Normalised, de-duplicated GUIDs in the order given; BadInput naming the first bad one
    (its `field` the run-form field the ids came in)."""
    parsed: dict[str, None] = {}
    for value in basket_ids:
        try:
            parsed[parse_guid(value)] = None
        except ValueError as error:
            raise BadInput(f"{field}: {error}", field=field) from None
    return list(parsed)


def check_note(note: str | None) -> str | None:
    """The note as stored (stripped, None when blank); BadInput when it is too long."""
    if note is None or not note.strip():
        return None
    if len(note) > NOTE_MAX_CHARS:
        raise BadInput(f"note: {len(note)} characters is too long (at most {NOTE_MAX_CHARS})", field="note")
    return note.strip()


def _lock_baskets(
    connection: Connection, ids: Sequence[str], still_matches: ColumnElement[bool]
) -> list[Sequence[Any]]:
    """The baskets among `ids` that still match, as the list page shows them, row-locked, in
    key order, as tuples in `_BASKET_FIELDS` order with ids as text and times as
    `canonical_time_column` gives them.

    The shop account's and ERP account's name and e-mail (None when there is none, or it is
    gone) are looked up afterwards, once per account of the batch, by primary key: outer joins
    let PostgreSQL hash or scan the whole account tables for every batch when it has no
    statistics, and a subquery per field probed each account twice per basket. Joined only
    when `still_matches` looks at those tables (a filter on the shop account name). FOR UPDATE
    OF baskets on PostgreSQL; MariaDB has no OF and also locks joined rows, which only delays
    other writers to them.
    """
    dialect = connection.dialect.name
    columns = _basket_columns(Basket.__table__.c, dialect)
    joined = _names_account_tables(still_matches)
    if joined:
        query = joined_baskets(*columns, ShopAccount.name, ShopAccount.email, Account.name, Account.email)
    else:
        query = select(*columns)
    found: list[Sequence[Any]] = []
    for chunk in _chunks(ids):
        locking = (
            query.where(key_in(connection, Basket.id, chunk), still_matches)
            .order_by(Basket.id)
            .with_for_update(of=Basket.__table__)
        )
        found.extend(connection.execute(locking).all())
    return found if joined else _with_account_fields(connection, found)


def _with_account_fields(connection: Connection, baskets: list[Sequence[Any]]) -> list[Sequence[Any]]:
    """`baskets` (without the account fields) each followed by its shop account's and ERP
    account's name and e-mail."""
    shop = _name_and_email(connection, ShopAccount, Basket.shop_account_id, baskets)
    erp = _name_and_email(connection, Account, Basket.account_id, baskets)
    nobody = (None, None)
    return [(*basket, *shop.get(basket[0], nobody), *erp.get(basket[0], nobody)) for basket in baskets]


def _name_and_email(
    connection: Connection,
    model: type[ShopAccount] | type[Account],
    reference: Any,
    baskets: list[Sequence[Any]],
) -> dict[str, tuple[str | None, str | None]]:
    """Per basket id, the name and e-mail of the account the basket's `reference` column
    (Basket.shop_account_id or Basket.account_id) points to.

    One primary-key lookup per account, matched in Python by exact key. Where the database
    compares keys more loosely (MariaDB's case-insensitive collation), a reference that match
    misses is joined in SQL, so the audit row shows what the list page's join shows."""
    dialect = connection.dialect.name
    position = _BASKET_FIELDS.index(reference.key)
    accounts: dict[str, tuple[str | None, str | None]] = {}
    wanted = sorted({basket[position] for basket in baskets if basket[position] is not None})
    for chunk in _chunks(wanted):
        rows = connection.execute(
            select(_as_text(model.id, dialect), model.name, model.email).where(
                key_in(connection, model.id, chunk)
            )
        )
        accounts.update((row[0], (row[1], row[2])) for row in rows)
    found = {basket[0]: accounts[basket[position]] for basket in baskets if basket[position] in accounts}
    if dialect in _EXACT_KEY_DIALECTS:
        return found
    missed = [basket[0] for basket in baskets if basket[position] is not None and basket[0] not in found]
    for chunk in _chunks(missed):
        rows = connection.execute(
            select(_as_text(Basket.id, dialect), model.name, model.email)
            .join(model, model.id == reference)
            .where(key_in(connection, Basket.id, chunk))
        )
        found.update((row[0], (row[1], row[2])) for row in rows)
    return found


# Where `=` on the id columns is exactly Python's `==` on the values read (binary text, uuid).
_EXACT_KEY_DIALECTS = frozenset({"postgresql", "sqlite"})


# What `_lock_baskets` returns per basket, in order.
_BASKET_FIELDS = (
    "basket_id", "shop_account_id", "account_id", "account_type", "basket_created_at",
    "basket_modified_at", "shop_account_name", "shop_account_email", "account_name", "account_email",
)  # fmt: skip


# The basket columns behind the first six `_BASKET_FIELDS`.
_BASKET_COLUMNS = ("id", "shop_account_id", "account_id", "account_type", "created_at", "modified_at")


def _basket_columns(columns: Any, dialect: str) -> tuple[Any, ...]:
    """The `_BASKET_COLUMNS` of `columns` (the baskets table's, or a CTE's returning them) as
    `_lock_baskets` selects them: ids as text, times as `canonical_time_column` gives them."""
    return (
        _as_text(columns.id, dialect),
        _as_text(columns.shop_account_id, dialect),
        columns.account_id,
        columns.account_type,
        canonical_time_column(columns.created_at, dialect),
        canonical_time_column(columns.modified_at, dialect),
    )


def _as_text(column: Any, dialect: str) -> Any:
    # PostgreSQL's uuid would come back as a UUID object per value, then str.
    return cast(column, String) if dialect == "postgresql" else column


def _tables_named_in(condition: ColumnElement[bool]) -> set[str]:
    return {
        element.table.name
        for element in visitors.iterate(condition)
        if isinstance(element, Column) and isinstance(getattr(element, "table", None), Table)
    }


def _lines_of(connection: Connection, chunk: Sequence[str]) -> ColumnElement[bool]:
    """`basket_lines.basket_id IN chunk`, on PostgreSQL with the chunk's key range beside it.

    Without the range PostgreSQL, with no statistics on a freshly loaded table, estimates that a
    1,000-value IN list matches most lines and scans the whole table for every batch; the range
    makes the index plan the obvious one. Only there: its uuid order is the order of the
    lowercase text ids, which need not hold under another backend's collation.
    """
    condition = key_in(connection, BasketLine.basket_id, chunk)
    if connection.dialect.name == "postgresql":
        condition = and_(BasketLine.basket_id.between(min(chunk), max(chunk)), condition)
    return condition


def _take_lines(connection: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Delete the lines of the (locked) baskets `ids` and return them as `canonical_line`s,
    grouped by basket id, in line id order.

    One DELETE ... RETURNING instead of a locking read and a delete: each line is visited once.
    The baskets are locked, so no line can be added to them meanwhile; the rows returned are
    the lines' newest versions even when the caller's snapshot is older.
    """
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows = connection.execute(
            delete(BasketLine)
            .where(_lines_of(connection, chunk))
            .returning(
                _as_text(BasketLine.basket_id, connection.dialect.name),
                BasketLine.id,
                BasketLine.product_id,
                BasketLine.variant_id,
                BasketLine.quantity,
                BasketLine.uom_id,
            )
        ).all()
        for basket_id, line_id, product_id, variant_id, quantity, uom_id in sorted(
            rows, key=lambda row: (row[0], int(row[1]))
        ):
            lines[basket_id].append(canonical_line(line_id, product_id, variant_id, quantity, uom_id))
    return lines


def delete_basket_rows(connection: Connection, ids: Sequence[str]) -> None:
    """Delete the (locked) baskets `ids`, whose lines `_take_lines` took already; raise if any
    of them vanished under the lock."""
    for chunk in _chunks(ids):
        removed = connection.execute(delete(Basket).where(key_in(connection, Basket.id, chunk))).rowcount
        if removed != len(chunk):
            raise RuntimeError(f"deleted {removed} of {len(chunk)} locked baskets: rolling back")


def delete_baskets_with_audit(
    connection: Connection,
    basket_ids: Sequence[str],
    *,
    actor: Actor,
    reason: str,
    note: str | None = None,
    flow_run_id: str | None = None,
    still_matches: ColumnElement[bool] | None = None,
    occurred_at: dt.datetime | None = None,
    wait_for_chain: Callable[[], None] | None = None,
) -> DeletionResult:
    """Delete baskets and their lines, writing one chained audit row per basket.

    Runs in the caller's transaction (open it with `write_transaction`): the chain head is
    locked first, then the baskets are taken (`_take_baskets`: deleted with their lines, and
    returned); `still_matches` is re-checked as they are, so a basket changed since it was
    selected is left alone and reported in `missing`. Then the audit rows are written. An
    exception anywhere rolls back audit rows and deletes together; on PostgreSQL a clash with a
    concurrent change can surface as a serialization error (`is_transaction_conflict`), after
    which the transaction may simply run again.

    With `wait_for_chain` (PostgreSQL) the baskets are taken first, while another transaction
    may still be appending to the chain; `wait_for_chain()` returns once it is safe to append
    (the retention run's previous batch has committed), and the head is then locked and read as
    committed (`lock_chain_head(after_snapshot=True)`) and the new head added as a row of its own.
    Nothing else this transaction writes is a row another writer changes, so the overlap cannot
    fail it; the baskets and lines are checked against this transaction's snapshot as always.
    Not called when no basket is taken.
    """
    if not reason or len(reason) > REASON_MAX_CHARS:
        raise BadInput(f"reason: {reason!r} is not a reason (expected e.g. broken or manual)", field="reason")
    note = check_note(note)
    when = occurred_at or dt.datetime.now(dt.UTC)
    if wait_for_chain is not None and connection.dialect.name != "postgresql":
        raise ValueError("wait_for_chain: overlapping chain writers need PostgreSQL")
    wanted = sorted(set(basket_ids))
    if wait_for_chain is None:
        head = lock_chain_head(connection)
    removed = _take_baskets(connection, wanted, true() if still_matches is None else still_matches)
    deleted = [basket[0] for basket in removed]
    found = set(deleted)
    missing = [basket_id for basket_id in wanted if basket_id not in found]
    if not removed:
        return DeletionResult(deleted=[], missing=missing, first_seq=None, last_seq=None)
    if wait_for_chain is not None:
        wait_for_chain()
        head = lock_chain_head(connection, after_snapshot=True)
    common = {
        "event": "deleted",
        "occurred_at": canonical_time(when),
        "actor": actor.name,
        "actor_role": actor.role,
        "reason": reason,
        "note": note,
        "flow_run_id": flow_run_id,
    }
    new_head = append_documents(
        connection,
        head,
        (_deleted_document(basket, common) for basket in removed),
        add_head_row=wait_for_chain is not None,
    )
    return DeletionResult(deleted=deleted, missing=missing, first_seq=head.seq + 1, last_seq=new_head.seq)


# What `_take_baskets` returns per basket, in order: the basket as the list page shows it, then
# its lines as the audit row keeps them.
_REMOVED_FIELDS = (*_BASKET_FIELDS, "line_count", "total_quantity", "lines")


def _take_baskets(
    connection: Connection, ids: Sequence[str], still_matches: ColumnElement[bool]
) -> list[Sequence[Any]]:
    """Delete the baskets among `ids` that still match, with their lines; return them in key
    order as tuples in `_REMOVED_FIELDS` order.

    On PostgreSQL one statement per chunk (`_delete_returning_baskets`) unless the condition
    looks at the account tables; elsewhere the baskets are locked, their lines deleted and
    returned, then the baskets deleted.
    """
    if connection.dialect.name == "postgresql" and not _names_account_tables(still_matches):
        return _delete_returning_baskets(connection, ids, still_matches)
    baskets = _lock_baskets(connection, ids, still_matches)
    deleted = [basket[0] for basket in baskets]
    lines = _take_lines(connection, deleted)
    delete_basket_rows(connection, deleted)
    removed: list[Sequence[Any]] = []
    for basket in baskets:
        taken = lines.get(basket[0], [])
        removed.append((*basket, len(taken), _total_quantity(taken), canonical_lines_text(taken)))
    return removed


def _delete_returning_baskets(
    connection: Connection, ids: Sequence[str], still_matches: ColumnElement[bool]
) -> list[Sequence[Any]]:
    """PostgreSQL: per chunk, one DELETE ... RETURNING of the baskets that still match, each
    with its account names and its lines read in the same statement (the lines go by the
    foreign key's cascade), as `_take_baskets` returns them.

    The general way's three statements visit each basket and line twice; this one costs the
    bare DELETE plus the reading of the lines. The database writes the lines' canonical text
    itself: row_to_json of the line columns in sorted order is byte for byte what
    `canonical_lines_text` makes of the same values (a test holds the two together for every
    Unicode code point).

    Safe only in a REPEATABLE READ transaction (`write_transaction` opens one): the lines are
    read in the statement's snapshot, and a line added or changed since, which the cascade
    would delete unseen, makes the cascade fail with a serialization error instead (PostgreSQL
    checks a cascade against the transaction snapshot at that level), so the caller runs the
    transaction again. A basket changed since the snapshot fails the same way; one changed
    before it no longer matches and is left alone.
    """
    statement = _delete_returning_statement(still_matches)
    removed: list[Sequence[Any]] = []
    for chunk in _chunks(ids):
        removed.extend(connection.execute(statement, {_IDS_PARAMETER: pg_array_literal(chunk)}).all())
    return removed


_IDS_PARAMETER = "basket_ids"
# `_delete_returning_statement`'s statements by the identity of their condition (kept beside it,
# so the id is not reused while the entry lives).
_STATEMENTS: dict[int, tuple[ColumnElement[bool], Any]] = {}
_STATEMENTS_KEPT = 8


def _delete_returning_statement(still_matches: ColumnElement[bool]) -> Any:
    """`_delete_returning_baskets`'s statement for `still_matches`, the ids a parameter.

    Built once per condition object (a cleanup run passes the same one for every batch), so a
    batch neither builds it again nor has SQLAlchemy compute its cache key again: the two took
    about 5 ms of Python per batch of 1000 baskets."""
    kept = _STATEMENTS.get(id(still_matches))
    if kept is not None and kept[0] is still_matches:
        return kept[1]
    gone = (
        delete(Basket)
        .where(_any_of_array(Basket.id, _IDS_PARAMETER), still_matches)
        .returning(*(Basket.__table__.c[name] for name in _BASKET_COLUMNS))
        .cte("gone")
    )
    shop = _account_lookup(ShopAccount, gone.c.shop_account_id)
    account = _account_lookup(Account, gone.c.account_id)
    lines = _lines_in_canonical_form(gone.c.id)
    statement = (
        select(
            *_basket_columns(gone.c, "postgresql"),
            shop.c.name,
            shop.c.email,
            account.c.name,
            account.c.email,
            lines.c.line_count,
            lines.c.total_quantity,
            lines.c.lines,
        )
        .select_from(gone.outerjoin(shop, true()).outerjoin(account, true()).join(lines, true()))
        .order_by(gone.c.id)
    )
    if len(_STATEMENTS) >= _STATEMENTS_KEPT:
        _STATEMENTS.clear()
    _STATEMENTS[id(still_matches)] = (still_matches, statement)
    return statement


def _lines_in_canonical_form(basket_id: Any) -> Any:
    """PostgreSQL: a LATERAL subquery giving the line count, the total quantity and the
    `canonical_lines_text` of the lines of `basket_id`, as `_take_baskets` returns them."""
    line = (
        select(
            # The columns in sorted order, as canonical JSON has its keys; a NUMERIC(18, 4)
            # quantity prints with its four places, as canonical_quantity writes it.
            BasketLine.id,
            BasketLine.product_id,
            cast(BasketLine.quantity, String).label("quantity"),
            BasketLine.uom_id,
            BasketLine.variant_id,
        )
        .where(BasketLine.basket_id == basket_id)
        .correlate(basket_id.table)
        .subquery("line")
    )
    as_json = cast(func.row_to_json(line.table_valued()), String)
    joined = func.string_agg(as_json, aggregate_order_by(literal_column("','"), line.c.id))
    return select(
        func.count().label("line_count"),
        cast(cast(func.coalesce(func.sum(cast(line.c.quantity, QUANTITY)), 0), _TOTAL), String).label(
            "total_quantity"
        ),
        ("[" + func.coalesce(joined, "") + "]").label("lines"),
    ).lateral("lines")


# A sum of four-place quantities, printed with its four places even when it is 0.
_TOTAL = Numeric(38, 4)


def _account_lookup(model: type[ShopAccount] | type[Account], reference: Any) -> Any:
    """The name and e-mail of the account `reference` points to, as a LATERAL subquery that
    OFFSET 0 keeps from being merged into a join: one primary-key probe per basket. As a join
    PostgreSQL hashes the whole account table for every batch, its estimate of a thousand
    probes from random pages being dearer than that."""
    return select(model.name, model.email).where(model.id == reference).offset(0).lateral()


def _names_account_tables(condition: ColumnElement[bool]) -> bool:
    return bool(_tables_named_in(condition) & {ShopAccount.__tablename__, Account.__tablename__})


def _deleted_document(basket: Sequence[Any], common: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical audit document of a deleted basket (a `_take_baskets` row); `common`
    holds the columns every row of the batch shares."""
    document = dict(zip(_REMOVED_FIELDS, basket, strict=True))
    document["basket_created_at"] = canonical_time_text(document["basket_created_at"])
    document["basket_modified_at"] = canonical_time_text(document["basket_modified_at"])
    document.update(common)
    return document


def _total_quantity(lines: Sequence[Mapping[str, Any]]) -> str:
    """The sum of canonical (four-place) line quantities, itself canonical, in exact integers."""
    units = sum(int(line["quantity"].replace(".", "")) for line in lines)
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 10000}.{units % 10000:04d}"


def select_basket_ids(
    connection: Connection, where: ColumnElement[bool], *, after: str | None = None, limit: int = 1000
) -> list[str]:
    """Up to `limit` ids of baskets matching `where` (joined like the list page), key order, > `after`."""
    query = joined_baskets(Basket.id).where(where).order_by(Basket.id).limit(limit)
    if after is not None:
        query = query.where(Basket.id > after)
    return list(connection.scalars(query))


@dataclass(frozen=True)
class MatchingDeletion:
    """What a delete of the baskets that still match did with each id it was given."""

    deleted: list[str]  # deleted and audited, in key order
    survived: list[str]  # still there, but changed since selection so that they no longer match
    gone: list[str]  # not there any more: deleted by someone else meanwhile (or never there)
    first_seq: int | None
    last_seq: int | None


def delete_baskets_still_matching(
    connection: Connection,
    basket_ids: Sequence[str],
    still_matches: ColumnElement[bool],
    *,
    actor: Actor,
    reason: str,
    note: str | None = None,
    flow_run_id: str | None = None,
) -> MatchingDeletion:
    """`delete_baskets_with_audit` re-checking `still_matches`, telling the baskets it left
    because they changed (survived) from those someone else deleted meanwhile (gone)."""
    result = delete_baskets_with_audit(
        connection, basket_ids, actor=actor, reason=reason, note=note, flow_run_id=flow_run_id,
        still_matches=still_matches,
    )  # fmt: skip
    survived, gone = split_missing(connection, result.missing)
    return MatchingDeletion(result.deleted, survived, gone, result.first_seq, result.last_seq)


def split_missing(connection: Connection, missing: Sequence[str]) -> tuple[list[str], list[str]]:
    """(survived, gone): of the ids a delete left alone, those that exist now (they no longer
    matched) and those that do not (someone else deleted them), each in the order given."""
    still_there = existing_basket_ids(connection, missing) if missing else set()
    return (
        [basket_id for basket_id in missing if basket_id in still_there],
        [basket_id for basket_id in missing if basket_id not in still_there],
    )


def existing_basket_ids(connection: Connection, basket_ids: Sequence[str]) -> set[str]:
    """Which of `basket_ids` exist now."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(basket_ids))):
        found.update(connection.scalars(select(Basket.id).where(key_in(connection, Basket.id, chunk))))
    return found


@dataclass(frozen=True)
class RestoreResult:
    basket_id: str
    line_count: int
    restored_from_seq: int  # the audit row the basket came back from
    seq: int  # the audit row recording the restore


def restore_basket(
    connection: Connection,
    basket_id: str,
    *,
    actor: Actor,
    note: str | None = None,
    flow_run_id: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> RestoreResult:
    """Put a deleted basket and its lines back from its latest 'deleted' audit row, and chain
    a 'restored' row recording it. Runs in the caller's write transaction.

    Everything comes back as it was but `modified_at`, which is the time of the restore
    (`occurred_at`): a restore is a touch, so the next cleanup does not delete the basket again
    at once. The 'restored' row records that time as its basket_modified_at; the old one stays
    in the 'deleted' row it came from.

    Raises NotFound when no deletion of `basket_id` is on record, BadInput when a basket with
    that id exists (restoring would overwrite it).
    """
    note = check_note(note)
    when = occurred_at or dt.datetime.now(dt.UTC)
    head = lock_chain_head(connection)
    source = latest_deletion(connection, basket_id, lock=True)
    lines = parse_lines(source["lines"])
    connection.execute(
        insert(Basket).values(
            id=basket_id,
            shop_account_id=source["shop_account_id"],
            account_id=source["account_id"],
            account_type=source["account_type"],
            created_at=source["basket_created_at"],
            modified_at=when,
        )
    )
    if lines:
        # Keep the original line ids unless one was reused meanwhile (SQLite reuses the top rowid).
        taken = set(
            connection.scalars(select(BasketLine.id).where(BasketLine.id.in_([line["id"] for line in lines])))
        )
        keep = [{**line, "basket_id": basket_id} for line in lines if line["id"] not in taken]
        renumber = [
            {key: value for key, value in line.items() if key != "id"} | {"basket_id": basket_id}
            for line in lines
            if line["id"] in taken
        ]
        if keep:
            connection.execute(insert(BasketLine), keep)
        if renumber:
            connection.execute(insert(BasketLine), renumber)
    restored = {
        **_audit_row_from(source),
        "event": "restored",
        "occurred_at": when,
        "basket_modified_at": when,
        "actor": actor.name,
        "actor_role": actor.role,
        "reason": "restore",
        "note": note,
        "flow_run_id": flow_run_id,
    }
    new_head = append_to_chain(connection, head, [restored])
    return RestoreResult(
        basket_id=basket_id, line_count=len(lines), restored_from_seq=int(source["seq"]), seq=new_head.seq
    )


def latest_deletion(connection: Connection, basket_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The audit row a restore of `basket_id` would use: its latest deletion.

    Raises BadInput when a basket with that id exists, NotFound when no deletion is on record.
    """
    exists = select(Basket.id).where(Basket.id == basket_id)
    if connection.scalar(exists.with_for_update() if lock else exists) is not None:
        raise BadInput(
            f"basket_id: basket {basket_id} exists: only a deleted basket can be restored", field="basket_id"
        )
    deletions = [row for row in audit_rows_for_basket(connection, basket_id) if row["event"] == "deleted"]
    if not deletions:
        raise NotFound(f"basket_id: no deleted basket {basket_id} in the audit log", field="basket_id")
    return deletions[-1]


def _audit_row_from(source: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in source.items() if key not in ("seq", "prev_hash", "hash")}
