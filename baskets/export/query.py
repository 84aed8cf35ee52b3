"""The export's rows (§5): one query, the schema its rows have, and the fastest transport per database
that brings them as Arrow record batches (memory stays flat however large the table is)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, Select, String, cast, func, select

from baskets.backends import Backend, backend_for
from baskets.backends.base import ArrowReader
from baskets.export.columns import arrow_column
from baskets.filters import BasketFilter
from baskets.models import Account, Basket, BasketLine, ShopAccount
from baskets.queries import joined_baskets

# Parquet column (snake_case, typed) and, for the first eleven, the CSV header of §5.
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
QUANTITY_TYPE = pa.decimal128(18, 4)
EXPORT_SCHEMA = pa.schema(
    [
        ("shop_account_name", pa.string()),
        ("shop_account_email", pa.string()),
        ("account_name", pa.string()),
        ("account_email", pa.string()),
        ("account_id", pa.string()),
        ("account_type", pa.string()),
        ("basket_id", pa.string()),
        ("product_id", pa.string()),
        ("variant_id", pa.string()),
        ("quantity", QUANTITY_TYPE),
        ("unit_of_measure_id", pa.string()),
        ("shop_account_id", pa.string()),
        ("basket_created_at", UTC_TIMESTAMP),
        ("basket_modified_at", UTC_TIMESTAMP),
    ]
)
# Rows as Python objects weigh ~1.5 kB each: smaller batches keep the SQLAlchemy path flat.
PYTHON_BATCH_ROWS = 10_000


def export_query(basket_filter: BasketFilter) -> Select[Any]:
    """The export rows matching `basket_filter`: one per basket line, and one (with empty line
    columns) per basket without lines; ordered by basket, then line.

    GUIDs are cast to text so every backend hands back the same lowercase hyphenated form.
    """
    return (
        joined_baskets(
            ShopAccount.name.label("shop_account_name"),
            ShopAccount.email.label("shop_account_email"),
            Account.name.label("account_name"),
            Account.email.label("account_email"),
            Basket.account_id,
            Basket.account_type,
            cast(Basket.id, String).label("basket_id"),
            BasketLine.product_id,
            BasketLine.variant_id,
            BasketLine.quantity,
            BasketLine.uom_id.label("unit_of_measure_id"),
            cast(Basket.shop_account_id, String).label("shop_account_id"),
            Basket.created_at.label("basket_created_at"),
            Basket.modified_at.label("basket_modified_at"),
        )
        .outerjoin(BasketLine, BasketLine.basket_id == Basket.id)
        .where(basket_filter.where())
        .order_by(Basket.id, BasketLine.id)
    )


def count_export_rows(connection: Connection, basket_filter: BasketFilter) -> int:
    """How many rows an export with `basket_filter` writes (for a progress bar's total)."""
    from baskets.schema import mapped_schema

    schema = mapped_schema(connection)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.queries import count_mapped_export_rows

        return count_mapped_export_rows(schema, connection, basket_filter)
    rows = export_query(basket_filter).order_by(None).subquery()
    return int(connection.scalar(select(func.count()).select_from(rows)) or 0)


def export_sql(basket_filter: BasketFilter, backend: Backend) -> str:
    """The export query as one SQL text with its values inlined, for a driver outside
    SQLAlchemy (`Backend.literal_sql`)."""
    return backend.literal_sql(export_query(basket_filter))


def conform_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` cast to EXPORT_SCHEMA, whatever types the driver inferred.

    SQLite hands times back as text and quantities as integers or reals; PostgreSQL numeric
    arrives as text in an extension type; an all-NULL column may come typed as null.
    """
    columns = []
    for target in EXPORT_SCHEMA:
        column = batch.column(target.name)
        if isinstance(column.type, pa.ExtensionType):
            column = column.storage
        if column.type != target.type:
            if pa.types.is_timestamp(target.type) and pa.types.is_string(column.type):
                column = pc.cast(column, pa.timestamp("us"))
            if pa.types.is_decimal(target.type) and pa.types.is_floating(column.type):
                column = pc.round(column, 4)
            if pa.types.is_decimal(target.type) and pa.types.is_integer(column.type):
                column = pc.cast(column, pa.decimal128(38, 4))  # int64 needs 19 digits first
            column = pc.cast(column, target.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=EXPORT_SCHEMA)


def _sqlalchemy_batches(engine: Engine, basket_filter: BasketFilter) -> Iterator[pa.RecordBatch]:
    """Rows through SQLAlchemy with a server-side cursor (MariaDB without ConnectorX, SQLite text
    filters and small SQLite databases)."""
    with engine.connect() as connection:
        query = export_query(basket_filter)
        result = connection.execution_options(yield_per=PYTHON_BATCH_ROWS).execute(query)
        for rows in result.partitions():
            columns = list(zip(*rows, strict=True))
            arrays = [
                arrow_column(values, target.type)
                for values, target in zip(columns, EXPORT_SCHEMA, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=EXPORT_SCHEMA)


def export_transport(engine: Engine, basket_filter: BasketFilter) -> str:
    """Which transport `fetch_export_batches` uses for this engine and filter: the backend's
    Arrow reader where it has one (`Backend.arrow_reader`: ADBC on PostgreSQL and SQLite,
    ConnectorX on MariaDB), else SQLAlchemy. SQLite text filters need the Unicode-aware
    lower() of this process's engine. The shop's own tables (`baskets.schema`) go through
    SQLAlchemy."""
    from baskets.schema import mapped_schema

    if mapped_schema(engine) is not None:
        return "sqlalchemy"
    reader = _arrow_reader(engine, basket_filter)
    return "sqlalchemy" if reader is None else reader[0]


def _arrow_reader(engine: Engine, basket_filter: BasketFilter) -> tuple[str, ArrowReader] | None:
    return backend_for(engine).arrow_reader(
        engine, needs_engine_functions=basket_filter.needs_shop_account_join()
    )


def fetch_export_batches(engine: Engine, basket_filter: BasketFilter) -> Iterator[pa.RecordBatch]:
    """The export rows as Arrow record batches in EXPORT_SCHEMA, streamed (never all in memory)."""
    from baskets.schema import mapped_schema

    schema = mapped_schema(engine)
    if schema is not None:  # the shop's own tables (baskets.schema)
        from baskets.schema.queries import mapped_export_batches

        return mapped_export_batches(schema, engine, basket_filter, EXPORT_SCHEMA)
    reader = _arrow_reader(engine, basket_filter)
    if reader is None:
        return _sqlalchemy_batches(engine, basket_filter)
    sql = export_sql(basket_filter, backend_for(engine))
    return (conform_batch(batch) for batch in reader[1](engine, sql))
