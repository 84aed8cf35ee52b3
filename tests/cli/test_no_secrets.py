"""No secret is stored or printed: a database password given on the command line appears in no
`--json` output, message, Prefect flow run, task run, log, artifact or event, nor in any alert."""
# ruff: noqa: F811 - the loopback receivers are fixtures imported by name

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from baskets.models import Base, Basket
from tests.conftest import NOW, CliResult, DatabaseUnderTest, add_operators, seed
from tests.loopback_receivers import SmtpReceiver, WebhookReceiver, smtp_server, webhook_server  # noqa: F401

SECRET = "S3cr3t-Zebra-91"
AT_NOW = ("--now", NOW.isoformat())


@pytest.fixture
def password_role(postgresql_db: DatabaseUnderTest) -> Iterator[str]:
    """A PostgreSQL login role whose password is SECRET (the server may trust 127.0.0.1 and
    ignore it: it still travels in the URL, which is what this is about)."""
    name = f"bm_secret_{uuid.uuid4().hex[:8]}"
    with postgresql_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{SECRET}'"))
    yield name
    with postgresql_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :n"),
                           {"n": name})  # fmt: skip
        connection.execute(text(f"DROP ROLE IF EXISTS {name}"))


@pytest.fixture(params=["postgresql-userinfo", "postgresql-query", "sqlite-query"])
def secret_url(request: pytest.FixtureRequest) -> tuple[str, DatabaseUnderTest]:
    """A URL that holds SECRET and still connects, and the database it names."""
    if request.param == "sqlite-query":
        database = request.getfixturevalue("sqlite_db")
        # SQLite ignores the query argument (with a warning naming only its key).
        return f"{database.url}?password={SECRET}", database
    database = request.getfixturevalue("postgresql_db")
    role = request.getfixturevalue("password_role")
    url = make_url(database.url).set(username=role)
    if request.param == "postgresql-userinfo":
        url = url.set(password=SECRET)
    else:
        url = url.update_query_dict({"password": SECRET})
    return url.render_as_string(hide_password=False), database


def prefect_database_text() -> str:
    """Every row of every table of the Prefect server's database (the test harness's), as text,
    after Prefect's log worker has sent the log lines it still holds."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import get_current_settings

    APILogWorker.drain_all(timeout=5)

    connection_url = get_current_settings().server.database.connection_url
    assert connection_url is not None
    path = make_url(connection_url.get_secret_value()).database
    with sqlite3.connect(path) as connection:
        tables = [
            name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return "\n".join(
            f"{table}: {row!r}" for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')
        )


def flush_prefect_logs_and_events() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    EventsWorker.drain_all(timeout=30)


def test_a_database_password_is_never_stored_or_printed(
    prefect_harness: None,
    cli,
    secret_url: tuple[str, DatabaseUnderTest],
    webhook_server: WebhookReceiver,
    smtp_server: SmtpReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    url, database = secret_url
    seed(database, 120)
    add_operators(database)
    with database.engine.connect() as connection:
        basket_id = str(connection.scalars(select(Basket.id).order_by(Basket.id)).first())
    monkeypatch.setenv("BASKETS_ALERTS__WEBHOOK_URL", webhook_server.url)
    monkeypatch.setenv("BASKETS_ALERTS__SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("BASKETS_ALERTS__SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("BASKETS_ALERTS__MAIL_TO", '["ops@example.com"]')
    monkeypatch.setattr("baskets.alerts.RETRY_DELAYS", ())
    # Every log line, of every level, goes to Prefect's database too. Prefect configures its
    # loggers' levels when `prefect.main` is first loaded: load it before setting them here.
    import prefect.main  # noqa: F401

    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs"):
        caplog.set_level(logging.DEBUG, logger=name)

    def baskets(*args: str) -> CliResult:
        return cli(*args, "--database-url", url)

    with temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: True}):
        init = baskets("init", "--json")
        status = baskets("status", "--alert", "--json", *AT_NOW)
        deleted = baskets("delete", basket_id, "--as", "alice", "--json")
        restored = baskets("restore", basket_id, "--as", "alice", "--json")
        exported = baskets("export", "--format", "both", "--output", str(tmp_path / "x.csv"), "--as", "bob",
                           "--json")  # fmt: skip
        reported = baskets("audit", "report", "--output", str(tmp_path / "r.html"), "--as", "alice", "--json")
        monkeypatch.setenv("BASKETS_RETENTION__MAX_SHARE", "0.01")
        refused = baskets("cleanup", "--json", *AT_NOW)
        dry_run = baskets("cleanup", "--dry-run", "--json", *AT_NOW)
        cleaned = baskets("cleanup", "--force", "--as", "alice", "--json", *AT_NOW)
        flush_prefect_logs_and_events()

    # Each command did its work (so the search below searched something)...
    assert init.exit_code == 0 and "***" in init.json()["database_url"]
    assert status.exit_code == 1 and "***" in status.json()["database"]
    assert (deleted.exit_code, deleted.json()["deleted"]) == (0, 1)
    assert (restored.exit_code, restored.json()["restored"]) == (0, 1)
    assert exported.exit_code == 0 and exported.json()["baskets"] == 120
    assert reported.exit_code == 0 and reported.json()["deleted"] == 1
    assert refused.exit_code == 5
    assert dry_run.exit_code == 0 and dry_run.json()["would_delete_total"] > 0
    assert cleaned.exit_code == 0 and cleaned.json()["deleted"] == dry_run.json()["would_delete_total"]
    flow_run_ids = [
        result.json()["flow_run_id"] for result in (deleted, restored, exported, reported, cleaned)
    ]
    # ...its flow runs are in Prefect, without a database among their parameters...
    with get_client(sync_client=True) as client:
        flow_runs = [client.read_flow_run(uuid.UUID(run_id)) for run_id in flow_run_ids]
    assert [sorted(run.parameters) for run in flow_runs][:2] == [
        sorted(
            [
                "basket_ids",
                "delete_all",
                "note",
                "operator",
                "reason",
                "shop_account_name",
                "shop_account_email",
                "basket_id",
                "shop_account_id",
                "account_id",
                "account_type",
                "created_before",
                "created_after",
                "modified_before",
                "modified_after",
            ]
        ),
        ["basket_id", "note", "operator"],
    ]
    assert not any("database_url" in run.parameters for run in flow_runs)
    # ...and the alerts went out: stale (status --alert) and run-failed (the refused cleanup).
    assert sorted(post.body["kind"] for post in webhook_server.posts) == ["run-failed", "stale-success"]
    assert len(smtp_server.mails) == 2
    assert all("***" in post.body["database"] for post in webhook_server.posts)

    everything = {
        "command output": "\n".join(
            f"{result.stdout}\n{result.stderr}"
            for result in (init, status, deleted, restored, exported, reported, refused, dry_run, cleaned)
        ),
        "log records": caplog.text,
        "webhook posts": "\n".join(
            f"{post.headers!r} {json.dumps(post.body)}" for post in webhook_server.posts
        ),
        "mails": "\n".join(mail.message.as_string() for mail in smtp_server.mails),
        "prefect database": prefect_database_text(),
        "files written": "\n".join(
            path.read_bytes().decode("utf-8", "replace") for path in tmp_path.rglob("*") if path.is_file()
        ),
        "baskets database": database_text(database),
    }
    # The flow runs, their logs and artifacts are really in there.
    for stored in ("basket-delete", "retention-cleanup", "deleted 1 basket as alice", "# Baskets deleted"):
        assert stored in everything["prefect database"]
    assert {where: SECRET in found for where, found in everything.items()} == dict.fromkeys(everything, False)


def database_text(database: DatabaseUnderTest) -> str:
    """Every row of the suite's own tables (cleanup runs keep error texts, audit rows notes)."""
    with database.engine.connect() as connection:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in connection.execute(select(table))
        )


