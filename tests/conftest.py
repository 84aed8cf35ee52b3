"""Shared fixtures: one `db` fixture for every database under test, the CLI runner, Prefect.

Databases: SQLite always; PostgreSQL and MariaDB when their servers answer. Under CI=true
an unreachable server fails its tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Prefect reads these at import: keep it quiet, local and fast before anything imports it.
_PREFECT_HOME = tempfile.mkdtemp(prefix="baskets-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.pop("BASKETS_CONFIG", None)
os.environ.pop("BASKETS_OPERATOR", None)
os.environ.pop("BASKETS_DATABASE_URL", None)

import pytest  # noqa: E402
from sqlalchemy import Connection, Engine, create_engine, delete, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from baskets.audit import CHAIN_HEAD_ID  # noqa: E402
from baskets.db import make_engine, upgrade_database  # noqa: E402
from baskets.models import GENESIS_HASH, AuditChainHead, Base  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SERVER_URLS = {
    "postgresql": os.environ.get("BM_TEST_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("BM_TEST_MARIADB_URL", "mariadb+pymysql://root@127.0.0.1:3306/test"),
}
# BM_TEST_BACKENDS=sqlite limits a local run to some backends.
BACKENDS = [
    b.strip() for b in os.environ.get("BM_TEST_BACKENDS", "sqlite,postgresql,mariadb").split(",") if b.strip()
]
# The suite's own variables were BASKETS_*: the product now refuses BASKETS_* names it does not know.
_RENAMED_VARIABLES = {
    "BASKETS_TEST_BACKENDS": "BM_TEST_BACKENDS",
    "BASKETS_TEST_POSTGRESQL_URL": "BM_TEST_POSTGRESQL_URL",
    "BASKETS_TEST_MARIADB_URL": "BM_TEST_MARIADB_URL",
}
# A fixed "now" for tests, so ages and retention cut-offs are reproducible.
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class DatabaseUnderTest:
    """A migrated, empty database of one backend, fresh for each test."""

    backend: str
    url: str
    engine: Engine
    env: dict[str, str] = field(default_factory=dict)

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()


class _ServerDatabase:
    """One throw-away database per backend per test session, emptied between tests."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"bm_test_{uuid.uuid4().hex[:10]}"
        admin_url = make_url(SERVER_URLS[backend])
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            charset = " CHARACTER SET utf8mb4" if backend == "mariadb" else ""
            connection.execute(text(f"CREATE DATABASE {self.name}{charset}"))
        self.url = admin_url.set(database=self.name).render_as_string(hide_password=False)
        self.engine = make_engine(self.url)
        upgrade_database(self.engine)

    def empty(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name != AuditChainHead.__tablename__:
                    connection.execute(delete(table))
            # Anew, not updated: a test may have removed the head row (a broken chain).
            connection.execute(delete(AuditChainHead))
            connection.execute(insert(AuditChainHead).values(id=CHAIN_HEAD_ID, seq=0, hash=GENESIS_HASH))

    def drop(self) -> None:
        self.engine.dispose()
        # WITH (FORCE): a connection some test left open (a killed run's, a pool's) must not
        # keep the database alive after the session, which a plain DROP fails on.
        force = " WITH (FORCE)" if self.backend == "postgresql" else ""
        with self.admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {self.name}{force}"))
        self.admin.dispose()


_servers: dict[str, _ServerDatabase | str] = {}


def _server(backend: str) -> _ServerDatabase:
    """The session's database on `backend`; skip (or fail under CI) when unreachable."""
    if backend not in _servers:
        try:
            _servers[backend] = _ServerDatabase(backend)
        except Exception as error:  # noqa: BLE001 - any connection failure means "no server"
            _servers[backend] = f"{backend} server at {SERVER_URLS[backend]} unreachable: {error}"
    found = _servers[backend]
    if isinstance(found, str):
        if IN_CI:
            pytest.fail(f"CI=true but {found.splitlines()[0]}")
        pytest.skip(found.splitlines()[0])
    return found


def pytest_configure(config: pytest.Config) -> None:
    for old, new in _RENAMED_VARIABLES.items():
        if old in os.environ:
            raise pytest.UsageError(f"{old} is now called {new}: set that instead")


# Which backends a test runs on. A test whose subject does not depend on the database (command
# line parsing and wording, settings, rendering, file writing, policy arithmetic, run forms,
# alert formatting) is marked `backend_independent` and runs on SQLite alone; every other test
# that asks for `db` runs on each backend under test. The mark is refused where the subject *is*
# the database: these folders and files test the backends, the SQL paths, the audit chain,
# deletion and restore, migrations, locks and the backends' reading of operators.
BACKEND_SUBJECTS = (
    "tests/backends/",
    "tests/baskets/audit/",
    "tests/baskets/deletion/",
    "tests/baskets/test_db.py",
    "tests/baskets/test_locks.py",
    "tests/baskets/test_migrations.py",
)
_SERVER_FIXTURES = ("server_db", "postgresql_db")
# Test (node id without parameters) -> the backends its `db` was parametrized with.
DB_BACKENDS_OF: dict[str, list[str]] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    independent = metafunc.definition.get_closest_marker("backend_independent") is not None
    if "db" in metafunc.fixturenames:
        DB_BACKENDS_OF[metafunc.definition.nodeid] = ["sqlite"] if independent else BACKENDS
        metafunc.parametrize("db", DB_BACKENDS_OF[metafunc.definition.nodeid], indirect=True)
    if "server_db" in metafunc.fixturenames:
        metafunc.parametrize("server_db", [b for b in BACKENDS if b != "sqlite"], indirect=True)


def misplaced_independence(path: Path, fixturenames: Sequence[str]) -> str | None:
    """Why a test at `path` using `fixturenames` may not be marked backend_independent (None: it
    may): its subject is a backend, or it asks for a server database."""
    servers = [name for name in _SERVER_FIXTURES if name in fixturenames]
    if servers:
        return f"it asks for {', '.join(servers)}"
    if path.resolve().relative_to(REPO).as_posix().startswith(BACKEND_SUBJECTS):
        return "its subject is a backend"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a `backend_independent` mark where `misplaced_independence` says so: server
    coverage is never dropped by a mark."""
    wrong = []
    for item in items:
        if item.get_closest_marker("backend_independent") is None:
            continue
        why = misplaced_independence(Path(str(item.path)), getattr(item, "fixturenames", ()))
        if why:
            wrong.append(f"{item.nodeid} ({why})")
    if wrong:
        raise pytest.UsageError("marked backend_independent but it is not: " + "; ".join(wrong))


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str:
    """Say what ran where: the backends under test, and how many tests are backend-independent."""
    independent = sum(1 for item in items if item.get_closest_marker("backend_independent"))
    per_backend = dict.fromkeys(BACKENDS, 0)
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for name in ("db", "server_db"):
            if params.get(name) in per_backend:
                per_backend[params[name]] += 1
    counts = ", ".join(f"{backend} {count}" for backend, count in per_backend.items())
    return (
        f"backends under test: {', '.join(BACKENDS)} (tests of `db`/`server_db` per backend: {counts}); "
        f"{independent} backend-independent tests run on SQLite only"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for server in _servers.values():
        if isinstance(server, _ServerDatabase):
            with contextlib.suppress(Exception):
                server.drop()


_sqlite_template: list[Path] = []


def _migrated_sqlite_file(path: Path) -> None:
    """A migrated SQLite database at `path`: a copy of one migrated once per session (the
    migrations are tested by themselves; running them again for every test cost ~0.1 s each)."""
    if not _sqlite_template:
        template = Path(tempfile.mkdtemp(prefix="baskets-template-")) / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        upgrade_database(engine)
        with engine.connect() as connection:  # everything into the main file, the WAL empty
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _sqlite_template.append(template)
    shutil.copyfile(_sqlite_template[0], path)


def _make_database(backend: str, tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'baskets.db'}"
        _migrated_sqlite_file(tmp_path / "baskets.db")
        engine = make_engine(url)
        yield DatabaseUnderTest("sqlite", url, engine, {"BASKETS_DATABASE_URL": url})
        engine.dispose()
        return
    server = _server(backend)
    server.empty()
    yield DatabaseUnderTest(backend, server.url, server.engine, {"BASKETS_DATABASE_URL": server.url})


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    """A fresh, migrated database on each backend under test; SQLite alone for a test marked
    `backend_independent` (parametrized by `pytest_generate_tests`)."""
    yield from _make_database(request.param, tmp_path)


@pytest.fixture
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    """A fresh database on each server backend (PostgreSQL, MariaDB) under test."""
    yield from _make_database(request.param, tmp_path)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    yield from _make_database("sqlite", tmp_path)


@pytest.fixture
def postgresql_db(tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    """PostgreSQL alone, for what only PostgreSQL does."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among the backends under test")
    yield from _make_database("postgresql", tmp_path)


