"""`baskets init`, `baskets seed` and `baskets demo`: the only commands that may create a database."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Annotated

import typer

from baskets.db import upgrade_database
from baskets.errors import BadInput
from baskets.filters import BasketFilter
from baskets.queries import list_baskets
from baskets.roles import add_operator, list_operators
from baskets.wording import plural
from cli import cleanup as cleanup_commands
from cli.console import (
    DatabaseUrl,
    JsonOutput,
    NowOption,
    OperatorName,
    emit_json,
    open_runtime,
    parse_now,
    stderr,
    stdout,
)
from config.urls import display_url

app = typer.Typer()
# Upper bound of --baskets: a larger value is refused (exit 2) rather than exhausting memory.
MAX_SEED_BASKETS = 50_000_000


@app.command()
def init(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """Create the tables of a new database, or upgrade an existing one (safe to run again)."""
    runtime = open_runtime(database_url, check_schema_version=False, creates_database=True)
    from baskets.schema import mapped_schema

    schema = mapped_schema(runtime.engine)
    if schema is None:
        before, after = upgrade_database(runtime.engine)
    else:  # the shop's own tables: only the suite's bookkeeping is created (baskets.schema)
        from baskets.schema.bookkeeping import init_bookkeeping

        before, after = init_bookkeeping(runtime.engine, schema)
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
    from baskets.schema import mapped_schema

    if mapped_schema(runtime.engine) is not None:
        raise BadInput(
            "schema: seed fills the builtin tables only, never a shop's own (expected BASKETS_SCHEMA=builtin)"
        )
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
        f"[bold]3. exported[/] {plural(exported.lines, 'line')} of "
        f"{plural(exported.baskets, 'basket')} "
        "as demo-admin (`baskets export --format both --as demo-admin`):"
    )
    for file in exported.files:
        stdout.print(f"   {file.path}  sha256 {file.sha256[:16]}…", highlight=False)
    cleanup_commands.demo_cleanup("demo-admin")
