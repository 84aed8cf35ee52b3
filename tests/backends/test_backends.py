"""Each backend does what the domain modules ask of it, on its own database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from baskets.audit import canonical_time, canonical_time_text
from baskets.backends import backend_for, backend_named
from baskets.backends.mariadb import MariaDBBackend
from baskets.backends.postgresql import PostgreSQLBackend, pg_array_literal
from baskets.backends.sqlite import SQLiteBackend
from baskets.db import write_transaction
from baskets.models import GENESIS_HASH, Basket
from tests.conftest import NOW, DatabaseUnderTest, seed


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///var/x.db", SQLiteBackend),
        ("postgresql://db/shop", PostgreSQLBackend),
        ("postgresql+psycopg://db/shop", PostgreSQLBackend),
        ("mysql://db/shop", MariaDBBackend),
        ("mariadb+pymysql://db/shop", MariaDBBackend),
    ],
)
def test_backend_is_chosen_from_the_url(url: str, kind: type) -> None:
    assert type(backend_for(url)) is kind
    assert backend_for(url) is backend_for(make_url(url))  # one instance per backend


def test_an_unsupported_backend_is_named_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^unsupported database backend 'oracle' \(expected sqlite"):
        backend_named("oracle")


def test_backend_of_an_engine_and_its_connection_is_the_same(db: DatabaseUnderTest) -> None:
    with db.engine.connect() as connection:
        assert backend_for(connection) is backend_for(db.engine) is backend_for(db.url)


def test_urls_get_the_projects_driver_and_set_up(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert backend_named("postgresql").normalise_url(make_url("postgresql://h/d")).drivername == (
        "postgresql+psycopg"
    )
    mariadb = backend_named("mariadb").normalise_url(make_url("mysql://h/d"))
    assert (mariadb.drivername, mariadb.query["charset"]) == ("mariadb+pymysql", "utf8mb4")
    sqlite = backend_named("sqlite").normalise_url(make_url("sqlite:///sub/x.db"))
    assert sqlite.database == str(tmp_path / "sub" / "x.db") and (tmp_path / "sub").is_dir()
    assert backend_named("sqlite").database_file(make_url("sqlite://")) is None


def test_key_in_finds_exactly_the_keys_given(db: DatabaseUnderTest) -> None:
    seed(db, 20)
    backend = backend_for(db.engine)
    with db.engine.connect() as connection:
        ids = [str(basket_id) for basket_id in connection.scalars(select(Basket.id).order_by(Basket.id))]
        found = connection.scalars(
            select(backend.as_text(Basket.id)).where(backend.key_in(Basket.id, ids[3:9]))
        )
        assert sorted(found) == ids[3:9]


def test_canonical_time_column_reads_back_as_canonical_time(db: DatabaseUnderTest) -> None:
    seed(db, 5)
    backend = backend_for(db.engine)
    with db.engine.connect() as connection:
        text, value = connection.execute(
            select(backend.canonical_time_column(Basket.modified_at), Basket.modified_at).limit(1)
        ).one()
    assert canonical_time_text(text) == canonical_time(value)


def test_lock_chain_head_reads_the_one_head_row(db: DatabaseUnderTest) -> None:
    with write_transaction(db.engine) as connection:
        assert backend_for(connection).lock_chain_head(connection) == (0, GENESIS_HASH)


def test_stored_audit_row_keeps_canonical_text_or_makes_naive_utc() -> None:
    time = canonical_time(NOW + dt.timedelta(microseconds=5))
    values = [time, "2.5000"]
    assert backend_named("postgresql").stored_audit_row(list(values), [0], 1) == values
    assert backend_named("mariadb").stored_audit_row(list(values), [0], 1) == [
        "2026-11-01 12:00:00.000005", "2.5000"
    ]  # fmt: skip
    assert backend_named("sqlite").stored_audit_row(list(values), [0], 1) == [
        "2026-11-01 12:00:00.000005",
        2.5,
    ]


def test_pg_array_literal_quotes_every_key() -> None:
    assert pg_array_literal(['a"b', "c\\d", "e"]) == '{"a\\"b","c\\\\d","e"}'