@pytest.fixture
def silent_server_port() -> Iterator[int]:
    """The port of a TCP server on 127.0.0.1 that accepts connections and never says a word."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(server.accept()[0])

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    yield server.getsockname()[1]
    stop.set()
    listener.join()
    for connection in accepted:
        connection.close()
    server.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        import json

        return json.loads(self.stdout.strip().splitlines()[-1])


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run `baskets ARGS` in-process: cli(*args, env={...}) -> CliResult."""
    from cli.main import main

    monkeypatch.chdir(tmp_path)
    # A command puts its database URL into the environment for the flows it runs: undo that
    # after the test, so the next test's flows do not find this one's database.
    # (setenv records the value before, unset or not, for undoing; delenv of an unset one does not.)
    given = os.environ.get("BASKETS_DATABASE_URL")
    monkeypatch.setenv("BASKETS_DATABASE_URL", given or "")
    if given is None:
        monkeypatch.delenv("BASKETS_DATABASE_URL")

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "argv", ["baskets", *args])
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def run_baskets_process(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `baskets ARGS` as its own process (for kill and concurrency tests)."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session, only for tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def add_operators(database: DatabaseUnderTest) -> None:
    """alice (system administrator), bob (order processor), carol (content manager)."""
    from baskets.roles import add_operator

    with database.engine.begin() as connection:
        add_operator(connection, "alice", "system_administrator", None)
        add_operator(connection, "bob", "order_processor", "alice")
        add_operator(connection, "carol", "content_manager", "alice")


def seed(database: DatabaseUnderTest, baskets: int = 300, seed_value: int = 7) -> None:
    """Seed the (fresh, basket-free) test database: no --replace, so no basket goes unaudited."""
    from baskets.seed import seed_database

    seed_database(database.engine, baskets, seed_value, NOW)


def sessions_waiting_for_a_lock(database: DatabaseUnderTest, timeout: float = 60.0) -> int:
    """How many sessions of the server `database` wait for a lock, polled until one does (or
    `timeout` seconds pass: then 0)."""
    query = {
        "postgresql": "SELECT count(*) FROM pg_locks WHERE NOT granted",
        # A statement of this test database's run for a second or more: one blocked by a lock
        # (INNODB_TRX does not list a transaction that has not taken a lock yet).
        "mariadb": "SELECT count(*) FROM information_schema.processlist WHERE command = 'Query' "
        "AND time >= 1 AND db = DATABASE() AND id <> CONNECTION_ID()",
    }[database.backend]
    deadline = time.monotonic() + timeout
    while True:
        with database.engine.connect() as connection:
            waiting = int(connection.exec_driver_sql(query).scalar_one())
        if waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(0.05)


def commit_once_a_session_waits(
    database: DatabaseUnderTest, change: Callable[[Connection], Any]
) -> tuple[threading.Thread, list[int]]:
    """Run `change(connection)` in a transaction of its own, in a thread, and commit it once
    some session waits for one of its locks. Returns, once the change is made, the thread and
    the list it puts how many sessions waited in."""
    changed, waits = threading.Event(), []

    def change_and_commit_once_waited_for() -> None:
        with database.engine.begin() as connection:
            change(connection)
            changed.set()
            waits.append(sessions_waiting_for_a_lock(database))

    writer = threading.Thread(target=change_and_commit_once_waited_for)
    writer.start()
    assert changed.wait(30)
    return writer, waits
