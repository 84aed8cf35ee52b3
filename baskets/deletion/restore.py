"""Restoring a deleted basket from its latest deletion's audit row, chaining a 'restored' row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from baskets.audit import (
    append_to_chain,
    audit_rows_for_basket,
    lock_chain_head,
    parse_lines,
)
from baskets.deletion.keys import check_note
from baskets.errors import BadInput, NotFound
from baskets.models import Basket, BasketLine
from baskets.roles import Actor


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
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.deletion import restore_mapped_basket

        return restore_mapped_basket(
            schema, connection, basket_id, actor=actor, note=note, flow_run_id=flow_run_id,
            occurred_at=occurred_at,
        )  # fmt: skip
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
    _put_lines_back(connection, basket_id, lines)
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


def _put_lines_back(connection: Connection, basket_id: str, lines: list[dict[str, Any]]) -> None:
    """Insert a restored basket's `lines`, keeping their original ids unless one was reused
    meanwhile (SQLite reuses the top rowid): those get new ids."""
    if not lines:
        return
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


def latest_deletion(connection: Connection, basket_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The audit row a restore of `basket_id` would use: its latest deletion.

    Raises BadInput when a basket with that id exists, NotFound when no deletion is on record
    or the latest one was redacted (its lines and accounts are gone).
    """
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.deletion import latest_mapped_deletion

        return latest_mapped_deletion(schema, connection, basket_id, lock=lock)
    exists = select(Basket.id).where(Basket.id == basket_id)
    if connection.scalar(exists.with_for_update() if lock else exists) is not None:
        raise BadInput(
            f"basket_id: basket {basket_id} exists: only a deleted basket can be restored", field="basket_id"
        )
    deletions = [row for row in audit_rows_for_basket(connection, basket_id) if row["event"] == "deleted"]
    if not deletions:
        raise NotFound(f"basket_id: no deleted basket {basket_id} in the audit log", field="basket_id")
    if deletions[-1]["redacted_at"] is not None:  # its lines and accounts are gone (baskets.privacy)
        from baskets.privacy.redaction import describe_redaction

        raise NotFound(
            f"basket {basket_id} cannot be restored: {describe_redaction(deletions[-1])}", field="basket_id"
        )
    return deletions[-1]


def _audit_row_from(source: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in source.items() if key not in ("seq", "prev_hash", "hash")}
