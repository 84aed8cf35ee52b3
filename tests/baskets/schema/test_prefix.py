"""The suite's own tables under a prefix: which names are renamed, per engine, in every dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from baskets.db import make_engine
from baskets.errors import WorkerMisconfigured
from baskets.models import BasketAudit, CleanupRun, Operator
from baskets.schema import attach_mapping, load_mapping, mapped_schema
from baskets.schema.prefix import (
    bookkeeping_identifiers,
    bookkeeping_name,
    bookkeeping_renames,
    max_prefix_length,
    prefix_dialect,
    use_prefix,
)
from config.settings.common import MAX_BOOKKEEPING_PREFIX
from tests.baskets.schema.shop import build_shop


def test_the_tables_their_indexes_and_alembic_version_are_renamed() -> None:
    assert bookkeeping_renames("bm_") == {
        "operators": "bm_operators", "basket_audit": "bm_basket_audit",
        "audit_chain_head": "bm_audit_chain_head", "cleanup_runs": "bm_cleanup_runs",
        "alembic_version": "bm_alembic_version",
        "pk_operators": "pk_bm_operators", "pk_basket_audit": "pk_bm_basket_audit",
        "ix_basket_audit_basket_id": "ix_bm_basket_audit_basket_id",
        "ix_basket_audit_occurred_at": "ix_bm_basket_audit_occurred_at",
        "ix_basket_audit_redacted_at_occurred_at": "ix_bm_basket_audit_redacted_at_occurred_at",
        "pk_audit_chain_head": "pk_bm_audit_chain_head", "pk_cleanup_runs": "pk_bm_cleanup_runs",
        "ix_cleanup_runs_started_at": "ix_bm_cleanup_runs_started_at",
    }  # fmt: skip
    assert bookkeeping_renames("") == {}


def test_the_longest_prefix_keeps_every_name_within_postgresqls_63_characters() -> None:
    assert max_prefix_length() == MAX_BOOKKEEPING_PREFIX
    longest = bookkeeping_renames("x" * MAX_BOOKKEEPING_PREFIX).values()
    assert max(len(name) for name in longest) == 63


def test_no_column_of_the_suites_tables_is_renamed() -> None:
    for model in (Operator, BasketAudit, CleanupRun):
        assert not set(model.__table__.c.keys()) & set(bookkeeping_identifiers())


@pytest.mark.parametrize(
    "dialect",
    [sqlite.dialect(), postgresql.dialect(), mysql.dialect(is_mariadb=True)],
    ids=["sqlite", "postgresql", "mariadb"],
)
def test_every_dialect_renders_the_tables_indexes_and_qualified_columns_renamed(dialect: object) -> None:
    prefix_dialect(dialect, "bm_")  # type: ignore[arg-type]
    audit = BasketAudit.__table__
    ddl = str(CreateTable(audit).compile(dialect=dialect))  # type: ignore[arg-type]
    assert "CREATE TABLE bm_basket_audit" in ddl and "CONSTRAINT pk_bm_basket_audit" in ddl
    index = next(index for index in audit.indexes if index.name == "ix_basket_audit_basket_id")
    assert "ix_bm_basket_audit_basket_id ON bm_basket_audit" in str(
        CreateIndex(index).compile(dialect=dialect)
    )  # type: ignore[arg-type]
    query = str(select(BasketAudit.seq).where(BasketAudit.event == "deleted").compile(dialect=dialect))  # type: ignore[arg-type]
    assert "FROM bm_basket_audit" in query and "bm_basket_audit.event" in query
    # MariaDB builds a new preparer on its first connection (its quoting mode): still renaming.
    dialect.identifier_preparer = dialect.preparer(dialect)  # type: ignore[attr-defined]
    assert dialect.identifier_preparer.quote("operators") == "bm_operators"  # type: ignore[attr-defined]
    prefix_dialect(dialect, "")  # type: ignore[arg-type]
    assert str(CreateTable(audit).compile(dialect=dialect)).strip().startswith("CREATE TABLE basket_audit")  # type: ignore[arg-type]


def test_one_statement_runs_on_each_engines_own_names(tmp_path: Path) -> None:
    """Each engine compiles (and caches) the same statement object for its own tables."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    plain, prefixed = make_engine(url), make_engine(url)
    use_prefix(prefixed, "shop_audit_")
    names = select(Operator.name)
    for engine, who in ((prefixed, "bm-alice"), (plain, "builtin-bob")):
        with engine.begin() as connection:
            Operator.__table__.create(connection)
            connection.execute(insert(Operator).values(name=who, role="system_administrator"))
    for engine, who in ((prefixed, "bm-alice"), (plain, "builtin-bob"), (prefixed, "bm-alice")):
        with engine.connect() as connection:
            assert list(connection.scalars(names)) == [who]
    assert {"operators", "shop_audit_operators"} <= set(inspect(plain).get_table_names())
    assert bookkeeping_name(prefixed, "operators") == "shop_audit_operators"
    assert bookkeeping_name(plain, "operators") == "operators"
    use_prefix(prefixed, "")  # statements compiled under the prefix are not reused
    with prefixed.connect() as connection:
        assert list(connection.scalars(names)) == ["builtin-bob"]
    plain.dispose()
    prefixed.dispose()


