"""Running on the shop's own tables (docs/schema-mapping.md): a mapping of where the shop keeps its
baskets (`model`, `conditions`), read from the `schema` setting (`loading`), bound to the database
(`mapped`), and the commands' reads, deletes and restores over it (`queries`, `deletion`, `rows`);
`check` compares a mapping with a live database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection

from baskets.schema.loading import BUILTIN, load_mapping, preset_names
from baskets.schema.mapped import MappedSchema, attach_mapping, mapped_schema
from baskets.schema.model import Mapping


def filter_condition(connection: Connection, basket_filter: Any) -> ColumnElement[bool]:
    """The filter's SQL condition over the schema `connection`'s engine runs on."""
    schema = mapped_schema(connection)
    return basket_filter.where() if schema is None else schema.where(basket_filter)


__all__ = [
    "BUILTIN", "MappedSchema", "Mapping", "attach_mapping", "filter_condition", "load_mapping",
    "mapped_schema", "preset_names",
]  # fmt: skip
