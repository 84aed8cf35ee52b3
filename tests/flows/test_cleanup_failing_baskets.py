"""One failing basket costs one basket: `baskets cleanup` isolates the baskets that fail on their
own, skips and names only those, and deletes and audits the rest of their batch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from baskets.models import Basket
from tests.cli.test_cleanup_cli import (
    AT_NOW,
    NO_SHARE_LIMIT,
    audit_rows,
    basket_ids,
    cleanup_runs,
    expired_ids,
    store,  # noqa: F401 - the fixture
)
from tests.conftest import DatabaseUnderTest, add_operators, seed

# The trigger's message: what the run's summary names as the reason.
REFUSED = "basket held by the webstore"


@contextlib.contextmanager
def delete_refused_for(db: DatabaseUnderTest, basket_id: str) -> Iterator[None]:
    """A trigger that makes deleting `basket_id` fail, as long as the block runs."""
    create = {
        "sqlite": [
            f"CREATE TRIGGER refuse_one BEFORE DELETE ON baskets WHEN OLD.id = '{basket_id}' "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF OLD.id = '{basket_id}' THEN RAISE EXCEPTION '{REFUSED}'; END IF; RETURN OLD; END $$",
            "CREATE TRIGGER refuse_one BEFORE DELETE ON baskets FOR EACH ROW EXECUTE FUNCTION refuse_one()",
        ],
        "mariadb": [
            "CREATE TRIGGER refuse_one BEFORE DELETE ON baskets FOR EACH ROW BEGIN "
            f"IF OLD.id = '{basket_id}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{REFUSED}'; "
            "END IF; END"
        ],
    }[db.backend]
    drop = {
        "sqlite": ["DROP TRIGGER IF EXISTS refuse_one"],
        "postgresql": ["DROP FUNCTION IF EXISTS refuse_one() CASCADE"],
        "mariadb": ["DROP TRIGGER IF EXISTS refuse_one"],
    }[db.backend]
    with db.engine.begin() as connection:
        for statement in create:
            connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        with db.engine.begin() as connection:
            for statement in drop:
                connection.exec_driver_sql(statement)


def test_a_basket_whose_delete_fails_is_the_only_one_skipped_and_is_named(
    cli,
    store: DatabaseUnderTest,  # noqa: F811 - the fixture imported above
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**store.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "40",
           "BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS": "[0.0]"}  # fmt: skip
    expired = sorted(expired_ids(store))
    held = expired[len(expired) // 2 + 3]
    with delete_refused_for(store, held):
        failed = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert failed.exit_code == 1
    summary = failed.json()
    assert (summary["skipped"], summary["skipped_basket_ids"], summary["failed_batches"]) == (1, [held], 1)
    assert summary["deleted"] == len(expired) - 1
    assert summary["batches"] == -(-len(expired) // 40)  # every batch counted once, parts or not
    [reason] = summary["skip_reasons"]
    assert REFUSED in reason and summary["skip_reasons"][reason] == 1
    assert f"retention cleanup incomplete: skipped 1 basket: {reason} (left for the next run: {held})" in (
        failed.stderr
    )
    assert basket_ids(store) & set(expired) == {held}
    rows = audit_rows(store)
    assert sorted(row["basket_id"] for row in rows) == sorted(set(expired) - {held})  # each once
    assert [row["seq"] for row in rows] == list(range(1, len(expired)))
    (run,) = cleanup_runs(store)
    assert (run["status"], run["deleted"], run["skipped"], run["detail"]["skipped_basket_ids"]) == (
        "failed", len(expired) - 1, 1, [held],
    )  # fmt: skip
    verified = cli("audit", "verify", "--as", "bob", "--json", env=store.env)
    assert (verified.exit_code, verified.json()["rows"]) == (0, len(expired) - 1)

    rerun = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)  # the trigger is gone
    assert rerun.exit_code == 0, rerun.stderr
    assert (rerun.json()["deleted"], rerun.json()["skipped"]) == (1, 0)
    assert basket_ids(store) & set(expired) == set()


@pytest.fixture
def server_store(server_db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(server_db, 300, 11)
    add_operators(server_db)
    return server_db


def test_a_row_lock_held_by_another_session_costs_one_basket_not_a_hung_run(
    cli, server_store: DatabaseUnderTest, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle-in-transaction session of the webstore holds a basket's row lock for the whole
    run: each batch gives up after the lock wait limit, the run goes on and skips that basket."""
    db = server_store
    env = {
        **db.env, **NO_SHARE_LIMIT, "BASKETS_RETENTION__BATCH_SIZE": "40",
        "BASKETS_RETENTION__BATCH_RETRY_DELAYS_SECONDS": "[0.0]",
        "BASKETS_CLEANUP__LOCK_TIMEOUT_SECONDS": "1",
    }  # fmt: skip
    expired = sorted(expired_ids(db))
    held = expired[len(expired) // 3]
    with db.engine.connect() as webstore, webstore.begin():
        locked = webstore.execute(select(Basket.id).where(Basket.id == held).with_for_update()).scalar()
        assert str(locked) == held
        failed = cli("cleanup", *AT_NOW, "--as", "alice", "--json", env=env)
    assert failed.exit_code == 1, failed.stderr
    summary = failed.json()
    assert (summary["skipped"], summary["skipped_basket_ids"], summary["skip_reasons"]) == (
        1, [held], {"lock wait timeout": 1},
    )  # fmt: skip
    assert (summary["deleted"], summary["failed_batches"]) == (len(expired) - 1, 1)
    assert "skipped 1 basket: lock wait timeout (left for the next run: " + held in failed.stderr
    assert basket_ids(db) & set(expired) == {held}
    assert sorted(row["basket_id"] for row in audit_rows(db)) == sorted(set(expired) - {held})
    (run,) = cleanup_runs(db)
    assert (run["status"], run["skipped"], run["detail"]["skip_reasons"]) == (
        "failed",
        1,
        {"lock wait timeout": 1},
    )
    verified = cli("audit", "verify", "--as", "bob", "--json", env=db.env)
    assert (verified.exit_code, verified.json()["rows"]) == (0, len(expired) - 1)
