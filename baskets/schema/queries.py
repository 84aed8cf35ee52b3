"""The read side of a mapped schema: the overview, the export's rows, the retention predicate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, Engine, and_, case, func, or_, select, true

from baskets.filters import BasketFilter
from baskets.models import BASKET_KEY_MAX
from baskets.schema.deletion import utc
from baskets.schema.mapped import MappedSchema

if TYPE_CHECKING:
    from baskets.retention.policy import ExpiredBasket, RetentionPolicy

EXPORT_BATCH_ROWS = 10_000


def _overview_row(schema: MappedSchema, row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["basket_id"] = schema.key_text(found["basket_id"])
    for name in ("shop_account_id", "account_id"):
        if found[name] is not None:
            found[name] = str(found[name])
    found["created_at"], found["modified_at"] = utc(found["created_at"]), utc(found["modified_at"])
    found["line_count"] = int(found["line_count"] or 0)
    return found


def list_mapped(
    schema: MappedSchema, connection: Connection, basket_filter: BasketFilter, limit: int | None
) -> list[dict[str, Any]]:
    query = (
        schema.joined(*schema.overview_columns())
        .where(schema.where(basket_filter))
        .order_by(schema.modified.desc(), schema.key)
    )
    if limit is not None:
        query = query.limit(limit)
    return [_overview_row(schema, row) for row in connection.execute(query)]


def count_mapped(schema: MappedSchema, connection: Connection, basket_filter: BasketFilter) -> int:
    query = schema.joined(func.count()).where(schema.where(basket_filter))
    return int(connection.scalar(query) or 0)


def key_fits(schema: MappedSchema) -> ColumnElement[bool]:
    """Whether a basket's key fits the audit log's basket_id (a text key of at most BASKET_KEY_MAX
    characters): a basket whose key does not is never selected for deletion, as it could not be
    audited (`baskets schema check` notes a key column that allows longer keys)."""
    if schema.mapping.basket.key_type != "text":
        return true()
    return func.char_length(schema.key) <= BASKET_KEY_MAX


def select_mapped_ids(
    schema: MappedSchema, connection: Connection, where: ColumnElement[bool], *, after: str | None, limit: int
) -> list[str]:
    """Up to `limit` keys (as text) of baskets matching `where` whose key fits the audit log, in
    key order after `after`."""
    query = schema.joined(schema.key).where(where, key_fits(schema)).order_by(schema.key).limit(limit)
    if after is not None:
        query = query.where(schema.key > schema.bind_keys([schema.parse_key(after)])[0])
    return [schema.key_text(value) for value in connection.scalars(query)]


def _export_query(schema: MappedSchema, basket_filter: BasketFilter) -> Any:
    lines, mapping = schema.lines, schema.mapping.lines

    def line_column(name: str | None) -> Any:
        from sqlalchemy import literal

        return literal(None) if name is None else lines.c[name]

    return (
        schema.joined(
            schema.party_name("shop_account"),
            schema.party_email("shop_account"),
            schema.party_name("account"),
            schema.party_email("account"),
            schema.party_id("account"),
            schema.account_type(),
            schema.key,
            line_column(mapping.product),
            line_column(mapping.variant),
            line_column(mapping.quantity),
            line_column(mapping.unit),
            schema.party_id("shop_account"),
            schema.created,
            schema.modified,
        )  # fmt: skip
        .outerjoin(lines, schema.line_basket == schema.key)
        .where(schema.where(basket_filter))
        .order_by(schema.key, lines.c[mapping.key])
    )


def count_mapped_export_rows(
    schema: MappedSchema, connection: Connection, basket_filter: BasketFilter
) -> int:
    rows = _export_query(schema, basket_filter).order_by(None).subquery()
    return int(connection.scalar(select(func.count()).select_from(rows)) or 0)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def mapped_export_batches(
    schema: MappedSchema, engine: Engine, basket_filter: BasketFilter, export_schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The export rows (the builtin export's columns; fields the shop lacks are empty)."""
    quantize = Decimal("0.0001")
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=EXPORT_BATCH_ROWS).execute(
            _export_query(schema, basket_filter)
        )
        for rows in result.partitions():
            columns: list[list[Any]] = [[] for _ in export_schema]
            for row in rows:
                values = [
                    _text(row[0]), _text(row[1]), _text(row[2]), _text(row[3]), _text(row[4]), row[5],
                    schema.key_text(row[6]), _text(row[7]), _text(row[8]),
                    None if row[9] is None else Decimal(str(row[9])).quantize(quantize),
                    _text(row[10]), _text(row[11]), utc(row[12]), utc(row[13]),
                ]  # fmt: skip
                for column, value in zip(columns, values, strict=True):
                    column.append(value)
            arrays = [
                pa.array(values, type=field.type)
                for values, field in zip(columns, export_schema, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=export_schema)


def mapped_expired(schema: MappedSchema, policy: RetentionPolicy, now: dt.datetime) -> ColumnElement[bool]:
    """The retention predicate over the mapped basket table, never true for a protected basket
    or one whose key does not fit the audit log (`key_fits`)."""
    from baskets.retention.policy import EMPTY, STORED_TYPE
    from config.settings import ACCOUNT_TYPES

    cutoffs = {name: schema.time_value(schema.modified, value) for name, value in policy.cutoffs(now).items()}
    account_type = schema.account_type()
    by_type = [
        and_(account_type == STORED_TYPE[kind], schema.modified < cutoffs[kind]) for kind in ACCOUNT_TYPES
    ]
    expired = or_(*by_type, and_(schema.has_no_lines(), schema.modified < cutoffs[EMPTY]))
    return and_(expired, ~schema.protected(), key_fits(schema))


def _category(schema: MappedSchema) -> ColumnElement[str]:
    return case((schema.has_no_lines(), "Empty"), else_=schema.account_type())


def select_mapped_expired(
    schema: MappedSchema,
    connection: Connection,
    policy: RetentionPolicy,
    now: dt.datetime,
    *,
    after: str | None,
    limit: int,
) -> list[ExpiredBasket]:
    from baskets.retention.policy import ExpiredBasket

    query = select(schema.key, _category(schema)).where(mapped_expired(schema, policy, now))
    query = query.order_by(schema.key).limit(limit)
    if after is not None:
        query = query.where(schema.key > schema.bind_keys([schema.parse_key(after)])[0])
    return [
        ExpiredBasket(schema.key_text(key), str(category).lower())
        for key, category in connection.execute(query)
    ]


def count_mapped_expired(
    schema: MappedSchema, connection: Connection, policy: RetentionPolicy, now: dt.datetime
) -> dict[str, int]:
    from baskets.retention.policy import CATEGORIES

    category = _category(schema).label("category")
    query = (
        select(category, func.count()).select_from(schema.basket).where(mapped_expired(schema, policy, now))
    )
    counts = dict.fromkeys(CATEGORIES, 0)
    for name, count in connection.execute(query.group_by(category)):
        counts[str(name).lower()] = int(count)
    return counts


def count_mapped_baskets(schema: MappedSchema, connection: Connection) -> int:
    return int(connection.scalar(select(func.count()).select_from(schema.basket)) or 0)
