"""Deleting and restoring baskets of a mapped schema, with the same audit chain as the builtin tables.

The audit row of a mapped basket keeps the overview's fields in its columns, as a builtin row
does, and in `lines` every row of every mapped table the basket owned (all columns, keys
included; `baskets.schema.rows`), which is what a restore puts back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, select, true

from baskets.audit import (
    append_documents,
    append_to_chain,
    audit_rows_for_basket,
    canonical_quantity,
    canonical_time,
    lock_chain_head,
)
from baskets.deletion.delete import DeletionResult
from baskets.deletion.keys import REASON_MAX_CHARS, check_note, chunks
from baskets.deletion.restore import RestoreResult
from baskets.errors import BadInput, NotFound
from baskets.guid import parse_guid
from baskets.models import BASKET_KEY_MAX
from baskets.roles import Actor
from baskets.schema.mapped import MappedSchema
from baskets.schema.rows import decode_value, delete_rows, insert_rows, parse_rows_text, rows_text, take_rows

ERP_ID_MAX = 50


def utc(value: Any) -> dt.datetime | None:
    """A time read from a shop's column as aware UTC (a column without a zone holds UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def protected_among(schema: MappedSchema, connection: Connection, keys: Sequence[Any]) -> list[Any]:
    """The keys among `keys` whose basket the mapping's protect condition holds for."""
    found: list[Any] = []
    for chunk in chunks(schema.bind_keys(keys)):
        query = select(schema.key).where(schema.key.in_(chunk), schema.protected())
        found.extend(schema.norm_key(value) for value in connection.scalars(query))
    return sorted(found)


def _lock_matching(
    schema: MappedSchema, connection: Connection, keys: Sequence[Any], still_matches: ColumnElement[bool]
) -> list[dict[str, Any]]:
    """The overview rows of the baskets among `keys` that still match and are not protected,
    row-locked, in key order."""
    found: list[dict[str, Any]] = []
    for chunk in chunks(schema.bind_keys(keys)):
        query = (
            schema.joined(*schema.overview_columns())
            .where(schema.key.in_(chunk), still_matches, ~schema.protected())
            .order_by(schema.key)
            .with_for_update(of=schema.basket)
        )
        found.extend(dict(row._mapping) for row in connection.execute(query))
    return found


