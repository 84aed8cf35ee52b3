"""The `baskets` command line: one entry point for every job of the suite (PRODUCT.md §8)."""

from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import nullcontext
from typing import Annotated, NoReturn

import typer
import typer.core
import typer.main
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from typer import exceptions as typer_errors

from baskets.db import upgrade_database
from baskets.errors import BasketsError
from baskets.filters import BasketFilter
from baskets.queries import count_baskets, list_baskets
from baskets.roles import (
    Action,
    add_operator,
    authorize,
    list_operators,
    remove_operator,
    set_operator_role,
)
from baskets.wording import plural, with_article
from config.urls import display_url
from flows.commands import audit as audit_commands
from flows.commands import audit_report as audit_report_commands
from flows.commands import cleanup as cleanup_commands
from flows.commands import delete as delete_commands
from flows.commands import export as export_commands
from flows.commands import forget as forget_commands
from flows.commands import serve as serve_commands
from flows.commands import status as status_commands
from flows.console import (
    DatabaseUrl,
    JsonOutput,
    NowOption,
    OperatorName,
    emit_json,
    open_runtime,
    output,
    parse_now,
    stderr,
    stdout,
    with_basket_filter,
    without_secrets,
)

app = typer.Typer(
    name="baskets",
    help="Maintenance and batch jobs for the basket tables of a webstore database.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Upper bounds of integer flags: a larger value is refused (exit 2) rather than overflowing a
# database integer or exhausting memory.
MAX_LIST_ROWS = 1_000_000
MAX_SEED_BASKETS = 50_000_000
operators_app = typer.Typer(help="Manage the operators who may use this suite.", no_args_is_help=True)
app.add_typer(operators_app, name="operators")


@app.command()
def init(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """Create the tables of a new database, or upgrade an existing one (safe to run again)."""
    runtime = open_runtime(database_url, check_schema_version=False, creates_database=True)
    before, after = upgrade_database(runtime.engine)
    url = display_url(runtime.engine.url)
    if json_output:
        emit_json({"database_url": url, "revision_before": before, "revision": after})
    elif before == after:
        stdout.print(f"{url}: schema already at revision {after}")
    else:
        stdout.print(f"{url}: schema upgraded from {before or 'empty'} to revision {after}")


@app.command()
def seed(
    baskets: Annotated[
        int, typer.Option("--baskets", min=0, max=MAX_SEED_BASKETS, help="How many baskets.")
    ] = 10_000,
    seed_value: Annotated[int, typer.Option("--seed", min=0, help="Random seed; same seed, same data.")] = 42,
    now: NowOption = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Delete the existing baskets first; on a database in use with an audit row each, "
            "as a system_administrator (--as).",
        ),
    ] = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Fill the database with a realistic synthetic webstore (demo and test data).

    With --replace on a database that has operators or audit rows, the baskets there are
    deleted with an audit row each (reason manual, note 'seed --replace'), as --as NAME, a
    system_administrator; without --as that is refused (exit 3).
    """
    from baskets.seed import seed_database

    as_of = parse_now(now)
    runtime = open_runtime(database_url, creates_database=True)
    started = time.perf_counter()
    spinner = stderr.status(f"seeding {plural(baskets, 'basket')}") if stderr.is_terminal else nullcontext()
    with spinner:
        summary = seed_database(
            runtime.engine, baskets, seed_value, as_of, replace=replace, operator=runtime.operator(operator)
        )
    seconds = round(time.perf_counter() - started, 2)
    if json_output:
        emit_json({**summary.__dict__, "seconds": seconds, "now": as_of})
    else:
        stdout.print(
            f"seeded {plural(summary.baskets, 'basket')} with {plural(summary.basket_lines, 'line')}, "
            f"{plural(summary.shop_accounts, 'shop account')} and {plural(summary.accounts, 'ERP account')} "
            f"in {seconds} s"
        )


@app.command("list")
@with_basket_filter
def list_command(
    basket_filter: BasketFilter,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_LIST_ROWS, help="At most this many rows.")
    ] = 50,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """The basket overview, newest first, filtered like the admin page."""
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.LIST)
        rows = list_baskets(connection, basket_filter, limit)
        # Counted only when the page is full: a shorter page is every match already.
        total = count_baskets(connection, basket_filter) if len(rows) == limit else len(rows)
    if json_output:
        emit_json({"shown": len(rows), "total": total, "filter": basket_filter.describe(), "baskets": rows})
        return
    table = Table(title=describe_page(len(rows), total), title_justify="left")
    for heading in (
        "Basket Id", "Shop account name", "Shop account e-mail", "Account Id", "Account name",
        "Account e-mail", "Type", "Created (UTC)", "Modified (UTC)", "Lines",
    ):  # fmt: skip
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(
            row["basket_id"],
            row["shop_account_name"] or ("" if row["shop_account_id"] is None else "(deleted)"),
            row["shop_account_email"] or "",
            row["account_id"] or "",
            row["account_name"] or "",
            row["account_email"] or "",
            row["account_type"],
            f"{row['created_at']:%Y-%m-%d %H:%M}",
            f"{row['modified_at']:%Y-%m-%d %H:%M}",
            str(row["line_count"]),
            end_section=False,
        )
    stdout.print(table)


def describe_page(shown: int, total: int) -> str:
    """The list's title: "50 of 2,062 baskets, newest first", "1 basket", "no baskets match"."""
    if total == 0:
        return "no baskets match"
    if shown == total:
        return f"{plural(total, 'basket')}, newest first"
    return f"{shown:,} of {plural(total, 'basket')}, newest first"


@operators_app.command("add")
def operators_add(
    name: Annotated[str, typer.Argument(help="The operator's name, e.g. alice.")],
    role: Annotated[
        str,
        typer.Option("--role", help="system_administrator, order_processor, or another Sana Admin role."),
    ],
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Add an operator; the first one needs no --as, later ones need a system_administrator."""
    runtime = open_runtime(database_url)
    with runtime.engine.begin() as connection:
        added = add_operator(connection, name, role, runtime.operator(operator))
    if json_output:
        emit_json({"name": added.name, "role": added.role})
    else:
        stdout.print(f"added operator {added.name!r} as {added.role}")


@operators_app.command("remove")
def operators_remove(
    name: Annotated[str, typer.Argument(help="The operator to remove, e.g. alice.")],
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Remove an operator (system_administrator only; never the last system_administrator).

    Audit rows keep the removed operator's name.
    """
    runtime = open_runtime(database_url)
    # BEGIN IMMEDIATE on SQLite: the check for another administrator and the removal are one step.
    with runtime.engine.connect().execution_options(immediate=True) as connection, connection.begin():
        removed = remove_operator(connection, name, runtime.operator(operator))
    if json_output:
        emit_json({"removed": removed.name, "role": removed.role})
    else:
        stdout.print(f"removed operator {removed.name!r} ({with_article(removed.role)})", highlight=False)


@operators_app.command("set-role")
def operators_set_role(
    name: Annotated[str, typer.Argument(help="The operator, e.g. alice.")],
    role: Annotated[
        str, typer.Argument(help="The new role: system_administrator, order_processor, or another Sana role.")
    ],
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Change an operator's role (system_administrator only; the last one keeps the role)."""
    runtime = open_runtime(database_url)
    with runtime.engine.connect().execution_options(immediate=True) as connection, connection.begin():
        before, changed = set_operator_role(connection, name, role, runtime.operator(operator))
    if json_output:
        emit_json({"name": changed.name, "role_before": before, "role": changed.role})
    elif before == changed.role:
        stdout.print(f"operator {changed.name!r} is {with_article(changed.role)} already", highlight=False)
    else:
        now = with_article(changed.role)
        stdout.print(f"operator {changed.name!r} is now {now} (was {before})", highlight=False)


@operators_app.command("list")
def operators_list(
    operator: OperatorName = None, database_url: DatabaseUrl = None, json_output: JsonOutput = False
) -> None:
    """The operators and their roles (system_administrator only)."""
    runtime = open_runtime(database_url)
    with runtime.engine.connect() as connection:
        authorize(connection, runtime.operator(operator), Action.MANAGE_OPERATORS)
        rows = list_operators(connection)
    if json_output:
        emit_json({"operators": rows})
        return
    table = Table("Name", "Role", "Created (UTC)")
    for row in rows:
        table.add_row(str(row["name"]), str(row["role"]), f"{row['created_at']:%Y-%m-%d %H:%M}")
    stdout.print(table)


@app.command()
def demo(
    baskets: Annotated[int, typer.Option("--baskets", min=1, max=MAX_SEED_BASKETS)] = 20_000,
    database_url: DatabaseUrl = None,
) -> None:
    """Set up a demo database under var/: schema, demo operator, seed data, overview.

    Run again on its own database it starts over, deleting its baskets with an audit row each
    as demo-admin; it refuses (exit 2) a database with other operators or their audit rows.
    """
    from baskets.roles import SYSTEM_ADMINISTRATOR
    from baskets.seed import DEMO_OPERATOR, check_demo_database, seed_database

    runtime = open_runtime(database_url, check_schema_version=False, creates_database=True)
    upgrade_database(runtime.engine)
    with runtime.engine.begin() as connection:
        check_demo_database(connection)
        if not any(row["name"] == DEMO_OPERATOR for row in list_operators(connection)):
            add_operator(connection, DEMO_OPERATOR, SYSTEM_ADMINISTRATOR, DEMO_OPERATOR)
    summary = seed_database(
        runtime.engine, baskets, 42, parse_now(None), replace=True, operator=DEMO_OPERATOR
    )
    if summary.replaced_baskets:
        stdout.print(
            f"[bold]0. deleted[/] the previous demo's {plural(summary.replaced_baskets, 'basket')}, "
            f"with an audit row each (as {DEMO_OPERATOR}, note 'seed --replace')"
        )
    stdout.print(
        f"[bold]1. seeded[/] {plural(summary.baskets, 'basket')} with {plural(summary.basket_lines, 'line')} "
        f"into {display_url(runtime.engine.url)}"
    )
    with runtime.engine.connect() as connection:
        rows = list_baskets(connection, BasketFilter(), 5)
    stdout.print("[bold]2. the newest baskets:[/]")
    for row in rows:
        stdout.print(
            f"   {row['basket_id']}  {row['account_type']:<9}  "
            f"{row['shop_account_name'] or '-':<28}  {plural(row['line_count'], 'line'):>8}  "
            f"modified {row['modified_at']:%Y-%m-%d %H:%M}"
        )
    from flows.export import report_export
    from flows.runner import run_flow

    exported = run_flow(report_export, format="both", output="", operator="demo-admin")
    stdout.print(
        f"[bold]3. exported[/] {plural(exported['lines'], 'line')} of "
        f"{plural(exported['baskets'], 'basket')} "
        "as demo-admin (`baskets export --format both --as demo-admin`):"
    )
    for file in exported["files"]:
        stdout.print(f"   {file['path']}  sha256 {file['sha256'][:16]}…", highlight=False)
    cleanup_commands.demo_cleanup("demo-admin")


# Each area's commands live in flows/commands/<area>.py and add themselves here.
for _area in (
    status_commands, delete_commands, audit_commands, audit_report_commands, cleanup_commands,
    export_commands, serve_commands, forget_commands,
):  # fmt: skip
    _area.register(app)


def command_line() -> typer.core.TyperGroup:
    """The Click command behind `app`, with every on/off flag shown as a flag in `--help`.

    Typer labels a boolean flag `<bool>` in the help, as if it took a value; an empty metavar
    leaves the flag alone (`--yes`, `--json`, `--help`).
    """
    command = typer.main.get_command(app)
    pending = [command]
    while pending:
        current = pending.pop()
        help_option = current.get_help_option(typer.Context(current))
        for param in [*current.params, *([help_option] if help_option else [])]:
            if isinstance(param, typer.core.TyperOption) and param.is_flag:
                param.metavar = ""
        pending.extend(getattr(current, "commands", {}).values())
    return command


def main() -> None:
    """Run the command line; expected failures print one line and exit with their code (§8).

    With `--json` among the arguments a failure also prints one JSON object on stdout,
    `{"error": ..., "exit_code": ...}`, so a script reading stdout always gets one.
    """
    output.json_emitted = False
    try:
        result = command_line()(standalone_mode=False)
    except BasketsError as error:
        _fail(without_secrets(error.message), error.exit_code)
    except typer_errors.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer_errors.TyperException as error:
        _fail(without_secrets(error.format_message()), error.exit_code)
    except typer_errors.Abort:
        _fail("aborted", 1, prefix="")
    except SQLAlchemyError as error:
        if os.environ.get("BASKETS_DEBUG"):
            traceback.print_exc()
        # A driver's message can repeat the connection string, password and all.
        first = without_secrets(str(getattr(error, "orig", None) or error).strip().splitlines()[0])
        _fail(f"database: {first}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130, prefix="")
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("BASKETS_DEBUG"):
            traceback.print_exc()
        first = without_secrets((str(error).strip().splitlines() or [""])[0])
        _fail(f"{type(error).__name__}: {first} (set BASKETS_DEBUG=1 for the traceback)", 1)
    sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, exit_code: int, *, prefix: str = "error: ") -> NoReturn:
    """Print `message` as one line on stderr (and, under --json, as JSON on stdout); exit."""
    stderr.print(f"{prefix}{message}", markup=False, highlight=False)
    if "--json" in sys.argv[1:] and not output.json_emitted:
        emit_json({"error": message, "exit_code": exit_code})
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
