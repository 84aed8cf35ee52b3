"""A mapping bound to a database: its tables reflected (read-only) and the expressions every command
builds its queries from (the overview's fields, the account type, protection, the filters)."""

from __future__ import annotations

import threading
import uuid
import weakref
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.exc import NoSuchTableError

from baskets.errors import BadInput, WorkerMisconfigured
from baskets.filters import BasketFilter
from baskets.schema.loading import parse_key_as
from baskets.schema.model import Mapping
from baskets.schema.prefix import DEFAULT_PREFIX, bookkeeping_identifiers, use_prefix

_lock = threading.Lock()
_bound: weakref.WeakKeyDictionary[Engine, MappedSchema] = weakref.WeakKeyDictionary()
_settings: weakref.WeakKeyDictionary[Engine, Mapping] = weakref.WeakKeyDictionary()


def attach_mapping(engine: Engine, mapping: Mapping | None, prefix: str = DEFAULT_PREFIX) -> None:
    """Make `mapping` the schema of everything run on `engine` (None: the builtin tables), with
    the suite's own tables named under `prefix` on a mapped schema (`baskets.schema.prefix`).
    Call it before the engine's first statement."""
    use_prefix(engine, "" if mapping is None else prefix)
    with _lock:
        _bound.pop(engine, None)
        if mapping is None:
            _settings.pop(engine, None)
        else:
            _settings[engine] = mapping


def mapped_schema(bind: Connection | Engine) -> MappedSchema | None:
    """The mapped schema of `bind`'s engine, its tables reflected on first use; None for builtin."""
    engine = bind.engine
    mapping = _settings.get(engine)
    if mapping is None:
        return None
    with _lock:
        found = _bound.get(engine)
    if found is None:
        found = MappedSchema(mapping, engine)
        with _lock:
            _bound[engine] = found
    return found


class MappedSchema:
    """The mapping's tables as reflected from the database, and the expressions over them."""

    def __init__(self, mapping: Mapping, engine: Engine) -> None:
        self.mapping = mapping
        self.metadata = MetaData()
        self.tables: dict[str, Table] = {}
        with engine.connect() as connection:
            for name in _tables_named(mapping):
                self.tables[name] = _reflect(connection, self.metadata, name)
        for table, column in _columns_named(mapping):
            if column not in self.tables[table].c:
                raise WorkerMisconfigured(
                    f"schema: column {table}.{column} is not in the database (`baskets schema check` "
                    "compares the mapping with the tables)"
                )
        self.basket = self.tables[mapping.basket.table]
        self.key: Column[Any] = self.basket.c[mapping.basket.key]
        self.lines = self.tables[mapping.lines.table]
        self.line_basket: Column[Any] = self.lines.c[mapping.lines.basket_column]
        self.created: Column[Any] = self.basket.c[mapping.basket.created]
        self.modified: Column[Any] = self.basket.c[mapping.basket.modified]
        # Each account's table under its own name: shop account and ERP account may be one table.
        self.party_tables: dict[str, Any] = {
            which: self.tables[party.table].alias(f"{which}_joined")
            for which, party in (("shop_account", mapping.shop_account), ("account", mapping.account))
            if party.table is not None
        }

    # --- keys -----------------------------------------------------------------------------

    def parse_key(self, text: str, field: str = "basket_id") -> Any:
        """A basket key as the mapping's key type has it; BadInput naming `field` otherwise."""
        try:
            return parse_key_as(self.mapping.basket.key_type, text)
        except ValueError as error:
            raise BadInput(f"{field}: {error}", field=field) from None

    def key_text(self, value: Any) -> str:
        """A key as the commands show it and the audit log keeps it (GUIDs lowercase)."""
        return str(value).lower() if self.mapping.basket.key_type == "guid" else str(value)

    def norm_key(self, value: Any) -> Any:
        """A key as read from the database, in the form `parse_key` gives (dict keys match)."""
        kind = self.mapping.basket.key_type
        return str(value).lower() if kind == "guid" else int(value) if kind == "integer" else value

    def bind_keys(self, keys: Any) -> list[Any]:
        """Keys as the key column binds them (PostgreSQL's uuid type takes uuid.UUID)."""
        if self.mapping.basket.key_type == "guid" and _python_type(self.key) is uuid.UUID:
            return [uuid.UUID(str(key)) for key in keys]
        return list(keys)

    def has_party_id(self, which: str) -> bool:
        return getattr(self.mapping, which).id is not None

    # --- expressions ----------------------------------------------------------------------

    def account_type(self) -> ColumnElement[str]:
        types = self.mapping.account_type
        if not types.rules:
            return literal(types.default)
        whens = [(rule.when.compile(self.basket, self.key, self.tables), rule.type) for rule in types.rules]
        return case(*whens, else_=literal(types.default))

    def protected(self) -> ColumnElement[bool]:
        protect = self.mapping.protect
        return false() if protect is None else protect.compile(self.basket, self.key, self.tables)

    def has_no_lines(self) -> ColumnElement[bool]:
        return ~exists().where(self.line_basket == self.key)

    def line_count(self) -> ColumnElement[int]:
        return (
            select(func.count()).select_from(self.lines).where(self.line_basket == self.key).scalar_subquery()
        )

    def party_table(self, which: str) -> Any:
        return self.party_tables.get(which, self.basket)

    def party_id(self, which: str) -> ColumnElement[Any]:
        party = getattr(self.mapping, which)
        return literal(None) if party.id is None else self.basket.c[party.id]

    def party_name(self, which: str) -> ColumnElement[Any]:
        party = getattr(self.mapping, which)
        table = self.party_table(which)
        columns = [table.c[name] for name in party.name_columns()]
        if not columns:
            return literal(None)
        if len(columns) == 1:
            return columns[0]
        joined: ColumnElement[Any] = func.coalesce(columns[0], "")
        for column in columns[1:]:
            joined = joined + " " + func.coalesce(column, "")
        return func.nullif(func.trim(joined), "")

    def party_email(self, which: str) -> ColumnElement[Any]:
        party = getattr(self.mapping, which)
        return literal(None) if party.email is None else self.party_table(which).c[party.email]

    def joined(self, *columns: Any) -> Any:
        """`columns` from the basket table outer-joined to the account tables the mapping names."""
        query = select(*columns).select_from(self.basket)
        for which, table in self.party_tables.items():
            party = getattr(self.mapping, which)
            query = query.outerjoin(table, table.c[party.key] == self.basket.c[party.id])
        return query

    def overview_columns(self) -> list[ColumnElement[Any]]:
        return [
            self.key.label("basket_id"),
            self.party_name("shop_account").label("shop_account_name"),
            self.party_email("shop_account").label("shop_account_email"),
            self.party_id("account").label("account_id"),
            self.party_name("account").label("account_name"),
            self.party_email("account").label("account_email"),
            self.account_type().label("account_type"),
            self.created.label("created_at"),
            self.modified.label("modified_at"),
            self.line_count().label("line_count"),
            self.party_id("shop_account").label("shop_account_id"),
        ]

    def time_value(self, column: Column[Any], value: Any) -> Any:
        """An aware UTC time as `column` compares it: naive UTC for a column without a zone."""
        if getattr(column.type, "timezone", False):
            return value
        return value.replace(tzinfo=None) if value.tzinfo is not None else value

    def where(self, basket_filter: BasketFilter) -> ColumnElement[bool]:
        """The filter over the mapped tables (joined as `joined` joins them)."""
        f = basket_filter
        conditions: list[ColumnElement[bool]] = []
        for name, expression in (
            ("shop_account_name", self.party_name("shop_account")),
            ("shop_account_email", self.party_email("shop_account")),
        ):
            value = getattr(f, name)
            if value is not None:
                conditions.append(func.lower(expression).contains(value.lower(), autoescape=True))
        if f.basket_id is not None:
            conditions.append(self.key == self.bind_keys([self.parse_key(f.basket_id)])[0])
        for name, which in (("shop_account_id", "shop_account"), ("account_id", "account")):
            value = getattr(f, name)
            if value is not None:
                if not self.has_party_id(which):
                    conditions.append(false())
                else:
                    conditions.append(func.lower(_as_text(self.party_id(which))) == str(value).lower())
        if f.account_type is not None:
            conditions.append(self.account_type() == f.account_type.capitalize())
        for name, column, op in (
            ("created_before", self.created, "lt"), ("created_after", self.created, "ge"),
            ("modified_before", self.modified, "lt"), ("modified_after", self.modified, "ge"),
        ):  # fmt: skip
            value = getattr(f, name)
            if value is not None:
                bound = self.time_value(column, value)
                conditions.append(column < bound if op == "lt" else column >= bound)
        return and_(true(), *conditions)


