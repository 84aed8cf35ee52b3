"""Basket ids in and out of a deletion: parsed, chunked, bound as key lists, found or missing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, select

from baskets.backends import backend_for
from baskets.errors import BadInput
from baskets.guid import parse_guid
from baskets.models import Basket
from baskets.queries import joined_baskets

# Ids per IN list: well under every backend's bound-parameter limit, big enough to be set-based.
IN_LIST_SIZE = 1000
NOTE_MAX_CHARS = 2000
REASON_MAX_CHARS = 30


def chunks(items: Sequence[str], size: int = IN_LIST_SIZE) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_in(connection: Connection, column: Column[Any] | Any, keys: Sequence[str]) -> ColumnElement[bool]:
    """`column IN keys`, bound as the connection's backend binds many keys (`Backend.key_in`)."""
    return backend_for(connection).key_in(column, keys)


def parse_basket_ids(basket_ids: list[str], field: str = "basket_ids") -> list[str]:
    """Normalised, de-duplicated GUIDs in the order given; BadInput naming the first bad one
    (its `field` the run-form field the ids came in)."""
    from baskets.schema.loading import current_mapping, parse_key_as

    mapping = current_mapping()  # the shop's own tables: their key type (baskets.schema)
    parsed: dict[str, None] = {}
    for value in basket_ids:
        try:
            key = parse_guid(value) if mapping is None else str(parse_key_as(mapping.basket.key_type, value))
            parsed[key] = None
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


def select_basket_ids(
    connection: Connection, where: ColumnElement[bool], *, after: str | None = None, limit: int = 1000
) -> list[str]:
    """Up to `limit` ids of baskets matching `where` (joined like the list page), key order, > `after`."""
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:
        from baskets.schema.queries import select_mapped_ids

        return select_mapped_ids(schema, connection, where, after=after, limit=limit)
    query = joined_baskets(Basket.id).where(where).order_by(Basket.id).limit(limit)
    if after is not None:
        query = query.where(Basket.id > after)
    return list(connection.scalars(query))


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
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:
        from baskets.schema.deletion import existing_keys

        return existing_keys(schema, connection, basket_ids)
    found: set[str] = set()
    for chunk in chunks(sorted(set(basket_ids))):
        found.update(connection.scalars(select(Basket.id).where(key_in(connection, Basket.id, chunk))))
    return found
