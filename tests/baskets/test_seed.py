"""The demo-data generator: deterministic, realistic, and careful with existing data."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from baskets.audit import verify_audit_chain
from baskets.db import write_transaction
from baskets.deletion import delete_baskets_with_audit
from baskets.errors import BadInput, BasketsError, NotPermitted
from baskets.models import Basket, BasketAudit
from baskets.roles import Actor
from baskets.seed import generate, seed_database
from tests.conftest import NOW, DatabaseUnderTest, add_operators

TABLE_ORDER = {
    "accounts": "id",
    "shop_accounts": "id",
    "baskets": "id",
    "basket_lines": "id",
}


def _dump(database: DatabaseUnderTest) -> dict[str, list[tuple]]:
    with database.engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(f"select * from {table} order by {key}"))]
            for table, key in TABLE_ORDER.items()
        }


def test_same_seed_gives_the_same_rows_and_another_seed_does_not(db: DatabaseUnderTest) -> None:
    seed_database(db.engine, 400, 11, NOW)
    first = _dump(db)
    seed_database(db.engine, 400, 11, NOW, replace=True)
    assert _dump(db) == first
    seed_database(db.engine, 400, 12, NOW, replace=True)
    assert _dump(db)["baskets"] != first["baskets"]


def test_generated_data_is_the_same_on_every_backend() -> None:
    one, two = generate(300, 5, NOW), generate(300, 5, NOW)
    for name in ("accounts", "shop_accounts", "baskets", "basket_lines"):
        assert one[name].equals(two[name])


def test_seeded_store_looks_like_a_real_one(db: DatabaseUnderTest) -> None:
    summary = seed_database(db.engine, 2000, 3, NOW)
    with db.engine.connect() as connection:
        types = dict(
            connection.execute(text("select account_type, count(*) from baskets group by account_type")).all()
        )
        assert set(types) == {"Anonymous", "Customer", "Contact"}
        assert types["Anonymous"] > types["Customer"] > types["Contact"] > 0
        assert sum(types.values()) == summary.baskets == 2000

        anonymous_with_owner = connection.scalar(
            text(
                "select count(*) from baskets where account_type = 'Anonymous' "
                "and (shop_account_id is not null or account_id is not null)"
            )
        )
        assert anonymous_with_owner == 0
        orphaned = connection.scalar(
            text(
                "select count(*) from baskets b left join shop_accounts s on s.id = b.shop_account_id "
                "where b.shop_account_id is not null and s.id is null"
            )
        )
        assert orphaned == summary.orphaned_baskets > 0

        line_counts = [
            row[0]
            for row in connection.execute(
                text(
                    "select count(l.id) from baskets b left join basket_lines l on l.basket_id = b.id group by b.id"
                )
            )
        ]
        assert min(line_counts) == 0 and max(line_counts) <= 20 and max(line_counts) >= 15
        assert sum(line_counts) == summary.basket_lines

        times = connection.execute(text("select created_at, modified_at from baskets")).all()
        names = [row[0] for row in connection.execute(text("select name from shop_accounts"))]
        emails = [row[0] for row in connection.execute(text("select email from shop_accounts"))]
    oldest = NOW - dt.timedelta(days=731)
    for created, modified in times:
        created, modified = _as_utc(created), _as_utc(modified)
        assert oldest <= created <= modified <= NOW
    modified_days = {(NOW - _as_utc(m)).days // 30 for _, m in times}
    assert len(modified_days) >= 20  # spread over two years, not bunched up
    assert any(not name.isascii() for name in names)
    assert any(name[0] in "=+-@" for name in names)
    assert any("_" in email for email in emails) and any("%" in email for email in emails)


def _as_utc(value: object) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def test_seed_refuses_a_database_with_baskets_unless_replace(db: DatabaseUnderTest) -> None:
    seed_database(db.engine, 50, 1, NOW)
    with pytest.raises(BadInput, match="has 50 baskets already"):
        seed_database(db.engine, 50, 2, NOW)
    assert db.scalar("select count(*) from baskets") == 50


@pytest.mark.backend_independent
def test_seed_command_reports_counts_as_json(cli, db: DatabaseUnderTest) -> None:
    result = cli(
        "seed", "--baskets", "120", "--seed", "9", "--now", "2026-11-01T12:00:00Z", "--json", env=db.env
    )
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["baskets"] == 120 == db.scalar("select count(*) from baskets")
    assert report["basket_lines"] == db.scalar("select count(*) from basket_lines")
    assert report["now"] == "2026-11-01T12:00:00+00:00"


@pytest.mark.backend_independent
def test_seed_command_refuses_bad_now(cli, db: DatabaseUnderTest) -> None:
    result = cli("seed", "--baskets", "10", "--now", "next tuesday", env=db.env)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --now: 'next tuesday' is not an ISO date or datetime")
    assert db.scalar("select count(*) from baskets") == 0


# --- nothing disappears without an audit row ------------------------------------------------


def _audit_rows(database: DatabaseUnderTest) -> list[dict]:
    with database.engine.connect() as connection:
        return [
            dict(row) for row in connection.execute(select(BasketAudit).order_by(BasketAudit.seq)).mappings()
        ]


def _basket_ids(database: DatabaseUnderTest) -> set[str]:
    with database.engine.connect() as connection:
        return {str(basket_id) for basket_id in connection.scalars(select(Basket.id))}


@pytest.mark.parametrize(
    ("operator", "refusal", "code"),
    [
        (None, NotPermitted, 3),
        ("bob", NotPermitted, 3),
        ("nobody", NotPermitted, 3),
        (" alice", NotPermitted, 3),
        ("alice\x00", BadInput, 2),  # no operator's name holds a control character: bad input
    ],
)
@pytest.mark.backend_independent
def test_replace_on_a_database_with_operators_is_refused_unless_an_administrator_runs_it(
    db: DatabaseUnderTest, operator: str | None, refusal: type[BasketsError], code: int
) -> None:
    seed_database(db.engine, 40, 1, NOW)
    add_operators(db)
    before = _basket_ids(db)
    with pytest.raises(refusal) as refused:
        seed_database(db.engine, 40, 2, NOW, replace=True, operator=operator)
    assert refused.value.exit_code == code
    assert "\n" not in refused.value.message
    assert _basket_ids(db) == before
    assert _audit_rows(db) == []


def test_replace_on_a_database_with_audit_rows_but_no_operators_is_refused(db: DatabaseUnderTest) -> None:
    seed_database(db.engine, 30, 1, NOW)
    first = sorted(_basket_ids(db))[0]
    with write_transaction(db.engine) as connection:
        delete_baskets_with_audit(connection, [first], actor=Actor("bob", "order_processor"), reason="broken")
    before = _basket_ids(db)
    with pytest.raises(NotPermitted, match="needs an operator"):
        seed_database(db.engine, 30, 2, NOW, replace=True)
    assert _basket_ids(db) == before
    assert len(_audit_rows(db)) == 1


def test_replace_as_an_administrator_deletes_every_basket_with_a_chained_audit_row(
    db: DatabaseUnderTest,
) -> None:
    seed_database(db.engine, 1500, 1, NOW)  # more than one audited chunk
    add_operators(db)
    old = _basket_ids(db)
    summary = seed_database(db.engine, 60, 2, NOW, replace=True, operator="alice")
    rows = _audit_rows(db)
    assert summary.replaced_baskets == 1500
    assert {row["basket_id"] for row in rows} == old
    assert {(row["event"], row["actor"], row["actor_role"], row["reason"], row["note"]) for row in rows} == {
        ("deleted", "alice", "system_administrator", "manual", "seed --replace")
    }
    assert [row["seq"] for row in rows] == list(range(1, 1501))
    assert len(_basket_ids(db)) == 60 and not old & _basket_ids(db)
    with db.engine.connect() as connection:
        report = verify_audit_chain(connection)
    assert report.ok and report.count == 1500


def test_replace_that_fails_while_loading_leaves_baskets_and_audit_log_as_they_were(
    db: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baskets.backends import backend_for

    seed_database(db.engine, 40, 1, NOW)
    add_operators(db)
    before = _basket_ids(db)

    def broken_bulk_load(self, connection, name, table):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(backend_for(db.engine)), "bulk_load", broken_bulk_load)
    with pytest.raises(RuntimeError, match="disk full"):
        seed_database(db.engine, 40, 2, NOW, replace=True, operator="alice")
    assert _basket_ids(db) == before
    assert _audit_rows(db) == []


@pytest.mark.backend_independent
def test_seed_replace_command_needs_an_administrator_on_a_database_in_use(cli, db: DatabaseUnderTest) -> None:
    seed_database(db.engine, 30, 1, NOW)
    add_operators(db)
    before = _basket_ids(db)
    refused = cli("seed", "--baskets", "20", "--replace", env=db.env)
    assert refused.exit_code == 3
    assert refused.stderr.strip() == (
        "error: --as: replace the baskets with demo data (seed --replace) needs an operator "
        "(type your operator name)"
    )
    assert _basket_ids(db) == before
    done = cli("seed", "--baskets", "20", "--replace", "--as", "alice", "--json", env=db.env)
    assert done.exit_code == 0, done.stderr
    assert (done.json()["baskets"], done.json()["replaced_baskets"]) == (20, 30)
    assert {row["basket_id"] for row in _audit_rows(db)} == before