def test_the_snapshots_literal_sql_names_the_engines_tables(tmp_path: Path) -> None:
    from baskets.backends import backend_for

    engine = make_engine(f"sqlite:///{tmp_path / 'lit.db'}")
    use_prefix(engine, "bm_")
    sql = backend_for(engine).literal_sql(select(BasketAudit.seq), engine)
    assert "FROM bm_basket_audit" in sql
    assert "FROM basket_audit" in backend_for(engine).literal_sql(select(BasketAudit.seq))
    engine.dispose()


def _shop(tmp_path: Path) -> tuple[Engine, str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    return engine, str(build_shop(engine, tmp_path))


def test_a_shop_column_named_like_the_suites_tables_is_refused(tmp_path: Path) -> None:
    engine, mapping = _shop(tmp_path)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE cart_note ADD COLUMN operators INTEGER"))
    attach_mapping(engine, load_mapping(mapping))
    with pytest.raises(WorkerMisconfigured) as refused:
        mapped_schema(engine)
    assert str(refused.value).startswith("schema: column cart_note.operators has the name of one of")
    engine.dispose()


def test_init_never_adopts_a_shop_table_with_a_prefixed_name(tmp_path: Path) -> None:
    from baskets.schema.bookkeeping import init_bookkeeping

    engine, mapping = _shop(tmp_path)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE bm_cleanup_runs (id INTEGER PRIMARY KEY, job TEXT)"))
    attach_mapping(engine, load_mapping(mapping))
    schema = mapped_schema(engine)
    assert schema is not None
    with pytest.raises(WorkerMisconfigured) as refused:
        init_bookkeeping(engine, schema)
    assert str(refused.value) == (
        "bookkeeping_prefix: the database already has a table bm_cleanup_runs that `baskets init` did "
        "not create (expected a prefix no table of the shop starts with, e.g. bm_)"
    )
    assert not {"bm_operators", "bm_alembic_version"} & set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_builtin_schema_keeps_the_plain_names_whatever_the_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baskets.db import engine_for_settings
    from config.settings import load_settings

    monkeypatch.setenv("BASKETS_DATABASE_URL", f"sqlite:///{tmp_path / 'builtin.db'}")
    monkeypatch.setenv("BASKETS_BOOKKEEPING_PREFIX", "shop_audit_")
    engine = engine_for_settings(load_settings())
    assert bookkeeping_name(engine, "alembic_version") == "alembic_version"
    assert str(select(Operator.name).compile(engine)) == "SELECT operators.name \nFROM operators"
    _, mapping = _shop(tmp_path)
    monkeypatch.setenv("BASKETS_SCHEMA", mapping)
    mapped = engine_for_settings(load_settings())
    assert bookkeeping_name(mapped, "alembic_version") == "shop_audit_alembic_version"
    engine.dispose()
    mapped.dispose()


def test_schema_check_leaves_the_suites_own_tables_out(tmp_path: Path) -> None:
    from baskets.schema.check import check_mapping

    engine, mapping = _shop(tmp_path)
    with engine.begin() as connection:
        for name in ("bm_basket_audit", "shop_audit_basket_audit", "cart_coupon"):
            connection.execute(
                text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, cart_id INTEGER REFERENCES cart (id))")
            )
    problems = " ".join(check_mapping(engine, load_mapping(mapping)).problems)
    assert (
        "table cart_coupon: refers to a basket's rows" in problems and "table bm_basket_audit" not in problems
    )
    assert "table shop_audit_basket_audit" in problems  # a shop table, under another prefix
    problems = " ".join(check_mapping(engine, load_mapping(mapping), "shop_audit_").problems)
    assert "table bm_basket_audit" in problems and "shop_audit_" not in problems
    engine.dispose()
