"""Every row a basket owns, in every mapped table: read (locked), kept as JSON in its audit row,
deleted in dependency order, and put back byte for byte."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, Table, delete, insert, select, update

from baskets.audit.canonical import canonical_json, canonical_quantity
from baskets.deletion.keys import chunks
from baskets.schema.mapped import MappedSchema

# The audit row's `lines` of a mapped basket: {"schema": name, "tables": {table: [row, ...]}}.
FORMAT = "mapped-rows/1"


def encode_value(value: Any) -> Any:
    """A column value as JSON holds it; `decode_value` with the column's type gives it back."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"interval": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (dict, list)):
        return {"json": value}
    return {"text": str(value)}


def decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, held),) = value.items()
    decoders: dict[str, Any] = {
        "float": float, "decimal": Decimal, "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat, "time": dt.time.fromisoformat,
        "interval": lambda parts: dt.timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2]),
        "uuid": uuid.UUID, "bytes": base64.b64decode, "json": lambda item: item, "text": str,
    }  # fmt: skip
    return decoders[kind](held)


def _plain(table: Table) -> list[Column[Any]]:
    """The table's columns read as the driver returns them (no JSON or other result processing
    that would change what is written back)."""
    return list(table.columns)


def take_rows(
    schema: MappedSchema, connection: Connection, keys: Sequence[Any]
) -> dict[Any, dict[str, list[dict[str, Any]]]]:
    """Per basket key, every row it owns per table (all columns, encoded), read under row locks,
    each table's rows in key order."""
    owned: dict[Any, dict[str, list[dict[str, Any]]]] = {key: {} for key in keys}
    # Which basket each row of each owned table belongs to, by the table's key.
    owner_of: dict[str, dict[Any, Any]] = {}
    basket = schema.basket
    for chunk in chunks(schema.bind_keys(keys)):
        rows = connection.execute(
            select(*_plain(basket)).where(schema.key.in_(chunk)).order_by(schema.key).with_for_update()
        ).mappings()
        for row in rows:
            owned[schema.norm_key(row[schema.key.name])][str(basket.name)] = [_encoded(row)]
    for child in schema.mapping.child_links():
        table = schema.tables[child.table]
        key = table.c[child.key]
        owner_of[child.table] = {}
        if child.basket_column is not None:
            link, parents = table.c[child.basket_column], {k: k for k in keys}
            bound, norm = schema.bind_keys(list(parents)), schema.norm_key
        else:
            assert child.parent is not None and child.parent_column is not None
            link, parents = table.c[child.parent_column], owner_of[child.parent]
            bound, norm = list(parents), _same
        for chunk in chunks(bound):
            rows = connection.execute(
                select(*_plain(table)).where(link.in_(chunk)).order_by(key).with_for_update()
            ).mappings()
            for row in rows:
                basket_key = parents[norm(row[link.name])]
                owner_of[child.table][row[key.name]] = basket_key
                owned[basket_key].setdefault(child.table, []).append(_encoded(row))
    return owned


def _same(value: Any) -> Any:
    return value


def _encoded(row: Any) -> dict[str, Any]:
    return {str(name): encode_value(value) for name, value in row.items()}


def rows_text(schema: MappedSchema, tables: dict[str, list[dict[str, Any]]]) -> str:
    """The audit row's `lines` for one basket, canonical JSON: every row of every mapped table
    (`tables`, what a restore puts back), and its lines as a builtin audit row keeps them
    (`lines`: id, product_id, variant_id, quantity, uom_id; what `baskets audit show` lists)."""
    ordered = {name: tables.get(name, []) for name in schema.mapping.owned_tables()}
    mapped = schema.mapping.lines

    def field(row: dict[str, Any], name: str | None) -> str | None:
        value = None if name is None else decode_value(row[name])
        return None if value is None else str(value)

    lines = [
        {
            "id": key if isinstance(key := decode_value(row[mapped.key]), int) else str(key),
            "product_id": field(row, mapped.product) or "",
            "variant_id": field(row, mapped.variant),
            "quantity": canonical_quantity(decode_value(row[mapped.quantity]) or 0),
            "uom_id": field(row, mapped.unit),
        }
        for row in ordered[mapped.table]
    ]
    document = {"format": FORMAT, "schema": schema.mapping.name, "tables": ordered, "lines": lines}
    return canonical_json(document).decode()


def parse_rows_text(text: str) -> dict[str, list[dict[str, Any]]]:
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError("not the rows of a mapped basket")
    return document["tables"]


def delete_rows(
    schema: MappedSchema,
    connection: Connection,
    keys: Sequence[Any],
    owned: dict[Any, dict[str, list[dict[str, Any]]]],
) -> None:
    """Delete the baskets `keys` and, children before parents, the rows of the tables whose
    delete rule is `explicit` (the shop's own ON DELETE CASCADE removes the others); unlink the
    rows of `set_null` tables (their basket column set to NULL)."""
    for child in reversed(schema.mapping.child_links()):
        if child.delete == "cascade":
            continue
        table = schema.tables[child.table]
        ids = [row[child.key] for key in keys for row in owned[key].get(child.table, [])]
        for chunk in chunks([decode_value(value) for value in ids]):
            rows = table.c[child.key].in_(chunk)
            if child.delete == "set_null":
                connection.execute(update(table).where(rows).values({str(child.basket_column): None}))
            else:
                connection.execute(delete(table).where(rows))
    for chunk in chunks(schema.bind_keys(keys)):
        removed = connection.execute(delete(schema.basket).where(schema.key.in_(chunk))).rowcount
        if removed != len(chunk):
            raise RuntimeError(f"deleted {removed} of {len(chunk)} locked baskets: rolling back")


def insert_rows(schema: MappedSchema, connection: Connection, tables: dict[str, list[dict[str, Any]]]) -> int:
    """Put rows back, parents before children, every column as it was (keys included), and link
    the rows of `set_null` tables to their basket again; the number of rows put back or linked."""
    count = 0
    unlinked = {child.table: child for child in schema.mapping.children if child.delete == "set_null"}
    for name in schema.mapping.owned_tables():
        rows = tables.get(name, [])
        if not rows:
            continue
        table = schema.tables[name]
        values = [{column: decode_value(value) for column, value in row.items()} for row in rows]
        if name in unlinked:
            count += _relink(connection, table, unlinked[name].key, str(unlinked[name].basket_column), values)
            continue
        connection.execute(insert(table), values)
        count += len(values)
    return count


def _relink(connection: Connection, table: Table, key: str, link: str, rows: list[dict[str, Any]]) -> int:
    """Set `link` back on the rows that outlived their basket, where it is still NULL (a row
    deleted or linked elsewhere since is left as the shop has it); how many were linked."""
    linked = 0
    for row in rows:
        statement = update(table).where(table.c[key] == row[key], table.c[link].is_(None))
        linked += connection.execute(statement.values({link: row[link]})).rowcount
    return linked
