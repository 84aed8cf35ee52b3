"""Schema: Alembic migrations from empty, idempotent, with the indexes the queries rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import OperationalError

from baskets.db import (
    check_schema,
    head_revision,
    is_transaction_conflict,
    make_engine,
    upgrade_database,
    write_transaction,
)
from baskets.errors import BasketsError
from baskets.models import Basket
from tests.conftest import NOW, DatabaseUnderTest, seed


def test_migrations_create_every_table_with_the_named_indexes(db: DatabaseUnderTest) -> None:
    inspector = inspect(db.engine)
    assert set(inspector.get_table_names()) >= {
        "shop_accounts", "accounts", "baskets", "basket_lines", "operators",
        "basket_audit", "audit_chain_head", "cleanup_runs", "alembic_version",
    }  # fmt: skip
    basket_indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("baskets")}
    assert basket_indexes["ix_baskets_modified_at"] == ["modified_at"]
    line_indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("basket_lines")}
    assert line_indexes["ix_basket_lines_basket_id"] == ["basket_id"]
    foreign_keys = inspector.get_foreign_keys("basket_lines")
    assert foreign_keys[0]["referred_table"] == "baskets"
    assert foreign_keys[0]["options"].get("ondelete") == "CASCADE"
    # A basket may outlive its shop account: no foreign key from baskets.
    assert inspector.get_foreign_keys("baskets") == []


def test_upgrade_twice_is_a_no_op(db: DatabaseUnderTest) -> None:
    before, after = upgrade_database(db.engine)
    assert before == after == head_revision()
    check_schema(db.engine)
    assert db.scalar("select count(*) from audit_chain_head") == 1


def test_init_from_any_folder_creates_the_default_sqlite_file_there(cli, tmp_path: Path) -> None:
    first = cli("init", "--json")
    second = cli("init", "--json")
    assert first.exit_code == second.exit_code == 0
    assert first.json()["revision_before"] is None
    assert first.json()["revision"] == second.json()["revision_before"] == head_revision()
    assert (tmp_path / "var" / "baskets.db").is_file()


def test_commands_on_an_uninitialised_database_ask_for_init(cli, tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()  # there, but never initialised (a missing file: exit 2)
    result = cli("list", "--as", "alice", "--database-url", f"sqlite:///{tmp_path}/empty.db")
    assert result.exit_code == 1
    assert "run `baskets init` first" in result.stderr


def test_unreachable_server_is_one_line_not_a_traceback(cli) -> None:
    result = cli("init", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the database:")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_schema_refuses_an_empty_database(tmp_path: Path) -> None:
    from baskets.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/blank.db")
    with pytest.raises(BasketsError, match=f"schema is at nothing, not {head_revision()}"):
        check_schema(engine)


def test_schema_revision_constant_is_alembics_head() -> None:
    from baskets.db import SCHEMA_REVISION

    assert head_revision() == SCHEMA_REVISION


def test_a_database_behind_the_shipped_schema_is_refused(db: DatabaseUnderTest) -> None:
    from baskets.db import SCHEMA_REVISION

    with db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    try:
        with pytest.raises(BasketsError, match="schema is at 0000, not .*run `baskets init` first"):
            check_schema(db.engine)
    finally:  # the server databases are shared by the session's tests
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{SCHEMA_REVISION}'")


def test_migration_0002_drops_the_hash_index_and_keeps_the_chain(db: DatabaseUnderTest) -> None:
    """A database written at 0001 (hash unique) upgrades to the head with every audit row intact."""
    from alembic import command

    from baskets.audit import verify_audit_chain_snapshot
    from baskets.db import _alembic_config
    from tests.baskets.legacy_chain import write_legacy_chain

    with db.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0001")
    assert _unique_column_sets(db, "basket_audit") == [["hash"]]
    hashes = write_legacy_chain(db, 4)
    before, after = upgrade_database(db.engine)
    assert (before, after) == ("0001", head_revision())
    assert _unique_column_sets(db, "basket_audit") == []
    report = verify_audit_chain_snapshot(db.engine, hashes[-1])
    assert (report.ok, report.count) == (True, 4)


def _unique_column_sets(database: DatabaseUnderTest, table: str) -> list[list[str]]:
    inspector = inspect(database.engine)
    found = [constraint["column_names"] for constraint in inspector.get_unique_constraints(table)]
    # MariaDB reports a unique constraint as a unique index only.
    found += [ix["column_names"] for ix in inspector.get_indexes(table) if ix["unique"]]
    return sorted({tuple(columns): list(columns) for columns in found}.values())


def test_postgresql_write_transaction_fails_as_a_conflict_on_a_row_changed_since_its_snapshot(
    postgresql_db: DatabaseUnderTest,
) -> None:
    """REPEATABLE READ: what the one-statement delete relies on to never miss a change."""
    seed(postgresql_db, 5)
    engine = postgresql_db.engine
    with engine.connect() as connection:
        basket_id = connection.scalar(select(Basket.id).order_by(Basket.id).limit(1))
    with pytest.raises(OperationalError) as raised, write_transaction(engine) as connection:
        connection.execute(select(func.count()).select_from(Basket))  # takes the snapshot
        with engine.begin() as other:  # the customer comes back meanwhile
            other.execute(update(Basket).where(Basket.id == basket_id).values(modified_at=NOW))
        connection.execute(delete(Basket).where(Basket.id == basket_id))
    assert is_transaction_conflict(raised.value)
    with engine.connect() as connection:
        assert connection.scalar(select(Basket.modified_at).where(Basket.id == basket_id)) == NOW


def test_only_serialization_failures_and_deadlocks_count_as_conflicts() -> None:
    psycopg_errors = pytest.importorskip("psycopg.errors")
    pymysql_err = pytest.importorskip("pymysql.err")

    def wrapped(original: Exception) -> OperationalError:
        return OperationalError("DELETE ...", {}, original)

    assert is_transaction_conflict(wrapped(psycopg_errors.SerializationFailure()))
    assert is_transaction_conflict(wrapped(psycopg_errors.DeadlockDetected()))
    assert is_transaction_conflict(wrapped(pymysql_err.OperationalError(1213, "Deadlock found")))
    assert not is_transaction_conflict(wrapped(psycopg_errors.LockNotAvailable()))
    assert not is_transaction_conflict(wrapped(pymysql_err.OperationalError(1205, "Lock wait timeout")))
    assert not is_transaction_conflict(RuntimeError("database is locked"))


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mariadb+pymysql"])
def test_server_that_never_answers_fails_the_connection_within_the_timeout(
    silent_server_port: int, scheme: str
) -> None:
    engine = make_engine(f"{scheme}://u@127.0.0.1:{silent_server_port}/db", connect_timeout_seconds=1)
    with pytest.raises(OperationalError) as failed:
        engine.connect()
    assert "timeout" in str(failed.value).lower() or "timed out" in str(failed.value).lower()


def test_a_statement_longer_than_the_connect_timeout_is_not_cut_short(server_db: DatabaseUnderTest) -> None:
    engine = make_engine(server_db.url, connect_timeout_seconds=1)
    sleep = "SELECT pg_sleep(2.5)" if server_db.backend == "postgresql" else "SELECT SLEEP(2.5)"
    try:
        with engine.connect() as connection:
            connection.execute(text(sleep))
            assert connection.scalar(text("SELECT 42")) == 42
    finally:
        engine.dispose()


def test_database_key_names_the_database_without_secrets_and_tells_lookalikes_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baskets.db import database_key

    server = database_key("postgresql://root:s3cret-pw@db.example.com:5432/shop?sslpassword=k3y")
    assert server.startswith("postgresql-db.example.com-5432-shop-") and len(server) == 44
    assert "s3cret" not in server and "k3y" not in server and "root" not in server
    # The same database as another user, with another driver or options: the same key.
    assert database_key("postgresql+psycopg://other@db.example.com:5432/shop") == server
    assert database_key("postgresql://root@db.example.com:5432/other_shop") != server
    assert database_key("mysql://root@h/shop") == database_key("mariadb+pymysql://x@h/shop?charset=utf8mb4")
    # One file name in two folders: two keys; a relative path is the file it names from here.
    first, second = tmp_path / "a" / "baskets.db", tmp_path / "b" / "baskets.db"
    assert database_key(f"sqlite:///{first}") != database_key(f"sqlite:///{second}")
    assert database_key(f"sqlite:///{first}").startswith("sqlite-baskets.db-")
    monkeypatch.chdir(tmp_path)
    assert database_key("sqlite:///a/baskets.db") == database_key(f"sqlite:///{first}")
    # Hostile names stay one safe folder name.
    hostile = database_key("postgresql://h/..%2F..%2Fetc\nx")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", hostile) and not hostile.startswith(".")
