"""The suite's own tables under a prefix on a mapped database (docs/decisions/0020).

On the shop's database the suite's bookkeeping tables (operators, basket_audit, audit_chain_head,
cleanup_runs, alembic_version) are named `bookkeeping_prefix` + name (`bm_operators`, ...), so they
never meet a shop table of the same name. The models keep their builtin names: the engine's dialect
renders them renamed. SQLAlchemy writes every table, index and constraint name of every statement
and DDL through `dialect.identifier_preparer.quote()`, and an engine has its own dialect and its
own compiled-statement cache; so `use_prefix` gives the engine a preparer whose `quote()` renames
exactly the bookkeeping identifiers (`bookkeeping_renames`). Names that are values rather than SQL
(the inspector's `has_table`, Alembic's version table) go through `bookkeeping_name`; raw SQL
quotes its table name with the connection's preparer.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import IdentifierPreparer

DEFAULT_PREFIX = "bm_"
TABLES = ("operators", "basket_audit", "audit_chain_head", "cleanup_runs")
VERSION_TABLE = "alembic_version"
# PostgreSQL's limit on a name (MariaDB's is 64): every prefixed identifier stays within it.
MAX_IDENTIFIER = 63

_lock = threading.Lock()


@functools.cache
def bookkeeping_identifiers() -> tuple[str, ...]:
    """Every name the suite's own tables bring: the tables, their index and constraint names
    (named by the models' naming convention after their table), and Alembic's version table."""
    from baskets.models import Base

    names: list[str] = []
    for table_name in TABLES:
        table = Base.metadata.tables[table_name]
        names.append(table_name)
        items: list[Any] = [*table.indexes, *table.constraints]
        names += sorted(str(item.name) for item in items if item.name)
    return (*names, VERSION_TABLE)


@functools.cache
def bookkeeping_renames(prefix: str) -> dict[str, str]:
    """Each bookkeeping identifier and its name under `prefix`: a table `t` becomes prefix + t, an
    index or constraint `ix_t_col` becomes `ix_` + prefix + `t_col` (as if its table were named so)."""
    if not prefix:
        return {}
    renames = {name: prefix + name for name in (*TABLES, VERSION_TABLE)}
    for name in bookkeeping_identifiers():
        if name not in renames:
            table = next(table for table in sorted(TABLES, key=len, reverse=True) if table in name)
            renames[name] = name.replace(table, prefix + table, 1)
    return renames


def longest_identifier() -> int:
    """Length of the longest bookkeeping identifier before its prefix."""
    return max(len(name) for name in bookkeeping_identifiers())


def max_prefix_length() -> int:
    """The longest prefix with which every prefixed identifier fits PostgreSQL's and MariaDB's limit."""
    return MAX_IDENTIFIER - longest_identifier()


class _Renaming:
    """Mixed into a dialect's own preparer: `quote()` renames the bookkeeping identifiers first."""

    renames: dict[str, str] = {}
    prefix: str = ""

    def quote(self, ident: str) -> str:
        renamed = self.renames.get(ident)
        return super().quote(ident if renamed is None else renamed)  # type: ignore[misc]


_classes: dict[tuple[type[IdentifierPreparer], str], type[IdentifierPreparer]] = {}


def _renaming_class(base: type[IdentifierPreparer], prefix: str) -> type[IdentifierPreparer]:
    """The dialect's preparer class renaming under `prefix` (one class per dialect and prefix)."""
    with _lock:
        if (base, prefix) not in _classes:
            _classes[base, prefix] = type(
                f"Prefixed{base.__name__}",
                (_Renaming, base),
                {"renames": bookkeeping_renames(prefix), "prefix": prefix, "_unprefixed": base},
            )
        return _classes[base, prefix]


def _unprefixed(kind: type[IdentifierPreparer]) -> type[IdentifierPreparer]:
    return getattr(kind, "_unprefixed", kind)


def prefix_dialect(dialect: Dialect, prefix: str) -> None:
    """Make `dialect` render the bookkeeping identifiers under `prefix` ("": their builtin names),
    now and after it rebuilds its preparer on first connect (MariaDB does, for its quoting mode)."""
    preparer = dialect.identifier_preparer
    base = _unprefixed(type(preparer))
    kind = _renaming_class(base, prefix) if prefix else base
    dialect.preparer = kind  # type: ignore[misc]
    preparer.__class__ = kind
    preparer._strings = {}


def use_prefix(engine: Engine, prefix: str) -> None:
    """Put the suite's own tables of `engine`'s database under `prefix` ("": builtin names).
    Statements compiled before are dropped from the engine's cache."""
    if dialect_prefix(engine.dialect) != prefix:
        prefix_dialect(engine.dialect, prefix)
        engine.clear_compiled_cache()


def dialect_prefix(dialect: Dialect) -> str:
    return str(getattr(dialect.identifier_preparer, "prefix", ""))


def bookkeeping_name(bind: Engine | Connection | Dialect, name: str) -> str:
    """The name the bookkeeping table or identifier `name` has in `bind`'s database, unquoted
    (for the inspector and Alembic, which take names as values)."""
    dialect: Any = bind if isinstance(bind, Dialect) else bind.dialect
    renames: dict[str, str] = getattr(dialect.identifier_preparer, "renames", {})
    return renames.get(name, name)


def is_bookkeeping(name: str, prefix: str) -> bool:
    """Whether a table named `name` in the database is one of the suite's own under `prefix`."""
    return name in {prefix + table for table in (*TABLES, VERSION_TABLE)}
