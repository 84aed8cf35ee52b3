"""`baskets schema check`: does a mapping fit the live database? Read-only (SQLAlchemy's inspector).

Reports the mapped tables and columns that are missing, columns whose type does not fit their
role, foreign keys whose delete rule contradicts the mapping, tables that refer to a basket's
rows but that the mapping forgot, and the indexes a cleanup needs but the shop lacks, each with
the CREATE INDEX statement to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Numeric,
    String,
    Uuid,
    inspect,
)
from sqlalchemy.engine import Inspector

from baskets.models import BASKET_KEY_MAX
from baskets.schema.mapped import _columns_named, _tables_named
from baskets.schema.model import Mapping
from baskets.schema.prefix import DEFAULT_PREFIX, is_bookkeeping


@dataclass
class MissingIndex:
    table: str
    column: str
    create: str  # the CREATE INDEX statement to run


@dataclass
class SchemaCheck:
    mapping: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_indexes: list[MissingIndex] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.problems and not self.missing_indexes


def check_mapping(engine: Engine, mapping: Mapping, prefix: str = DEFAULT_PREFIX) -> SchemaCheck:
    """Compare `mapping` with the database `engine` is on, reading its catalogue only; the suite's
    own tables (named under `prefix`, `baskets.schema.prefix`) are not the shop's and not looked at."""
    result = SchemaCheck(mapping=mapping.name)
    inspector = inspect(engine)
    existing = {name for name in inspector.get_table_names() if not is_bookkeeping(name, prefix)}
    columns: dict[str, dict[str, Any]] = {}
    for table in _tables_named(mapping):
        if table not in existing:
            result.problems.append(f"table {table}: not in the database")
            continue
        columns[table] = {column["name"]: column for column in inspector.get_columns(table)}
    for table, column in dict.fromkeys(_columns_named(mapping)):
        if table in columns and column not in columns[table]:
            result.problems.append(f"column {table}.{column}: not in the database")
    if result.problems:
        return result
    _check_types(mapping, columns, result)
    foreign_keys: dict[str, list[dict[str, Any]]] = {
        table: [dict(fk) for fk in inspector.get_foreign_keys(table)] for table in existing
    }
    _check_delete_rules(mapping, foreign_keys, result)
    _check_forgotten(mapping, foreign_keys, result)
    _check_indexes(mapping, inspector, engine, result)
    return result


def _kind(column: dict[str, Any]) -> type | None:
    declared = column["type"]
    for kind in (Uuid, DateTime, Date, Integer, Numeric, Float, String):
        if isinstance(declared, kind):
            return kind
    return None


def _check_types(mapping: Mapping, columns: dict[str, dict[str, Any]], result: SchemaCheck) -> None:
    basket = mapping.basket
    key = columns[basket.table][basket.key]
    wanted = {"integer": (Integer,), "guid": (Uuid, String), "text": (String,)}[basket.key_type]
    if _kind(key) not in wanted:
        result.problems.append(
            f"column {basket.table}.{basket.key}: type {key['type']} does not hold a {basket.key_type} key "
            "(basket.key_type)"
        )
    elif (
        basket.key_type == "text"
        and (getattr(key["type"], "length", None) or BASKET_KEY_MAX + 1) > BASKET_KEY_MAX
    ):
        result.notes.append(
            f"column {basket.table}.{basket.key}: type {key['type']} allows keys longer than the "
            f"{BASKET_KEY_MAX} characters the audit log keeps: a basket with a longer key is never deleted"
        )
    for role, name in (("basket.created", basket.created), ("basket.modified", basket.modified)):
        if _kind(columns[basket.table][name]) not in (DateTime, Date):
            result.problems.append(
                f"column {basket.table}.{name}: type {columns[basket.table][name]['type']} "
                f"is not a time ({role})"
            )
    for child in mapping.children:
        if child.delete == "set_null" and not columns[child.table][str(child.basket_column)]["nullable"]:
            result.problems.append(
                f"column {child.table}.{child.basket_column}: NOT NULL, so its rows cannot outlive the "
                'basket (children.delete = "set_null"; expected "explicit" or "cascade")'
            )
    quantity = columns[mapping.lines.table][mapping.lines.quantity]
    if _kind(quantity) not in (Integer, Numeric, Float):
        result.problems.append(
            f"column {mapping.lines.table}.{mapping.lines.quantity}: type {quantity['type']} "
            "is not a number (lines.quantity)"
        )


