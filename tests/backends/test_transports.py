"""The Arrow readers outside SQLAlchemy report a driver's failure instead of swallowing it."""

from __future__ import annotations

import pytest

from baskets.backends.transports import adbc_sqlite_batches
from tests.conftest import DatabaseUnderTest


def test_sqlite_reader_failure_is_reported_not_swallowed(sqlite_db: DatabaseUnderTest) -> None:
    with pytest.raises(RuntimeError, match="SQLite export reader failed: .*no such table: nowhere"):
        list(adbc_sqlite_batches(sqlite_db.engine, "select * from nowhere"))