@pytest.mark.parametrize(
    "given",
    [
        f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:notaport/shop",  # a port that is not a number
        f"postgres ql://alice:{SECRET}@127.0.0.1/shop",  # not a scheme
        f"postgres ql://alice@127.0.0.1/shop?sslpassword={SECRET}",
    ],
)
def test_a_malformed_database_url_is_refused_with_its_password_masked(cli, given: str) -> None:
    result = cli("list", "--database-url", given)

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: setting database_url: {given.replace(SECRET, '***')!r} is not a database URL "
        "(expected e.g. sqlite:///var/baskets.db or postgresql+psycopg://user@host/db)"
    )


def test_a_password_with_an_unencoded_at_sign_is_not_echoed_by_the_connection_error(cli) -> None:
    # The URL parser splits "S3cr3t@Zebra-91" at its '@': the driver then names the rest as the host.
    result = cli("list", "--database-url", "postgresql+psycopg://alice:S3cr3t@Zebra-91@127.0.0.1:1/shop")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot reach the database: failed to resolve host '***@127.0.0.1'"
    )
    assert "Zebra" not in result.stdout + result.stderr


def test_a_driver_error_that_repeats_the_password_is_masked(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def fail(*args: object, **kwargs: object) -> None:
        raise OperationalError("connect", {}, Exception(f'invalid dsn: "password={SECRET} host=x"'))

    monkeypatch.setattr("cli.console.check_schema", fail)
    result = cli("list", "--database-url", f"postgresql+psycopg://alice@127.0.0.1/shop?pwd={SECRET}")

    assert result.exit_code == 1
    assert result.stderr.strip() == 'error: database: invalid dsn: "password=*** host=x"'


def test_an_error_naming_the_password_elsewhere_is_masked(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from baskets.errors import BasketsError

    def fail(*args: object, **kwargs: object) -> None:
        raise BasketsError(f"cannot reach the database: role alice with {SECRET} refused")

    monkeypatch.setattr("cli.console.check_schema", fail)
    result = cli("list", "--database-url", f"postgresql+psycopg://alice:{SECRET}@127.0.0.1/shop")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: cannot reach the database: role alice with *** refused"
