"""The foundation commands end to end: list, operators, demo."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baskets.errors import BadInput
from tests.conftest import REPO, DatabaseUnderTest, add_operators, run_baskets_process, seed


@pytest.fixture
def store(db: DatabaseUnderTest) -> DatabaseUnderTest:
    seed(db, 300, 4)
    add_operators(db)
    return db


def test_list_shows_newest_first_with_line_counts(cli, store: DatabaseUnderTest) -> None:
    result = cli("list", "--as", "bob", "--limit", "25", "--json", env=store.env)
    assert result.exit_code == 0, result.stderr
    rows = result.json()["baskets"]
    assert len(rows) == 25
    modified = [dt.datetime.fromisoformat(row["modified_at"]) for row in rows]
    assert modified == sorted(modified, reverse=True)
    newest = store.scalar("select max(modified_at) from baskets")
    newest = dt.datetime.fromisoformat(newest) if isinstance(newest, str) else newest
    assert modified[0].replace(tzinfo=None) == newest.replace(tzinfo=None)
    for row in rows[:5]:
        lines = store.scalar("select count(*) from basket_lines where basket_id = :id", id=row["basket_id"])
        assert row["line_count"] == lines
    assert set(rows[0]) >= {
        "basket_id", "shop_account_name", "shop_account_email", "account_id", "account_name",
        "account_email", "account_type", "created_at", "modified_at", "line_count",
    }  # fmt: skip


def test_list_filters_by_basket_id_in_any_spelling(cli, store: DatabaseUnderTest) -> None:
    basket_id = str(store.scalar("select id from baskets order by id limit 1"))
    for spelling in (
        basket_id.upper(),
        "{" + basket_id + "}",
        basket_id.replace("-", ""),
        "urn:uuid:" + basket_id,
    ):
        result = cli("list", "--as", "alice", "--basket-id", spelling, "--json", env=store.env)
        assert result.exit_code == 0, result.stderr
        assert [row["basket_id"] for row in result.json()["baskets"]] == [basket_id]


@pytest.mark.backend_independent
def test_list_operator_comes_from_the_environment_too(cli, store: DatabaseUnderTest) -> None:
    result = cli("list", "--limit", "1", "--json", env={**store.env, "BASKETS_OPERATOR": "bob"})
    assert result.exit_code == 0
    assert result.json()["shown"] == 1


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--basket-id", "abc"],
            "error: --basket-id: 'abc' is not a GUID (expected e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301)",
        ),
        (
            ["--account-type", "vip"],
            "error: --account-type: 'vip' is not an account type (expected customer, anonymous or contact)",
        ),
        (
            ["--modified-after", "yesterday"],
            "error: --modified-after: 'yesterday' is not an ISO date or datetime (expected e.g. 2026-01-31 or 2026-01-31T18:00:00+01:00)",
        ),
    ],
)
def test_bad_filter_exits_2_with_one_line_before_any_query(
    cli, tmp_path: Path, args: list[str], line: str
) -> None:
    # The database does not even exist: the value is refused before anything connects.
    missing = f"sqlite:///{tmp_path}/never-created/x.db"
    result = cli("list", "--as", "bob", *args, "--database-url", missing)
    assert result.exit_code == 2
    assert result.stderr.strip() == line
    assert result.stdout == ""
    assert not (tmp_path / "never-created").exists()


@pytest.mark.parametrize(
    ("operator", "code", "message"),
    [
        (
            "carol",
            3,
            "error: --as: 'carol' is a content_manager: only order_processor or system_administrator may list baskets",
        ),
        ("mallory", 3, "error: --as: no operator named 'mallory'"),
        (None, 3, "error: --as: list baskets needs an operator (type your operator name)"),
    ],
)
@pytest.mark.backend_independent
def test_list_refuses_operators_without_the_right(cli, store, operator, code, message) -> None:
    args = ["list"] + (["--as", operator] if operator else [])
    result = cli(*args, env=store.env)
    assert result.exit_code == code
    assert result.stderr.strip().startswith(message)
    assert result.stdout == ""


def test_first_operator_needs_no_actor_and_later_ones_need_an_administrator(
    cli, db: DatabaseUnderTest
) -> None:
    first = cli("operators", "add", "root-admin", "--role", "system_administrator", "--json", env=db.env)
    assert first.exit_code == 0, first.stderr
    assert first.json() == {"name": "root-admin", "role": "system_administrator"}

    anonymous = cli("operators", "add", "pat", "--role", "order_processor", env=db.env)
    assert anonymous.exit_code == 3
    assert "manage operators needs an operator" in anonymous.stderr

    assert (
        cli(
            "operators", "add", "pat", "--role", "order_processor", "--as", "root-admin", env=db.env
        ).exit_code
        == 0
    )
    by_processor = cli("operators", "add", "sam", "--role", "order_processor", "--as", "pat", env=db.env)
    assert by_processor.exit_code == 3
    assert (
        "'pat' is an order_processor: only system_administrator may manage operators" in by_processor.stderr
    )

    duplicate = cli("operators", "add", "pat", "--role", "content_manager", "--as", "root-admin", env=db.env)
    assert duplicate.exit_code == 2
    assert "operator 'pat' exists already" in duplicate.stderr

    bad_role = cli("operators", "add", "sam", "--role", "super user!", "--as", "root-admin", env=db.env)
    assert bad_role.exit_code == 2
    assert bad_role.stderr.startswith("error: --role: 'super user!' is not a known role (expected one of ")

    listed = cli("operators", "list", "--json", "--as", "root-admin", env=db.env)
    assert [(o["name"], o["role"]) for o in listed.json()["operators"]] == [
        ("pat", "order_processor"),
        ("root-admin", "system_administrator"),
    ]


@pytest.mark.backend_independent
def test_list_as_a_separate_process_prints_a_table(store: DatabaseUnderTest, tmp_path: Path) -> None:
    process = run_baskets_process("list", "--as", "bob", "--limit", "3", env=store.env, cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert "3 of 300 baskets, newest first" in process.stdout
    assert "Basket Id" in process.stdout
    assert process.stderr == ""


@pytest.mark.backend_independent
def test_unexpected_failure_is_one_line_with_exit_1(cli, store: DatabaseUnderTest, monkeypatch) -> None:
    from cli import listing

    def explode(*_args, **_kwargs):
        raise RuntimeError("Failed to reach API at http://127.0.0.1:9/api/\nmore detail")

    monkeypatch.setattr(listing, "list_baskets", explode)
    result = cli("list", "--as", "bob", env=store.env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: RuntimeError: Failed to reach API at http://127.0.0.1:9/api/ (set BASKETS_DEBUG=1 for the traceback)"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("given", "expected"), [(None, 90), ("45", 45)])
def test_commands_give_a_temporary_prefect_server_time_to_start(given: str | None, expected: int) -> None:
    """Prefect's 20 s for a temporary server was sometimes too short on a fresh PREFECT_HOME; the
    commands wait 90 s unless the setting is given."""
    setting = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    env = {name: value for name, value in os.environ.items() if name != setting}
    if given is not None:
        env[setting] = given
    probe = (
        "import cli.console\n"
        "from prefect.settings import get_current_settings\n"
        "print(get_current_settings().server.ephemeral.startup_timeout_seconds)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert int(result.stdout.strip()) == expected


@pytest.mark.parametrize("command", [("status",), ("list", "--as", "bob")])
@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mariadb+pymysql"])
def test_database_server_that_never_answers_gives_one_line_and_exit_1(
    silent_server_port: int, tmp_path: Path, command: tuple[str, ...], scheme: str
) -> None:
    url = f"{scheme}://u@127.0.0.1:{silent_server_port}/db"
    # The subprocess timeout is the bound: without the connect timeout the command hangs.
    process = run_baskets_process(
        *command,
        "--database-url",
        url,
        env={"BASKETS_CONNECT_TIMEOUT_SECONDS": "1"},
        cwd=tmp_path,
        timeout=60,
    )
    assert process.returncode == 1
    (line,) = process.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the database: ")
    assert "Traceback" not in process.stderr and process.stdout == ""


def test_list_says_how_many_matched_beside_how_many_it_shows(cli, store: DatabaseUnderTest) -> None:
    page = cli("list", "--as", "bob", "--limit", "7", "--json", env=store.env)
    assert (page.json()["shown"], page.json()["total"]) == (7, 300)
    everything = cli("list", "--as", "bob", "--limit", "1000", "--json", env=store.env)
    assert (everything.json()["shown"], everything.json()["total"]) == (300, 300)
    basket_id = str(store.scalar("select id from baskets order by id limit 1"))
    one = cli("list", "--as", "bob", "--basket-id", basket_id, env=store.env)
    assert one.stdout.splitlines()[0].strip() == "1 basket, newest first"


def test_list_title_counts_with_thousands_separators_and_plurals() -> None:
    from cli.listing import describe_page

    assert describe_page(50, 2062) == "50 of 2,062 baskets, newest first"
    assert describe_page(1, 1) == "1 basket, newest first"
    assert describe_page(1234, 1234) == "1,234 baskets, newest first"
    assert describe_page(0, 0) == "no baskets match"


@pytest.mark.parametrize("command", ["list", "status", "export", "audit verify", "operators list"])
def test_a_command_that_does_not_create_databases_refuses_a_missing_sqlite_file(
    cli, tmp_path: Path, command: str
) -> None:
    result = cli(*command.split(), "--as", "bob") if command != "status" else cli("status")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: database: no SQLite file at {tmp_path / 'var' / 'baskets.db'}: create it with "
        "`baskets init` (or point --database-url or BASKETS_DATABASE_URL at an existing database)"
    )
    assert not (tmp_path / "var").exists()


def test_a_missing_sqlite_file_with_control_characters_stays_one_line(cli, tmp_path: Path) -> None:
    result = cli("list", "--as", "bob", "--database-url", f"sqlite:///{tmp_path}/a\nb.db")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "a\\nb.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_database_file_under_a_file_in_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("not a folder")
    result = cli("init", "--database-url", f"sqlite:///{tmp_path}/plain.txt/baskets.db")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: database: cannot create the SQLite file {tmp_path}/plain.txt/baskets.db: "
        f"{tmp_path}/plain.txt is not a writable folder (expected e.g. --database-url sqlite:///var/baskets.db)"
    )
    assert (tmp_path / "plain.txt").read_text() == "not a folder"


def test_init_creates_a_missing_parent_folder(cli, tmp_path: Path) -> None:
    result = cli("init", "--database-url", f"sqlite:///{tmp_path}/new/deeper/baskets.db")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "new" / "deeper" / "baskets.db").is_file()


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["list", "--as", "bob", "--limit", "0"], 2, "Invalid value for '--limit'"),
        (["list", "--as", "carol"], 3, "'carol' is a content_manager: only"),
        (
            ["audit", "show", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "--as", "bob"],
            4,
            "no audit rows for basket",
        ),
    ],
)
@pytest.mark.backend_independent
def test_a_failing_json_command_still_prints_one_json_object(cli, store, args, code, error) -> None:
    result = cli(*args, "--json", env=store.env)
    assert result.exit_code == code
    assert len(result.stdout.strip().splitlines()) == 1
    assert result.json()["exit_code"] == code
    assert error in result.json()["error"]
    assert result.stderr.strip() == f"error: {result.json()['error']}"


@pytest.mark.backend_independent
def test_without_json_a_failure_prints_nothing_on_stdout(cli, store: DatabaseUnderTest) -> None:
    result = cli("list", "--as", "carol", env=store.env)
    assert (result.exit_code, result.stdout) == (3, "")


def _every_command(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _every_command(command, (*path, name))
        else:
            yield (*path, name)


def test_every_help_shows_flags_as_flags_without_a_type_placeholder(cli) -> None:
    from cli.main import command_line

    commands = list(_every_command(command_line()))
    assert ("operators", "remove") in commands and ("delete",) in commands
    for command in [(), *commands]:
        result = cli(*command, "--help", env={"COLUMNS": "200"})
        assert result.exit_code == 0, command
        assert "--help" in result.stdout
        for placeholder in ("<bool>", "BOOLEAN", "<boolean>"):
            assert placeholder not in result.stdout, (command, placeholder)


@pytest.fixture
def admins(db: DatabaseUnderTest) -> DatabaseUnderTest:
    add_operators(db)  # alice system_administrator, bob order_processor, carol content_manager
    return db


def test_operators_remove_takes_the_operator_away_and_keeps_their_audit_rows(cli, admins) -> None:
    seed(admins, 5, 1)
    basket_id = str(admins.scalar("select id from baskets order by id limit 1"))
    deleted = cli("delete", basket_id, "--as", "bob", env=admins.env)
    assert deleted.exit_code == 0, deleted.stderr
    removed = cli("operators", "remove", "bob", "--as", "alice", "--json", env=admins.env)
    assert removed.exit_code == 0, removed.stderr
    assert removed.json() == {"removed": "bob", "role": "order_processor"}
    assert admins.scalar("select count(*) from operators where name = 'bob'") == 0
    assert admins.scalar("select actor from basket_audit where basket_id = :id", id=basket_id) == "bob"
    gone = cli("list", "--as", "bob", env=admins.env)
    assert (gone.exit_code, gone.stderr.startswith("error: --as: no operator named 'bob'")) == (3, True)


def test_operators_set_role_changes_what_the_operator_may_do(cli, admins) -> None:
    promoted = cli("operators", "set-role", "carol", "Order-Processor", "--as", "alice", env=admins.env)
    assert promoted.exit_code == 0, promoted.stderr
    assert promoted.stdout.strip() == "operator 'carol' is now an order_processor (was content_manager)"
    assert admins.scalar("select role from operators where name = 'carol'") == "order_processor"
    assert cli("list", "--as", "carol", env=admins.env).exit_code == 0


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (
            ["remove", "carol", "--as", "bob"],
            3,
            "--as: 'bob' is an order_processor: only system_administrator may",
        ),
        (
            ["set-role", "carol", "system_administrator", "--as", "carol"],
            3,
            "--as: 'carol' is a content_manager",
        ),
        (["remove", "carol"], 3, "--as: manage operators needs an operator"),
        (["remove", "mallory", "--as", "alice"], 4, "NAME: no operator named 'mallory'"),
        (["set-role", "mallory", "marketer", "--as", "alice"], 4, "NAME: no operator named 'mallory'"),
        (
            ["set-role", "carol", "root", "--as", "alice"],
            2,
            "ROLE: 'root' is not a known role (expected one of ",
        ),
        (["remove", "ca\x1brol", "--as", "alice"], 2, "NAME: character 3 is U+001B"),
        (["remove", "x" * 5000, "--as", "alice"], 2, "NAME: expected an operator's name of 1 to 100"),
        (["remove", "Alice", "--as", "alice"], 4, "NAME: no operator named 'Alice'"),
        (
            ["remove", "alice", "--as", "alice"],
            2,
            "NAME: 'alice' is the last system_administrator and cannot be removed (add another first: ",
        ),
        (
            ["set-role", "alice", "order_processor", "--as", "alice"],
            2,
            "NAME: 'alice' is the last system_administrator and cannot be demoted",
        ),
    ],
)
@pytest.mark.backend_independent
def test_operators_remove_and_set_role_refuse_in_one_line_changing_nothing(
    cli, admins, args, code, error
) -> None:
    before = _operator_rows(admins)
    result = cli("operators", *args, env=admins.env)
    assert result.exit_code == code
    assert result.stderr.startswith(f"error: {error}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert _operator_rows(admins) == before


def test_an_administrator_may_go_once_another_one_is_there(cli, admins) -> None:
    assert (
        cli("operators", "set-role", "bob", "system_administrator", "--as", "alice", env=admins.env).exit_code
        == 0
    )
    assert cli("operators", "remove", "alice", "--as", "alice", env=admins.env).exit_code == 0
    last = cli("operators", "set-role", "bob", "marketer", "--as", "bob", env=admins.env)
    assert last.exit_code == 2
    assert _operator_rows(admins) == [("bob", "system_administrator"), ("carol", "content_manager")]


def _operator_rows(database: DatabaseUnderTest) -> list[tuple[str, str]]:
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql("select name, role from operators order by name")
        return [(row[0], row[1]) for row in rows]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (BadInput("note: 2001 characters is too long", field="note"), "--note: 2001 characters is too long"),
        (BadInput("operator: no operator named 'x'", field="operator"), "--as: no operator named 'x'"),
        (
            BadInput("report_format: 'pdf' is not a format", field="report_format"),
            "--format: 'pdf' is not a format",
        ),
        (BadInput("basket_ids: 'abc' is not a GUID", field="basket_ids"), "BASKET_ID: 'abc' is not a GUID"),
        (BadInput("account_type: 'guest' is not", field="account_type"), "--account-type: 'guest' is not"),
        (BadInput("dry_run: odd", field="dry_run"), "--dry-run: odd"),
        (
            BadInput("output: 'a.csv' exists (use `overwrite` to replace it)", field="output"),
            "--output: 'a.csv' exists (use --overwrite to replace it)",
        ),
        (
            BadInput("too many (check `now`, or rerun with `force`; see `baskets status`)"),
            "too many (check --now, or rerun with --force; see `baskets status`)",
        ),
        # A field's name inside the text, not at its start, is left alone: only the leading one and
        # backticked ones are inputs.
        (BadInput("note: the note field", field="note"), "--note: the note field"),
        (BadInput("setting export_dir: cannot write"), "setting export_dir: cannot write"),
    ],
)
def test_the_command_line_names_each_field_by_its_flag(error: BadInput, expected: str) -> None:
    from cli.errors import command_line_message

    assert command_line_message(error) == expected


def test_a_command_may_name_a_field_by_its_own_argument() -> None:
    from cli.errors import command_line_message, fields_named

    with pytest.raises(BadInput) as refused, fields_named(basket_id="BASKET_ID"):
        raise BadInput("basket_id: no deleted basket x", field="basket_id")
    assert command_line_message(refused.value) == "BASKET_ID: no deleted basket x"
    assert command_line_message(BadInput("basket_id: bad", field="basket_id")) == "--basket-id: bad"
