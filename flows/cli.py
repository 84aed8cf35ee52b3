"""The `baskets` command line: one entry point for every job of the suite (PRODUCT.md §8)."""

from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from typer import exceptions as typer_errors

from baskets.db import upgrade_database
from baskets.errors import BasketsError
from baskets.filters import BasketFilter
from baskets.queries import list_baskets
from baskets.roles import Action, add_operator, authorize, list_operators
from config.urls import display_url
from flows.commands import audit as audit_commands
from flows.commands import audit_report as audit_report_commands
from flows.commands import cleanup as cleanup_commands
from flows.commands import delete as delete_commands
from flows.commands import export as export_commands
from flows.commands import serve as serve_commands
from flows.commands import status as status_commands
from flows.console import (
    DatabaseUrl,
    JsonOutput,
    NowOption,
    OperatorName,
    emit_json,
    open_runtime,
    parse_now,
    running_flow,
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
    runtime = open_runtime(database_url, check_schema_version=False)
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
            "as a system administrator (--as).",
        ),
    ] = False,
    operator: OperatorName = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Fill the database with a realistic synthetic webstore (demo and test data).

    With --replace on a database that has operators or audit rows, the baskets there are
    deleted with an audit row each (reason manual, note 'seed --replace'), as --as NAME, a
    system administrator; without --as that is refused (exit 3).
    """
    from baskets.seed import seed_database

    as_of = parse_now(now)
    runtime = open_runtime(database_url)
    started = time.perf_counter()
    spinner = stderr.status(f"seeding {baskets:,} baskets") if stderr.is_terminal else nullcontext()
    with spinner:
        summary = seed_database(
            runtime.engine, baskets, seed_value, as_of, replace=replace, operator=runtime.operator(operator)
        )
    seconds = round(time.perf_counter() - started, 2)
    if json_output:
        emit_json({**summary.__dict__, "seconds": seconds, "now": as_of})
    else:
        stdout.print(
            f"seeded {summary.baskets:,} baskets with {summary.basket_lines:,} lines, "
            f"{summary.shop_accounts:,} shop accounts and {summary.accounts:,} ERP accounts "
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
    if json_output:
        emit_json({"count": len(rows), "filter": basket_filter.describe(), "baskets": rows})
        return
    table = Table(title=f"{len(rows)} baskets (newest first)", title_justify="left")
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
    """Add an operator; the first one needs no --as, later ones need a system administrator."""
    runtime = open_runtime(database_url)
    with runtime.engine.begin() as connection:
        added = add_operator(connection, name, role, runtime.operator(operator))
    if json_output:
        emit_json({"name": added.name, "role": added.role})
    else:
        stdout.print(f"added operator {added.name!r} as {added.role}")


@operators_app.command("list")
def operators_list(
    operator: OperatorName = None, database_url: DatabaseUrl = None, json_output: JsonOutput = False
) -> None:
    """The operators and their roles (system administrators only)."""
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

    runtime = open_runtime(database_url, check_schema_version=False)
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
            f"[bold]0. deleted[/] the previous demo's {summary.replaced_baskets:,} baskets, "
            f"with an audit row each (as {DEMO_OPERATOR}, note 'seed --replace')"
        )
    stdout.print(
        f"[bold]1. seeded[/] {summary.baskets:,} baskets with {summary.basket_lines:,} lines "
        f"into {display_url(runtime.engine.url)}"
    )
    with runtime.engine.connect() as connection:
        rows = list_baskets(connection, BasketFilter(), 5)
    stdout.print("[bold]2. the newest baskets:[/]")
    for row in rows:
        stdout.print(
            f"   {row['basket_id']}  {row['account_type']:<9}  "
            f"{row['shop_account_name'] or '-':<28}  {row['line_count']:>2} lines  "
            f"modified {row['modified_at']:%Y-%m-%d %H:%M}"
        )
    from flows.export import report_export

    with running_flow():
        exported = report_export(
            format="both",
            operator="demo-admin",
        )
    stdout.print(
        f"[bold]3. exported[/] {exported['lines']:,} lines of {exported['baskets']:,} baskets "
        "as demo-admin (`baskets export --format both --as demo-admin`):"
    )
    for file in exported["files"]:
        stdout.print(f"   {file['path']}  sha256 {file['sha256'][:16]}…", highlight=False)
    cleanup_commands.demo_cleanup("demo-admin")


# Each area's commands live in flows/commands/<area>.py and add themselves here.
for _area in (
    status_commands, delete_commands, audit_commands, audit_report_commands, cleanup_commands,
    export_commands, serve_commands,
):  # fmt: skip
    _area.register(app)


def main() -> None:
    """Run the command line; expected failures print one line and exit with their code (§8)."""
    try:
        result = app(standalone_mode=False)
    except BasketsError as error:
        stderr.print(f"error: {without_secrets(error.message)}", markup=False, highlight=False)
        sys.exit(error.exit_code)
    except typer_errors.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer_errors.TyperException as error:
        stderr.print(f"error: {without_secrets(error.format_message())}", markup=False, highlight=False)
        sys.exit(error.exit_code)
    except typer_errors.Abort:
        stderr.print("aborted")
        sys.exit(1)
    except SQLAlchemyError as error:
        if os.environ.get("BASKETS_DEBUG"):
            traceback.print_exc()
        # A driver's message can repeat the connection string, password and all.
        first = without_secrets(str(getattr(error, "orig", None) or error).strip().splitlines()[0])
        stderr.print(f"error: database: {first}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("BASKETS_DEBUG"):
            traceback.print_exc()
        first = without_secrets((str(error).strip().splitlines() or [""])[0])
        stderr.print(
            f"error: {type(error).__name__}: {first} (set BASKETS_DEBUG=1 for the traceback)",
            markup=False,
            highlight=False,
        )
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
