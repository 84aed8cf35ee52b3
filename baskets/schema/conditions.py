"""The condition grammar of a mapping file, compiled to SQLAlchemy Core (never SQL text from the file).

A condition is a TOML table of exactly one of these shapes:

- `{ column = "customer_is_guest", op = "=", value = 1 }`: a comparison; `op` is one of
  `=`, `!=`, `<`, `<=`, `>`, `>=`, `in` (value a list), `is null`, `not null` (no value);
- `{ all = [ ... ] }`, `{ any = [ ... ] }`, `{ not = { ... } }`: and, or, not;
- `{ exists = { table = "payment_payment", column = "checkout_id", where = { ... } } }`: a row
  of a related table whose `column` holds the basket's key (`where`, optional, over its columns).

Columns are names of the table the condition is about; values are text, whole numbers,
numbers or true/false, and are always bound as parameters.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, Table, and_, exists, not_, or_, true

from baskets.schema.prefix import bookkeeping_identifiers

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MAX_TEXT = 500
MAX_ITEMS = 200

Value = str | bool | int | float
Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "is null", "not null"]


def check_identifier(value: Any) -> str:
    """A table or column name: a letter or `_`, then letters, digits or `_` (at most 63), and none
    of the names of the suite's own tables (the engine renders those under their prefix)."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        shown = repr(value)[:80]
        raise ValueError(
            f"{shown} is not a table or column name (expected letters, digits and _, e.g. quote_item)"
        )
    if value in bookkeeping_identifiers():
        raise ValueError(
            f"{value} is a name of the suite's own tables, which it keeps under bookkeeping_prefix "
            "(expected the shop's basket tables and columns, e.g. quote_item)"
        )
    return value


def check_value(value: Any) -> Any:
    if isinstance(value, str) and (len(value) > MAX_TEXT or not value.isprintable()):
        raise ValueError(
            f"a value of {len(value)} characters or with control characters "
            f"(expected printable text up to {MAX_TEXT})"
        )
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise ValueError(f"{value} is out of range (expected a 64-bit whole number)")
    return value


class Condition(BaseModel):
    """One node of a condition (see the module's grammar)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    column: str | None = None
    op: Op | None = None
    value: Value | list[Value] | None = None
    all: list[Condition] | None = Field(default=None, max_length=MAX_ITEMS)
    any: list[Condition] | None = Field(default=None, max_length=MAX_ITEMS)
    not_: Condition | None = Field(default=None, alias="not")
    exists: Related | None = None

    @field_validator("column")
    @classmethod
    def _column(cls, value: Any) -> Any:
        return None if value is None else check_identifier(value)

    @field_validator("value")
    @classmethod
    def _value(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) > MAX_ITEMS:
                raise ValueError(f"{len(value)} values (expected at most {MAX_ITEMS})")
            return [check_value(item) for item in value]
        return None if value is None else check_value(value)

    @model_validator(mode="after")
    def _one_shape(self) -> Condition:
        shapes = [
            name for name in ("column", "all", "any", "not_", "exists") if getattr(self, name) is not None
        ]
        if len(shapes) != 1:
            raise ValueError(
                "a condition is one of column/op/value, all, any, not or exists (expected e.g. "
                '{ column = "reserved_order_id", op = "not null" })'
            )
        if self.column is not None:
            if self.op is None:
                raise ValueError(
                    "a comparison needs op (expected =, !=, <, <=, >, >=, in, is null or not null)"
                )
            needs_value = self.op not in ("is null", "not null")
            if needs_value and self.value is None:
                raise ValueError(f"op {self.op!r} needs a value")
            if not needs_value and self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
            if (self.op == "in") != isinstance(self.value, list):
                raise ValueError("op 'in' takes a list of values, the others one value")
        elif self.op is not None or self.value is not None:
            raise ValueError("op and value belong with column")
        return self

    def columns(self) -> list[tuple[str | None, str]]:
        """(table or None for this condition's own table, column) of every column named."""
        if self.column is not None:
            return [(None, self.column)]
        found: list[tuple[str | None, str]] = []
        for child in [*(self.all or []), *(self.any or []), *([self.not_] if self.not_ else [])]:
            found.extend(child.columns())
        if self.exists is not None:
            found.append((self.exists.table, self.exists.column))
            if self.exists.where is not None:
                found.extend(
                    (self.exists.table, name) for _, name in self.exists.where.columns() if _ is None
                )
        return found

    def compile(self, table: Table, key: ColumnElement[Any], tables: dict[str, Table]) -> ColumnElement[bool]:
        """This condition over `table`, whose key (for `exists`) is `key`; `tables` by name."""
        if self.column is not None:
            return _comparison(table.c[self.column], self.op or "=", self.value)
        if self.all is not None:
            return and_(true(), *(item.compile(table, key, tables) for item in self.all))
        if self.any is not None:
            return or_(*(item.compile(table, key, tables) for item in self.any)) if self.any else ~true()
        if self.not_ is not None:
            return not_(self.not_.compile(table, key, tables))
        assert self.exists is not None
        related = tables[self.exists.table]
        linked = related.c[self.exists.column] == key
        if self.exists.where is not None:
            linked = and_(linked, self.exists.where.compile(related, key, tables))
        return exists().where(linked)


class Related(BaseModel):
    """The table of an `exists` condition: `column` holds the basket's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    column: str
    where: Condition | None = None

    _names = field_validator("table", "column")(classmethod(lambda cls, value: check_identifier(value)))


def _comparison(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "is null":
        return column.is_(None)
    if op == "not null":
        return column.is_not(None)
    if op == "in":
        return column.in_(list(value))
    return {
        "=": column.__eq__, "!=": column.__ne__, "<": column.__lt__, "<=": column.__le__,
        ">": column.__gt__, ">=": column.__ge__,
    }[op](value)  # fmt: skip


Condition.model_rebuild()