def delete_mapped_baskets(
    schema: MappedSchema,
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
    """`baskets.deletion.delete_baskets_with_audit` on a mapped schema. Protected baskets are
    never deleted: listed ones (no `still_matches`) refuse the whole delete (BadInput), those
    selected by a filter or the cleanup are left alone and reported in `missing`."""
    if not reason or len(reason) > REASON_MAX_CHARS:
        raise BadInput(f"reason: {reason!r} is not a reason (expected e.g. broken or manual)", field="reason")
    note = check_note(note)
    when = occurred_at or dt.datetime.now(dt.UTC)
    keys = sorted({schema.parse_key(value, "basket_ids") for value in basket_ids})
    head = lock_chain_head(connection)
    if still_matches is None:
        protected = protected_among(schema, connection, keys)
        if protected:
            shown = ", ".join(schema.key_text(key) for key in protected[:10])
            raise BadInput(
                f"basket_ids: basket {shown} is protected by the schema mapping's protect condition "
                "(e.g. an order or payment in progress): nothing was deleted",
                field="basket_ids",
            )
    baskets = _lock_matching(schema, connection, keys, true() if still_matches is None else still_matches)
    matched = [schema.norm_key(row["basket_id"]) for row in baskets]
    found = set(matched)
    missing = [schema.key_text(key) for key in keys if key not in found]
    if not baskets:
        return DeletionResult(deleted=[], missing=missing, first_seq=None, last_seq=None)
    owned = take_rows(schema, connection, matched)
    delete_rows(schema, connection, matched, owned)
    common = {
        "event": "deleted", "occurred_at": canonical_time(when), "actor": actor.name,
        "actor_role": actor.role, "reason": reason, "note": note, "flow_run_id": flow_run_id,
    }  # fmt: skip
    documents = [
        _document(schema, row, owned[key], common) for row, key in zip(baskets, matched, strict=True)
    ]
    new_head = append_documents(connection, head, iter(documents), redaction=redaction, redacted_at=when)
    return DeletionResult(
        deleted=[schema.key_text(key) for key in matched], missing=missing,
        first_seq=head.seq + 1, last_seq=new_head.seq,
    )  # fmt: skip


def _shop_account_id(value: Any) -> str | None:
    """A shop account id as the audit log keeps it: a GUID lowercase, another id as its text;
    None for one longer than the column (it stays in the rows kept in `lines`)."""
    if value is None:
        return None
    try:
        return parse_guid(str(value))
    except ValueError:
        text = str(value)
        return text if len(text) <= BASKET_KEY_MAX else None


def _document(
    schema: MappedSchema, row: dict[str, Any], tables: dict[str, list[dict[str, Any]]], common: dict[str, Any]
) -> dict[str, Any]:
    """The canonical audit document of one deleted mapped basket."""
    lines = tables.get(schema.mapping.lines.table, [])
    quantity_column = schema.mapping.lines.quantity
    total = sum((Decimal(str(decode_value(line[quantity_column]) or 0)) for line in lines), Decimal(0))
    account_id = row["account_id"]
    created, modified = utc(row["created_at"]), utc(row["modified_at"])
    return {
        **common,
        "basket_id": schema.key_text(row["basket_id"]),
        "shop_account_id": _shop_account_id(row["shop_account_id"]),
        "shop_account_name": row["shop_account_name"],
        "shop_account_email": row["shop_account_email"],
        "account_id": None if account_id is None or len(str(account_id)) > ERP_ID_MAX else str(account_id),
        "account_name": row["account_name"],
        "account_email": row["account_email"],
        "account_type": row["account_type"],
        "basket_created_at": None if created is None else canonical_time(created),
        "basket_modified_at": None if modified is None else canonical_time(modified),
        "line_count": len(lines),
        "total_quantity": canonical_quantity(total),
        "lines": rows_text(schema, tables),
        "detail": None,
    }


def existing_keys(schema: MappedSchema, connection: Connection, basket_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    keys = sorted({schema.parse_key(value, "basket_ids") for value in basket_ids})
    for chunk in chunks(schema.bind_keys(keys)):
        found.update(
            schema.key_text(value)
            for value in connection.scalars(select(schema.key).where(schema.key.in_(chunk)))
        )
    return found


def latest_mapped_deletion(
    schema: MappedSchema, connection: Connection, basket_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """The audit row a restore of `basket_id` would use (see `baskets.deletion.latest_deletion`)."""
    key = schema.parse_key(basket_id)
    exists = select(schema.key).where(schema.key == schema.bind_keys([key])[0])
    if connection.scalar(exists.with_for_update() if lock else exists) is not None:
        raise BadInput(
            f"basket_id: basket {schema.key_text(key)} exists: only a deleted basket can be restored",
            field="basket_id",
        )
    rows = audit_rows_for_basket(connection, schema.key_text(key))
    deletions = [row for row in rows if row["event"] == "deleted"]
    if not deletions:
        raise NotFound(
            f"basket_id: no deleted basket {schema.key_text(key)} in the audit log", field="basket_id"
        )
    if deletions[-1]["redacted_at"] is not None:
        from baskets.privacy.redaction import describe_redaction

        raise NotFound(
            f"basket {basket_id} cannot be restored: {describe_redaction(deletions[-1])}", field="basket_id"
        )
    return deletions[-1]


def restore_mapped_basket(
    schema: MappedSchema,
    connection: Connection,
    basket_id: str,
    *,
    actor: Actor,
    note: str | None = None,
    flow_run_id: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> RestoreResult:
    """Put a deleted mapped basket back: every row of every mapped table as it was (keys and
    times included: the shop's rows are not touched up), and chain a 'restored' row."""
    note = check_note(note)
    when = occurred_at or dt.datetime.now(dt.UTC)
    head = lock_chain_head(connection)
    source = latest_mapped_deletion(schema, connection, basket_id, lock=True)
    try:
        tables = parse_rows_text(source["lines"])
    except ValueError:
        raise NotFound(
            f"basket_id: the deletion of {basket_id} was not recorded from the mapped tables "
            f"(schema {schema.mapping.name}): it cannot be restored into them",
            field="basket_id",
        ) from None
    insert_rows(schema, connection, tables)
    restored = {
        **{key: value for key, value in source.items() if key not in ("seq", "prev_hash", "hash")},
        "event": "restored", "occurred_at": when, "actor": actor.name, "actor_role": actor.role,
        "reason": "restore", "note": note, "flow_run_id": flow_run_id,
    }  # fmt: skip
    new_head = append_to_chain(connection, head, [restored])
    return RestoreResult(
        basket_id=str(source["basket_id"]), line_count=len(tables.get(schema.mapping.lines.table, [])),
        restored_from_seq=int(source["seq"]), seq=new_head.seq,
    )  # fmt: skip
