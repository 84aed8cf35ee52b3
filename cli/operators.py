"""`baskets operators add|remove|set-role|list`: who may use this suite, and in which role."""

from __future__ import annotations

from typing import Annotated

import typer

from baskets.roles import Action, add_operator, authorize, list_operators, remove_operator, set_operator_role
from baskets.wording import with_article
from cli.console import DatabaseUrl, JsonOutput, OperatorName, emit_json, open_runtime, stdout

app = typer.Typer(help="Manage the operators who may use this suite.", no_args_is_help=True)


@app.command("add")
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


@app.command("remove")
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


@app.command("set-role")
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


@app.command("list")
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
    from rich.table import Table  # here: commands printing JSON or one line need no table

    table = Table("Name", "Role", "Created (UTC)")
    for row in rows:
        table.add_row(str(row["name"]), str(row["role"]), f"{row['created_at']:%Y-%m-%d %H:%M}")
    stdout.print(table)
