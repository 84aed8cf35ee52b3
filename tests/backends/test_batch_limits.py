"""Each batch transaction gets the cleanup's lock wait and statement limits, and only it."""

from __future__ import annotations

from sqlalchemy import text

from baskets.backends import BatchLimits
from baskets.db import write_transaction
from tests.conftest import DatabaseUnderTest

LIMITS = BatchLimits(lock_timeout_seconds=1.5, statement_timeout_seconds=7)
_READ = {
    "postgresql": "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
    "mariadb": "SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.max_statement_time",
}
_DEFAULTS = {
    "postgresql": "SELECT reset_val FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout') ORDER BY name",
    "mariadb": "SELECT @@GLOBAL.innodb_lock_wait_timeout, @@GLOBAL.max_statement_time",
}


def _limits(connection, backend: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(str(value) for value in connection.execute(text(_READ[backend])).one())


def test_batch_transaction_has_the_limits_and_the_connection_loses_them_after(
    server_db: DatabaseUnderTest,
) -> None:
    backend = server_db.backend
    with write_transaction(server_db.engine, LIMITS) as connection:
        inside = _limits(connection, backend)
    with server_db.engine.connect() as connection:  # the pool's one connection, back again
        after = _limits(connection, backend)
        if backend == "postgresql":
            defaults = tuple(str(row[0]) for row in connection.execute(text(_DEFAULTS[backend])))
            defaults = (defaults[0], defaults[1])  # lock_timeout, statement_timeout (name order)
        else:
            defaults = tuple(str(value) for value in connection.execute(text(_DEFAULTS[backend])).one())
    if backend == "postgresql":
        assert inside == ("1500ms", "7s")
        assert after == ("0", "0") and defaults == ("0", "0")
    else:
        assert (int(inside[0]), float(inside[1])) == (2, 7.0)  # whole seconds, rounded up
        assert after == defaults


def test_a_transaction_without_limits_keeps_the_servers(server_db: DatabaseUnderTest) -> None:
    with write_transaction(server_db.engine) as connection:
        assert connection.execute(text(_READ[server_db.backend])).one() is not None
        values = _limits(connection, server_db.backend)
    assert values != ("1500ms", "7s") and values[:1] != ("2",)
