"""Deleting baskets with their lines, each with a chained audit row in the same transaction."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, delete, select, true
from sqlalchemy.sql import visitors

from baskets.audit import (
    append_documents,
    canonical_line,
    canonical_lines_text,
    canonical_time,
    canonical_time_text,
    lock_chain_head,
)
from baskets.backends import backend_for
from baskets.deletion.keys import REASON_MAX_CHARS, check_note, chunks, key_in, split_missing
from baskets.errors import BadInput
from baskets.models import Account, Basket, BasketLine, ShopAccount
from baskets.queries import joined_baskets
from baskets.roles import Actor


@dataclass(frozen=True)
class DeletionResult:
    deleted: list[str]  # basket ids deleted and audited, in key (id) order
    missing: list[str]  # ids asked for that did not exist or no longer matched `still_matches`
    first_seq: int | None  # audit seq range written (None if nothing deleted)
    last_seq: int | None


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
    columns = backend_for(connection).basket_columns(Basket.__table__.c)
    joined = names_account_tables(still_matches)
    if joined:
        query = joined_baskets(*columns, ShopAccount.name, ShopAccount.email, Account.name, Account.email)
    else:
        query = select(*columns)
    found: list[Sequence[Any]] = []
    for chunk in chunks(ids):
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
    backend = backend_for(connection)
    position = _BASKET_FIELDS.index(reference.key)
    accounts: dict[str, tuple[str | None, str | None]] = {}
    wanted = sorted({basket[position] for basket in baskets if basket[position] is not None})
    for chunk in chunks(wanted):
        rows = connection.execute(
            select(backend.as_text(model.id), model.name, model.email).where(
                key_in(connection, model.id, chunk)
            )
        )
        accounts.update((row[0], (row[1], row[2])) for row in rows)
    found = {basket[0]: accounts[basket[position]] for basket in baskets if basket[position] in accounts}
    if backend.exact_keys:
        return found
    missed = [basket[0] for basket in baskets if basket[position] is not None and basket[0] not in found]
    for chunk in chunks(missed):
        rows = connection.execute(
            select(backend.as_text(Basket.id), model.name, model.email)
            .join(model, model.id == reference)
            .where(key_in(connection, Basket.id, chunk))
        )
        found.update((row[0], (row[1], row[2])) for row in rows)
    return found


# What `_lock_baskets` returns per basket, in order.
_BASKET_FIELDS = (
    "basket_id", "shop_account_id", "account_id", "account_type", "basket_created_at",
    "basket_modified_at", "shop_account_name", "shop_account_email", "account_name", "account_email",
)  # fmt: skip


def names_account_tables(condition: ColumnElement[bool]) -> bool:
    """Whether `condition` looks at the shop account or ERP account table."""
    named = {
        element.table.name
        for element in visitors.iterate(condition)
        if isinstance(element, Column) and isinstance(getattr(element, "table", None), Table)
    }
    return bool(named & {ShopAccount.__tablename__, Account.__tablename__})


def _take_lines(connection: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Delete the lines of the (locked) baskets `ids` and return them as `canonical_line`s,
    grouped by basket id, in line id order.

    One DELETE ... RETURNING instead of a locking read and a delete: each line is visited once.
    The baskets are locked, so no line can be added to them meanwhile; the rows returned are
    the lines' newest versions even when the caller's snapshot is older.
    """
    backend = backend_for(connection)
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(ids):
        rows = connection.execute(
            delete(BasketLine)
            .where(backend.lines_of(chunk))
            .returning(
                backend.as_text(BasketLine.basket_id),
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
    for chunk in chunks(ids):
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
    redaction: str | None = None,
) -> DeletionResult:
    """Delete baskets and their lines, writing one chained audit row per basket.

    Runs in the caller's transaction (open it with `write_transaction`): the chain head is
    locked first, then the baskets are taken (`_take_baskets`: deleted with their lines, and
    returned); `still_matches` is re-checked as they are, so a basket changed since it was
    selected is left alone and reported in `missing`. Then the audit rows are written. An
    exception anywhere rolls back audit rows and deletes together; a clash with a concurrent
    change can surface as a serialization error or a deadlock (`is_transaction_conflict`),
    after which the transaction may simply run again.

    With `redaction` (e.g. `erasure`) the audit rows are written already redacted
    (`append_documents`): the chain keeps the digest of each basket's personal part, not the part.
    """
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.deletion import delete_mapped_baskets

        return delete_mapped_baskets(
            schema, connection, basket_ids, actor=actor, reason=reason, note=note, flow_run_id=flow_run_id,
            still_matches=still_matches, occurred_at=occurred_at, redaction=redaction,
        )  # fmt: skip
    if not reason or len(reason) > REASON_MAX_CHARS:
        raise BadInput(f"reason: {reason!r} is not a reason (expected e.g. broken or manual)", field="reason")
    note = check_note(note)
    when = occurred_at or dt.datetime.now(dt.UTC)
    wanted = sorted(set(basket_ids))
    head = lock_chain_head(connection)
    removed = _take_baskets(connection, wanted, true() if still_matches is None else still_matches)
    deleted = [basket[0] for basket in removed]
    found = set(deleted)
    missing = [basket_id for basket_id in wanted if basket_id not in found]
    if not removed:
        return DeletionResult(deleted=[], missing=missing, first_seq=None, last_seq=None)
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
        redaction=redaction,
        redacted_at=when,
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

    In one statement per chunk where the backend has one (`Backend.take_baskets_in_one_statement`,
    PostgreSQL); otherwise the baskets are locked, their lines deleted and returned, then the
    baskets deleted.
    """
    in_one_statement = backend_for(connection).take_baskets_in_one_statement(connection, ids, still_matches)
    if in_one_statement is not None:
        return in_one_statement
    baskets = _lock_baskets(connection, ids, still_matches)
    deleted = [basket[0] for basket in baskets]
    lines = _take_lines(connection, deleted)
    delete_basket_rows(connection, deleted)
    removed: list[Sequence[Any]] = []
    for basket in baskets:
        taken = lines.get(basket[0], [])
        removed.append((*basket, len(taken), _total_quantity(taken), canonical_lines_text(taken)))
    return removed


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
