"""The Arrow readers outside SQLAlchemy report a driver's failure instead of swallowing it."""

from __future__ import annotations

import sqlite3

import pytest

from baskets.backends.transports import adbc_sqlite_batches, sqlite_driver_batches
from tests.conftest import DatabaseUnderTest


def test_sqlite_reader_failure_is_reported_not_swallowed(sqlite_db: DatabaseUnderTest) -> None:
    with pytest.raises(RuntimeError, match="SQLite export reader failed: .*no such table: nowhere"):
        list(adbc_sqlite_batches(sqlite_db.engine, "select * from nowhere"))


def test_sqlite_driver_reader_types_each_batch_by_its_values(sqlite_db: DatabaseUnderTest) -> None:
    sql = "SELECT NULL AS note, 1 AS quantity UNION ALL SELECT 'zoë', 2.5 UNION ALL SELECT NULL, NULL"
    batches = list(sqlite_driver_batches(sqlite_db.engine, sql, batch_rows=2))
    assert [batch.num_rows for batch in batches] == [2, 1]
    assert batches[0].to_pylist() == [{"note": None, "quantity": 1}, {"note": "zoë", "quantity": 2.5}]
    assert [str(batches[0].schema.field(name).type) for name in ("note", "quantity")] == ["string", "double"]
    assert [str(batches[1].schema.field(name).type) for name in ("note", "quantity")] == ["null", "null"]


def test_sqlite_driver_reader_raises_the_drivers_error(sqlite_db: DatabaseUnderTest) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
        list(sqlite_driver_batches(sqlite_db.engine, "select * from nowhere"))
