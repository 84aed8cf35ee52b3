"""A shop database that has tables of its own named like the suite's (operators, basket_audit,
cleanup_runs, alembic_version), with the shop's data in them, beside its basket tables: on SQLite
the small shop (shop.py), on MariaDB Magento's quote tables, on PostgreSQL Saleor's checkouts.
Server databases are fresh ones, not the session's (which has the builtin tables)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url

from baskets.db import make_engine
from tests.baskets.schema.magento2 import fill_magento, magento_metadata
from tests.baskets.schema.saleor import CUSTOMER, fill_saleor, saleor_metadata
from tests.baskets.schema.shop import build_shop
from tests.baskets.schema.shop import metadata as shop_metadata
from tests.conftest import BACKENDS, SERVER_URLS

namesakes = MetaData()
Table(
    "operators", namesakes,
    Column("id", Integer, primary_key=True), Column("login", String(50)), Column("can_refund", Boolean),
)  # fmt: skip
Table(
    "basket_audit", namesakes,
    Column("id", Integer, primary_key=True), Column("cart_ref", String(40)), Column("change", Text),
    Column("at", DateTime),
)  # fmt: skip
Table("cleanup_runs", namesakes, Column("id", Integer, primary_key=True), Column("job", String(50)))
Table("alembic_version", namesakes, Column("version_num", String(32), primary_key=True))
NAMESAKE_ROWS: dict[str, list[dict[str, Any]]] = {
    "operators": [{"id": 1, "login": "shop-admin", "can_refund": True}, {"id": 2, "login": "clerk", "can_refund": False}],
    "basket_audit": [{"id": 7, "cart_ref": "10", "change": "coupon added", "at": dt.datetime(2026, 1, 2, 3, 4)}],
    "cleanup_runs": [{"id": 3, "job": "image-cache"}],
    "alembic_version": [{"version_num": "shop_4f2a91"}],
}  # fmt: skip


@dataclass
class NamesakeShop:
    """The shop's database: its URL, an engine that sees the tables by their own names, the value
    of `schema` for it, a basket that can be deleted and restored, and the shop's basket tables."""

    backend: str
    url: str
    engine: Engine
    schema: str
    basket: str
    now: str
    shop: MetaData


def _fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'shop.db'}"
        return
    name = f"bm_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(SERVER_URLS[backend]), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        charset = " CHARACTER SET utf8mb4" if backend == "mariadb" else ""
        connection.execute(text(f"CREATE DATABASE {name}{charset}"))
    try:
        yield make_url(SERVER_URLS[backend]).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def namesake_shop(backend: str, tmp_path: Path) -> Iterator[NamesakeShop]:
    """The shop on `backend` with its namesake tables filled; skipped when `backend` is not tested."""
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not among the backends under test")
    for url in _fresh_database(backend, tmp_path):
        engine = make_engine(url)
        try:
            namesakes.create_all(engine)
            with engine.begin() as connection:
                for name, rows in NAMESAKE_ROWS.items():
                    connection.execute(insert(namesakes.tables[name]), rows)
            if backend == "sqlite":
                schema = str(build_shop(engine, tmp_path))
                yield NamesakeShop(backend, url, engine, schema, "10", "2026-11-01T12:00", shop_metadata)
            elif backend == "mariadb":
                metadata = magento_metadata()
                metadata.create_all(engine)
                fill_magento(engine, metadata)
                yield NamesakeShop(backend, url, engine, "magento2", "101", "2026-11-01T12:00", metadata)
            else:
                metadata = saleor_metadata()
                metadata.create_all(engine)
                fill_saleor(engine, metadata)
                yield NamesakeShop(
                    backend, url, engine, "saleor", str(CUSTOMER), "2026-11-01T12:00", metadata
                )
        finally:
            engine.dispose()


def namesake_state(engine: Engine) -> dict[str, Any]:
    """The namesake tables as they are: their columns (name and type) and every row."""
    inspector = inspect(engine)
    with engine.connect() as connection:
        return {
            name: (
                [(column["name"], str(column["type"])) for column in inspector.get_columns(name)],
                [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))],
            )
            for name, table in namesakes.tables.items()
        }


def table_rows(engine: Engine, metadata: MetaData) -> dict[str, list[tuple]]:
    """Every row of each of the shop's basket tables (and the tables they refer to)."""
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
            for name, table in metadata.tables.items()
        }
