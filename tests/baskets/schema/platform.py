"""What the platform tests (magento2 on MariaDB, saleor on PostgreSQL) share: the platform's own
tables in a fresh server database, initialised through the CLI, and their rows read back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select, text

from baskets.db import make_engine
from tests.conftest import BACKENDS, DatabaseUnderTest, _make_database, add_operators


def mapped_database(database: DatabaseUnderTest, schema: str, prefix: str = "bm_") -> DatabaseUnderTest:
    """`database` reached as the commands reach it with `schema` (a preset or mapping file): the
    suite's own tables under `prefix`. The session's engine keeps the builtin names."""
    from baskets.schema import attach_mapping, load_mapping

    engine = make_engine(database.url)
    attach_mapping(engine, load_mapping(schema), prefix)
    return DatabaseUnderTest(database.backend, database.url, engine, dict(database.env))


def drop_bookkeeping(engine: Engine, prefix: str = "bm_") -> None:
    """Drop the suite's own tables under `prefix` (a server database outlives its test)."""
    from baskets.schema.prefix import TABLES, VERSION_TABLE

    with engine.begin() as connection:
        for name in (*TABLES, VERSION_TABLE):
            connection.execute(text(f"DROP TABLE IF EXISTS {prefix}{name}"))


def platform_database(
    cli: Any,
    tmp_path: Path,
    backend: str,
    preset: str,
    metadata: MetaData,
    fill: Callable[[Engine, MetaData], None],
) -> Iterator[tuple[DatabaseUnderTest, MetaData, dict[str, str]]]:
    """The platform's tables created and filled on `backend`, `baskets init` run with `preset`, the
    test operators added; the tables and the suite's bm_ tables dropped afterwards. Skips when `backend` is not under test."""
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not among the backends under test")
    for database in _make_database(backend, tmp_path):
        metadata.drop_all(database.engine)
        metadata.create_all(database.engine)
        mapped = mapped_database(database, preset)
        try:
            fill(database.engine, metadata)
            env = {"BASKETS_DATABASE_URL": database.url, "BASKETS_SCHEMA": preset}
            result = cli("init", env=env)
            assert result.exit_code == 0, result.stderr
            add_operators(mapped)
            yield database, metadata, env
        finally:
            mapped.engine.dispose()
            metadata.drop_all(database.engine)
            drop_bookkeeping(database.engine)


def table_rows(engine: Engine, metadata: MetaData, names: Iterable[str]) -> dict[str, list[tuple]]:
    """Every row of each named table, in primary-key order."""
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(
                select(metadata.tables[name]).order_by(*metadata.tables[name].primary_key))]
            for name in names
        }  # fmt: skip