def _links(mapping: Mapping) -> list[tuple[str, str, str, str, str]]:
    """(child table, its column, parent table, parent key, delete rule) of every owned table."""
    links: list[tuple[str, str, str, str, str]] = []
    for child in mapping.child_links():
        if child.basket_column is not None:
            links.append(
                (child.table, child.basket_column, mapping.basket.table, mapping.basket.key, child.delete)
            )
        else:
            parent = next(link for link in mapping.child_links() if link.table == child.parent)
            links.append((child.table, str(child.parent_column), parent.table, parent.key, child.delete))
    return links


def _check_delete_rules(
    mapping: Mapping, foreign_keys: dict[str, list[dict[str, Any]]], result: SchemaCheck
) -> None:
    for table, column, parent, parent_key, rule in _links(mapping):
        found = [
            fk
            for fk in foreign_keys.get(table, [])
            if fk["referred_table"] == parent and fk["constrained_columns"] == [column]
        ]
        cascades = any((fk.get("options") or {}).get("ondelete", "").upper() == "CASCADE" for fk in found)
        if rule == "cascade" and not cascades:
            result.problems.append(
                f"table {table}: the mapping says cascade, but no foreign key "
                f"{table}.{column} -> {parent}.{parent_key} "
                'has ON DELETE CASCADE (expected delete = "explicit")'
            )
        elif rule == "set_null" and cascades:
            result.problems.append(
                f"table {table}: the mapping says set_null, but its foreign key {table}.{column} -> "
                f"{parent}.{parent_key} has ON DELETE CASCADE: its rows would not outlive the basket "
                '(expected delete = "cascade")'
            )
        elif rule == "explicit" and cascades:
            result.notes.append(f"table {table}: deleted explicitly, though its foreign key cascades as well")
        if not found:
            result.notes.append(
                f"table {table}: no foreign key {column} -> {parent}.{parent_key} (the mapping links them)"
            )


def _check_forgotten(
    mapping: Mapping, foreign_keys: dict[str, list[dict[str, Any]]], result: SchemaCheck
) -> None:
    owned = set(mapping.owned_tables())
    # Rows of a set_null table outlive the basket: what refers to them is not in the way.
    deleted = owned - {child.table for child in mapping.children if child.delete == "set_null"}
    guarded = set()
    if mapping.protect is not None:
        guarded = {table for table, _ in mapping.protect.columns() if table is not None}
    for table, keys in sorted(foreign_keys.items()):
        if table in owned:
            continue
        for fk in keys:
            if fk["referred_table"] not in deleted:
                continue
            rule = (fk.get("options") or {}).get("ondelete", "").upper()
            where = f"{table}.{', '.join(fk['constrained_columns'])} -> {fk['referred_table']}"
            if table in guarded:
                result.notes.append(
                    f"table {table}: refers to a basket's rows ({where}); "
                    "the protect condition keeps those baskets"
                )
            elif rule in ("SET NULL", "SET DEFAULT"):
                result.notes.append(
                    f"table {table}: refers to a basket's rows ({where}, ON DELETE {rule}): "
                    "the database updates it"
                )
            else:
                result.problems.append(
                    f"table {table}: refers to a basket's rows ({where}, ON DELETE {rule or 'NO ACTION'}) "
                    "but the mapping "
                    "does not list it (add it under [[children]], or to protect)"
                )


def _check_indexes(mapping: Mapping, inspector: Inspector, engine: Engine, result: SchemaCheck) -> None:
    needed = [(mapping.basket.table, mapping.basket.modified)]
    needed += [(table, column) for table, column, *_ in _links(mapping)]
    if mapping.protect is not None and mapping.protect.exists is not None:
        needed.append((mapping.protect.exists.table, mapping.protect.exists.column))
    for condition in (mapping.protect.any or []) + (mapping.protect.all or []) if mapping.protect else []:
        if condition.exists is not None:
            needed.append((condition.exists.table, condition.exists.column))
    quote = engine.dialect.identifier_preparer.quote
    for table, column in dict.fromkeys(needed):
        leading = {
            index["column_names"][0] for index in inspector.get_indexes(table) if index["column_names"]
        }
        primary = inspector.get_pk_constraint(table).get("constrained_columns") or []
        if column in leading or primary[:1] == [column]:
            continue
        name = f"bm_ix_{table}_{column}"[:63]
        result.missing_indexes.append(
            MissingIndex(table, column, f"CREATE INDEX {quote(name)} ON {quote(table)} ({quote(column)});")
        )
