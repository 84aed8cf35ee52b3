"""The backend matrix of the tests themselves (tests/conftest.py): a test marked
backend_independent runs on SQLite alone, every other test of `db` on each backend under test,
and the mark is refused where the subject is a backend or a server database is asked for."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, DB_BACKENDS_OF, REPO, DatabaseUnderTest, misplaced_independence


def _backends_of(request: pytest.FixtureRequest) -> list[str]:
    return DB_BACKENDS_OF[request.node.nodeid.split("[")[0]]


@pytest.mark.backend_independent
def test_a_backend_independent_test_runs_on_sqlite_alone(db: DatabaseUnderTest, request) -> None:
    assert _backends_of(request) == ["sqlite"] and db.backend == "sqlite"


def test_any_other_test_of_db_runs_on_every_backend_under_test(db: DatabaseUnderTest, request) -> None:
    assert _backends_of(request) == BACKENDS and db.backend in BACKENDS


@pytest.mark.parametrize(
    ("where", "fixtures", "why"),
    [
        ("tests/backends/test_backends.py", ["db"], "its subject is a backend"),
        ("tests/baskets/audit/test_audit.py", ["db"], "its subject is a backend"),
        ("tests/baskets/deletion/test_deletion.py", ["db"], "its subject is a backend"),
        ("tests/baskets/test_migrations.py", ["db"], "its subject is a backend"),
        ("tests/baskets/test_locks.py", ["db"], "its subject is a backend"),
        ("tests/baskets/test_db.py", ["db"], "its subject is a backend"),
        ("tests/cli/test_cleanup_cli.py", ["cli", "server_db"], "it asks for server_db"),
        ("tests/cli/test_no_secrets.py", ["postgresql_db"], "it asks for postgresql_db"),
        ("tests/cli/test_cleanup_cli.py", ["cli", "db"], None),
        ("tests/flows/test_run_failures.py", ["db", "prefect_harness"], None),
    ],
)
def test_the_mark_is_refused_where_the_subject_is_a_backend(
    where: str, fixtures: list[str], why: str | None
) -> None:
    assert misplaced_independence(REPO / where, fixtures) == why
