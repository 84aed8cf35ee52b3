"""On a shop that has its own operators, basket_audit, cleanup_runs and alembic_version tables,
every command keeps the suite's bookkeeping in bm_ tables (or another prefix) and never touches
the shop's namesakes: SQLite (a small shop), MariaDB (Magento), PostgreSQL (Saleor)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from baskets.db import SCHEMA_REVISION
from tests.baskets.schema.namesakes import (
    NamesakeShop,
    namesake_shop,
    namesake_state,
    namesakes,
    table_rows,
)

BOOKKEEPING = ("operators", "basket_audit", "audit_chain_head", "cleanup_runs", "alembic_version")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NamesakeShop]:
    yield from namesake_shop(request.param, tmp_path)


def _count(shop: NamesakeShop, table: str) -> int:
    with shop.engine.connect() as connection:
        return int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


def _init(cli, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    first = cli("init", "--json", env=env)
    assert first.exit_code == 0, first.stderr
    assert first.json()["revision_before"] is None and first.json()["revision"] == SCHEMA_REVISION
    again = cli("init", "--json", env=env)
    assert again.exit_code == 0, again.stderr
    assert again.json()["revision_before"] == again.json()["revision"] == SCHEMA_REVISION
    added = cli("operators", "add", "alice", "--role", "system_administrator", env=env)
    assert added.exit_code == 0, added.stderr
    other = cli("operators", "add", "bob", "--role", "order_processor", "--as", "alice", env=env)
    assert other.exit_code == 0, other.stderr


def test_every_command_keeps_to_the_bm_tables_and_leaves_the_shops_namesakes_alone(
    cli, shop: NamesakeShop, tmp_path: Path, prefect_harness: None
) -> None:  # type: ignore[no-untyped-def]
    env = {"BASKETS_DATABASE_URL": shop.url, "BASKETS_SCHEMA": shop.schema}
    namesakes_before = namesake_state(shop.engine)
    _init(cli, env)
    created = set(inspect(shop.engine).get_table_names()) - set(shop.shop.tables) - set(namesakes.tables)
    assert created == {f"bm_{name}" for name in BOOKKEEPING}
    listed = cli("operators", "list", "--as", "alice", "--json", env=env)
    assert [row["name"] for row in listed.json()["operators"]] == ["alice", "bob"]
    baskets = cli("list", "--json", "--as", "alice", env=env)
    assert shop.basket in {row["basket_id"] for row in baskets.json()["baskets"]}
    before = table_rows(shop.engine, shop.shop)
    deleted = cli("delete", shop.basket, "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stderr
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0
    shown = cli("audit", "show", shop.basket, "--as", "alice", "--json", env=env)
    assert shown.exit_code == 0 and [event["event"] for event in shown.json()["events"]] == ["deleted"]
    restored = cli("restore", shop.basket, "--as", "alice", "--json", env=env)
    assert restored.exit_code == 0, restored.stderr
    assert table_rows(shop.engine, shop.shop) == before
    report = cli("audit", "report", "--as", "alice", "--format", "csv", "--output", str(tmp_path / "r.csv"),
                 "--since", "2000-01-01", env=env)  # fmt: skip
    assert report.exit_code == 0, report.stderr
    exported = cli("export", "--as", "alice", "--output", str(tmp_path / "out.csv"), env=env)
    assert exported.exit_code == 0, exported.stderr
    for extra in (["--dry-run"], []):
        run = cli("cleanup", "--as", "alice", "--now", shop.now, "--force", "--json", *extra, env=env)
        assert run.exit_code == 0, run.stdout + run.stderr
    assert cli("audit", "verify", "--as", "alice", env=env).exit_code == 0
    status = cli("status", "--json", env=env)
    assert status.exit_code in (0, 1), status.stderr  # 1: unhealthy for another reason than the tables
    check = cli("schema", "check", "--json", env=env)
    assert check.exit_code in (0, 2) and check.json()["problems"] == [], check.stdout
    assert not [note for note in check.json()["notes"] if "bm_" in note or "operators" in note]
    assert namesake_state(shop.engine) == namesakes_before
    assert (
        set(inspect(shop.engine).get_table_names()) - set(shop.shop.tables) - set(namesakes.tables) == created
    )
    assert _count(shop, "bm_operators") == 2 and _count(shop, "bm_cleanup_runs") == 2
    assert _count(shop, "bm_basket_audit") >= 2  # deleted and restored, and what the cleanup deleted
    with shop.engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM bm_alembic_version")) == SCHEMA_REVISION


def test_a_prefix_of_the_shops_choosing_names_the_suites_tables(
    cli, shop: NamesakeShop, prefect_harness: None
) -> None:  # type: ignore[no-untyped-def]
    env = {
        "BASKETS_DATABASE_URL": shop.url,
        "BASKETS_SCHEMA": shop.schema,
        "BASKETS_BOOKKEEPING_PREFIX": "shop_audit_",
    }
    namesakes_before = namesake_state(shop.engine)
    _init(cli, env)
    created = set(inspect(shop.engine).get_table_names()) - set(shop.shop.tables) - set(namesakes.tables)
    assert created == {f"shop_audit_{name}" for name in BOOKKEEPING}
    deleted = cli("delete", shop.basket, "--as", "alice", "--json", env=env)
    assert deleted.exit_code == 0, deleted.stderr
    assert _count(shop, "shop_audit_basket_audit") == 1
    # The default prefix is another bookkeeping: not initialised there.
    other = cli("list", "--as", "alice", env={**env, "BASKETS_BOOKKEEPING_PREFIX": "bm_"})
    assert other.exit_code == 1 and "run `baskets init` first" in other.stderr
    assert namesake_state(shop.engine) == namesakes_before


def test_a_bad_prefix_is_refused_before_anything_is_created(cli, shop: NamesakeShop) -> None:  # type: ignore[no-untyped-def]
    env = {"BASKETS_DATABASE_URL": shop.url, "BASKETS_SCHEMA": shop.schema}
    tables = set(inspect(shop.engine).get_table_names())
    for value in ("BM_", "bm;drop table operators;", "x" * 10_000):
        result = cli("init", env={**env, "BASKETS_BOOKKEEPING_PREFIX": value})
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "bookkeeping_prefix" in result.stderr and "Traceback" not in result.stderr
    assert set(inspect(shop.engine).get_table_names()) == tables