def _python_type(column: Column[Any]) -> Any:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _as_text(column: Any) -> Any:
    from sqlalchemy import String, cast

    return cast(column, String)


def _tables_named(mapping: Mapping) -> list[str]:
    names = [*mapping.owned_tables()]
    for party in (mapping.shop_account, mapping.account):
        if party.table is not None:
            names.append(party.table)
    conditions = [rule.when for rule in mapping.account_type.rules]
    if mapping.protect is not None:
        conditions.append(mapping.protect)
    for condition in conditions:
        names.extend(table for table, _ in condition.columns() if table is not None)
    return list(dict.fromkeys(names))


def _columns_named(mapping: Mapping) -> list[tuple[str, str]]:
    """(table, column) of every column the mapping names."""
    b = mapping.basket
    found = [(b.table, b.key), (b.table, b.created), (b.table, b.modified)]
    lines = mapping.lines
    found += [
        (lines.table, name)
        for name in (lines.key, lines.basket_column, lines.product, lines.variant, lines.quantity, lines.unit)
        if name is not None
    ]
    for child in mapping.children:
        found += [
            (child.table, name) for name in (child.key, child.basket_column, child.parent_column) if name
        ]
    for party in (mapping.shop_account, mapping.account):
        if party.id is not None:
            found.append((b.table, party.id))
        home = party.table or b.table
        found += [
            (home, name) for name in (*party.name_columns(), party.email, party.key) if name is not None
        ]
    conditions = [rule.when for rule in mapping.account_type.rules]
    if mapping.protect is not None:
        conditions.append(mapping.protect)
    for condition in conditions:
        found += [(table or b.table, column) for table, column in condition.columns()]
    return found


def _reflect(connection: Connection, metadata: MetaData, name: str) -> Table:
    try:
        table = Table(name, metadata, autoload_with=connection)
    except NoSuchTableError:
        raise WorkerMisconfigured(
            f"schema: table {name} is not in the database (`baskets schema check` compares the mapping "
            "with the tables)"
        ) from None
    # Every column is read and restored, and a name of the suite's own tables would be rendered
    # under the bookkeeping prefix (baskets.schema.prefix).
    clash = sorted(set(table.c.keys()) & set(bookkeeping_identifiers()))
    if clash:
        raise WorkerMisconfigured(
            f"schema: column {name}.{clash[0]} has the name of one of the suite's own tables, which the "
            "suite cannot read or restore (expected a shop table without such a column)"
        )
    return table
